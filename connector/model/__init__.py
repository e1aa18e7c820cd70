"""The canonical contact model (identity, addresses, ids, consents, their JSON-lines form)
and the sync's state values (links, mirror records, outbox entries, audit rows, reviews).
"""

from connector.model._contact import (
    CONTACT_FIELDS,
    Consent,
    Contact,
    ShipTo,
    hash_content,
    numbered_jsonl,
    read_jsonl,
    write_jsonl,
)
from connector.model._fields import (
    CONTACT_FIELD_TABLE,
    ESHOP_LIMITS,
    FIELD_SPECS,
    MERGE_GROUPS,
    PERSONAL_FIELDS,
    POHODA_LIMITS,
    FieldSpec,
)
from connector.model._state import AuditEntry, Link, MirrorRecord, OutboxEntry, ReviewItem, WebhookEvent

__all__ = [
    "CONTACT_FIELDS",
    "CONTACT_FIELD_TABLE",
    "ESHOP_LIMITS",
    "FIELD_SPECS",
    "MERGE_GROUPS",
    "PERSONAL_FIELDS",
    "POHODA_LIMITS",
    "AuditEntry",
    "Consent",
    "Contact",
    "FieldSpec",
    "Link",
    "MirrorRecord",
    "OutboxEntry",
    "ReviewItem",
    "ShipTo",
    "WebhookEvent",
    "hash_content",
    "numbered_jsonl",
    "read_jsonl",
    "write_jsonl",
]
