"""Field-level three-way merge of a contact against the last synced version.

A field changed on one side wins; changed on both sides, the configured side of the field's
group wins and the conflict is reported. Pure functions over the contacts' content dicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from connector.model import MERGE_GROUPS

Side = Literal["eshop", "pohoda"]

# Which fields belong to which group (the model's field table); the policy names a winner per group.
FIELD_GROUPS: dict[str, tuple[str, ...]] = MERGE_GROUPS
GROUP_OF: dict[str, str] = {field: group for group, fields in FIELD_GROUPS.items() for field in fields}

DEFAULT_WINNERS: dict[str, Side] = {
    "company_ids": "pohoda",
    "billing_address": "pohoda",
    "contact": "eshop",
    "consents": "eshop",
    "delivery": "eshop",
    "other": "pohoda",
}


@dataclasses.dataclass(frozen=True)
class MergePolicy:
    """Who wins a field changed on both sides, per field group."""

    winners: Mapping[str, Side] = dataclasses.field(default_factory=lambda: dict(DEFAULT_WINNERS))

    def winner(self, field: str) -> Side:
        return self.winners.get(GROUP_OF.get(field, "other"), "pohoda")


@dataclasses.dataclass(frozen=True)
class FieldConflict:
    """A field both sides changed since the last sync (or disagree on at first link)."""

    field: str
    winner: Side


@dataclasses.dataclass(frozen=True)
class MergeResult:
    content: dict[str, Any]
    conflicts: tuple[FieldConflict, ...]
    changed_on_eshop: tuple[str, ...]
    changed_on_pohoda: tuple[str, ...]


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == ""


def merge(
    base: Mapping[str, Any] | None,
    eshop: Mapping[str, Any],
    pohoda: Mapping[str, Any],
    policy: MergePolicy,
) -> MergeResult:
    """Merge two versions of one contact's content against their common base.

    Without a base (two records linked as duplicates), a value present on one side only is
    taken, and where both have different values the policy decides.
    """
    out: dict[str, Any] = {}
    conflicts: list[FieldConflict] = []
    from_eshop: list[str] = []
    from_pohoda: list[str] = []
    for field in eshop.keys() | pohoda.keys():
        e, p = eshop.get(field), pohoda.get(field)
        if e == p:
            out[field] = e
            continue
        if base is None:
            if _empty(p):
                out[field] = e
                from_eshop.append(field)
                continue
            if _empty(e):
                out[field] = p
                from_pohoda.append(field)
                continue
        else:
            b = base.get(field)
            if e == b:
                out[field] = p
                from_pohoda.append(field)
                continue
            if p == b:
                out[field] = e
                from_eshop.append(field)
                continue
        winner = policy.winner(field)
        out[field] = e if winner == "eshop" else p
        conflicts.append(FieldConflict(field, winner))
    return MergeResult(
        content=out,
        conflicts=tuple(sorted(conflicts, key=lambda c: c.field)),
        changed_on_eshop=tuple(sorted(from_eshop)),
        changed_on_pohoda=tuple(sorted(from_pohoda)),
    )
