"""The canonical contact model: identity, addresses, ids, consents, and their JSON-lines form."""

from connector.model._contact import (
    CONTACT_FIELDS,
    Consent,
    Contact,
    ShipTo,
    hash_content,
    read_jsonl,
    write_jsonl,
)

__all__ = ["CONTACT_FIELDS", "Consent", "Contact", "ShipTo", "hash_content", "read_jsonl", "write_jsonl"]
