"""`connector reconcile` as a library call: compare both sides in full, and with `fix`
repair what differs through the outbox, holding the sync's run lock throughout.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import uuid
from typing import Any

from connector.config import Config
from connector.log import get_logger
from connector.reconcile._compare import Comparison, ReadProgress, compare
from connector.reconcile._fix import FixOutcome, repair_plan
from connector.runtime import Runtime
from connector.store import Store
from connector.sync import LOCK_NAME

log = get_logger(__name__)

# A long comparison renews the run lock this often (the store takes a silent lock over).
_HEARTBEAT_S = 30.0


@dataclasses.dataclass
class ReconcileResult:
    """The comparison, and what `--fix` did (None without it)."""

    comparison: Comparison
    fix: FixOutcome | None = None

    @property
    def exit_code(self) -> int:
        """0: both sides agree (or every difference was repaired); 1: differences remain."""
        if self.fix is None:
            return 0 if self.comparison.agreed else 1
        return 0 if self.comparison.complete and self.fix.clean else 1


def reconcile(runtime: Runtime, *, fix: bool = False, progress: ReadProgress | None = None) -> ReconcileResult:
    """Compare both address books in full; with `fix`, repair what differs.

    With `fix` the sync's run lock is held from the first read to the last delivery, so no
    sync run plans from a state the comparison has not seen.
    """
    store = runtime.store
    if not fix:
        return ReconcileResult(_compare(runtime, progress))
    run_id = f"reconcile-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    store.acquire_lock(LOCK_NAME, run_id)
    try:
        comparison = _compare(runtime, _beating(store, run_id, progress))
        return ReconcileResult(comparison, _repair(runtime, comparison, run_id))
    finally:
        store.release_lock(LOCK_NAME, run_id)


def run_reconcile(config: Config, *, fix: bool = False, progress: ReadProgress | None = None) -> ReconcileResult:
    """`reconcile` with the configured store and peers."""
    with Runtime(config) as runtime:
        return reconcile(runtime, fix=fix, progress=progress)


def _compare(runtime: Runtime, progress: ReadProgress | None) -> Comparison:
    comparison = compare(
        runtime.store, runtime.hq, runtime.shop, runtime.settings, progress=progress, hq_apart=runtime.hq_for_child
    )
    log.info(
        "reconcile.compared",
        differences=len(comparison.findings),
        agree=comparison.agree,
        complete=comparison.complete,
        seconds=comparison.seconds,
        **{f"read_{side}": read.records for side, read in comparison.reads.items()},
    )
    return comparison


def _beating(store: Store, owner: str, progress: ReadProgress | None) -> ReadProgress:
    last = [time.monotonic()]

    def report(side: str, done: int, total: int) -> None:
        if time.monotonic() - last[0] > _HEARTBEAT_S:
            store.heartbeat(LOCK_NAME, owner)
            last[0] = time.monotonic()
        if progress is not None:
            progress(side, done, total)

    return report


def _repair(runtime: Runtime, comparison: Comparison, run_id: str) -> FixOutcome:
    store = runtime.store
    plan = repair_plan(store, comparison, runtime.settings)
    run = runtime.sync_run(run_id=run_id, kind="reconcile")
    run.apply_plan(plan)
    # Fields both sides changed are settled by the policy when planning; only a conflict at
    # delivery (the record changed after it was read) leaves a difference behind.
    planned_conflicts = run.summary.conflicts
    with store.transaction() as conn:
        Store.add_audit(
            conn,
            operation="reconcile",
            result="done",
            run_id=run_id,
            note=f"{len(comparison.findings)} difference(s) found; {len(plan.ops)} operation(s) queued",
            detail={"counts": comparison.counts(), "planned": len(plan.ops), "reviews": len(plan.reviews)},
        )
    run.deliver()
    summary = run.summary
    needs_person = {(f.eshop_id, f.pohoda_id) for f in comparison.findings if f.kind == "likely_duplicate"}
    needs_person.update((r.record_id, r.candidate_id) for r in plan.reviews)
    outcome = FixOutcome(
        run_id=run_id,
        planned=dict(summary.planned),
        delivered=dict(summary.delivered),
        refused=summary.refused,
        conflicts=summary.conflicts - planned_conflicts,
        reviews=len(needs_person),
        links_marked=len(plan.link_updates),
        peer_errors=dict(summary.peer_errors),
    )
    log.info("reconcile.fixed", run_id=run_id, **_counts(outcome))
    return outcome


def _counts(outcome: FixOutcome) -> dict[str, Any]:
    return {
        "planned": sum(outcome.planned.values()),
        "delivered": sum(outcome.delivered.values()),
        "refused": outcome.refused,
        "reviews": outcome.reviews,
    }
