"""The repairs of a comparison, through the normal path: the sync's own planner decides them
(the same merge policy, dedup and deletion policy), the outbox holds them, `deliver()` sends.

What the planner has no rule for is added here and only here: a POHODA deletion (seen only
as a link whose record is gone) marks the link, and an e-shop account that no longer shows
its POHODA id is told it again. What needs a person goes to the review queue.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from connector.model import Contact, Link
from connector.peers import PeerRecord
from connector.plan import Plan, PlannedAudit, PlannedOp, PlanSettings, PlanState, SideRecord, plan_operations
from connector.reconcile._compare import Comparison, Finding
from connector.store import Store

# Kinds that need no absence on either side: repaired even when a side was not read to its end.
_PRESENCE_ONLY = ("field_difference", "id_mismatch", "pending")


@dataclasses.dataclass
class FixOutcome:
    """What `--fix` did: operations queued and delivered, items left for a person."""

    run_id: str
    planned: dict[str, int] = dataclasses.field(default_factory=dict)
    delivered: dict[str, int] = dataclasses.field(default_factory=dict)
    refused: int = 0
    conflicts: int = 0
    reviews: int = 0
    links_marked: int = 0
    peer_errors: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """Everything was repaired: nothing refused, nothing waiting for a person or a peer."""
        return not (self.refused or self.conflicts or self.reviews or self.peer_errors)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _eshop_record(record: PeerRecord) -> SideRecord:
    return SideRecord("eshop", record.record_id, record.contact, version=record.version, hq_id=record.other_id)


def _pohoda_record(record: PeerRecord) -> SideRecord:
    return SideRecord("pohoda", record.record_id, record.contact, version=record.version, ext_id=record.other_id)


class _RepairPlan:
    """The comparison's findings as the planner's input, and the plan with reconcile's own rules."""

    def __init__(self, store: Store, comparison: Comparison, settings: PlanSettings) -> None:
        self.store = store
        self.comparison = comparison
        self.settings = settings
        self.eshop: dict[str, SideRecord] = {}
        self.pohoda: dict[str, SideRecord] = {}
        self.links: dict[int, Link] = {}

    def _record_of(self, side: str, record_id: str, link: Link) -> SideRecord:
        """The record as read, or (when it equalled its synced version and was not kept) that version."""
        records = self.comparison.eshop_records if side == "eshop" else self.comparison.pohoda_records
        found = records.get(record_id)
        if found is not None:
            return _eshop_record(found) if side == "eshop" else _pohoda_record(found)
        base = self.comparison.base_contents.get(link.id) or self.store.bases_of([link.id]).get(link.id)
        assert base is not None, f"link {link.id}: a record not kept has a synced version"
        contact = Contact.from_dict(base, record=record_id)
        if side == "eshop":
            version = self.comparison.eshop_versions.get(link.id)
            return SideRecord("eshop", record_id, contact, version=version, hq_id=link.pohoda_id)
        return SideRecord("pohoda", record_id, contact, ext_id=link.eshop_id)

    def build(self, findings: list[Finding]) -> Plan:
        after: list[Finding] = []
        for finding in findings:
            link = self.comparison.links.get(finding.link_id) if finding.link_id is not None else None
            if link is not None:
                self.links[link.id] = link
            if finding.kind in ("field_difference", "id_mismatch") and link is not None:
                assert link.eshop_id is not None and link.pohoda_id is not None
                self.eshop[link.eshop_id] = self._record_of("eshop", link.eshop_id, link)
                self.pohoda[link.pohoda_id] = self._record_of("pohoda", link.pohoda_id, link)
                after.append(finding)
            elif finding.kind == "pending" and link is not None:
                if link.eshop_id is not None and link.eshop_id in self.comparison.eshop_records:
                    self.eshop[link.eshop_id] = self._record_of("eshop", link.eshop_id, link)
                after.append(finding)
            elif finding.kind == "gone_in_eshop" and link is not None and link.eshop_id is not None:
                # A tombstone: the planner's deletion rule (and [sync] delete_in_pohoda) applies.
                self.eshop[link.eshop_id] = SideRecord("eshop", link.eshop_id, None)
            elif finding.kind in ("gone_in_pohoda", "gone_on_both"):
                after.append(finding)
            elif finding.kind in ("missing_in_pohoda", "unlinked_duplicate", "likely_duplicate"):
                if finding.eshop_id in self.comparison.eshop_records:
                    self.eshop[finding.eshop_id] = _eshop_record(self.comparison.eshop_records[finding.eshop_id])
                if finding.pohoda_id in self.comparison.pohoda_records:
                    self.pohoda[finding.pohoda_id] = _pohoda_record(self.comparison.pohoda_records[finding.pohoda_id])
            elif finding.kind == "missing_in_eshop" and finding.pohoda_id in self.comparison.pohoda_records:
                self.pohoda[finding.pohoda_id] = _pohoda_record(self.comparison.pohoda_records[finding.pohoda_id])
        plan = plan_operations(self.eshop.values(), self.pohoda.values(), self._state(), self.settings)
        for finding in after:
            self._after_planner(plan, finding)
        return plan

    def _state(self) -> PlanState:
        reviews = self.store.reviews(state=None)
        return PlanState(
            links=tuple(self.links.values()),
            bases=self.store.bases_of(self.links),
            mirror_eshop={},
            mirror_pohoda={},
            # Only the decisions about records handed to the planner: it applies (and closes)
            # every decided item it is given.
            decided_reviews=tuple(
                r
                for r in reviews
                if r.state in ("accepted", "rejected") and r.side == "eshop" and r.record_id in self.eshop
            ),
            open_reviews=tuple(r for r in reviews if r.state == "open"),
            pending_pohoda=self.store.pending_by_link("pohoda", ("create", "update")),
        )

    def _after_planner(self, plan: Plan, finding: Finding) -> None:
        link = self.comparison.links[finding.link_id] if finding.link_id is not None else None
        if link is None:
            return
        if finding.kind == "id_mismatch" and finding.changed_on in ("eshop", "both"):
            if not any(op.link_ref == link.id and op.side == "eshop" and op.kind == "link" for op in plan.ops):
                plan.ops.append(PlannedOp(link.id, "eshop", "link", {"hq_id": link.pohoda_id, "sync_state": "synced"}))
        elif finding.kind == "pending":
            waiting = self.store.pending_by_link("pohoda", ("create",)).get(link.id)
            queued = any(op.link_ref == link.id and op.side == "pohoda" for op in plan.ops)
            record = self.eshop.get(link.eshop_id) if link.eshop_id else None
            if not waiting and not queued and link.pohoda_id is None and record is not None:
                content = record.content()
                assert content is not None
                plan.ops.append(PlannedOp(link.id, "pohoda", "create", {"contact": content}))
                plan.bases[link.id] = content
        elif finding.kind in ("gone_in_pohoda", "gone_on_both"):
            both = finding.kind == "gone_on_both"
            plan.link_updates.setdefault(link.id, {}).update(state="deleted_both" if both else "deleted_pohoda")
            plan.audits.append(
                PlannedAudit(
                    "delete",
                    "done",
                    link_ref=link.id,
                    side="pohoda",
                    eshop_id=link.eshop_id,
                    pohoda_id=link.pohoda_id,
                    note=(
                        "gone on both sides (found by reconcile); link marked"
                        if both
                        else "deleted in POHODA (found by reconcile: the full export no longer has it); "
                        "the e-shop account is kept, the link marked"
                    ),
                )
            )


def repair_plan(store: Store, comparison: Comparison, settings: PlanSettings) -> Plan:
    """The operations that repair `comparison`'s findings; a side not read to its end gets no
    repair that rests on an absence on it (a deletion, a missing customer, a duplicate)."""
    findings = comparison.findings
    if not comparison.complete:
        findings = [f for f in findings if f.kind in _PRESENCE_ONLY]
    return _RepairPlan(store, comparison, settings).build(findings)
