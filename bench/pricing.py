"""Benchmark: OrderPrepare in the pricing worker and end-to-end `carts push`, optimized vs naive.

Carts of 100, 1,000 and 5,000 lines (10% distinct part numbers) against a catalog with 10,000
shipping and 10,000 tax rules, each worker on real loopback HTTP with its own SQLite store.
Prints a table, then one JSON line. Run: python bench/pricing.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connector.pricing._codec import load_catalog
from connector.pricing._generate import generate_cart, generate_catalog
from connector.pricing._push import push_cart
from connector.pricing._store import CartStore
from connector.pricing._worker import PricingService, create_app
from connector.sim._server import serve_in_thread
from connector.store import open_engine

SIZES = (100, 1000, 5000)
# The naive mode takes seconds per 1,000 lines: fewer runs keep the whole bench short.
RUNS = {"optimized": {100: 7, 1000: 7, 5000: 3}, "naive": {100: 3, 1000: 1, 5000: 1}}
CHUNK = 500


def measure(mode: str, catalog_xml: bytes, workdir: Path) -> dict[int, dict[str, float]]:
    catalog = load_catalog(catalog_xml)
    store = CartStore(open_engine(f"sqlite:///{workdir / f'{mode}.db'}"))
    service = PricingService(catalog, store, mode=mode)  # type: ignore[arg-type]
    out: dict[int, dict[str, float]] = {}
    with serve_in_thread(create_app(service)) as server:
        # One throw-away push warms the imports, the schema cache and the connection pool.
        push_cart(generate_cart(catalog, lines=10, distinct=1, cart_id=f"warm-{mode}"), worker_url=server.url)
        for size in SIZES:
            prepare, engine, push = [], [], []
            for run in range(RUNS[mode][size]):
                cart = generate_cart(catalog, lines=size, distinct=size // 10, cart_id=f"{mode}-{size}-{run}", seed=run)
                report = push_cart(cart, worker_url=server.url, chunk_size=CHUNK)
                if report.errors or report.added != size:
                    raise SystemExit(f"{mode} {size}: {len(report.errors)} refused lines: {report.errors[:3]}")
                timing = report.prepare_timing or {}
                prepare.append(timing["total_ms"])
                engine.append(timing["engine_ms"])
                push.append(report.elapsed_ms)
            out[size] = {
                "prepare_ms": statistics.median(prepare),
                "engine_ms": statistics.median(engine),
                "push_ms": statistics.median(push),
            }
            print(
                f"{mode:>9} {size:>5} lines: OrderPrepare {out[size]['prepare_ms']:9.1f} ms in the worker "
                f"(engine {out[size]['engine_ms']:8.1f} ms), push end to end {out[size]['push_ms']:9.1f} ms",
                flush=True,
            )
    return out


def main() -> None:
    started = time.perf_counter()
    catalog_xml = generate_catalog()
    catalog = load_catalog(catalog_xml)
    print(
        f"catalog: {len(catalog.entries)} entries, {len(catalog.shipping_rules)} shipping rules, "
        f"{len(catalog.tax_rules)} tax rules; carts with 10% distinct part numbers, chunks of {CHUNK}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        optimized = measure("optimized", catalog_xml, Path(tmp))
        naive = measure("naive", catalog_xml, Path(tmp))
    print()
    print(
        f"{'lines':>6} {'prepare opt ms':>15} {'prepare naive ms':>17} {'ratio':>7} {'us/line':>8} "
        f"{'push opt ms':>12} {'push naive ms':>14}"
    )
    for size in SIZES:
        o, n = optimized[size], naive[size]
        print(
            f"{size:>6} {o['prepare_ms']:15.1f} {n['prepare_ms']:17.1f} {n['prepare_ms'] / o['prepare_ms']:7.1f} "
            f"{o['prepare_ms'] * 1000 / size:8.1f} {o['push_ms']:12.1f} {n['push_ms']:14.1f}"
        )
    print(f"(OrderPrepare in the worker: parse, engine, store write; total run {time.perf_counter() - started:.0f} s)")
    print(
        json.dumps(
            {
                "prepare_ms_1000": round(optimized[1000]["prepare_ms"], 2),
                "naive_prepare_ms_1000": round(naive[1000]["prepare_ms"], 2),
                "ratio_1000": round(naive[1000]["prepare_ms"] / optimized[1000]["prepare_ms"], 1),
                "per_line_us_100": round(optimized[100]["prepare_ms"] * 1000 / 100, 2),
                "per_line_us_5000": round(optimized[5000]["prepare_ms"] * 1000 / 5000, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
