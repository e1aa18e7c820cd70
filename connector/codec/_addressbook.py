"""The field mapping between the canonical contact and POHODA's `adb:addressbook` element.

One mapping, used both ways: by the codec (import dataPacks out, exports in) and by the
mServer simulator (imports in, exports out). Envelopes (dataPack, responsePack) live elsewhere.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any

from lxml import etree

from connector.codec._fingerprint import fingerprint_of_values
from connector.codec._xml import is_model_date
from connector.model import POHODA_LIMITS, Consent, Contact, ShipTo

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


# contact field -> (element under typ:address, POHODA's length limit from the field table)
ADDRESS_FIELDS: tuple[tuple[str, str, int], ...] = tuple(
    (field, element, POHODA_LIMITS[field])
    for field, element in (
        ("company", "company"),
        ("name", "name"),
        ("city", "city"),
        ("street", "street"),
        ("zip", "zip"),
        ("ico", "ico"),
        ("dic", "dic"),
        ("ic_dph", "icDph"),
    )
)
# contact field -> (element under adb:addressbookHeader, limit or 0 for none)
HEADER_FIELDS: tuple[tuple[str, str, int], ...] = tuple(
    (field, element, POHODA_LIMITS.get(field, 0))
    for field, element in (("phone", "phone"), ("mobile", "mobil"), ("email", "email"), ("note", "note"))
)
SHIP_TO_FIELDS: tuple[tuple[str, str, int], ...] = tuple(
    (field, element, POHODA_LIMITS[field])
    for field, element in (
        ("company", "company"),
        ("name", "name"),
        ("city", "city"),
        ("street", "street"),
        ("zip", "zip"),
        ("phone", "phone"),
        ("email", "email"),
    )
)
COUNTRY_LIMIT = POHODA_LIMITS["country"]  # typ:idsType
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


# Qualified names made once: exports and import packs build every record's elements (the
# simulator's full export, every record), and a Clark name formatted per element cost as
# much as the element. Parts are built inside their parent when one is given, not built
# apart and moved (lxml walks a moved subtree again to fix its namespaces).
_NSMAP = {"adb": NS["adb"], "typ": NS["typ"]}
_ADDRESS_OUT = tuple((field, q("typ", element)) for field, element, _limit in ADDRESS_FIELDS)
_SHIP_TO_OUT = tuple((field, q("typ", element)) for field, element, _limit in SHIP_TO_FIELDS)
_HEADER_OUT = tuple((field, q("adb", element)) for field, element, _limit in HEADER_FIELDS)
(
    _T_EXT_ID, _T_IDS, _T_EX_SYSTEM, _T_ADDRESS, _T_COUNTRY, _T_SHIP_TO, _T_DEFAULT_SHIP, _T_LABEL,
) = (q("typ", n) for n in ("extId", "ids", "exSystemName", "address", "country", "shipToAddress",
                            "defaultShipAddress", "label"))
(
    _A_IDENTITY, _A_HEADER, _A_ID, _A_BIRTH, _A_LABELS, _A_GDPR, _A_GDPR_ITEMS, _A_GDPR_ITEM, _A_NAME,
    _A_DESCRIPTION, _A_DATE_FROM, _A_DATE_TILL,
) = (q("adb", n) for n in ("identity", "addressbookHeader", "id", "dateOfBirth", "labels", "addressbookGDPR",
                            "GDPRItems", "GDPRItem", "name", "description", "dateFrom", "dateTill"))


def _part(tag: str, parent: etree._Element | None) -> etree._Element:
    if parent is None:
        return etree.Element(tag, nsmap=_NSMAP)
    return etree.SubElement(parent, tag, nsmap=_NSMAP)


class _Own:
    """The default of `record_id` / `ext_id`: the contact's own."""


_OWN = _Own()


def build_identity(
    contact: Contact,
    *,
    ex_system: str | None,
    include_empty: bool = False,
    parent: etree._Element | None = None,
    ext_id: str | _Own | None = _OWN,
) -> etree._Element:
    """`adb:identity` (typ:address): the extId, the billing address and the ship-to list.

    With `include_empty`, empty fields are written as empty elements, which an update reads
    as "clear this field"; the ship-to list is always the complete list. Built inside
    `parent` when given; `ext_id` instead of the contact's (an export writes a stored
    record's without copying the contact).
    """
    identity = _part(_A_IDENTITY, parent)
    ext = contact.ext_id if isinstance(ext_id, _Own) else ext_id
    if ext and ex_system:
        ext_el = _sub(identity, _T_EXT_ID, None)
        _sub(ext_el, _T_IDS, ext)
        _sub(ext_el, _T_EX_SYSTEM, ex_system)
    address = _sub(identity, _T_ADDRESS, None)
    for field, tag in _ADDRESS_OUT:
        value = getattr(contact, field)
        if value is not None or include_empty:
            _sub(address, tag, value or "")
    if contact.country is not None:
        country = _sub(address, _T_COUNTRY, None)
        _sub(country, _T_IDS, contact.country)
    for ship in contact.ship_to:
        item = _sub(identity, _T_SHIP_TO, None)
        for field, tag in _SHIP_TO_OUT:
            value = getattr(ship, field)
            if value is not None:
                _sub(item, tag, value)
        if ship.country is not None:
            country = _sub(item, _T_COUNTRY, None)
            _sub(country, _T_IDS, ship.country)
        _sub(item, _T_DEFAULT_SHIP, "true" if ship.default else "false")
    return identity


def build_header(
    contact: Contact,
    *,
    ex_system: str | None,
    include_empty: bool = False,
    parent: etree._Element | None = None,
    record_id: str | _Own | None = _OWN,
    ext_id: str | _Own | None = _OWN,
) -> etree._Element:
    """`adb:addressbookHeader` for an import item or an export record (with `contact.id`),
    built inside `parent` when given; `record_id` and `ext_id` instead of the contact's."""
    header = _part(_A_HEADER, parent)
    own_id = contact.id if isinstance(record_id, _Own) else record_id
    if own_id is not None and own_id.isdigit():
        _sub(header, _A_ID, own_id)
    build_identity(contact, ex_system=ex_system, include_empty=include_empty, parent=header, ext_id=ext_id)
    for field, tag in _HEADER_OUT:
        value = getattr(contact, field)
        if value is not None or include_empty:
            _sub(header, tag, value or "")
    if contact.birth_date is not None:
        _sub(header, _A_BIRTH, contact.birth_date)
    if contact.groups:
        labels = _sub(header, _A_LABELS, None)
        for group in contact.groups:
            label = _sub(labels, _T_LABEL, None)
            _sub(label, _T_IDS, group)
    return header


def build_gdpr(consents: Iterable[Consent], *, parent: etree._Element | None = None) -> etree._Element | None:
    """`adb:addressbookGDPR` with one `GDPRItem` per consent, or None when there are none;
    built inside `parent` when given."""
    consents = list(consents)
    if not consents:
        return None
    gdpr = _part(_A_GDPR, parent)
    items = _sub(gdpr, _A_GDPR_ITEMS, None)
    for consent in consents:
        item = _sub(items, _A_GDPR_ITEM, None)
        name = _sub(item, _A_NAME, None)
        _sub(name, _T_IDS, consent.purpose)
        if consent.description is not None:
            _sub(item, _A_DESCRIPTION, consent.description)
        if consent.date_from is not None:
            _sub(item, _A_DATE_FROM, consent.date_from)
        if consent.date_till is not None:
            _sub(item, _A_DATE_TILL, consent.date_till)
    return gdpr


# -- an export record as text ------------------------------------------------------------------
#
# The simulator answers a full export of 100,000 records; building each record's thirty
# elements in lxml cost more than everything the client does with them. This writes the
# text lxml would write for `build_header` + `build_gdpr` of an export record (no empty
# fields), inside a document that declares the adb, typ and lAdb prefixes: the same
# characters, so the same bytes once encoded (a test holds the two writers to that).

_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
# What XML 1.0 cannot carry (lxml refuses it): such a record is left to the element builder.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ADDRESS_TEXT = tuple((field, f"<typ:{element}>", f"</typ:{element}>") for field, element, _l in ADDRESS_FIELDS)
_SHIP_TO_TEXT = tuple((field, f"<typ:{element}>", f"</typ:{element}>") for field, element, _l in SHIP_TO_FIELDS)
_HEADER_TEXT = tuple((field, f"<adb:{element}>", f"</adb:{element}>") for field, element, _l in HEADER_FIELDS)


def _x(value: str) -> str:
    return value.translate(_TEXT_ESCAPES) if ("&" in value or "<" in value or ">" in value or "\r" in value) else value


def render_export_record(
    contact: Contact, *, record_id: str | None, ext_id: str | None, ex_system: str | None
) -> str | None:
    """`<lAdb:addressbook>` of an export as text, or None when a value holds a character
    XML cannot carry (then build it with `build_header`, which says so)."""
    out = ['<lAdb:addressbook version="2.0"><adb:addressbookHeader>']
    add = out.append
    if record_id is not None and record_id.isdigit():
        add(f"<adb:id>{_x(record_id)}</adb:id>")
    add("<adb:identity>")
    if ext_id and ex_system:
        add(f"<typ:extId><typ:ids>{_x(ext_id)}</typ:ids><typ:exSystemName>{_x(ex_system)}</typ:exSystemName></typ:extId>")
    address_at = len(out)
    for field, start, end in _ADDRESS_TEXT:
        value = getattr(contact, field)
        if value is not None:
            add(f"{start}{_x(value)}{end}")
    if contact.country is not None:
        add(f"<typ:country><typ:ids>{_x(contact.country)}</typ:ids></typ:country>")
    if len(out) == address_at:
        add("<typ:address/>")
    else:
        out.insert(address_at, "<typ:address>")
        add("</typ:address>")
    for ship in contact.ship_to:
        add("<typ:shipToAddress>")
        for field, start, end in _SHIP_TO_TEXT:
            value = getattr(ship, field)
            if value is not None:
                add(f"{start}{_x(value)}{end}")
        if ship.country is not None:
            add(f"<typ:country><typ:ids>{_x(ship.country)}</typ:ids></typ:country>")
        add("<typ:defaultShipAddress>true</typ:defaultShipAddress></typ:shipToAddress>" if ship.default
            else "<typ:defaultShipAddress>false</typ:defaultShipAddress></typ:shipToAddress>")
    add("</adb:identity>")
    for field, start, end in _HEADER_TEXT:
        value = getattr(contact, field)
        if value is not None:
            add(f"{start}{_x(value)}{end}")
    if contact.birth_date is not None:
        add(f"<adb:dateOfBirth>{_x(contact.birth_date)}</adb:dateOfBirth>")
    if contact.groups:
        add("<adb:labels>")
        for group in contact.groups:
            add(f"<typ:label><typ:ids>{_x(group)}</typ:ids></typ:label>")
        add("</adb:labels>")
    add("</adb:addressbookHeader>")
    if contact.gdpr:
        add("<adb:addressbookGDPR><adb:GDPRItems>")
        for consent in contact.gdpr:
            add(f"<adb:GDPRItem><adb:name><typ:ids>{_x(consent.purpose)}</typ:ids></adb:name>")
            for value, start, end in (
                (consent.description, "<adb:description>", "</adb:description>"),
                (consent.date_from, "<adb:dateFrom>", "</adb:dateFrom>"),
                (consent.date_till, "<adb:dateTill>", "</adb:dateTill>"),
            ):
                if value is not None:
                    add(f"{start}{_x(value)}{end}")
            add("</adb:GDPRItem>")
        add("</adb:GDPRItems></adb:addressbookGDPR>")
    add("</lAdb:addressbook>")
    text = "".join(out)
    return None if _NOT_XML.search(text) else text


# -- reading a record -------------------------------------------------------------------------
#
# Exports run to 100,000 records, so this is the hot path. A record is read in one flat pass
# over its elements in document order (lxml's iter(), far cheaper than walking it level by
# level), with a little state saying where the pass is: which part of the record, which part
# of the identity, and which reference (a country, a label, a consent's purpose) the next
# typ:ids belongs to. The pass relies on what the schema guarantees: the record's parts come
# in the order addressbookType gives, every child of the header is in the adb namespace and
# everything below it in typ, and a reference's own typ:ids comes before its typ:extId.
# Callers validate the record first.

_ADB = f"{{{NS['adb']}}}"
_PRINT = "{http://www.stormware.cz/schema/version_2/print.xsd}print"

# What an element is: the codes of the flat pass.
(
    _C_IDS, _C_ADDRESS_FIELD, _C_HEADER_FIELD, _C_COUNTRY, _C_SHIP_TO, _C_EXT_ID, _C_EX_SYSTEM, _C_ADDRESS,
    _C_DEFAULT_SHIP, _C_HEADER, _C_IDENTITY, _C_LABELS, _C_LABEL, _C_GDPR_ITEM, _C_GDPR_NAME, _C_GDPR_FIELD,
    _C_GDPR, _C_ACTION, _C_OTHER_PART,
) = range(19)
# Where the pass is in the record (its parts come in this order) ...
_AT_START, _AT_HEADER, _AT_OTHER, _AT_GDPR = range(4)
# ... in the header (0: in another of its fields) ...
_IN_IDENTITY, _IN_LABELS = 1, 2
# ... in the identity ...
_ID_NONE, _ID_EXT, _ID_ADDRESS, _ID_SHIP_TO = range(4)
# ... and which reference the next typ:ids belongs to.
_REF_NONE, _REF_COUNTRY, _REF_LABEL, _REF_PURPOSE = range(4)

_HEADER_TEXTS = {q("adb", el): field for field, el, _l in HEADER_FIELDS} | {
    q("adb", "id"): "id",
    q("adb", "dateOfBirth"): "birth_date",
}
_ADDRESS_TEXTS = {q("typ", el): field for field, el, _l in ADDRESS_FIELDS}
_SHIP_TO_TEXTS = {q("typ", el): field for field, el, _l in SHIP_TO_FIELDS}
_GDPR_TEXTS = {q("adb", "description"): "description", q("adb", "dateFrom"): "date_from",
               q("adb", "dateTill"): "date_till"}
_DESCRIPTION = q("adb", "description")
_NO_TEXTS: dict[str, str] = {}
# Every other child of typ:addressType and typ:shipToAddressType: it ends a pending reference.
_OTHER_ADDRESS_TAGS = [q("typ", el) for el in ("division", "VATPayerType", "mobilPhone", "fax", "actionType")]
_CODES: dict[str, int] = {
    **dict.fromkeys((*_ADDRESS_TEXTS, *_SHIP_TO_TEXTS, *_OTHER_ADDRESS_TAGS), _C_ADDRESS_FIELD),
    **dict.fromkeys(_HEADER_TEXTS, _C_HEADER_FIELD),
    **dict.fromkeys(_GDPR_TEXTS, _C_GDPR_FIELD),
    q("typ", "ids"): _C_IDS,
    q("typ", "country"): _C_COUNTRY,
    q("typ", "shipToAddress"): _C_SHIP_TO,
    q("typ", "extId"): _C_EXT_ID,
    q("typ", "exSystemName"): _C_EX_SYSTEM,
    q("typ", "address"): _C_ADDRESS,
    q("typ", "defaultShipAddress"): _C_DEFAULT_SHIP,
    q("adb", "addressbookHeader"): _C_HEADER,
    q("adb", "identity"): _C_IDENTITY,
    q("adb", "labels"): _C_LABELS,
    q("typ", "label"): _C_LABEL,
    q("adb", "GDPRItem"): _C_GDPR_ITEM,
    q("adb", "name"): _C_GDPR_NAME,
    q("adb", "addressbookGDPR"): _C_GDPR,
    q("adb", "actionType"): _C_ACTION,
    q("adb", "addressbookAccount"): _C_OTHER_PART,
    q("typ", "attachments"): _C_OTHER_PART,
    _PRINT: _C_OTHER_PART,
}
# Templates copied per record: cheaper than building each dict field by field.
_NO_VALUES: dict[str, Any] = {
    **dict.fromkeys(
        ("id", "ext_id", "country", "birth_date", *(f for f, _e, _l in ADDRESS_FIELDS),
         *(f for f, _e, _l in HEADER_FIELDS))
    ),
    "ship_to": (),
    "groups": (),
    "gdpr": (),
}
_NO_SHIP_TO: dict[str, Any] = {**dict.fromkeys(f for f, _e, _l in SHIP_TO_FIELDS), "country": None, "default": False}
_NO_CONSENT: dict[str, Any] = dict.fromkeys(("purpose", "description", "date_from", "date_till"))
_ALPHA2 = re.compile(r"[A-Z]{2}\Z")


def addressbook_values(record: etree._Element, *, ex_system: str | None) -> tuple[dict[str, Any], bool]:
    """The fields of a schema-valid `adb:addressbook` / `lAdb:addressbook` element, its lists
    as lists (each address and consent a dict of its fields), and whether a value is for the
    model to judge (a country that is not two capitals, a date with a zone, a consent
    without a purpose): then only `Contact.from_dict` may read them."""
    data = _NO_VALUES.copy()
    groups: list[str] = []
    ships: list[dict[str, Any]] = []
    consents: list[dict[str, Any]] = []
    codes = _CODES
    part_of_record = _AT_START
    in_header = 0
    in_identity = _ID_NONE
    ref = _REF_NONE
    target = data  # the dict the address fields go to: the contact's, or a ship-to's
    texts = _NO_TEXTS  # the address fields' tags, once in an address or a ship-to
    consent = data  # the consent being read (data while there is none)
    ext_id: str | None = None  # typ:ids of the identity's extId being read
    odd = False  # a value the model must judge
    for el in record.iter():
        tag = el.tag
        code = codes.get(tag)
        if code is None:
            if tag.startswith(_ADB):  # another header field, or a part of a consent
                in_header = 0
                ref = _REF_NONE
            continue
        if code == _C_IDS:
            if ref:
                text = el.text
                value = (text.strip() or None) if text else None
                if ref == _REF_COUNTRY:
                    target["country"] = value
                    if value is not None and not _ALPHA2.match(value):
                        odd = True
                elif ref == _REF_LABEL:
                    if value is not None and value not in groups:
                        groups.append(value)
                else:
                    consent["purpose"] = value
                ref = _REF_NONE
            elif in_identity == _ID_EXT and in_header == _IN_IDENTITY:
                text = el.text
                ext_id = (text.strip() or None) if text else None
            continue
        # Any other element ends a pending reference: a reference's own typ:ids comes first
        # in it, so a typ:ids after its typ:extId (or after anything else) is not its value.
        ref = _REF_NONE
        if code == _C_ADDRESS_FIELD:
            if in_header == _IN_IDENTITY:
                field = texts.get(tag)
                if field is not None:
                    text = el.text
                    target[field] = (text.strip() or None) if text else None
        elif code == _C_HEADER_FIELD:
            in_header = 0
            if part_of_record == _AT_HEADER:
                text = el.text
                field = _HEADER_TEXTS[tag]
                data[field] = value = (text.strip() or None) if text else None
                if field == "birth_date" and not is_model_date(value):
                    odd = True
        elif code == _C_COUNTRY:
            if in_header == _IN_IDENTITY and in_identity in (_ID_ADDRESS, _ID_SHIP_TO):
                ref = _REF_COUNTRY
        elif code == _C_SHIP_TO:
            if in_header == _IN_IDENTITY:
                in_identity = _ID_SHIP_TO
                target = _NO_SHIP_TO.copy()
                texts = _SHIP_TO_TEXTS
                ships.append(target)
        elif code == _C_EXT_ID:
            # The identity's own (before its address); a reference's or a ship-to's is not read.
            if in_header == _IN_IDENTITY and in_identity in (_ID_NONE, _ID_EXT):
                in_identity = _ID_EXT
                ext_id = None
        elif code == _C_EX_SYSTEM:
            if in_header == _IN_IDENTITY and in_identity == _ID_EXT and ex_system:
                text = el.text
                if text is not None and text.strip() == ex_system:
                    data["ext_id"] = ext_id
        elif code == _C_ADDRESS:
            if in_header == _IN_IDENTITY:
                in_identity = _ID_ADDRESS
                target = data
                texts = _ADDRESS_TEXTS
        elif code == _C_DEFAULT_SHIP:
            if in_header == _IN_IDENTITY and in_identity == _ID_SHIP_TO:
                target["default"] = (el.text or "").strip() == "true"
        elif code == _C_HEADER:
            part_of_record = _AT_HEADER
            in_header = 0
        elif code == _C_IDENTITY:
            in_header = _IN_IDENTITY if part_of_record == _AT_HEADER else 0
            in_identity = _ID_NONE
            texts = _NO_TEXTS
        elif code == _C_LABELS:
            in_header = _IN_LABELS if part_of_record == _AT_HEADER else 0
        elif code == _C_LABEL:
            if in_header == _IN_LABELS:
                ref = _REF_LABEL
        elif code == _C_GDPR_ITEM:
            if part_of_record == _AT_GDPR:
                consent = _NO_CONSENT.copy()
                consents.append(consent)
        elif code == _C_GDPR_NAME:
            if part_of_record == _AT_GDPR and consent is not data:
                ref = _REF_PURPOSE
        elif code == _C_GDPR_FIELD:
            if part_of_record == _AT_GDPR and consent is not data:
                text = el.text
                consent[_GDPR_TEXTS[tag]] = value = (text.strip() or None) if text else None
                if tag != _DESCRIPTION and not is_model_date(value):
                    odd = True
        elif code == _C_GDPR:
            part_of_record = _AT_GDPR
            in_header = 0
        elif code == _C_ACTION:
            if part_of_record == _AT_START:  # the record's own action (an import item)
                part_of_record = _AT_OTHER
        else:  # _C_OTHER_PART: bank accounts, attachments, print settings
            part_of_record = _AT_OTHER
            in_header = 0
    for c in consents:
        if c["purpose"] is None:
            odd = True
    data["ship_to"] = ships
    data["groups"] = groups
    data["gdpr"] = consents
    return data, odd


def parse_addressbook(record: etree._Element, *, ex_system: str | None) -> Contact:
    """A contact from a schema-valid `adb:addressbook` / `lAdb:addressbook` element.

    Raises InvalidContact (naming the record and field) when a value is not acceptable:
    values the fast path cannot vouch for (a country that is not two capitals, a date with
    a zone, a consent without a purpose) go through Contact.from_dict, whose rules decide.
    """
    data, odd = addressbook_values(record, ex_system=ex_system)
    if odd:
        # Something to normalise or refuse: the model's own rules decide, and name the field.
        record_name = str(data["id"] or data["ext_id"] or "?")
        return Contact.from_dict(data, record=f"POHODA {record_name}")
    data["ship_to"] = tuple([ShipTo(**s) for s in data["ship_to"]])
    data["groups"] = tuple(data["groups"])
    data["gdpr"] = tuple([Consent(**c) for c in data["gdpr"]])
    return Contact(**data)


@dataclasses.dataclass(frozen=True, slots=True)
class AddressbookDigest:
    """An export record read for a full comparison: its id, the e-shop id it carries and its
    content fingerprint (`hash_content` of what `contact()` holds); `contact()` reads it in
    full, as `parse_addressbook` does. Call it while the export is read (it holds the element)."""

    id: str | None
    ext_id: str | None
    fingerprint: str
    element: etree._Element = dataclasses.field(repr=False, compare=False)
    ex_system: str | None = dataclasses.field(repr=False, compare=False, default=None)

    def contact(self) -> Contact:
        return parse_addressbook(self.element, ex_system=self.ex_system)


def digest_addressbook(record: etree._Element, *, ex_system: str | None) -> AddressbookDigest | Contact:
    """The record's digest; or its contact, read by `parse_addressbook` (which may refuse
    it), when a value is for the model to judge."""
    data, odd = addressbook_values(record, ex_system=ex_system)
    if odd:
        return parse_addressbook(record, ex_system=ex_system)
    return AddressbookDigest(data["id"], data["ext_id"], fingerprint_of_values(data), record, ex_system)
