"""Benchmark: e-shop-side delivery throughput with 1, 2 and 4 `connector deliver` processes
sharing one PostgreSQL store, the e-shop simulator answering each request after 20 ms.

The outbox is seeded with one update per linked customer; the clock runs from the first
operation done to the last (process start-up is not delivery). The PostgreSQL server is
CONNECTOR_TEST_POSTGRES_URL's, or one started for the run (Debian's binaries).
The last line is one JSON object: eshop_ops_per_s_1, eshop_ops_per_s_2, eshop_ops_per_s_4.

    python bench/scale.py [--ops 4000] [--batch 10] [--delay-ms 20]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/shared_work.py

from tests.shared_work import PostgresServer, outbox_states, seeded_sandbox, start_workers, wait_all


def measure(workers: int, ops: int, batch: int, delay_ms: int, directory: Path) -> float:
    settings = {"CONNECTOR_ESHOP_BATCH_SIZE": str(batch), "CONNECTOR_LOG_LEVEL": "error"}
    with seeded_sandbox(directory, ops, pohoda_ops=0, settings=settings) as box:
        box.eshop_faults(delay_ms=delay_ms)
        processes = start_workers(box, workers, directory / "logs")
        first = last = None
        while True:
            done = outbox_states(box).get("done", 0)
            now = time.monotonic()
            if done and first is None:
                first, first_done = now, done
            if done >= ops:
                last = now
                break
            time.sleep(0.02)
        codes = wait_all(processes, 120)
        assert codes == [0] * workers, codes
        assert box.eshop_stats()["updates"] == ops
        assert first is not None and last is not None
        return (ops - first_done) / max(last - first, 1e-6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=10, help="e-shop batch size ([eshop] batch_size)")
    parser.add_argument("--delay-ms", type=int, default=20)
    args = parser.parse_args()
    server = None
    base = os.environ.get("CONNECTOR_TEST_POSTGRES_URL")
    if not base:
        server = PostgresServer().start()
        base = server.url
    os.environ["CONNECTOR_SANDBOX_STORE_URL"] = base
    results: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for workers in (1, 2, 4):
                rate = measure(workers, args.ops, args.batch, args.delay_ms, Path(scratch) / f"w{workers}")
                results[f"eshop_ops_per_s_{workers}"] = round(rate, 1)
                print(f"{workers} process(es): {rate:8.1f} e-shop operations/s", flush=True)
    finally:
        if server is not None:
            server.close()
    results["speedup_4_over_1"] = round(results["eshop_ops_per_s_4"] / results["eshop_ops_per_s_1"], 2)
    results.update(ops=args.ops, batch=args.batch, delay_ms=args.delay_ms, cpus=os.cpu_count() or 0)
    print(f"4 processes / 1 process: {results['speedup_4_over_1']}x")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
