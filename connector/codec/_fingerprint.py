"""The content fingerprint of a record: `hash_content` of its content, written directly from
a contact or from the field values a reader's fast path took off the wire.

A full comparison (`connector reconcile`) fingerprints every record it reads and decodes only
those whose fingerprint is not the last synced one's, so this is on its hot path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import operator
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from connector.model import CONTACT_FIELDS, Consent, Contact, ShipTo

T = TypeVar("T")

_CONTENT_FIELDS = tuple(f for f in CONTACT_FIELDS if f not in ("id", "ext_id"))
_NESTED_FIELDS = {
    "ship_to": tuple(f.name for f in dataclasses.fields(ShipTo)),
    "gdpr": tuple(f.name for f in dataclasses.fields(Consent)),
}

# The JSON that `hash_content` hashes, written here: the keys in sorted order are a fixed
# template, each string is written by the json module's own string encoder (what json.dumps
# uses for a string), and only lists go through a JSON encoder (made once: json.dumps with
# options builds a new one on every call). The same bytes, so the same hash as the store's.
SORTED_FIELDS = tuple(sorted(_CONTENT_FIELDS))
_sorted_values = operator.attrgetter(*SORTED_FIELDS)
_TEMPLATE = "{" + ",".join(f"{json.dumps(name)}:%s" for name in SORTED_FIELDS) + "}"
_encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode
encode_string = json.encoder.encode_basestring


# An address or a consent, written by a template of its sorted keys like the record itself.
_NESTED_TEMPLATES = {
    name: "{" + ",".join(f"{json.dumps(f)}:%s" for f in sorted(fields)) + "}" for name, fields in _NESTED_FIELDS.items()
}
_NESTED_SORTED = {name: tuple(sorted(fields)) for name, fields in _NESTED_FIELDS.items()}
_nested_attrs = {name: operator.attrgetter(*fields) for name, fields in _NESTED_SORTED.items()}
_nested_items = {name: operator.itemgetter(*fields) for name, fields in _NESTED_SORTED.items()}


def _nested_json(template: str, rows: list[tuple[Any, ...]]) -> str:
    # Each value as json.dumps writes it: null, a string, true/false (an address's default),
    # or, for anything else, the json module itself.
    return (
        "["
        + ",".join(
            [
                template
                % tuple(
                    [
                        "null"
                        if v is None
                        else encode_string(v)
                        if type(v) is str
                        else "true"
                        if v is True
                        else "false"
                        if v is False
                        else _encode(v)
                        for v in row
                    ]
                )
                for row in rows
            ]
        )
        + "]"
    )


def _json_value(name: str, value: Any) -> str:
    template = _NESTED_TEMPLATES.get(name)
    if template is None:
        return _encode(value)
    values = _nested_attrs[name]
    return _nested_json(template, [values(item) for item in value])


def _list_json(name: str, value: Any) -> str:
    """A list field of reader values: strings, or dicts of every field of an address or a
    consent (a dict with other keys is written by the json module, as json.dumps would)."""
    if not value:
        return "[]"
    template = _NESTED_TEMPLATES.get(name)
    if template is None or not all(type(item) is dict and len(item) == len(_NESTED_SORTED[name]) for item in value):
        return _encode(value)
    items = _nested_items[name]
    return _nested_json(template, [items(item) for item in value])


def fingerprint(contact: Contact) -> str:
    """The content hash of a contact: equal to `hash_content(contact.content())`."""
    text = _TEMPLATE % tuple(
        [
            "null"
            if value is None
            else encode_string(value)
            if type(value) is str
            else "[]"
            if value == ()
            else _json_value(name, value)
            for name, value in zip(SORTED_FIELDS, _sorted_values(contact), strict=True)
        ]
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_sorted_items = operator.itemgetter(*SORTED_FIELDS)


def fingerprint_of_values(values: Mapping[str, Any]) -> str:
    """The content hash from a reader's field values, as `Contact(**values)` would hold them
    but with lists for its lists: strings (groups), and each address or consent a dict of
    all its fields (what `ShipTo.to_dict` / `Consent.to_dict` give). Ids are left out."""
    text = _TEMPLATE % tuple(
        [
            "null"
            if value is None
            else encode_string(value)
            if type(value) is str
            else _list_json(name, value)
            if type(value) is list
            else _encode(value)
            for name, value in zip(SORTED_FIELDS, _sorted_items(values), strict=True)
        ]
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class Fingerprinted(Generic[T]):
    """A record read for what a full comparison needs of it: its ids, its version and its
    content fingerprint. `decode()` reads it in full (the comparison asks only for those
    whose fingerprint is not the last synced one's); call it before the stream moves on."""

    record_id: str
    other_id: str | None
    version: str | None
    fingerprint: str
    decode: Callable[[], T] = dataclasses.field(repr=False, compare=False)


__all__ = [
    "SORTED_FIELDS",
    "Fingerprinted",
    "encode_string",
    "fingerprint",
    "fingerprint_of_values",
]
