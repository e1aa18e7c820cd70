"""The field mapping between the canonical contact and POHODA's `adb:addressbook` element.

One mapping, used both ways: by the codec (import dataPacks out, exports in) and by the
mServer simulator (imports in, exports out). Envelopes (dataPack, responsePack) live elsewhere.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from lxml import etree

from connector.model import Consent, Contact, ShipTo

NS = {
    "dat": "http://www.stormware.cz/schema/version_2/data.xsd",
    "rsp": "http://www.stormware.cz/schema/version_2/response.xsd",
    "rdc": "http://www.stormware.cz/schema/version_2/documentresponse.xsd",
    "adb": "http://www.stormware.cz/schema/version_2/addressbook.xsd",
    "lAdb": "http://www.stormware.cz/schema/version_2/list_addBook.xsd",
    "ftr": "http://www.stormware.cz/schema/version_2/filter.xsd",
    "typ": "http://www.stormware.cz/schema/version_2/type.xsd",
}


def q(prefix: str, local: str) -> str:
    """Clark notation for `prefix:local`, e.g. q("adb", "addressbook")."""
    return f"{{{NS[prefix]}}}{local}"


# contact field -> (element under typ:address, POHODA's length limit)
ADDRESS_FIELDS: tuple[tuple[str, str, int], ...] = (
    ("company", "company", 255),
    ("name", "name", 64),
    ("city", "city", 45),
    ("street", "street", 64),
    ("zip", "zip", 15),
    ("ico", "ico", 15),
    ("dic", "dic", 18),
    ("ic_dph", "icDph", 18),
)
# contact field -> (element under adb:addressbookHeader, limit or 0 for none)
HEADER_FIELDS: tuple[tuple[str, str, int], ...] = (
    ("phone", "phone", 40),
    ("mobile", "mobil", 24),
    ("email", "email", 98),
    ("note", "note", 0),
)
SHIP_TO_FIELDS: tuple[tuple[str, str, int], ...] = (
    ("company", "company", 255),
    ("name", "name", 64),
    ("city", "city", 45),
    ("street", "street", 64),
    ("zip", "zip", 15),
    ("phone", "phone", 40),
    ("email", "email", 98),
)
COUNTRY_LIMIT = 19  # typ:idsType
EXT_ID_LIMIT = 64  # typ:string64
GROUP_LIMIT = 10  # typ:labelsType allows at most ten labels
GDPR_NAME_LIMIT = 80  # typ:idsTypeLong

# Every limited text field of a contact, by its path in the contact: used to check values
# before building an item (a value over its limit must never be cut silently).
FIELD_LIMITS: dict[str, int] = {
    **{field: limit for field, _el, limit in ADDRESS_FIELDS},
    **{field: limit for field, _el, limit in HEADER_FIELDS if limit},
    "country": COUNTRY_LIMIT,
    "ext_id": EXT_ID_LIMIT,
}
SHIP_TO_LIMITS: dict[str, int] = {
    **{field: limit for field, _el, limit in SHIP_TO_FIELDS},
    "country": COUNTRY_LIMIT,
}


def _sub(parent: etree._Element, tag: str, text: str | None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def build_identity(contact: Contact, *, ex_system: str | None, include_empty: bool = False) -> etree._Element:
    """`adb:identity` (typ:address): the extId, the billing address and the ship-to list.

    With `include_empty`, empty fields are written as empty elements, which an update reads
    as "clear this field"; the ship-to list is always the complete list.
    """
    identity = etree.Element(q("adb", "identity"), nsmap={"adb": NS["adb"], "typ": NS["typ"]})
    if contact.ext_id and ex_system:
        ext = _sub(identity, q("typ", "extId"), None)
        _sub(ext, q("typ", "ids"), contact.ext_id)
        _sub(ext, q("typ", "exSystemName"), ex_system)
    address = _sub(identity, q("typ", "address"), None)
    for field, element, _limit in ADDRESS_FIELDS:
        value = getattr(contact, field)
        if value is not None or include_empty:
            _sub(address, q("typ", element), value or "")
    if contact.country is not None:
        country = _sub(address, q("typ", "country"), None)
        _sub(country, q("typ", "ids"), contact.country)
    for ship in contact.ship_to:
        item = _sub(identity, q("typ", "shipToAddress"), None)
        for field, element, _limit in SHIP_TO_FIELDS:
            value = getattr(ship, field)
            if value is not None:
                _sub(item, q("typ", element), value)
        if ship.country is not None:
            country = _sub(item, q("typ", "country"), None)
            _sub(country, q("typ", "ids"), ship.country)
        _sub(item, q("typ", "defaultShipAddress"), "true" if ship.default else "false")
    return identity


def build_header(contact: Contact, *, ex_system: str | None, include_empty: bool = False) -> etree._Element:
    """`adb:addressbookHeader` for an import item or an export record (with `contact.id`)."""
    header = etree.Element(q("adb", "addressbookHeader"), nsmap={"adb": NS["adb"], "typ": NS["typ"]})
    if contact.id is not None and contact.id.isdigit():
        _sub(header, q("adb", "id"), contact.id)
    header.append(build_identity(contact, ex_system=ex_system, include_empty=include_empty))
    for field, element, _limit in HEADER_FIELDS:
        value = getattr(contact, field)
        if value is not None or include_empty:
            _sub(header, q("adb", element), value or "")
    if contact.birth_date is not None:
        _sub(header, q("adb", "dateOfBirth"), contact.birth_date)
    if contact.groups:
        labels = _sub(header, q("adb", "labels"), None)
        for group in contact.groups:
            label = _sub(labels, q("typ", "label"), None)
            _sub(label, q("typ", "ids"), group)
    return header


def build_gdpr(consents: Iterable[Consent]) -> etree._Element | None:
    """`adb:addressbookGDPR` with one `GDPRItem` per consent, or None when there are none."""
    consents = list(consents)
    if not consents:
        return None
    gdpr = etree.Element(q("adb", "addressbookGDPR"), nsmap={"adb": NS["adb"], "typ": NS["typ"]})
    items = _sub(gdpr, q("adb", "GDPRItems"), None)
    for consent in consents:
        item = _sub(items, q("adb", "GDPRItem"), None)
        name = _sub(item, q("adb", "name"), None)
        _sub(name, q("typ", "ids"), consent.purpose)
        if consent.description is not None:
            _sub(item, q("adb", "description"), consent.description)
        if consent.date_from is not None:
            _sub(item, q("adb", "dateFrom"), consent.date_from)
        if consent.date_till is not None:
            _sub(item, q("adb", "dateTill"), consent.date_till)
    return gdpr


_HEADER = q("adb", "addressbookHeader")
_IDENTITY = q("adb", "identity")
_ADDRESS = q("typ", "address")
_SHIP_TO = q("typ", "shipToAddress")
_EXT_ID = q("typ", "extId")
_IDS = q("typ", "ids")
_COUNTRY = q("typ", "country")
_LABELS = q("adb", "labels")
_GDPR = q("adb", "addressbookGDPR")
_GDPR_ITEMS = q("adb", "GDPRItems")
_ADDRESS_TAGS = {q("typ", el): field for field, el, _l in ADDRESS_FIELDS}
# adb:id and adb:dateOfBirth are plain texts of the header too.
_HEADER_TAGS = {q("adb", el): field for field, el, _l in HEADER_FIELDS} | {
    q("adb", "id"): "id",
    q("adb", "dateOfBirth"): "birth_date",
}
_NO_VALUES: dict[str, Any] = dict.fromkeys(
    ("id", "ext_id", "country", "birth_date", *(f for f, _e, _l in ADDRESS_FIELDS), *(f for f, _e, _l in HEADER_FIELDS))
)
_SHIP_TO_TAGS = {q("typ", el): field for field, el, _l in SHIP_TO_FIELDS}
# Templates copied per element: cheaper than building each dict field by field.
_NO_SHIP_TO: dict[str, Any] = {**dict.fromkeys(f for f, _e, _l in SHIP_TO_FIELDS), "country": None, "default": False}
_NO_CONSENT: dict[str, Any] = dict.fromkeys(("purpose", "description", "date_from", "date_till"))
_CONSENT_TAGS = {q("adb", "description"): "description", q("adb", "dateFrom"): "date_from",
                 q("adb", "dateTill"): "date_till"}
_EX_SYSTEM = q("typ", "exSystemName")
_DEFAULT_SHIP = q("typ", "defaultShipAddress")
_NAME_ADB = q("adb", "name")
_ALPHA2 = re.compile(r"[A-Z]{2}\Z")


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    return text.strip() or None


def _ref_ids(ref: etree._Element) -> str | None:
    for child in ref:
        if child.tag == _IDS:
            text = child.text
            return (text.strip() or None) if text else None
    return None


def _is_date(value: str | None) -> bool:
    if value is None:
        return True
    if len(value) != 10:
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def parse_addressbook(record: etree._Element, *, ex_system: str | None) -> Contact:
    """A contact from an `adb:addressbook` / `lAdb:addressbook` element (an export record).

    Raises InvalidContact (naming the record and field) when a value is not acceptable.
    One pass over the record's children (exports run to 100,000 records, so this is the
    hot path); values the fast path cannot vouch for go through Contact.from_dict, whose
    rules decide and whose error names the field.
    """
    data: dict[str, Any] = dict(_NO_VALUES)
    groups: list[str] = []
    ships: list[dict[str, Any]] = []
    consents: list[dict[str, Any]] = []
    header_tags, address_tags = _HEADER_TAGS, _ADDRESS_TAGS
    for part in record:
        part_tag = part.tag
        if part_tag == _HEADER:
            for el in part:
                tag = el.tag
                field = header_tags.get(tag)
                if field is not None:
                    text = el.text
                    data[field] = (text.strip() or None) if text else None
                elif tag == _IDENTITY:
                    for node in el:
                        inner = node.tag
                        if inner == _ADDRESS:
                            for field_el in node:
                                ftag = field_el.tag
                                field = address_tags.get(ftag)
                                if field is not None:
                                    text = field_el.text
                                    data[field] = (text.strip() or None) if text else None
                                elif ftag == _COUNTRY:
                                    data["country"] = _ref_ids(field_el)
                        elif inner == _SHIP_TO:
                            ships.append(_ship_to_dict(node))
                        elif inner == _EXT_ID and ex_system and _clean(node.findtext(_EX_SYSTEM)) == ex_system:
                            data["ext_id"] = _clean(node.findtext(_IDS))
                elif tag == _LABELS:
                    for label in el:
                        ids = _ref_ids(label)
                        if ids is not None and ids not in groups:
                            groups.append(ids)
        elif part_tag == _GDPR:
            for items in part:
                if items.tag == _GDPR_ITEMS:
                    consents.extend(_consent_dict(item) for item in items)
    country = data["country"]
    if (
        (country is None or _ALPHA2.match(country))
        and _is_date(data["birth_date"])
        and (not ships or all(s["country"] is None or _ALPHA2.match(s["country"]) for s in ships))
        and (
            not consents
            or all(c["purpose"] is not None and _is_date(c["date_from"]) and _is_date(c["date_till"]) for c in consents)
        )
    ):
        return Contact(
            **data,
            ship_to=tuple(ShipTo(**s) for s in ships) if ships else (),
            groups=tuple(groups),
            gdpr=tuple(Consent(**c) for c in consents) if consents else (),
        )
    # Something to normalise or refuse: the model's own rules decide, and name the field.
    record_name = str(data["id"] or data["ext_id"] or "?")
    data["ship_to"] = ships
    data["groups"] = groups
    data["gdpr"] = consents
    return Contact.from_dict(data, record=f"POHODA {record_name}")


def _children(
    element: etree._Element, template: dict[str, Any], fields: dict[str, str], ref_tag: str, ref_field: str
) -> dict[str, Any]:
    """The texts of an element's children by field, and the `typ:ids` of its one reference."""
    values = dict(template)
    for el in element:
        tag = el.tag
        field = fields.get(tag)
        if field is not None:
            text = el.text
            values[field] = (text.strip() or None) if text else None
        elif tag == ref_tag:
            values[ref_field] = _ref_ids(el)
        elif tag == _DEFAULT_SHIP:
            values["default"] = (el.text or "").strip() == "true"
    return values


def _ship_to_dict(ship: etree._Element) -> dict[str, Any]:
    return _children(ship, _NO_SHIP_TO, _SHIP_TO_TAGS, _COUNTRY, "country")


def _consent_dict(gdpr_item: etree._Element) -> dict[str, Any]:
    return _children(gdpr_item, _NO_CONSENT, _CONSENT_TAGS, _NAME_ADB, "purpose")
