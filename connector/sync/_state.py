"""The plan state of a cron run, read by key from the records the pulls returned.

What the planner looks up (links, mirror rows, last synced versions) is read for the changed
records and the few links in a creation's middle, so an incremental run costs the same in a
store of 1,000 customers as in one of 200,000; only what must compare a newcomer with every
contact (dedup of a registration) still reads its side in full.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from connector.dedup import MatchModel
from connector.model import Contact, Link, MirrorRecord
from connector.peers.base import Peer
from connector.plan import PlanSettings, PlanState, SideRecord, SideStatistics, to_mirror
from connector.store import Store

# A person's second e-shop account (the planner's SECONDARY): it waits for no creation.
_SECOND_ACCOUNT = "secondary"


def changes_state(
    store: Store,
    shop: Peer,
    shop_records: Sequence[SideRecord],
    hq_records: Sequence[SideRecord],
    *,
    pohoda_available: bool,
    settings: PlanSettings,
    candidates: Mapping[str, SideRecord] | None = None,
) -> PlanState:
    """Everything `plan_operations` reads for these changes, and nothing of the others.

    The planner's lookups, each served by key: a change's own link and mirror row; the link
    and mirror row of the id it carries of the other side (claims by extId or HQ id); the
    other side's row and the base of every link read; the links and rows a decided review
    names; links whose creation waits (an e-shop account or a POHODA contact not yet made,
    found through the unique index on the missing id). Only where the planner compares a new
    record with a whole side is more read: a new registration against the POHODA contacts that
    share one of its blocking keys (found in the stored dedup index, with the side's name
    statistics and model), a new POHODA contact against every unlinked e-shop record (by e-mail).

    `candidates`: POHODA contacts this run read but plans in a later chunk (new to the store):
    a registration in this chunk is compared with them too, as with the store's.
    """
    open_reviews = tuple(store.reviews())
    decided = tuple(store.reviews_in(("accepted", "rejected")))
    pending_eshop_creates = frozenset(store.pending_by_link(shop.side, ("create",)))

    eshop_keys = {r.record_id for r in shop_records}
    eshop_keys.update(r.ext_id for r in hq_records if r.ext_id)
    eshop_keys.update(review.record_id for review in decided if review.side == "eshop")
    pohoda_keys = {r.record_id for r in hq_records}
    pohoda_keys.update(r.hq_id for r in shop_records if r.hq_id)
    pohoda_keys.update(review.candidate_id for review in decided if review.candidate_side == "pohoda")

    # The links whose rows the planner reads: the changes' own, and those a creation waits on.
    found: dict[int, Link] = {link.id: link for link in store.links_of(eshop_ids=eshop_keys, pohoda_ids=pohoda_keys)}
    # Accounts being created: an account without POHODA's id under one's e-mail may be it.
    found.update(store.links_by_id(pending_eshop_creates))

    linked_eshop = {link.eshop_id for link in found.values() if link.eshop_id is not None}
    linked_pohoda = {link.pohoda_id for link in found.values() if link.pohoda_id is not None}
    registrations = [r.contact for r in shop_records if r.contact is not None and r.record_id not in linked_eshop]
    new_registration = bool(registrations)
    new_contact = bool(decided) or any(r.contact is not None and r.record_id not in linked_pohoda for r in hq_records)

    unlinked_eshop: dict[str, MirrorRecord] = {}
    if new_contact:
        # Registrations still waiting for POHODA may be this contact (linked, not created twice);
        # an unlinked account with its e-mail is its account (auto-registration finds it).
        for link in store.links_missing("pohoda"):
            if link.eshop_id is not None and not link.state.startswith("deleted") and link.state != _SECOND_ACCOUNT:
                found[link.id] = link
        unlinked_eshop = store.unlinked_mirror("eshop")

    # A record read back as the store has it (an echo) is one hash: its rows with that hash,
    # its mirror row and its link's base, are its content, not decoded again.
    known_eshop = _contents(shop_records)
    known_pohoda = _contents(hq_records)
    known_bases: dict[int, tuple[str, dict[str, Any]]] = {}
    for link in found.values():
        held = known_eshop.get(link.eshop_id or "") or known_pohoda.get(link.pohoda_id or "")
        if held is not None:
            known_bases[link.id] = held
    eshop_ids = eshop_keys | {link.eshop_id for link in found.values() if link.eshop_id is not None}
    pohoda_ids = pohoda_keys | {link.pohoda_id for link in found.values() if link.pohoda_id is not None}
    mirror_eshop = store.mirror_records("eshop", eshop_ids - unlinked_eshop.keys(), known=known_eshop)
    mirror_eshop.update(unlinked_eshop)
    bases = store.bases_of(found, known=known_bases)
    links = dict(found)
    statistics: SideStatistics | None = None
    if new_registration:
        mirror_pohoda, linked, statistics = registration_candidates(
            store, settings, registrations, pohoda_ids, known=known_pohoda, held=candidates, changed=hq_records
        )
        links.update((link.id, link) for link in linked if link.id not in links)
    else:
        mirror_pohoda = store.mirror_records("pohoda", pohoda_ids, known=known_pohoda)
    # In the order the whole tables were read in (links by id, mirror rows by record id): where
    # the planner's choice depends on order (the first of two equal candidates), it is the same.
    # The planner replaces what waits in the outbox only for links it writes to: the ones found.
    pending_pohoda = store.pending_by_link("pohoda", ("create", "update"), link_ids=found)
    return PlanState(
        links=tuple(sorted(links.values(), key=lambda link: link.id)),
        bases=bases,
        mirror_eshop=dict(sorted(mirror_eshop.items())),
        mirror_pohoda=dict(sorted(mirror_pohoda.items())),
        decided_reviews=decided,
        open_reviews=open_reviews,
        pending_pohoda=pending_pohoda,
        pohoda_available=pohoda_available,
        pending_eshop_creates=pending_eshop_creates,
        pohoda_statistics=statistics,
    )


def _contents(records: Sequence[SideRecord]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Record id -> (content hash, content) of the records that carry a content."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for record in records:
        content = record.content()
        if content is not None:
            found[record.record_id] = (record.content_hash(), content)
    return found


def registration_candidates(
    store: Store,
    settings: PlanSettings,
    registrations: Sequence[Contact],
    pohoda_ids: Iterable[str],
    *,
    known: Mapping[str, tuple[str, dict[str, Any]]] | None = None,
    held: Mapping[str, SideRecord] | None = None,
    changed: Sequence[SideRecord] = (),
) -> tuple[dict[str, MirrorRecord], list[Link], SideStatistics]:
    """The POHODA contacts new registrations are compared with, besides `pohoda_ids`' rows.

    Dedup compares a registration with the POHODA contacts, linked (a second account) or not,
    that share one of its blocking keys: found by key in the stored index and scored with the
    whole side's name statistics and model, so the cost follows the registrations, not the
    side. `held`: contacts this run read for a later chunk (new to the store), compared with
    too, as the store's are; `changed`: POHODA records this chunk plans (their contents
    replace the store's). Returns the mirror rows, the links of the candidates not among
    `pohoda_ids`, and the side's statistics.
    """
    wanted = set(pohoda_ids)
    rows = store.mirror_records("pohoda", wanted, known=known)
    # The contacts compared besides the index's candidates: the changes' own (in the version
    # this run read, when it has one), and those held for a later chunk.
    compared = [record.contact for record in (*(held or {}).values(), *(changed or ())) if record.contact is not None]
    compared.extend(Contact.from_dict(row.content) for row in rows.values() if not row.deleted)
    view = store.dedup_view(
        "pohoda",
        registrations,
        region=settings.region,
        email_provider_rules=settings.email_provider_rules,
        also=compared,
    )
    rows.update(store.mirror_records("pohoda", view.candidates - rows.keys(), known=known))
    indexed = frozenset(rows)
    rows.update((pohoda_id, to_mirror(record)) for pohoda_id, record in (held or {}).items())
    linked = store.links_of(eshop_ids=(), pohoda_ids=rows.keys() - wanted)
    model = MatchModel() if view.model is None else MatchModel.from_dict(view.model)
    return rows, linked, SideStatistics(view.population, view.token_counts, model, indexed)
