"""Benchmark: one sync run against the simulators, its wall time and its peak memory.

Two modes. Without `--store`: a first import of `--records` new e-shop registrations into an
empty POHODA, then the next run (which reads the import's own writes back, its echoes).
With `--store N --changes K`: N customers linked on both sides, seeded directly into the
simulators and the store (no sync run builds them), then K edits (every other one on the
e-shop, the others in POHODA) and one timed incremental run. Then (`--registrations R`, 20
by default; 0 skips it) R new e-shop registrations and a second timed run, which compares
each with the POHODA contacts sharing a blocking key (the stored dedup index: made and its
model fitted once before that run, timed apart, as the first run after an upgrade does).

The simulators run in their own processes (as POHODA and the e-shop run on other machines);
each timed run runs in a fresh process of its own, so its peak RSS (VmHWM of
/proc/self/status) is the run's, not the seeding's. Prints the figures with the machine's
load average; the last line is one JSON object.

    python bench/sync.py [--records 10000] [--platform connector|woocommerce|shoptet]
    python bench/sync.py --store 200000 --changes 100 [--registrations 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/linked_store.py

from connector.model import write_jsonl
from connector.sim._server import free_port
from connector.sim.generate import generate_contacts
from connector.store import Store

USER, PASSWORD, TOKEN, ICO = "bench", "bench-pohoda", "bench-eshop", "12345678"


def wait_up(url: str, process: subprocess.Popen[bytes], timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the simulator at {url} exited ({process.returncode})")
        try:
            httpx.get(f"{url}/_sim/stats", timeout=5)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the simulator at {url} did not start")


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_once() -> None:
    """The child: one `connector sync` run with the configuration in the environment."""
    from connector.actions import run_sync
    from connector.config import load_config
    from connector.log import configure_logging

    configure_logging("error", "console")
    config = load_config(None, env=dict(os.environ))
    started = time.perf_counter()
    if os.environ.get("BENCH_PROFILE"):
        import cProfile

        profiler = cProfile.Profile()
        summary = profiler.runcall(run_sync, config)
        profiler.dump_stats(os.environ["BENCH_PROFILE"])
    else:
        summary = run_sync(config)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": round(seconds, 3), "peak_rss_mb": round(peak_rss_mb(), 1), **summary.to_dict()}))


def timed_run(env: dict[str, str]) -> dict[str, Any]:
    """One sync run in a fresh process: its wall time, peak RSS and summary."""
    done = subprocess.run(
        [sys.executable, __file__, "--run-once"], env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"the sync run failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


class Simulators:
    """POHODA's and the e-shop's simulators, each in its own process, seeded from files."""

    def __init__(self, tmp: Path, platform: str, *, pohoda_seed: Path | None, eshop_seed: Path | None) -> None:
        pohoda_port, eshop_port = free_port(), free_port()
        self.pohoda_url, self.eshop_url = f"http://127.0.0.1:{pohoda_port}", f"http://127.0.0.1:{eshop_port}"
        env_password = {**os.environ, "CONNECTOR_POHODA_PASSWORD": PASSWORD}
        seed_args = ["--seed", str(pohoda_seed)] if pohoda_seed else []
        self.pohoda = subprocess.Popen(
            [sys.executable, "-m", "connector", "sim", "pohoda", "--port", str(pohoda_port), "--user", USER,
             "--ico", ICO, *seed_args],
            stdout=subprocess.DEVNULL, env=env_password,
        )
        shop_args, shop_env = {
            "connector": (["sim", "eshop", "--token", TOKEN], {"CONNECTOR_ESHOP_TOKEN": TOKEN}),
            "woocommerce": (
                ["sim", "woocommerce", "--key", "ck_bench", "--secret", "cs_bench"],
                {"CONNECTOR_ESHOP_KEY": "ck_bench", "CONNECTOR_ESHOP_SECRET": "cs_bench"},
            ),
            "shoptet": (["sim", "shoptet", "--token", TOKEN], {"CONNECTOR_ESHOP_TOKEN": TOKEN}),
        }[platform]
        eshop_seed_args = ["--seed", str(eshop_seed)] if eshop_seed else []
        self.eshop = subprocess.Popen(
            [sys.executable, "-m", "connector", *shop_args, "--port", str(eshop_port), *eshop_seed_args],
            stdout=subprocess.DEVNULL,
        )
        self.env = {
            "CONNECTOR_POHODA_URL": self.pohoda_url, "CONNECTOR_POHODA_USER": USER, "CONNECTOR_POHODA_ICO": ICO,
            "CONNECTOR_POHODA_PASSWORD": PASSWORD, "CONNECTOR_ESHOP_URL": self.eshop_url,
            "CONNECTOR_ESHOP_PLATFORM": platform, **shop_env,
            "CONNECTOR_STORE_URL": f"sqlite:///{tmp}/connector.db",
        }
        try:
            wait_up(self.pohoda_url, self.pohoda)
            wait_up(self.eshop_url, self.eshop)
        except BaseException:
            self.close()
            raise

    def pohoda_stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.pohoda_url}/_sim/stats", timeout=60).json())

    def close(self) -> None:
        for process in (self.pohoda, self.eshop):
            process.terminate()
        for process in (self.pohoda, self.eshop):
            process.wait(30)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def describe(label: str, run: dict[str, Any]) -> None:
    print(f"{label}: {run['seconds']:.2f} s, peak RSS {run['peak_rss_mb']:.0f} MB; "
          f"read {run['pulled_eshop']} from the e-shop ({run['echoes_eshop']} echoes), "
          f"{run['pulled_pohoda']} from POHODA ({run['echoes_pohoda']} echoes); delivered {run['delivered']}")
    print("  seconds by phase: " + ", ".join(f"{name} {value:.2f}" for name, value in run["phases"].items()))


def first_import(options: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    seed = tmp / "registrations.jsonl"
    with seed.open("w", encoding="utf-8") as out:
        write_jsonl(generate_contacts(options.records, seed=11), out)
    sims = Simulators(tmp, options.platform, pohoda_seed=None, eshop_seed=seed)
    try:
        env = sims.env  # the child inherits the rest (CONNECTOR_*_BATCH_SIZE, BENCH_PROFILE)
        load_before = load()
        imported = timed_run(env)
        stats = sims.pohoda_stats()
        echoes = timed_run(env)
        load_after = load()
    finally:
        sims.close()
    requests = int(stats["requests"].get("POST /xml", 0))
    import_requests = requests - int(stats["exports"])
    items_per_pack = int(stats["imports"]) / max(import_requests, 1)
    created = imported["delivered"].get("pohoda.create", 0)
    print(f"platform: {options.platform}; load average before {load_before}, after {load_after}")
    describe("first import", imported)
    describe("next run (echoes)", echoes)
    print(f"registrations delivered to POHODA: {created}, {created / imported['seconds']:,.0f} records/s")
    print(f"requests to POHODA: {requests} ({import_requests} imports, {stats['exports']} exports); "
          f"items per dataPack: {items_per_pack:.1f}")
    return {
        "platform": options.platform,
        "records": created,
        "seconds": imported["seconds"],
        "records_per_s": round(created / imported["seconds"], 1),
        "peak_rss_mb": imported["peak_rss_mb"],
        "echo_run_seconds": echoes["seconds"],
        "echo_run_peak_rss_mb": echoes["peak_rss_mb"],
        "echo_run_share": round(echoes["seconds"] / imported["seconds"], 3),
        "requests": requests,
        "items_per_datapack": round(items_per_pack, 1),
        "load_average": load_after,
    }


def _jsonl(path: Path, rows: Iterator[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False))
            out.write("\n")


def incremental(options: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from tests.linked_store import (
        eshop_id,
        eshop_seeds,
        pohoda_cursor_after,
        pohoda_id,
        pohoda_seeds,
        seed_linked_store,
    )

    if options.platform != "connector":
        raise SystemExit("--store seeds the project's own e-shop simulator: --platform connector")
    customers, changes = options.store, options.changes
    started = time.perf_counter()
    contacts = list(generate_contacts(customers, seed=11))
    eshop_file, pohoda_file = tmp / "eshop.jsonl", tmp / "pohoda.jsonl"
    _jsonl(eshop_file, eshop_seeds(contacts))
    _jsonl(pohoda_file, (c.to_dict() for c in pohoda_seeds(contacts)))
    sims = Simulators(tmp, options.platform, pohoda_seed=pohoda_file, eshop_seed=eshop_file)
    try:
        ready = dt.datetime.now(dt.UTC)
        store_url = sims.env["CONNECTOR_STORE_URL"]
        seed_linked_store(store_url, contacts, eshop_cursor=str(customers), pohoda_cursor=ready.isoformat())
        # The simulator times its seeds a millisecond apart at least, from when it began to load
        # them (before it answered): the last one is no later than that many ms after that.
        cursor = pohoda_cursor_after(ready + dt.timedelta(milliseconds=customers))
        with Store.open(store_url) as store, store.transaction() as conn:
            Store.set_cursor(conn, "pohoda", cursor)
        del contacts
        edits = _spread(customers, changes)
        with httpx.Client(timeout=60) as client:
            for change, index in enumerate(edits):
                if change % 2 == 0:
                    client.patch(f"{sims.eshop_url}/_sim/customers/{eshop_id(index)}",
                                 json={"note": f"bench edit {change}"}).raise_for_status()
                else:
                    client.patch(f"{sims.pohoda_url}/_sim/contacts/{pohoda_id(index)}",
                                 json={"note": f"bench edit {change}"}).raise_for_status()
        seeded_s = time.perf_counter() - started
        load_before = load()
        run = timed_run(sims.env)
        load_after = load()
        joined: dict[str, Any] | None = None
        if options.registrations:
            started = time.perf_counter()
            with Store.open(store_url) as store:
                store.dedup_view("pohoda", [], region="CZ", email_provider_rules=True)
            index_s = time.perf_counter() - started
            with httpx.Client(timeout=60) as client:
                for number, contact in enumerate(generate_contacts(options.registrations, seed=12)):
                    data = contact.replace(id=None, email=f"bench.newcomer{number}@example.net").to_dict()
                    client.post(f"{sims.eshop_url}/_sim/register", json=data).raise_for_status()
            joined = timed_run(sims.env)
            load_joined = load()
    finally:
        sims.close()
    print(f"store: {customers} linked customers (seeded in {seeded_s:.0f} s), {changes} changes; "
          f"load average before {load_before}, after {load_after}")
    describe("incremental run", run)
    registrations: dict[str, Any] = {}
    if joined is not None:
        print(f"dedup index of {customers} POHODA contacts made and its model fitted (once): {index_s:.1f} s")
        describe(f"run with {options.registrations} new registrations", joined)
        print(f"  load average after {load_joined}")
        registrations = {
            "registrations": options.registrations,
            "registrations_seconds": joined["seconds"],
            "registrations_peak_rss_mb": joined["peak_rss_mb"],
            "registrations_delivered": joined["delivered"],
            "index_build_s": round(index_s, 1),
        }
    return {
        "store": customers,
        "changes": changes,
        "seconds": run["seconds"],
        "peak_rss_mb": run["peak_rss_mb"],
        "pulled_eshop": run["pulled_eshop"],
        "pulled_pohoda": run["pulled_pohoda"],
        "delivered": run["delivered"],
        "phases": run["phases"],
        "load_average": load_after,
        **registrations,
    }


def _spread(customers: int, changes: int) -> Sequence[int]:
    """`changes` customers spread evenly over the store."""
    return [change * customers // max(changes, 1) for change in range(min(changes, customers))]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000, help="first import: new e-shop registrations")
    parser.add_argument("--platform", choices=["connector", "woocommerce", "shoptet"], default="connector")
    parser.add_argument("--store", type=int, help="incremental: customers linked on both sides before the run")
    parser.add_argument("--changes", type=int, default=100, help="incremental: edits the run picks up")
    parser.add_argument("--registrations", type=int, default=20,
                        help="incremental: new registrations for a second timed run (0: none)")
    parser.add_argument("--run-once", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.run_once:
        run_once()
        return
    with tempfile.TemporaryDirectory(prefix="connector-bench-") as tmp:
        result = incremental(options, Path(tmp)) if options.store else first_import(options, Path(tmp))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
