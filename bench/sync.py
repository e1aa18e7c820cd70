"""Benchmark: deliver 10,000 new e-shop registrations to the POHODA simulator in one sync run.

The simulators run in their own processes (as POHODA and the e-shop run on other machines),
the connector in this one with a SQLite store in a temporary directory. Prints records/s,
the requests POHODA received and the items per dataPack; the last line is one JSON object.

    python bench/sync.py [--records 10000] [--platform connector|woocommerce|shoptet]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from connector.actions import run_sync
from connector.config import load_config
from connector.log import configure_logging
from connector.model import write_jsonl
from connector.sim._server import free_port
from connector.sim.generate import generate_contacts

USER, PASSWORD, TOKEN, ICO = "bench", "bench-pohoda", "bench-eshop", "12345678"


def start(args: list[str], url: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "connector", *args], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/_sim/stats", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the simulator at {url} did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--platform", choices=["connector", "woocommerce", "shoptet"], default="connector")
    options = parser.parse_args()
    configure_logging("error", "console")
    with tempfile.TemporaryDirectory(prefix="connector-bench-") as tmp:
        seed = Path(tmp) / "registrations.jsonl"
        with seed.open("w", encoding="utf-8") as out:
            write_jsonl(generate_contacts(options.records, seed=11), out)
        pohoda_port, eshop_port = free_port(), free_port()
        pohoda_url, eshop_url = f"http://127.0.0.1:{pohoda_port}", f"http://127.0.0.1:{eshop_port}"
        env_password = {**os.environ, "CONNECTOR_POHODA_PASSWORD": PASSWORD}
        pohoda = subprocess.Popen(
            [sys.executable, "-m", "connector", "sim", "pohoda", "--port", str(pohoda_port), "--user", USER,
             "--ico", ICO],
            stdout=subprocess.DEVNULL, env=env_password,
        )
        shop_args, shop_env = {
            "connector": (["sim", "eshop", "--token", TOKEN], {"CONNECTOR_ESHOP_TOKEN": TOKEN}),
            "woocommerce": (
                ["sim", "woocommerce", "--key", "ck_bench", "--secret", "cs_bench"],
                {"CONNECTOR_ESHOP_KEY": "ck_bench", "CONNECTOR_ESHOP_SECRET": "cs_bench"},
            ),
            "shoptet": (["sim", "shoptet", "--token", TOKEN], {"CONNECTOR_ESHOP_TOKEN": TOKEN}),
        }[options.platform]
        eshop = start([*shop_args, "--port", str(eshop_port), "--seed", str(seed)], eshop_url)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{pohoda_url}/_sim/stats", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the POHODA simulator did not start") from None
                    time.sleep(0.1)
            config = load_config(
                None,
                env={
                    "CONNECTOR_POHODA_URL": pohoda_url, "CONNECTOR_POHODA_USER": USER, "CONNECTOR_POHODA_ICO": ICO,
                    "CONNECTOR_POHODA_PASSWORD": PASSWORD, "CONNECTOR_ESHOP_URL": eshop_url,
                    "CONNECTOR_ESHOP_PLATFORM": options.platform, **shop_env,
                    "CONNECTOR_STORE_URL": f"sqlite:///{tmp}/connector.db",
                    **{k: v for k, v in os.environ.items() if k.startswith("CONNECTOR_") and k.endswith("BATCH_SIZE")},
                },
            )
            started = time.perf_counter()
            if os.environ.get("BENCH_PROFILE"):
                import cProfile

                profiler = cProfile.Profile()
                summary = profiler.runcall(run_sync, config)
                profiler.dump_stats(os.environ["BENCH_PROFILE"])
            else:
                summary = run_sync(config)
            seconds = time.perf_counter() - started
            stats = httpx.get(f"{pohoda_url}/_sim/stats", timeout=30).json()
            contacts = httpx.get(f"{pohoda_url}/_sim/contacts", timeout=60).text.count("\n")
        finally:
            pohoda.terminate()
            eshop.terminate()
            pohoda.wait(10)
            eshop.wait(10)
    requests = int(stats["requests"].get("POST /xml", 0))
    import_requests = requests - int(stats["exports"])
    items_per_pack = int(stats["imports"]) / max(import_requests, 1)
    created = summary.delivered.get("pohoda.create", 0)
    print(f"platform: {options.platform}")
    print(f"registrations delivered to POHODA: {created} (POHODA now holds {contacts} contacts)")
    print(f"run time: {seconds:.2f} s, {created / seconds:,.0f} records/s")
    print(f"requests to POHODA: {requests} ({import_requests} imports, {stats['exports']} exports)")
    print(f"items per dataPack: {items_per_pack:.1f}; e-shop link writes: {summary.delivered.get('eshop.link', 0)}")
    print("seconds by phase: " + ", ".join(f"{name} {value:.2f}" for name, value in summary.phases.items()))
    print(json.dumps({
        "platform": options.platform,
        "records_per_s": round(created / seconds, 1),
        "requests": requests,
        "items_per_datapack": round(items_per_pack, 1),
        "records": created,
        "seconds": round(seconds, 3),
    }))


if __name__ == "__main__":
    main()
