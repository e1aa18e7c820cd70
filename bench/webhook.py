"""Benchmark: storefront registrations at a steady rate, each followed by its signed webhook,
against `connector serve` in its own process and the POHODA and e-shop simulators.

Prints p50/p99 from sending the webhook to the contact being present in POHODA (its extId
in the simulator's book), and counts lost (answered 202, never in POHODA) and duplicated
(a customer twice on either side). Every tenth event is sent a second time (a replay, 200).
The last line is one JSON object: p50_ms, p99_ms, lost, duplicated, and the rest.

    python bench/webhook.py [--rate 50] [--seconds 60] [--cron-every 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from connector.log import configure_logging
from connector.sim._server import free_port
from connector.sim.generate import generate_contacts
from connector.sim.sandbox import Sandbox
from connector.web import HEADER, sign

SECRET = "bench-webhook-secret"
# `connector serve` whether or not the command list imports it yet.
SERVE = "import connector.cli._serve; from connector.cli import main; main()"


def start_serve(box: Sandbox, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **box.env, "CONNECTOR_WEBHOOK_SECRETS": SECRET, "CONNECTOR_LOG_FORMAT": "json"}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"connector serve exited with {process.returncode}; see {log}")
        time.sleep(0.1)
    process.kill()
    raise SystemExit("connector serve did not become ready")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Load:
    """The registrations, the webhooks, and when each contact turned up in POHODA."""

    def __init__(self, box: Sandbox, webhook_url: str, rate: float, seconds: float) -> None:
        self.box = box
        self.webhook_url = webhook_url
        self.rate = rate
        self.total = int(rate * seconds)
        self.sent_at: dict[str, float] = {}  # e-shop id → webhook sent (answered 202)
        self.latency: dict[str, float] = {}
        self.statuses: Counter[str] = Counter()
        self.load_seconds = 0.0
        self.contacts = [c.to_dict() for c in generate_contacts(self.total, seed=5, rich=False, start=500_000)]
        self.ex_system = box.config.pohoda.ex_system

    async def one(self, http: httpx.AsyncClient, number: int) -> None:
        answer = await http.post(f"{self.box.eshop_server.url}/_sim/register", json=self.contacts[number])
        if answer.status_code != 201:
            self.statuses[f"register_{answer.status_code}"] += 1
            return
        customer = str(answer.json()["id"])
        body = json.dumps({"event_id": f"reg-{customer}", "type": "customer.created", "customer_id": customer})
        sent = time.perf_counter()
        status = await self.webhook(http, body.encode())
        self.statuses[f"webhook_{status}"] += 1
        if status == 202:
            self.sent_at.setdefault(customer, sent)
        if number % 10 == 0:
            await asyncio.sleep(0.05)
            self.statuses[f"replay_{await self.webhook(http, body.encode())}"] += 1

    async def webhook(self, http: httpx.AsyncClient, body: bytes) -> int | str:
        headers = {"content-type": "application/json", HEADER: sign(SECRET, body)}
        try:
            return (await http.post(self.webhook_url, content=body, headers=headers)).status_code
        except httpx.TransportError as exc:
            return type(exc).__name__

    async def watch(self, done: asyncio.Event) -> None:
        """Every 5 ms: which sent contacts are in POHODA's book now (an index lookup each)."""
        book = self.box.pohoda_sim.book
        while True:
            now = time.perf_counter()
            for customer, sent in list(self.sent_at.items()):
                if customer not in self.latency and book.owner_of(self.ex_system, customer) is not None:
                    self.latency[customer] = now - sent
            if done.is_set() and len(self.latency) == len(self.sent_at):
                return
            await asyncio.sleep(0.005)

    async def run(self, drain_s: float) -> None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
        async with httpx.AsyncClient(timeout=30, limits=limits) as http:
            done = asyncio.Event()
            watcher = asyncio.create_task(self.watch(done))
            started = time.perf_counter()
            tasks = []
            for number in range(self.total):
                delay = started + number / self.rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(self.one(http, number)))
            await asyncio.gather(*tasks)
            self.load_seconds = time.perf_counter() - started
            done.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watcher, timeout=drain_s)


def cron_loop(box: Sandbox, every_s: float, stop_at: float) -> list[int]:
    """`connector sync` as cron would start it, every `every_s` seconds during the load."""
    codes = []
    env = {**os.environ, **box.env}
    while time.monotonic() < stop_at:
        started = time.monotonic()
        codes.append(
            subprocess.run(
                [sys.executable, "-m", "connector", "sync", "--json"], env=env, capture_output=True
            ).returncode
        )
        time.sleep(max(0.0, every_s - (time.monotonic() - started)))
    return codes


def duplicates(rows: list[dict[str, Any]]) -> int:
    by_email = Counter(str(row.get("email") or "").lower() for row in rows if row.get("email"))
    return sum(count - 1 for count in by_email.values() if count > 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="registrations per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--cron-every", type=float, default=0.0, help="also run `connector sync` every N s (0: off)")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the last contacts")
    options = parser.parse_args()
    configure_logging("error", "console")
    with tempfile.TemporaryDirectory(prefix="connector-bench-webhook-") as tmp, Sandbox(Path(tmp)) as box:
        port = free_port()
        serve = start_serve(box, port, Path(tmp) / "serve.log")
        load = Load(box, f"http://127.0.0.1:{port}/webhooks/eshop", options.rate, options.seconds)
        cron_codes: list[int] = []
        try:
            if options.cron_every > 0:
                stop_at = time.monotonic() + options.seconds
                cron = threading.Thread(
                    target=lambda: cron_codes.extend(cron_loop(box, options.cron_every, stop_at)), daemon=True
                )
                cron.start()
            asyncio.run(load.run(options.drain))
            if options.cron_every > 0:
                cron.join(120)
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
        finally:
            serve.terminate()
            serve.wait(60)
        pohoda_rows, eshop_rows = box.pohoda_contacts(), box.eshop_contacts()
        by_ext_id = Counter(str(row["ext_id"]) for row in pohoda_rows if row.get("ext_id"))
        latencies_ms = [value * 1000 for value in load.latency.values()]
        lost = sorted(set(load.sent_at) - set(load.latency))
        duplicated = duplicates(pohoda_rows) + duplicates(eshop_rows) + sum(n - 1 for n in by_ext_id.values() if n > 1)
        datapacks = box.pohoda_stats()["requests"].get("POST /xml", 0)
        runs = sum(
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith('connector_runs_total{kind="webhook"')
        )
    result = {
        "p50_ms": round(percentile(latencies_ms, 0.50), 1),
        "p99_ms": round(percentile(latencies_ms, 0.99), 1),
        "max_ms": round(max(latencies_ms, default=float("nan")), 1),
        "mean_ms": round(statistics.fmean(latencies_ms), 1) if latencies_ms else None,
        "lost": len(lost),
        "duplicated": duplicated,
        "registrations": load.total,
        "accepted": len(load.sent_at),
        "answers": dict(sorted(load.statuses.items())),
        "achieved_rate": round(load.total / load.load_seconds, 1),
        "webhook_runs": int(runs),
        "pohoda_datapacks": datapacks,
        "cron_runs": len(cron_codes),
        "cron_exit_codes": dict(Counter(cron_codes)),
    }
    print(
        f"{load.total} registrations in {load.load_seconds:.1f} s ({result['achieved_rate']}/s), "
        f"{len(load.sent_at)} webhooks answered 202"
    )
    print(
        f"webhook sent -> contact in POHODA: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
        f"max {result['max_ms']} ms"
    )
    print(f"lost {len(lost)}, duplicated {duplicated}; {int(runs)} targeted runs, {datapacks} POHODA dataPacks")
    if options.cron_every > 0:
        print(f"cron `connector sync` ran {len(cron_codes)} times alongside: exit codes {result['cron_exit_codes']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
