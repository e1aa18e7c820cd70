"""Echoes: records a pull read back that carry nothing new (our own writes, or what the
store already mirrors), counted apart from real changes so that a run can say so."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from connector.model import Link, MirrorRecord, hash_content
from connector.plan import PlanState, SideRecord, to_mirror
from connector.store import Store


def count_echoes(changes: Iterable[SideRecord], state: PlanState) -> int:
    """How many of `changes` are echoes: a record whose content hash equals the mirror's
    for that record, or the last synced version (base) of its link. Pure; the planner
    treats echoes as it always did (they plan nothing), this only counts them."""
    by_eshop: dict[str, Link] = {}
    by_pohoda: dict[str, Link] = {}
    for known in state.links:
        if known.eshop_id is not None:
            by_eshop[known.eshop_id] = known
        if known.pohoda_id is not None:
            by_pohoda[known.pohoda_id] = known
    base_hashes: dict[int, str] = {}
    echoes = 0
    for change in changes:
        content = change.content()
        mirror = (state.mirror_eshop if change.side == "eshop" else state.mirror_pohoda).get(change.record_id)
        if content is None:
            echoes += mirror is not None and mirror.deleted
            continue
        digest = change.content_hash()
        if mirror is not None and not mirror.deleted and mirror.content_hash == digest:
            echoes += 1
            continue
        link: Link | None
        if change.side == "eshop":
            link = by_eshop.get(change.record_id)
        else:
            link = by_pohoda.get(change.record_id) or (by_eshop.get(change.ext_id) if change.ext_id else None)
        if link is None or link.id not in state.bases:
            continue
        if link.id not in base_hashes:
            base_hashes[link.id] = hash_content(state.bases[link.id])
        echoes += base_hashes[link.id] == digest
    return echoes


@dataclasses.dataclass
class SortedPage:
    """One pulled page, echoes told from changes by keyed reads of hashes (no content read).

    `changes` go to the planner. An echo plans nothing: `refreshed` are mirror rows whose
    content is the record's already but whose version or extId moved (our own write read
    back), `mirrored` the records whose content is their link's last synced version but
    that the mirror does not hold yet (a creation read back): their rows are written as is.
    `partner` gives, for each change with a link, the link's e-shop id; `linked` names the
    records some link holds.
    """

    changes: list[SideRecord] = dataclasses.field(default_factory=list)
    echoes: int = 0
    refreshed: list[tuple[str, str | None, str | None]] = dataclasses.field(default_factory=list)
    mirrored: list[MirrorRecord] = dataclasses.field(default_factory=list)
    partner: dict[str, str] = dataclasses.field(default_factory=dict)
    linked: set[str] = dataclasses.field(default_factory=set)


def sort_page(store: Store, side: str, records: Sequence[SideRecord]) -> SortedPage:
    """Tell this page's echoes from its changes. An echo is a record of a live link whose
    content hash equals its mirror row's (read again, e.g. in the cursor's overlap or after
    our own write), or, on POHODA's side, its link's last synced version (our own creation or
    update read back), and that carries the other side's id its link holds. Planning it
    would plan nothing; everything else is left to the planner as before."""
    ids = [r.record_id for r in records]
    on_eshop = side == "eshop"
    found = store.links_of(eshop_ids=ids if on_eshop else (), pohoda_ids=() if on_eshop else ids)
    by_id = {(link.eshop_id if on_eshop else link.pohoda_id): link for link in found}
    rows = store.mirror_keys(side, ids)
    bases = store.base_hashes(link.id for link in found) if not on_eshop else {}
    page = SortedPage()
    for record in records:
        link = by_id.get(record.record_id)
        if link is not None:
            page.linked.add(record.record_id)
            if link.eshop_id is not None:
                page.partner[record.record_id] = link.eshop_id
        if record.contact is None or link is None or link.state.startswith("deleted"):
            page.changes.append(record)
            continue
        other = record.hq_id if on_eshop else record.ext_id
        if other != (link.pohoda_id if on_eshop else link.eshop_id) and not (on_eshop and other is None):
            page.changes.append(record)
            continue
        digest = record.content_hash()
        row = rows.get(record.record_id)
        if row is not None and not row[3] and row[0] == digest:
            page.echoes += 1
            if (row[1], row[2]) != (record.version, record.ext_id):
                page.refreshed.append((record.record_id, record.version, record.ext_id))
            continue
        if not on_eshop and bases.get(link.id) == digest:
            page.echoes += 1
            page.mirrored.append(to_mirror(record))
            continue
        page.changes.append(record)
    return page
