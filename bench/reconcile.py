"""Reconcile benchmark: a full comparison of N customers per side over loopback, against the floor.

The floor is what no reconcile can avoid, measured in the same run: lxml parsing and
`etree.XMLSchema` validation of both exports' bytes (POHODA's listAddressBook pages, the
e-shop's feed pages), in this process. The simulators and the seeding run in child
processes, so that this process's peak RSS is the reconcile's own; the comparison's POHODA
reader is a forked child of this one, its peak reported apart (child_peak_rss_mb) and the
two processes' memory together as their summed PSS, sampled (peak_pss_mb).

Usage: python bench/reconcile.py [--count 100000] [--fix]; the last line is one JSON object
with wall_s, floor_s, peak_rss_mb, child_peak_rss_mb and peak_pss_mb.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the seeded divergence, shared with the tests


def peak_rss_mb() -> float:
    """This process's own peak resident set (VmHWM). Not ru_maxrss: a forked child starts
    with its parent's figure, so a child's ru_maxrss can carry a peak that is not its own."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def serve(role: str, count: int, directory: Path) -> None:
    """A child: one simulator seeded with the divergence (POHODA's child seeds the store
    too); then wait. One process per simulator, as POHODA and the e-shop are two servers."""
    from reconcile_seed import divergence, seed_store

    from connector.sim._server import RunningServer
    from connector.sim.pohoda import PohodaSimulator
    from connector.sim.sandbox import ICO, POHODA_PASSWORD, POHODA_USER, SHOP_BOXES
    from connector.store import Store

    started = time.perf_counter()
    seeded = divergence(count)
    env: dict[str, str] = {}
    if role == "pohoda":
        sim = PohodaSimulator(user=POHODA_USER, password=POHODA_PASSWORD, ico=ICO, seed_contacts=seeded.pohoda_seed)
        for pohoda_id in seeded.deleted_in_pohoda:
            sim.delete_contact(pohoda_id)
        with Store.open(f"sqlite:///{directory / 'connector.db'}") as store:
            seed_store(store, seeded)  # the "connector" platform keeps the seeded e-shop ids
        del seeded
        server = RunningServer(sim.app).start()
        env = {
            "CONNECTOR_POHODA_URL": server.url,
            "CONNECTOR_POHODA_USER": POHODA_USER,
            "CONNECTOR_POHODA_ICO": ICO,
            "CONNECTOR_POHODA_PASSWORD": POHODA_PASSWORD,
            "CONNECTOR_STORE_URL": f"sqlite:///{directory / 'connector.db'}",
        }
    else:
        box = SHOP_BOXES["connector"](seeded.eshop_seed)
        del seeded
        env = dict(box.env)
    print(json.dumps({"env": env, "seed_s": time.perf_counter() - started}))
    sys.stdout.flush()
    served_from = time.process_time()
    sys.stdin.read()  # until the parent closes it
    # What answering every read (the reconcile's and the floor's) cost this simulator, and
    # its own peak (not the parent's), for the record.
    print(json.dumps({"cpu_s": round(time.process_time() - served_from, 2), "peak_rss_mb": round(peak_rss_mb(), 1)}))
    sys.stdout.flush()


def _pss_mb(pid: int | str) -> float:
    """A process's proportional set size: its own pages, and its share of those it shares."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class MemoryWatch:
    """The peak of this process's and its forked readers' memory together, sampled: their
    PSS summed (a page two of them share counts once), the simulators left out."""

    def __init__(self, exclude: set[int], every_s: float = 0.05) -> None:
        import threading

        self.peak_mb = 0.0
        self._exclude = {str(pid) for pid in exclude}
        self._stop = threading.Event()
        self._every_s = every_s
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _children(self) -> list[str]:
        found: list[str] = []
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/children", encoding="ascii") as children:
                    found.extend(pid for pid in children.read().split() if pid not in self._exclude)
            except OSError:
                continue
        return found

    def _watch(self) -> None:
        while not self._stop.wait(self._every_s):
            total = _pss_mb("self") + sum(_pss_mb(pid) for pid in self._children())
            self.peak_mb = max(self.peak_mb, total)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(self.peak_mb, 1)


FETCH_S: dict[str, float] = {"pohoda": 0.0, "eshop": 0.0}
SIMULATORS: dict[str, dict[str, float]] = {}
FLOOR_CPU_S = [0.0]


def floor(env: dict[str, str]) -> tuple[float, int]:
    """Seconds spent parsing and validating both exports' bytes (fetched untimed), and bytes."""
    import httpx
    from lxml import etree

    from connector.config import load_config
    from connector.peers.eshop import FEED_PAGE_SIZE
    from connector.peers.pohoda import EXPORT_PAGE_SIZE, PohodaClient

    config = load_config(None, env=env)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    schemas = HERE.parent / "schemas"
    response_xsd = etree.XMLSchema(etree.parse(str(schemas / "pohoda" / "response.xsd")))
    eshop_xsd = etree.XMLSchema(etree.parse(str(schemas / "eshop" / "eshop.xsd")))
    spent, size = 0.0, 0

    def measure(body: bytes, schema: etree.XMLSchema) -> None:
        nonlocal spent, size
        mark, cpu_mark = time.perf_counter(), time.process_time()
        document = etree.fromstring(body, parser)
        valid = schema.validate(document)
        spent += time.perf_counter() - mark
        FLOOR_CPU_S[0] += time.process_time() - cpu_mark
        size += len(body)
        assert valid, schema.error_log.last_error

    with PohodaClient.from_config(config) as client:
        id_from = 1
        while True:
            mark = time.perf_counter()
            body = client.post_xml(
                client.codec.encode_list_request(pack_id=f"floor-{id_from}", id_from=id_from, count=EXPORT_PAGE_SIZE)
            )
            FETCH_S["pohoda"] += time.perf_counter() - mark
            measure(body, response_xsd)
            ids = re.findall(rb"<adb:id>(\d+)</adb:id>", body)
            if len(ids) < EXPORT_PAGE_SIZE:
                break
            id_from = int(ids[-1]) + 1
    headers = {"Authorization": f"Bearer {env['CONNECTOR_ESHOP_TOKEN']}"}
    with httpx.Client(base_url=env["CONNECTOR_ESHOP_URL"], headers=headers, timeout=120) as http:
        cursor = ""
        while True:
            mark = time.perf_counter()
            body = http.get("/customers/changes", params={"cursor": cursor, "limit": str(FEED_PAGE_SIZE)}).content
            FETCH_S["eshop"] += time.perf_counter() - mark
            measure(body, eshop_xsd)
            head = body[:400]
            more = re.search(rb'hasMore="(\w+)"', head)
            cursor_match = re.search(rb'nextCursor="([^"]*)"', head)
            if more is None or more.group(1) != b"true" or cursor_match is None:
                break
            cursor = cursor_match.group(1).decode()
    return spent, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--fix", action="store_true", help="also repair, then compare again")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--role", choices=("pohoda", "eshop"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.role, args.count, args.serve)
        return

    from reconcile_seed import expected_counts

    from connector.config import load_config
    from connector.log import configure_logging
    from connector.reconcile import reconcile
    from connector.runtime import Runtime

    expected = expected_counts(args.count)
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        children = [
            subprocess.Popen(
                [sys.executable, __file__, "--count", str(args.count), "--serve", tmp, "--role", role],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": str(HERE.parent)},
            )
            for role in ("pohoda", "eshop")
        ]
        role_of = {child.pid: role for child, role in zip(children, ("pohoda", "eshop"), strict=True)}
        env = {"CONNECTOR_POHODA_RETRY_MAX_S": "10", "CONNECTOR_ESHOP_RETRY_MAX_S": "10"}
        for child in children:
            assert child.stdout is not None
            ready = json.loads(child.stdout.readline())
            env.update(ready["env"])
        print(f"seeded {args.count:,} customers per side in {ready['seed_s']:.1f} s (one child process per simulator)")
        config = load_config(None, env=env)
        configure_logging("warning")
        figures: dict[str, float | int | bool] = {}
        try:
            with Runtime(config) as runtime:
                watch = MemoryWatch(exclude={child.pid for child in children})
                started, cpu_started = time.perf_counter(), time.process_time()
                if os.environ.get("BENCH_PROFILE"):
                    import cProfile

                    profiler = cProfile.Profile()
                    result = profiler.runcall(reconcile, runtime)
                    profiler.dump_stats(os.environ["BENCH_PROFILE"])
                else:
                    result = reconcile(runtime)
                wall = time.perf_counter() - started
                figures["peak_pss_mb"] = watch.stop()
                # On a loaded machine the wall time is mostly waiting for a core: say so.
                figures["cpu_s"] = round(time.process_time() - cpu_started, 2)
                figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
                # POHODA read in a forked child: its own peak, and the two together (an upper
                # bound: pages shared with this process at the fork count in both).
                child_peak = result.comparison.reads["pohoda"].peak_rss_mb
                if child_peak is not None:
                    figures["child_peak_rss_mb"] = child_peak
                    figures["peak_rss_both_mb"] = round(figures["peak_rss_mb"] + child_peak, 1)
                counts = {k: v for k, v in result.comparison.counts().items() if v}
                figures["exact"] = counts == expected
                print(f"differences by kind: {counts} (seeded: {expected})")
                reads = result.comparison.reads
                print(
                    f"read: POHODA {reads['pohoda'].records:,} in {reads['pohoda'].seconds:.1f} s, "
                    f"e-shop {reads['eshop'].records:,} in {reads['eshop'].seconds:.1f} s"
                )
                if args.fix:
                    mark = time.perf_counter()
                    fixed = reconcile(runtime, fix=True)
                    figures["fix_s"] = round(time.perf_counter() - mark, 2)
                    mark = time.perf_counter()
                    again = reconcile(runtime)
                    figures["second_s"] = round(time.perf_counter() - mark, 2)
                    figures["fix_exit"], figures["second_exit"] = fixed.exit_code, again.exit_code
                    figures["peak_rss_after_fix_mb"] = round(peak_rss_mb(), 1)
            floor_s, size = floor(env)
        finally:
            for child in children:
                assert child.stdin is not None
                child.stdin.close()
                assert child.stdout is not None
                spent = child.stdout.readline()
                child.wait(60)
                if spent:
                    SIMULATORS[role_of[child.pid]] = json.loads(spent)
    child = f", the POHODA reader's {figures['child_peak_rss_mb']:.0f} MB" if "child_peak_rss_mb" in figures else ""
    print(f"reconcile wall time: {wall:.2f} s; peak RSS {figures['peak_rss_mb']:.0f} MB{child}")
    print(
        f"floor (lxml parse + XMLSchema validation of {size / 1e6:.0f} MB of exports): {floor_s:.2f} s; "
        f"ratio {wall / floor_s:.2f}x"
    )
    print(
        "fetching the exports' bytes alone (the simulators answering; not in the floor): "
        + ", ".join(f"{side} {seconds:.2f} s" for side, seconds in FETCH_S.items())
    )
    print(
        json.dumps(
            {
                "wall_s": round(wall, 2),
                "floor_s": round(floor_s, 2),
                "ratio": round(wall / floor_s, 2),
                # The machine may be shared: the ratio is measured in one run for that reason.
                "load_avg_1m": round(os.getloadavg()[0], 2),
                **{f"sim_{role}_cpu_s": spent["cpu_s"] for role, spent in SIMULATORS.items()},
                **{f"sim_{role}_peak_rss_mb": spent["peak_rss_mb"] for role, spent in SIMULATORS.items()},
                "count": args.count,
                "floor_cpu_s": round(FLOOR_CPU_S[0], 2),
                "fetch_pohoda_s": round(FETCH_S["pohoda"], 2),
                "fetch_eshop_s": round(FETCH_S["eshop"], 2),
                **figures,
            }
        )
    )


if __name__ == "__main__":
    main()
