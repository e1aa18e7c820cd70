"""The contact's fields in one table: each field's merge group, its length limit on either
side, and whether it is personal data. The codecs, the merge rules and the log masking read
it, so a new field is one line here plus its element in each codec's mapping.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

FieldKind = Literal["text", "date", "country", "list"]


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    name: str
    # The merge policy names a winner per group (connector.plan's FIELD_GROUPS).
    group: str
    kind: FieldKind = "text"
    # Longest value each side takes (characters; None: no limit or not a text).
    pohoda_limit: int | None = None
    eshop_limit: int | None = None
    # Personal data: masked in every log event, never in an error message.
    personal: bool = False


# The order is the contact's JSON form. Limits: POHODA from STORMWARE's addressbook.xsd /
# type.xsd (typ:string255, string64, ...), the e-shop from schemas/eshop/eshop.xsd.
CONTACT_FIELD_TABLE: tuple[FieldSpec, ...] = (
    FieldSpec("company", "billing_address", pohoda_limit=255, eshop_limit=255, personal=True),
    FieldSpec("name", "billing_address", pohoda_limit=64, eshop_limit=128, personal=True),
    FieldSpec("email", "contact", pohoda_limit=98, eshop_limit=254, personal=True),
    FieldSpec("phone", "contact", pohoda_limit=40, eshop_limit=40, personal=True),
    FieldSpec("mobile", "contact", pohoda_limit=24, eshop_limit=40, personal=True),
    FieldSpec("street", "billing_address", pohoda_limit=64, eshop_limit=128, personal=True),
    FieldSpec("city", "billing_address", pohoda_limit=45, eshop_limit=64, personal=True),
    FieldSpec("zip", "billing_address", pohoda_limit=15, eshop_limit=16, personal=True),
    FieldSpec("country", "billing_address", kind="country", pohoda_limit=19, eshop_limit=2),
    FieldSpec("ico", "company_ids", pohoda_limit=15, eshop_limit=16),
    FieldSpec("dic", "company_ids", pohoda_limit=18, eshop_limit=20),
    FieldSpec("ic_dph", "company_ids", pohoda_limit=18, eshop_limit=20),
    FieldSpec("note", "other", eshop_limit=4000, personal=True),
    FieldSpec("birth_date", "other", kind="date", personal=True),
    FieldSpec("groups", "other", kind="list"),
    FieldSpec("gdpr", "consents", kind="list"),
    FieldSpec("ship_to", "delivery", kind="list", personal=True),
)
FIELD_SPECS: dict[str, FieldSpec] = {spec.name: spec for spec in CONTACT_FIELD_TABLE}

POHODA_LIMITS: dict[str, int] = {s.name: s.pohoda_limit for s in CONTACT_FIELD_TABLE if s.pohoda_limit}
ESHOP_LIMITS: dict[str, int] = {s.name: s.eshop_limit for s in CONTACT_FIELD_TABLE if s.eshop_limit}
PERSONAL_FIELDS: frozenset[str] = frozenset(s.name for s in CONTACT_FIELD_TABLE if s.personal)
MERGE_GROUPS: dict[str, tuple[str, ...]] = {}
for _spec in CONTACT_FIELD_TABLE:
    MERGE_GROUPS[_spec.group] = (*MERGE_GROUPS.get(_spec.group, ()), _spec.name)
# The text fields of a contact's JSON form (after its two ids).
TEXT_FIELDS: tuple[str, ...] = tuple(s.name for s in CONTACT_FIELD_TABLE if s.kind != "list")
