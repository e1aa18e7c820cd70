"""The planner: what changed on each side, the links and the last synced versions in; the
operations that bring both sides together out. Pure: no network, no database.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from connector.config import Config
from connector.model import Contact, Link, MirrorRecord, ReviewItem, hash_content
from connector.plan._dedup import DedupIndex, Match, SideStatistics, email_key
from connector.plan._merge import DEFAULT_WINNERS, MergePolicy, Side, merge

SideName = Literal["eshop", "pohoda"]
# The link state of a person's second e-shop account, linked to the contact of the first.
SECONDARY = "secondary"
_VALID_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TEMPORARY_IDS = uuid.UUID("5b1c0a4e-8f3d-4c2a-9e61-7d0f2b9c4a10")


def temporary_hq_id(ico: str, eshop_id: str) -> str:
    """The GUID a pending customer carries as HQ account id until POHODA creates it.

    Derived from the company and the e-shop id, so a replayed or repeated assignment gives
    the same GUID and the e-shop never sees two.
    """
    return str(uuid.uuid5(_TEMPORARY_IDS, f"{ico}:{eshop_id}"))


@dataclasses.dataclass(frozen=True)
class SideRecord:
    """One record as a side reported it: its content, or None for a deletion (tombstone)."""

    side: SideName
    record_id: str
    contact: Contact | None
    version: str | None = None
    ext_id: str | None = None  # POHODA: the e-shop id kept as typ:extId
    hq_id: str | None = None  # e-shop: the POHODA id (or a temporary GUID) the account carries

    def content(self) -> dict[str, Any] | None:
        # Built once per record: a run asks for it to hash it, to plan it and to mirror it.
        if self.contact is None:
            return None
        cached: dict[str, Any] | None = self.__dict__.get("_content")
        if cached is None:
            cached = self.contact.content()
            object.__setattr__(self, "_content", cached)
        return cached

    def content_hash(self) -> str:
        """`hash_content(content())`, computed once ("" for a deletion)."""
        cached: str | None = self.__dict__.get("_content_hash")
        if cached is None:
            content = self.content()
            cached = hash_content(content) if content is not None else ""
            object.__setattr__(self, "_content_hash", cached)
        return cached


@dataclasses.dataclass(frozen=True)
class PlanSettings:
    policy: MergePolicy = dataclasses.field(default_factory=MergePolicy)
    region: str = "CZ"
    # The e-shop's account id for a POHODA contact is created only for contacts with a valid
    # e-mail (the e-shop's login); others stay in POHODA only.
    auto_register: bool = True
    delete_in_pohoda: bool = False
    ico: str = ""
    # "sync": create in POHODA now; "async": give a temporary GUID at once, create later.
    create_mode: Literal["sync", "async"] = "sync"
    # The dedup engine's thresholds and e-mail rules ([dedup] in the configuration).
    link_threshold: float = 0.9
    review_threshold: float = 0.7
    email_provider_rules: bool = True
    # The connector, not the shop platform, sends the welcome e-mail of an auto-registered
    # account (the platform sends none, or [mail] welcome = "connector").
    welcome_by_connector: bool = False
    # The e-shop platform's `storable_content` (content as the platform gives it back, what it
    # cannot hold cleared), or None when it holds every field. A field the platform drops is
    # then not taken for a change made on the e-shop, and not written to it again and again.
    eshop_storable: Callable[[dict[str, Any]], dict[str, Any]] | None = dataclasses.field(
        default=None, compare=False, repr=False
    )


@dataclasses.dataclass(frozen=True)
class PlanState:
    """What the store knows before this run."""

    links: tuple[Link, ...]
    bases: Mapping[int, dict[str, Any]]
    mirror_eshop: Mapping[str, MirrorRecord]
    mirror_pohoda: Mapping[str, MirrorRecord]
    decided_reviews: tuple[ReviewItem, ...] = ()
    # Review items still waiting for a person: neither of their records causes anything on
    # the other side meanwhile (no create, no auto-registration).
    open_reviews: tuple[ReviewItem, ...] = ()
    # POHODA creates/updates still in the outbox, by link: (outbox id, kind), oldest first.
    pending_pohoda: Mapping[int, tuple[tuple[int, str], ...]] = dataclasses.field(default_factory=dict)
    # False when POHODA could not be reached at the start of the run (the breaker is open).
    pohoda_available: bool = True
    # Links whose e-shop account creation is still in the outbox.
    pending_eshop_creates: frozenset[int] = frozenset()
    # When `mirror_pohoda` holds only the contacts a registration may duplicate (found by key
    # in the stored dedup index), the whole side's figures their comparisons are scored with.
    pohoda_statistics: SideStatistics | None = None


@dataclasses.dataclass
class NewLink:
    ref: int  # negative: a link created by this plan; resolved to a real id when persisted
    state: str
    eshop_id: str | None = None
    pohoda_id: str | None = None
    contact_of: str | None = None


@dataclasses.dataclass
class PlannedOp:
    link_ref: int
    side: SideName
    kind: str  # create | update | link | delete
    payload: dict[str, Any]


@dataclasses.dataclass
class PlannedAudit:
    operation: str
    result: str
    link_ref: int | None = None
    side: SideName | None = None
    eshop_id: str | None = None
    pohoda_id: str | None = None
    note: str | None = None
    detail: dict[str, Any] | None = None


@dataclasses.dataclass
class PlannedReview:
    side: SideName
    record_id: str
    candidate_side: SideName
    candidate_id: str
    score: float
    reasons: tuple[str, ...]


@dataclasses.dataclass
class Plan:
    new_links: list[NewLink] = dataclasses.field(default_factory=list)
    link_updates: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    ops: list[PlannedOp] = dataclasses.field(default_factory=list)
    bases: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    audits: list[PlannedAudit] = dataclasses.field(default_factory=list)
    reviews: list[PlannedReview] = dataclasses.field(default_factory=list)
    applied_reviews: list[int] = dataclasses.field(default_factory=list)
    mirror: list[MirrorRecord] = dataclasses.field(default_factory=list)
    # Outbox entries made obsolete by a newer operation of the same link (edits collapse).
    superseded: list[int] = dataclasses.field(default_factory=list)

    def count(self, side: str, kind: str) -> int:
        return sum(1 for op in self.ops if op.side == side and op.kind == kind)


def to_mirror(record: SideRecord) -> MirrorRecord:
    content = record.content()
    return MirrorRecord(
        side=record.side,
        record_id=record.record_id,
        content=content or {},
        content_hash=record.content_hash(),
        version=record.version,
        ext_id=record.ext_id,
        deleted=content is None,
    )


def auto_registrable(contact: Contact) -> bool:
    """The default rule for creating an e-shop account from a POHODA contact."""
    return bool(contact.email and _VALID_EMAIL.match(contact.email))


class _Planner:
    def __init__(self, state: PlanState, settings: PlanSettings) -> None:
        self.settings = settings
        self.plan = Plan()
        self.by_eshop: dict[str, Link] = {}
        self.by_pohoda: dict[str, Link] = {}
        self.links: dict[int, Link] = {}
        for link in state.links:
            self._index(link)
        self.bases = state.bases
        self.m_e: dict[str, MirrorRecord] = dict(state.mirror_eshop)
        self.m_p: dict[str, MirrorRecord] = dict(state.mirror_pohoda)
        self.pohoda_statistics = state.pohoda_statistics
        self.decided = state.decided_reviews
        # (side, record id) of every record a review waits on, open or planned in this run.
        self.in_review: set[tuple[str, str]] = set()
        for item in state.open_reviews:
            self.in_review.update({(item.side, item.record_id), (item.candidate_side, item.candidate_id)})
        self.pending_pohoda = {k: list(v) for k, v in state.pending_pohoda.items()}
        # The POHODA create/update this plan holds per link: a later one in the plan replaces it.
        self._pohoda_write_of: dict[int, PlannedOp] = {}
        self.pohoda_available = state.pohoda_available
        self.pending_eshop_creates = state.pending_eshop_creates
        self.contacts_e: dict[str, Contact | None] = {}
        # e-mail key -> link whose account creation waits in the outbox (built when needed).
        self._creating_by_email: dict[str, int] | None = None
        self._next_ref = -1

    def _index(self, link: Link) -> None:
        self.links[link.id] = link
        if link.eshop_id is not None:
            self.by_eshop[link.eshop_id] = link
        if link.pohoda_id is not None:
            self.by_pohoda[link.pohoda_id] = link

    def _new_link(
        self, state: str, *, eshop_id: str | None = None, pohoda_id: str | None = None, contact_of: str | None = None
    ) -> int:
        ref = self._next_ref
        self._next_ref -= 1
        self.plan.new_links.append(NewLink(ref, state, eshop_id, pohoda_id, contact_of))
        link = Link(ref, eshop_id, pohoda_id, None, state, contact_of=contact_of)
        self._index(link)
        return ref

    def _queue_pohoda(self, link_id: int, content: dict[str, Any]) -> None:
        """Send `content` to POHODA for this link, replacing what still waits in the outbox.

        Several edits while POHODA is away collapse into one write of the latest content
        (every write carries the whole record, so nothing is lost); a record POHODA has not
        created yet is sent as an upsert keyed by the e-shop id.
        """
        waiting = self.pending_pohoda.pop(link_id, [])
        self.plan.superseded.extend(entry_id for entry_id, _kind in waiting)
        earlier = self._pohoda_write_of.get(link_id)
        if earlier is not None:
            self.plan.ops.remove(earlier)
        link = self.links[link_id]
        kind = "update" if link.pohoda_id is not None else "create"
        op = PlannedOp(link_id, "pohoda", kind, {"contact": content})
        self.plan.ops.append(op)
        self._pohoda_write_of[link_id] = op

    def _mark_pending(self, link_id: int) -> None:
        """Give a customer POHODA has not created yet its temporary GUID and `pending_sync`."""
        link = self.links[link_id]
        if link.temp_hq_id is not None or link.eshop_id is None:
            return
        guid = temporary_hq_id(self.settings.ico, link.eshop_id)
        self._update_link(link, temp_hq_id=guid, state="pending_sync")
        self.plan.ops.append(PlannedOp(link_id, "eshop", "link", {"hq_id": guid, "sync_state": "pending_sync"}))
        why = "async create mode" if self.pohoda_available else "POHODA could not be reached"
        self.plan.audits.append(
            PlannedAudit(
                "pending",
                "pending",
                link_ref=link_id,
                side="eshop",
                eshop_id=link.eshop_id,
                note=f"temporary account id {guid} until POHODA creates the customer ({why})",
            )
        )

    def _shop_view(self, content: dict[str, Any], reference: Mapping[str, Any] | None) -> dict[str, Any]:
        """The e-shop's content with what the platform cannot hold taken from `reference` (the
        base, else POHODA's content): where the shop shows what it would show of the reference,
        the shop changed nothing."""
        held = self.settings.eshop_storable
        if held is None or reference is None:
            return content
        shown = held(dict(reference))
        return {f: (reference.get(f) if shown.get(f) == v else v) for f, v in content.items()}

    def _differs_on_shop(self, target: dict[str, Any], content: Mapping[str, Any]) -> bool:
        held = self.settings.eshop_storable
        return (held(target) if held is not None else target) != content

    def _update_link(self, link: Link, **values: Any) -> None:
        self.plan.link_updates.setdefault(link.id, {}).update(values)
        self._index(dataclasses.replace(link, **values))

    def run(self, eshop_changes: Iterable[SideRecord], pohoda_changes: Iterable[SideRecord]) -> Plan:
        touched: set[int] = set()
        # Insertion-ordered sets: records new to the link table, in the order the sides gave them.
        new_eshop: dict[str, None] = {}
        new_pohoda: dict[str, None] = {}

        for change in eshop_changes:
            record = to_mirror(change)
            self.m_e[change.record_id] = record
            self.plan.mirror.append(record)
            link = self.by_eshop.get(change.record_id)
            if change.contact is None:
                if link is not None:
                    self._eshop_deleted(link)
                continue
            if link is None and change.hq_id:
                link = self._claim_by_hq_id(change)
            if link is None and not change.hq_id and self._awaits_own_create(change):
                continue
            if link is not None:
                touched.add(link.id)
            else:
                new_eshop[change.record_id] = None
                self.contacts_e[change.record_id] = change.contact

        for change in pohoda_changes:
            record = to_mirror(change)
            self.m_p[change.record_id] = record
            self.plan.mirror.append(record)
            link = self.by_pohoda.get(change.record_id)
            if link is None and change.ext_id:
                link = self._claim_by_ext_id(change)
            if link is not None:
                touched.add(link.id)
            else:
                new_pohoda[change.record_id] = None

        for link_id in sorted(touched):
            self._reconcile_link(self.links[link_id])
        self._apply_decided_reviews(new_eshop, new_pohoda)
        self._registrations(list(new_eshop))
        self._counter_contacts(list(new_pohoda))
        return self.plan

    # -- existing links -----------------------------------------------------------------

    def _claim_by_ext_id(self, change: SideRecord) -> Link | None:
        """A POHODA record carrying an e-shop id as extId belongs to that customer's link."""
        assert change.ext_id is not None
        link = self.by_eshop.get(change.ext_id)
        if link is not None:
            if link.pohoda_id is None:
                # Our own creation, whose answer was lost (a crash) or not yet recorded: the
                # e-shop still has to learn POHODA's id.
                self._update_link(link, pohoda_id=change.record_id, state="linked")
                self.plan.ops.append(
                    PlannedOp(link.id, "eshop", "link", {"hq_id": change.record_id, "sync_state": "synced"})
                )
                return self.links[link.id]
            self.plan.audits.append(
                PlannedAudit(
                    "duplicate_ext_id",
                    "review",
                    link_ref=link.id,
                    side="pohoda",
                    eshop_id=change.ext_id,
                    pohoda_id=change.record_id,
                    note=f"POHODA record {change.record_id} carries the e-shop id of a customer already linked to "
                    f"POHODA record {link.pohoda_id}",
                )
            )
            return None
        eshop = self.m_e.get(change.ext_id)
        if eshop is not None and not eshop.deleted:
            # Both records know each other (e.g. the store was restored from an old backup).
            ref = self._new_link("linked", eshop_id=change.ext_id, pohoda_id=change.record_id)
            return self.links[ref]
        return None

    def _claim_by_hq_id(self, change: SideRecord) -> Link | None:
        """An e-shop account carrying a POHODA id belongs to that contact's link."""
        assert change.hq_id is not None
        link = self.by_pohoda.get(change.hq_id)
        if link is not None:
            if link.eshop_id is None:
                # Our own auto-registration, whose answer was lost (a crash) or not yet recorded.
                self._update_link(link, eshop_id=change.record_id, state="linked")
                return self.links[link.id]
            return None
        pohoda = self.m_p.get(change.hq_id)
        if pohoda is not None and not pohoda.deleted:
            ref = self._new_link("linked", eshop_id=change.record_id, pohoda_id=change.hq_id)
            return self.links[ref]
        return None

    def _awaits_own_create(self, change: SideRecord) -> bool:
        """An account that carries no POHODA id (a platform with nowhere to keep one) under the
        e-mail of a contact whose account creation is still in the outbox: most likely that very
        creation, saved by the platform before a crash lost its answer. It is left to that
        create's answer (the platform's replay, or the e-mail taken), which links it, instead
        of being taken for a new registration (a second contact in POHODA)."""
        if self._creating_by_email is None:
            self._creating_by_email = {}
            for link_id in self.pending_eshop_creates:
                link = self.links.get(link_id)
                record = self.m_p.get(link.pohoda_id) if link is not None and link.pohoda_id else None
                if link is not None and link.eshop_id is None and record is not None:
                    key = email_key(record.content.get("email"), provider_rules=self.settings.email_provider_rules)
                    if key is not None:
                        self._creating_by_email[key] = link_id
        contact = change.contact
        key = email_key(contact.email if contact else None, provider_rules=self.settings.email_provider_rules)
        return key is not None and key in self._creating_by_email

    def _reconcile_link(self, link: Link) -> None:
        if link.state.startswith("deleted") or link.state == SECONDARY:
            # A second account's content is its own (another e-mail): nothing to merge.
            return
        e = self.m_e.get(link.eshop_id) if link.eshop_id else None
        p = self.m_p.get(link.pohoda_id) if link.pohoda_id else None
        base = self.bases.get(link.id)
        if e is None or e.deleted:
            if p is not None and link.state == "creating_eshop":
                # The e-shop account is being created; what changed meanwhile is sent after it.
                self.plan.bases[link.id] = p.content
            return
        if p is None:
            # POHODA's copy is being created: send the newest content by extId (an upsert).
            shop = self._shop_view(e.content, base)
            if base != shop:
                self._queue_pohoda(link.id, shop)
                self.plan.bases[link.id] = shop
            return
        result = merge(base, self._shop_view(e.content, base or p.content), p.content, self.settings.policy)
        for conflict in result.conflicts:
            self.plan.audits.append(
                PlannedAudit(
                    "conflict",
                    "conflict",
                    link_ref=link.id,
                    eshop_id=link.eshop_id,
                    pohoda_id=link.pohoda_id,
                    note=f"field {conflict.field!r} changed on both sides; {conflict.winner} wins",
                    detail={"field": conflict.field, "winner": conflict.winner},
                )
            )
        self._write_both(link, result.content, e, p, base)

    def _write_both(
        self,
        link: Link,
        target: dict[str, Any],
        e: MirrorRecord,
        p: MirrorRecord,
        base: Mapping[str, Any] | None,
    ) -> None:
        if target != p.content or (p.ext_id != link.eshop_id and link.eshop_id is not None):
            self._queue_pohoda(link.id, target)
        if self._differs_on_shop(target, e.content):
            self.plan.ops.append(
                PlannedOp(link.id, "eshop", "update", {"contact": target, "expected_version": e.version})
            )
        if base != target:
            self.plan.bases[link.id] = target

    def _eshop_deleted(self, link: Link) -> None:
        if link.state.startswith("deleted"):
            return
        self._update_link(link, state="deleted_eshop")
        if self.settings.delete_in_pohoda and link.pohoda_id is not None:
            self.plan.ops.append(PlannedOp(link.id, "pohoda", "delete", {}))
            note = "deleted on the e-shop; deleting in POHODA (deletion policy)"
        else:
            note = "deleted on the e-shop; kept in POHODA (deletion policy), link marked"
        self.plan.audits.append(
            PlannedAudit(
                "delete",
                "done" if not self.settings.delete_in_pohoda else "pending",
                link_ref=link.id,
                side="eshop",
                eshop_id=link.eshop_id,
                pohoda_id=link.pohoda_id,
                note=note,
            )
        )

    # -- new records --------------------------------------------------------------------

    def _unlinked(self, mirror: Mapping[str, MirrorRecord], linked: Mapping[str, Link]) -> list[tuple[str, Contact]]:
        return [
            (record_id, Contact.from_dict(record.content))
            for record_id, record in mirror.items()
            if not record.deleted and record_id not in linked
        ]

    def _link_pair(self, eshop_id: str, pohoda_id: str, reasons: Iterable[str], *, link_ref: int | None = None) -> None:
        e, p = self.m_e[eshop_id], self.m_p[pohoda_id]
        if link_ref is None:
            link_ref = self._new_link("linked", eshop_id=eshop_id, pohoda_id=pohoda_id)
        link = self.links[link_ref]
        result = merge(None, self._shop_view(e.content, p.content), p.content, self.settings.policy)
        self.plan.audits.append(
            PlannedAudit(
                "match",
                "done",
                link_ref=link_ref,
                eshop_id=eshop_id,
                pohoda_id=pohoda_id,
                note="linked as the same customer: " + ", ".join(reasons),
                detail={"reasons": list(reasons), "differing_fields": [c.field for c in result.conflicts]},
            )
        )
        self._write_both(link, result.content, e, p, None)
        self.plan.ops.append(PlannedOp(link_ref, "eshop", "link", {"hq_id": pohoda_id, "sync_state": "synced"}))

    def _apply_decided_reviews(self, new_eshop: dict[str, None], new_pohoda: dict[str, None]) -> None:
        """A person's decisions, each applied once: accepted links the two (merged per
        policy; a second account where the contact has an account already), rejected lets
        each go its way (the registration is created in POHODA, the contact may get its
        own account)."""
        for review in self.decided:
            self.plan.applied_reviews.append(review.id)
            if review.side != "eshop" or review.record_id in self.by_eshop:
                continue
            if review.record_id not in self.m_e or self.m_e[review.record_id].deleted:
                continue
            new_eshop.pop(review.record_id, None)
            if review.state == "accepted":
                if review.candidate_id in self.by_pohoda:
                    self._second_account(review.record_id, review.candidate_id, ["accepted by a person in review"])
                else:
                    self._link_pair(review.record_id, review.candidate_id, ["accepted by a person in review"])
                continue
            self._create_in_pohoda(review.record_id, note="created after review: not the same customer")
            candidate = self.m_p.get(review.candidate_id)
            if candidate is not None and not candidate.deleted and review.candidate_id not in self.by_pohoda:
                new_pohoda[review.candidate_id] = None  # free to get an account of its own now

    def _second_account(self, eshop_id: str, pohoda_id: str, reasons: Iterable[str]) -> None:
        """A registration of a person whose POHODA contact has an account already: the new
        account is linked to that contact as the person's second one, never copied."""
        # The contact keeps its first account (the id POHODA holds as extId); the second
        # knows the contact and is linked to it through contact_of.
        ref = self._new_link(SECONDARY, eshop_id=eshop_id, contact_of=pohoda_id)
        self.plan.ops.append(PlannedOp(ref, "eshop", "link", {"hq_id": pohoda_id, "sync_state": "synced"}))
        self.plan.audits.append(
            PlannedAudit(
                "match",
                "done",
                link_ref=ref,
                eshop_id=eshop_id,
                pohoda_id=pohoda_id,
                note="linked as a second account of a customer POHODA has: " + ", ".join(reasons),
                detail={"reasons": list(reasons), "second_account": True},
            )
        )

    def _index_of(self, contacts: list[tuple[str, Contact]], statistics: SideStatistics | None = None) -> DedupIndex:
        settings = self.settings
        return DedupIndex(
            contacts,
            region=settings.region,
            link_threshold=settings.link_threshold,
            review_threshold=settings.review_threshold,
            email_provider_rules=settings.email_provider_rules,
            statistics=statistics,
        )

    def _hold_for_review(self, eshop_id: str, match: Match) -> None:
        review = PlannedReview("eshop", eshop_id, "pohoda", match.candidate_id, match.score, match.reasons)
        self.plan.reviews.append(review)
        self.in_review.update({("eshop", eshop_id), ("pohoda", match.candidate_id)})
        self.plan.audits.append(
            PlannedAudit(
                "review",
                "review",
                side="eshop",
                eshop_id=eshop_id,
                pohoda_id=match.candidate_id,
                note="likely duplicate held for review: " + ", ".join(match.reasons),
            )
        )

    def _registrations(self, new_eshop: list[str]) -> None:
        waiting = [e for e in new_eshop if e not in self.by_eshop and ("eshop", e) not in self.in_review]
        if not waiting:
            return
        statistics = self.pohoda_statistics
        index = self._index_of(self._unlinked(self.m_p, self.by_pohoda), statistics)
        # Contacts that have an account already: a registration matching one of them is a
        # second account of that person (or a case for review), never a new POHODA contact.
        linked = self._index_of(
            [
                (pohoda_id, Contact.from_dict(record.content))
                for pohoda_id, record in self.m_p.items()
                if not record.deleted and pohoda_id in self.by_pohoda
            ],
            statistics,
        )
        for eshop_id in waiting:
            if eshop_id in self.by_eshop:
                continue
            contact = self.contacts_e.get(eshop_id) or Contact.from_dict(self.m_e[eshop_id].content)
            match = index.best_match(contact) if len(index) else None
            if match is not None and match.band == "link":
                self._link_pair(eshop_id, match.candidate_id, match.reasons)
                index.remove(match.candidate_id)
                continue
            if match is not None:
                self._hold_for_review(eshop_id, match)
                continue
            taken = linked.best_match(contact) if len(linked) else None
            if taken is not None and taken.band == "link":
                self._second_account(eshop_id, taken.candidate_id, taken.reasons)
            elif taken is not None:
                self._hold_for_review(eshop_id, taken)
            else:
                self._create_in_pohoda(eshop_id)

    def _create_in_pohoda(self, eshop_id: str, note: str | None = None) -> None:
        content = self.m_e[eshop_id].content
        ref = self._new_link("creating_pohoda", eshop_id=eshop_id)
        self._queue_pohoda(ref, content)
        self.plan.bases[ref] = content
        if self.settings.create_mode == "async" or not self.pohoda_available:
            self._mark_pending(ref)
        if note:
            self.plan.audits.append(PlannedAudit("review_decision", "done", link_ref=ref, eshop_id=eshop_id, note=note))

    def _pending_registrations(self, new_pohoda: list[str]) -> None:
        """A registration still waiting for POHODA that POHODA meanwhile got from elsewhere
        (a counter, another import) is linked to that contact, not created a second time."""
        waiting = [
            (link.eshop_id, link)
            for link in self.links.values()
            if link.pohoda_id is None
            and link.eshop_id is not None
            and link.eshop_id in self.m_e
            and not link.state.startswith("deleted")
            and link.state != SECONDARY
        ]
        if not waiting or not new_pohoda:
            return
        index = self._index_of([(eshop_id, Contact.from_dict(self.m_e[eshop_id].content)) for eshop_id, _l in waiting])
        by_eshop_id = dict(waiting)
        for pohoda_id in new_pohoda:
            if pohoda_id in self.by_pohoda or not len(index):
                continue
            match = index.best_match(Contact.from_dict(self.m_p[pohoda_id].content))
            if match is None or match.band != "link":
                continue
            link = by_eshop_id[match.candidate_id]
            index.remove(match.candidate_id)
            self._update_link(link, pohoda_id=pohoda_id, state="linked")
            self._link_pair(match.candidate_id, pohoda_id, match.reasons, link_ref=link.id)

    def _counter_contacts(self, new_pohoda: list[str]) -> None:
        self._pending_registrations(new_pohoda)
        if not new_pohoda or not self.settings.auto_register:
            return
        by_email: dict[str, str] = {}
        for record_id, contact in self._unlinked(self.m_e, self.by_eshop):
            key = email_key(contact.email, provider_rules=self.settings.email_provider_rules)
            if key is not None:
                by_email.setdefault(key, record_id)
        for pohoda_id in new_pohoda:
            if pohoda_id in self.by_pohoda:
                continue  # linked to a registration earlier in this run
            if ("pohoda", pohoda_id) in self.in_review:
                continue  # a person decides first whether this contact has an account already
            record = self.m_p[pohoda_id]
            contact = Contact.from_dict(record.content)
            if not auto_registrable(contact):
                continue
            key = email_key(contact.email, provider_rules=self.settings.email_provider_rules)
            existing = by_email.pop(key, None) if key is not None else None
            if existing is not None and existing not in self.by_eshop:
                self._link_pair(existing, pohoda_id, ["same e-mail (auto-registration found the account)"])
                continue
            ref = self._new_link("creating_eshop", pohoda_id=pohoda_id)
            self.plan.ops.append(
                PlannedOp(
                    ref,
                    "eshop",
                    "create",
                    {
                        "contact": record.content,
                        "idempotency_key": f"pohoda-{self.settings.ico}-{pohoda_id}",
                        # Exactly one of the two sends it: the platform, or the connector
                        # after the account exists (a follow-up of the create's result).
                        "send_welcome": not self.settings.welcome_by_connector,
                        **({"welcome": "connector"} if self.settings.welcome_by_connector else {}),
                        "hq_id": pohoda_id,
                        "sync_state": "synced",
                    },
                )
            )
            self.plan.bases[ref] = record.content


def plan_operations(
    eshop_changes: Iterable[SideRecord],
    pohoda_changes: Iterable[SideRecord],
    state: PlanState,
    settings: PlanSettings,
) -> Plan:
    """The operations that bring both sides together; a pure function of its inputs."""
    return _Planner(state, settings).run(eshop_changes, pohoda_changes)


def plan_settings(config: Config) -> PlanSettings:
    """The planner's settings from the configuration."""
    winners: dict[str, Side] = dict(DEFAULT_WINNERS)
    for group, side in config.sync.winners().items():
        winners[group] = "eshop" if side == "eshop" else "pohoda"
    return PlanSettings(
        policy=MergePolicy(winners),
        region=config.sync.default_region,
        auto_register=config.sync.auto_register,
        delete_in_pohoda=config.sync.delete_in_pohoda,
        ico=config.pohoda.ico or "",
        create_mode=config.sync.create_mode,
        link_threshold=config.dedup.link_threshold,
        review_threshold=config.dedup.review_threshold,
        email_provider_rules=config.dedup.email_provider_rules,
    )
