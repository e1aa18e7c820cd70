"""The canonical contact: one customer as both sides understand it.

Knows nothing of XML or HTTP. Its dict form is also the JSON-lines format of the CLI.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import operator
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import IO, Any

from connector.errors import InvalidContact
from connector.model._fields import TEXT_FIELDS

_COUNTRY = re.compile(r"^[A-Z]{2}$")

# The string fields of a contact, in the order of the JSON form (the field table's order).
CONTACT_TEXT_FIELDS: tuple[str, ...] = ("id", "ext_id", *TEXT_FIELDS)
SHIP_TO_TEXT_FIELDS: tuple[str, ...] = (
    "company",
    "name",
    "street",
    "city",
    "zip",
    "country",
    "phone",
    "email",
)
CONSENT_TEXT_FIELDS: tuple[str, ...] = ("purpose", "date_from", "date_till", "description")

# Fields that identify a record on one side and are not part of its content.
IDENTITY_FIELDS: frozenset[str] = frozenset({"id", "ext_id"})


def _clean_text(value: Any, *, field: str, record: str | None) -> str | None:
    """Strip a text value; empty means absent. Anything but a string or null is an error."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidContact(
            f"record {record or '?'}: field {field!r} must be a string, not {type(value).__name__}",
            record=record,
            field=field,
        )
    text = str(value).strip()
    return text or None


def _check_date(value: str | None, *, field: str, record: str | None) -> str | None:
    if value is None:
        return None
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidContact(
            f"record {record or '?'}: field {field!r} must be a date YYYY-MM-DD, got {value!r}",
            record=record,
            field=field,
        ) from None
    if len(value) != 10:
        raise InvalidContact(
            f"record {record or '?'}: field {field!r} must be a date YYYY-MM-DD, got {value!r}",
            record=record,
            field=field,
        )
    return value


def _check_country(value: str | None, *, field: str, record: str | None) -> str | None:
    if value is None:
        return None
    upper = value.upper()
    if not _COUNTRY.match(upper):
        raise InvalidContact(
            f"record {record or '?'}: field {field!r} must be an ISO 3166 alpha-2 code, got {value!r}",
            record=record,
            field=field,
        )
    return upper


def _texts(data: Mapping[str, Any], fields: Iterable[str], *, where: str | None, record: str | None) -> dict[str, Any]:
    """`_clean_text` of each of `fields` in `data`, the usual values (a string, null) read in
    line: every record read from a file or a peer goes through here, field by field."""
    get = data.get
    values: dict[str, Any] = {}
    for name in fields:
        value = get(name)
        if value is None:
            values[name] = None
        elif type(value) is str:
            values[name] = value.strip() or None
        else:
            values[name] = _clean_text(value, field=name if where is None else f"{where}.{name}", record=record)
    return values


def _reject_unknown(data: Mapping[str, Any], known: frozenset[str], *, where: str, record: str | None) -> None:
    if data.keys() <= known:
        return
    unknown = sorted(data.keys() - known)
    if unknown:
        raise InvalidContact(
            f"record {record or '?'}: unknown key {unknown[0]!r} in {where}",
            record=record,
            field=unknown[0],
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ShipTo:
    """A delivery address of a contact."""

    company: str | None = None
    name: str | None = None
    street: str | None = None
    city: str | None = None
    zip: str | None = None
    country: str | None = None
    phone: str | None = None
    email: str | None = None
    default: bool = False

    @classmethod
    def from_dict(cls, data: Any, *, record: str | None = None, index: int = 0) -> ShipTo:
        where = f"ship_to[{index}]"
        if not isinstance(data, Mapping):
            raise InvalidContact(f"record {record or '?'}: {where} must be an object", record=record, field=where)
        _reject_unknown(data, _SHIP_TO_KEYS, where=where, record=record)
        values = _texts(data, SHIP_TO_TEXT_FIELDS, where=where, record=record)
        values["country"] = _check_country(values["country"], field=f"{where}.country", record=record)
        default = data.get("default", False)
        if not isinstance(default, bool):
            raise InvalidContact(
                f"record {record or '?'}: {where}.default must be true or false",
                record=record,
                field=f"{where}.default",
            )
        return cls(**values, default=default)

    def to_dict(self) -> dict[str, Any]:
        # Every field is a str, a bool or None: a plain dict of them is what `asdict` gives,
        # without its deep copy (a run builds one per address of every record it reads).
        return {name: getattr(self, name) for name in self.__slots__}


@dataclasses.dataclass(frozen=True, slots=True)
class Consent:
    """A GDPR consent: what for, from when, until when."""

    purpose: str
    date_from: str | None = None
    date_till: str | None = None
    description: str | None = None

    @classmethod
    def from_dict(cls, data: Any, *, record: str | None = None, index: int = 0) -> Consent:
        where = f"gdpr[{index}]"
        if not isinstance(data, Mapping):
            raise InvalidContact(f"record {record or '?'}: {where} must be an object", record=record, field=where)
        _reject_unknown(data, _CONSENT_KEYS, where=where, record=record)
        purpose = _clean_text(data.get("purpose"), field=f"{where}.purpose", record=record)
        if purpose is None:
            raise InvalidContact(
                f"record {record or '?'}: {where}.purpose is required", record=record, field=f"{where}.purpose"
            )
        return cls(
            purpose=purpose,
            date_from=_check_date(
                _clean_text(data.get("date_from"), field=f"{where}.date_from", record=record),
                field=f"{where}.date_from",
                record=record,
            ),
            date_till=_check_date(
                _clean_text(data.get("date_till"), field=f"{where}.date_till", record=record),
                field=f"{where}.date_till",
                record=record,
            ),
            description=_clean_text(data.get("description"), field=f"{where}.description", record=record),
        )

    def to_dict(self) -> dict[str, Any]:
        # Every field is a str, a bool or None: a plain dict of them is what `asdict` gives,
        # without its deep copy (a run builds one per address of every record it reads).
        return {name: getattr(self, name) for name in self.__slots__}


@dataclasses.dataclass(frozen=True, slots=True)
class Contact:
    """One customer in the canonical form. `id` is the id on the side it comes from."""

    id: str | None = None
    ext_id: str | None = None
    company: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None
    street: str | None = None
    city: str | None = None
    zip: str | None = None
    country: str | None = None
    ico: str | None = None
    dic: str | None = None
    ic_dph: str | None = None
    ship_to: tuple[ShipTo, ...] = ()
    groups: tuple[str, ...] = ()
    note: str | None = None
    birth_date: str | None = None
    gdpr: tuple[Consent, ...] = ()

    @classmethod
    def from_dict(cls, data: Any, *, record: str | None = None) -> Contact:
        """Build a contact from its JSON form; an unknown key or a wrong type names the field."""
        if not isinstance(data, Mapping):
            raise InvalidContact(f"record {record or '?'}: a contact must be a JSON object", record=record)
        rec = record
        if rec is None and isinstance(data.get("id"), (str, int)):
            rec = str(data["id"])
        _reject_unknown(data, _CONTACT_KEYS, where="contact", record=rec)
        values = _texts(data, CONTACT_TEXT_FIELDS, where=None, record=rec)
        values["country"] = _check_country(values["country"], field="country", record=rec)
        values["birth_date"] = _check_date(values["birth_date"], field="birth_date", record=rec)
        # The lists are most often empty or absent: then nothing is built for them.
        ships = _list_of(data, "ship_to", record=rec)
        values["ship_to"] = (
            tuple(ShipTo.from_dict(item, record=rec, index=i) for i, item in enumerate(ships)) if ships else ()
        )
        groups: list[str] = []
        for i, group in enumerate(_list_of(data, "groups", record=rec)):
            text = _clean_text(group, field=f"groups[{i}]", record=rec)
            if text is not None and text not in groups:
                groups.append(text)
        values["groups"] = tuple(groups)
        consents = _list_of(data, "gdpr", record=rec)
        values["gdpr"] = (
            tuple(Consent.from_dict(item, record=rec, index=i) for i, item in enumerate(consents)) if consents else ()
        )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, every key present, in a stable order."""
        out: dict[str, Any] = {}
        for f in CONTACT_FIELDS:
            value = getattr(self, f)
            if f in ("ship_to", "gdpr"):
                out[f] = [item.to_dict() for item in value]
            elif f == "groups":
                out[f] = list(value)
            else:
                out[f] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    def content(self) -> dict[str, Any]:
        """The mapped fields without the side-specific identity (id, ext_id)."""
        data = self.to_dict()
        for f in IDENTITY_FIELDS:
            data.pop(f)
        return data

    def content_hash(self) -> str:
        """A stable hash of the content; equal content gives an equal hash on either side."""
        return hash_content(self.content())

    def replace(self, **changes: Any) -> Contact:
        """`dataclasses.replace`: a new contact with these fields changed (an unknown name is
        a TypeError). Built from the fields' values in one call: every peer copies each
        record it reads once (`replace(id=None, ext_id=None)`), and `dataclasses.replace`
        looks each field up anew on every call."""
        values = dict(zip(CONTACT_FIELDS, _field_values(self), strict=True))
        values.update(changes)
        return Contact(**values)


CONTACT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Contact))
_CONTACT_KEYS = frozenset(CONTACT_FIELDS)
_SHIP_TO_KEYS = frozenset((*SHIP_TO_TEXT_FIELDS, "default"))
_CONSENT_KEYS = frozenset(CONSENT_TEXT_FIELDS)
_field_values = operator.attrgetter(*CONTACT_FIELDS)


def hash_content(content: Mapping[str, Any]) -> str:
    """The hash of a contact's content dict (as `Contact.content()` gives it)."""
    blob = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _list_of(data: Mapping[str, Any], key: str, *, record: str | None) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidContact(f"record {record or '?'}: field {key!r} must be a list", record=record, field=key)
    return value


def read_jsonl(stream: IO[str], *, ignore: Collection[str] = ()) -> Iterator[Contact]:
    """Contacts from JSON lines; a bad line raises InvalidContact naming its line number.

    Keys in `ignore` are dropped before the contact is read (e.g. a simulator's `hq_id`
    and `sync_state`, which are the account's, not the contact's); others stay refused."""
    for _, contact in numbered_jsonl(stream, ignore=ignore):
        yield contact


def numbered_jsonl(
    stream: IO[str], *, ignore: Collection[str] = (), first_line: int = 1
) -> Iterator[tuple[int, Contact]]:
    """`read_jsonl` with each contact's line number; the stream's first line is `first_line`
    (a part of a file read on its own names the file's lines)."""
    for lineno, line in enumerate(stream, start=first_line):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidContact(f"line {lineno}: not valid JSON ({exc.msg})", record=f"line {lineno}") from None
        if ignore and isinstance(data, dict):
            data = {key: value for key, value in data.items() if key not in ignore}
        try:
            yield lineno, Contact.from_dict(data)
        except InvalidContact as exc:
            raise InvalidContact(f"line {lineno}: {exc}", record=exc.record, field=exc.field) from None


def write_jsonl(contacts: Iterable[Contact], stream: IO[str]) -> int:
    """Write contacts as JSON lines; returns how many were written."""
    count = 0
    for contact in contacts:
        stream.write(contact.to_json())
        stream.write("\n")
        count += 1
    return count
