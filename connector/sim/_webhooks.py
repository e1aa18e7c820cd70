"""Webhook delivery for the platform simulators: one background thread, in order, recorded.

The platforms deliver asynchronously (WooCommerce through its Action Scheduler queue), so a
write is answered before its webhook leaves; `flush()` lets a test wait for the queue.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable, Hashable
from typing import Any

import httpx

# (body, headers) built when the delivery leaves, or None to drop it (the resource is gone).
Payload = tuple[bytes, dict[str, str]]
Builder = Callable[[], Payload | None]
ResultHook = Callable[[int | None], None]


@dataclasses.dataclass
class _Job:
    url: str
    build: Builder
    key: Hashable | None
    on_result: ResultHook | None


class WebhookDelivery:
    """Queues webhook POSTs and sends them from one daemon thread, recording every attempt."""

    def __init__(self, *, timeout_s: float = 5.0) -> None:
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._pending_keys: set[Hashable] = set()
        self._timeout_s = timeout_s
        self._thread: threading.Thread | None = None
        self.deliveries: list[dict[str, Any]] = []
        self.coalesced = 0

    def enqueue(
        self, url: str, build: Builder, *, key: Hashable | None = None, on_result: ResultHook | None = None
    ) -> bool:
        """Queue one delivery; with a `key` already waiting in the queue, nothing is queued
        (False) — the waiting one is built later and so carries the latest state anyway."""
        with self._lock:
            if key is not None and key in self._pending_keys:
                self.coalesced += 1
                return False
            if key is not None:
                self._pending_keys.add(key)
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sim-webhooks", daemon=True)
                self._thread.start()
        self._queue.put(_Job(url, build, key, on_result))
        return True

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued delivery was attempted; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout_s)

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(d) for d in self.deliveries]

    def clear(self) -> None:
        self.flush()
        with self._lock:
            self.deliveries.clear()
            self.coalesced = 0

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout_s) as client:
            while True:
                job = self._queue.get()
                if job is None:
                    return
                with self._lock:
                    if job.key is not None:
                        self._pending_keys.discard(job.key)
                try:
                    self._deliver(client, job)
                finally:
                    with self._idle:
                        self._pending -= 1
                        self._idle.notify_all()

    def _deliver(self, client: httpx.Client, job: _Job) -> None:
        payload = job.build()
        if payload is None:
            return
        body, headers = payload
        record: dict[str, Any] = {"url": job.url, "headers": headers, "body": body.decode("utf-8")}
        status: int | None = None
        try:
            status = client.post(job.url, content=body, headers=headers).status_code
        except httpx.HTTPError as exc:
            record["error"] = type(exc).__name__
        record["status"] = status
        with self._lock:
            self.deliveries.append(record)
        if job.on_result is not None:
            job.on_result(status)
