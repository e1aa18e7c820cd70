"""`connector reconcile` reads POHODA in a forked child: the same comparison as a thread's, the
parent's store and peers untouched by the child, and a child that fails or dies said so.

Real parts: both simulators over loopback HTTP, the real store (SQLite and PostgreSQL), the
child a real forked process.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from reconcile_seed import apply_to, divergence

from connector.errors import ConfigError
from connector.peers import Peer
from connector.reconcile import Comparison, _apart, compare, reconcile
from connector.reconcile._apart import can_fork
from connector.runtime import Runtime
from connector.sim.sandbox import Sandbox
from connector.store import Store

pytestmark = pytest.mark.skipif(not can_fork(), reason="no forked processes on this platform")

N = 400


@pytest.fixture
def box(store_backend: str, tmp_path: Path) -> Iterator[Sandbox]:
    seeded = divergence(N)
    with Sandbox(tmp_path / "box", pohoda_seed=seeded.pohoda_seed, eshop_seed=seeded.eshop_seed) as sandbox:
        with Store.open(sandbox.config.store_url) as store:
            apply_to(sandbox, store, seeded)
        yield sandbox


def _summary(comparison: Comparison) -> tuple[object, ...]:
    findings = [f.to_dict() for f in comparison.findings]
    return (findings, comparison.agree, comparison.linked, comparison.withheld)


def test_the_child_finds_what_the_thread_finds_and_the_parent_s_store_still_serves(box: Sandbox) -> None:
    with Runtime(box.config) as runtime:
        in_thread = compare(runtime.store, runtime.hq, runtime.shop, runtime.settings)
        seen: list[tuple[str, int, int]] = []
        apart = compare(
            runtime.store,
            runtime.hq,
            runtime.shop,
            runtime.settings,
            progress=lambda side, done, total: seen.append((side, done, total)),
            hq_apart=runtime.hq_for_child,
        )
        assert (in_thread.reads["pohoda"].process, apart.reads["pohoda"].process) == ("thread", "child")
        assert in_thread.findings and _summary(apart) == _summary(in_thread)
        assert apart.reads["pohoda"].records == in_thread.reads["pohoda"].records > 0
        assert apart.reads["pohoda"].complete and apart.reads["pohoda"].peak_rss_mb
        # The child's progress reached the parent's callback, up to its last record.
        assert ("pohoda", apart.reads["pohoda"].records, apart.reads["pohoda"].records) in seen
        # The parent's connections (to the store, to POHODA) were the child's to leave alone.
        fixed = reconcile(runtime, fix=True)
        assert fixed.fix is not None and fixed.fix.clean
        assert reconcile(runtime).exit_code == 0


def test_a_child_that_dies_leaves_its_side_unread_and_acts_on_no_absence(box: Sandbox) -> None:
    box.pohoda_faults(delay_ms=500)  # the child is still reading when it is killed

    def kill_the_reader(side: str, _done: int, _total: int) -> None:
        if side == "pohoda":
            for child in multiprocessing.active_children():
                if child.name == "reconcile-pohoda":
                    child.kill()

    with Runtime(box.config) as runtime:
        result = reconcile(runtime, progress=kill_the_reader)
        read = result.comparison.reads["pohoda"]
        assert not read.complete and read.error is not None and "ended without an answer" in read.error
        assert result.exit_code == 1
        counts = result.comparison.counts()
        # Nothing that rests on POHODA's full listing is reported, so nothing of it is repaired.
        assert counts["gone_in_pohoda"] == counts["missing_in_pohoda"] == counts["unlinked_duplicate"] == 0
        assert result.comparison.withheld > 0
        box.pohoda_faults(delay_ms=0)
        assert reconcile(runtime).comparison.reads["pohoda"].complete  # and the next one reads it


def test_what_the_child_raises_is_raised_here(box: Sandbox) -> None:
    def no_peer() -> None:
        raise ConfigError("pohoda.url: not a URL")

    with Runtime(box.config) as runtime, pytest.raises(ConfigError, match=r"pohoda\.url: not a URL"):
        compare(runtime.store, runtime.hq, runtime.shop, runtime.settings, hq_apart=no_peer)  # type: ignore[arg-type]


def test_a_child_that_hangs_is_stopped_and_its_side_left_unread(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_apart, "SILENCE_S", 1.0)
    with Runtime(box.config) as runtime:

        def hung() -> Peer:
            time.sleep(60)  # as on a lock that no thread of the child will release
            return runtime.hq_for_child()

        started = time.monotonic()
        comparison = compare(runtime.store, runtime.hq, runtime.shop, runtime.settings, hq_apart=hung)
    assert time.monotonic() - started < 30
    read = comparison.reads["pohoda"]
    assert not read.complete and read.error is not None and "sent nothing for 1 s" in read.error
    assert comparison.counts()["gone_in_pohoda"] == 0 and comparison.withheld > 0
