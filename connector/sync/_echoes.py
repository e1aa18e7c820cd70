"""Echoes: records a pull read back that carry nothing new (our own writes, or what the
store already mirrors), counted apart from real changes so that a run can say so."""

from __future__ import annotations

from collections.abc import Iterable

from connector.model import Link, hash_content
from connector.plan import PlanState, SideRecord


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
        digest = hash_content(content)
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
