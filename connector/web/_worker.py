"""The event worker: stored webhook events → targeted sync runs, in micro-batches.

It runs inside `connector serve`'s event loop and does the blocking work in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import anyio.to_thread

from connector.errors import ConfigError, EshopUnreachable, PohodaUnreachable, TransportError
from connector.log import get_logger
from connector.model import WebhookEvent
from connector.runtime import Runtime
from connector.store import now_iso
from connector.sync import RunSummary
from connector.web._metrics import Metrics

log = get_logger(__name__)

BATCH_MAX = 200
POLL_S = 1.0
# The store's events_to_process skips an event tried this often; we mark it failed on the
# last try so that it shows as such in /status and /metrics instead of waiting silently.
MAX_ATTEMPTS = 5
LOCK_WAIT_S = 30.0
OUTAGE_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
# A full run asked for while cron holds the lock is tried again until this many seconds passed.
FULL_RUN_PATIENCE_S = 900.0
CHANGE_TYPES = ("customer.created", "customer.updated")
# /readyz, /metrics and a webhook batch never go by a peer's state older than this: past
# it, the peer is probed again (one quick request, no retries).
PROBE_MAX_AGE_S = 15.0


@dataclasses.dataclass
class PeerStatus:
    """What the last run learned of a peer: ok True/False, or None before any run."""

    ok: bool | None = None
    at: str | None = None
    error: str | None = None
    checked: float | None = None  # time.monotonic() of `at`

    def set(self, ok: bool, error: str | None = None) -> None:
        self.ok, self.at, self.error = ok, now_iso(), None if ok else (error or "unreachable")
        self.checked = time.monotonic()

    def older_than(self, seconds: float) -> bool:
        return self.checked is None or time.monotonic() - self.checked > seconds

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "at": self.at, "error": self.error}


def new_run_id() -> str:
    # The same shape as SyncRun's own ids, so a triggered run looks like any other in the store.
    return f"sync-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


class EventWorker:
    """Takes received events from the store and syncs their customers, one run per batch.

    The runtime's peers live as long as the process (POHODA's with a circuit breaker that
    outlives runs): after POHODA failed, later registrations go straight to the async path
    until the breaker's cooldown ends, instead of each waiting out the retries.
    """

    def __init__(
        self,
        runtime: Runtime,
        metrics: Metrics,
        *,
        batch_max: int = BATCH_MAX,
        poll_s: float = POLL_S,
        lock_wait_s: float = LOCK_WAIT_S,
        probe_max_age_s: float = PROBE_MAX_AGE_S,
    ) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.metrics = metrics
        self.batch_max = batch_max
        self.poll_s = poll_s
        self.lock_wait_s = lock_wait_s
        self.peers = {"pohoda": PeerStatus(), "eshop": PeerStatus()}
        self.probe_max_age_s = probe_max_age_s
        self._probing = threading.Lock()
        self._full_runs: list[tuple[str, float]] = []  # (run id, asked at, monotonic)
        self._full_lock = threading.Lock()  # the handlers queue, the worker thread takes
        self._retry_at = 0.0
        self._outages = 0
        self._stopping = False
        self._wake: asyncio.Event | None = None

    # -- the async side ---------------------------------------------------------------------

    def wake(self) -> None:
        """A new event is stored: look now rather than at the next poll."""
        if self._wake is not None:
            self._wake.set()

    def request_full_run(self) -> str:
        """Queue a full run (done between two batches); a run already queued is reused."""
        with self._full_lock:
            if self._full_runs:
                return self._full_runs[0][0]
            run_id = new_run_id()
            self._full_runs.append((run_id, time.monotonic()))
        self.wake()
        return run_id

    async def run(self) -> None:
        """The loop: process what is stored, then wait for a wake-up or the poll interval."""
        self._wake = asyncio.Event()
        while not self._stopping:
            self._wake.clear()
            try:
                # Not abandoned on cancel: a stop waits for the batch in hand to be recorded.
                handled = await anyio.to_thread.run_sync(self.process_once)
            except Exception:  # the worker must outlive any one bad batch
                log.exception("webhook.worker_error")
                handled = 0
                self._note_outage()
            if handled and not self._stopping:
                continue
            delay = max(self._retry_at - time.monotonic(), 0.0)
            if delay > 0:
                # Backing off after an outage: new events wait too, the peer is not hammered.
                await self._sleep(delay)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)

    async def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            await asyncio.sleep(min(0.1, deadline - time.monotonic()))

    def stop(self) -> None:
        self._stopping = True
        self.wake()

    # -- one step (blocking; in a thread) ---------------------------------------------------

    def process_once(self) -> int:
        """A queued full run if any, then one batch of events; returns the events handled."""
        if self._full_runs and time.monotonic() >= self._retry_at:
            self._full_run()
        if time.monotonic() < self._retry_at:
            return 0
        events = self.store.events_to_process(limit=self.batch_max, max_attempts=MAX_ATTEMPTS)
        if not events:
            return 0
        return self._process(events)

    def refresh_peers(self) -> None:
        """Probe each peer whose last known state is older than `probe_max_age_s`.

        A failed POHODA probe opens its breaker, so the next batch takes the async path at
        once instead of waiting out the retries (as `connector sync` does)."""
        with self._probing:
            for side, peer, gauge in (
                ("pohoda", self.runtime.hq, self.metrics.pohoda_up),
                ("eshop", self.runtime.shop, self.metrics.eshop_up),
            ):
                status = self.peers[side]
                if not status.older_than(self.probe_max_age_s):
                    continue
                ok = peer.probe()
                status.set(ok, None if ok else peer.unavailable_reason or f"{peer.label} did not answer a probe")
                gauge.set(1 if ok else 0)

    def _process(self, events: Sequence[WebhookEvent]) -> int:
        customers = list(dict.fromkeys(event.customer_id for event in events))
        self.refresh_peers()
        run = self.runtime.sync_run(kind="webhook")
        try:
            summary = run.run_targeted(customers, wait_s=self.lock_wait_s)
        except (TransportError, ConfigError) as exc:
            # A peer is down or misconfigured: not the events' fault, so their attempts are
            # not spent; they stay "received" and are tried again after a backoff.
            self.metrics.runs.labels(kind="webhook", state="failed").inc()
            self._peer_failed(exc)
            self._note_outage()
            log.warning("webhook.run_failed", run_id=run.run_id, events=len(events), error=str(exc))
            return 0
        except Exception as exc:
            self.metrics.runs.labels(kind="webhook", state="failed").inc()
            log.exception("webhook.run_failed", run_id=run.run_id, events=len(events))
            if len(customers) > 1:
                # One customer's bad data must not hold back the others: one run each.
                for customer in customers:
                    self._process([e for e in events if e.customer_id == customer])
            else:
                self._retry_or_fail(events, run.run_id, f"{type(exc).__name__}: {exc}")
            # Spread the tries over a minute or so: a passing fault gets time to pass
            # before the last attempt marks the event failed.
            self._note_outage()
            return len(events)
        self.metrics.count_run("webhook", summary)
        if summary.state == "skipped":
            # Cron's run holds the lock for longer than we waited: try again shortly.
            self._retry_at = time.monotonic() + 1.0
            return 0
        self._outages = 0
        self._note_peers(summary)
        self.store.finish_events([e.id for e in events], "processed", run_id=summary.run_id)
        self.metrics.events_processed.labels(result="processed").inc(len(events))
        self._observe_latency(events, summary)
        return len(events)

    def _retry_or_fail(self, events: Sequence[WebhookEvent], run_id: str, error: str) -> None:
        last = [e.id for e in events if e.attempts + 1 >= MAX_ATTEMPTS]
        again = [e.id for e in events if e.attempts + 1 < MAX_ATTEMPTS]
        self.store.finish_events(again, "received", run_id=run_id, error=error)
        self.store.finish_events(last, "failed", run_id=run_id, error=error)
        if last:
            self.metrics.events_processed.labels(result="failed").inc(len(last))

    def _observe_latency(self, events: Sequence[WebhookEvent], summary: RunSummary) -> None:
        if summary.pohoda_unreachable:
            return  # they went the async way; conversion will bring them to POHODA later
        now = time.time()
        in_pohoda: dict[str, bool] = {}
        for event in events:
            if event.type not in CHANGE_TYPES:
                continue
            if event.customer_id not in in_pohoda:
                link = self.store.find_link(eshop_id=event.customer_id)
                in_pohoda[event.customer_id] = link is not None and link.pohoda_id is not None
            if in_pohoda[event.customer_id]:
                self.metrics.event_to_pohoda.observe(max(now - event.received_ts, 0.0))

    def _full_run(self) -> None:
        with self._full_lock:
            run_id, asked_at = self._full_runs[0]
        run = self.runtime.sync_run(run_id=run_id, kind="sync")
        try:
            summary = run.run()
        except Exception as exc:
            self._done_full_run()
            self.metrics.runs.labels(kind="sync", state="failed").inc()
            self._peer_failed(exc)
            log.warning("trigger.run_failed", run_id=run_id, error=str(exc))
            return
        self.metrics.count_run("sync", summary)
        if summary.state == "skipped":
            if time.monotonic() - asked_at > FULL_RUN_PATIENCE_S:
                self._done_full_run()
                log.warning("trigger.run_dropped", run_id=run_id, reason=summary.message)
            return
        self._done_full_run()
        self._note_peers(summary)
        log.info("trigger.run_done", run_id=run_id, state=summary.state, delivered=summary.delivered)

    def _done_full_run(self) -> None:
        with self._full_lock:
            self._full_runs.pop(0)

    # -- bookkeeping ------------------------------------------------------------------------

    def _note_outage(self) -> None:
        delay = OUTAGE_BACKOFF_S[min(self._outages, len(OUTAGE_BACKOFF_S) - 1)]
        self._outages += 1
        self._retry_at = time.monotonic() + delay

    def _note_peers(self, summary: RunSummary) -> None:
        self.peers["pohoda"].set(not summary.pohoda_unreachable, self.runtime.hq.unavailable_reason or None)
        self.peers["eshop"].set(not summary.eshop_unreachable)
        self.metrics.pohoda_up.set(0 if summary.pohoda_unreachable else 1)
        self.metrics.eshop_up.set(0 if summary.eshop_unreachable else 1)

    def _peer_failed(self, exc: BaseException) -> None:
        if isinstance(exc, PohodaUnreachable):
            self.peers["pohoda"].set(False, str(exc))
            self.metrics.pohoda_up.set(0)
        elif isinstance(exc, EshopUnreachable):
            self.peers["eshop"].set(False, str(exc))
            self.metrics.eshop_up.set(0)
