"""The e-shop protocol's XML (schemas/eshop/eshop.xsd) to and from the canonical model.

Every document is validated against the schema when built and when read; field limits are
checked before building so that a value too long is refused naming its field, never cut.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, cast

from lxml import etree

from connector._paths import schemas_dir
from connector.codec._fingerprint import fingerprint_of_values
from connector.codec._xml import is_model_date, load_schema, parse_bytes, schema_message, validate
from connector.errors import BadData, FieldTooLong, InvalidContact, MalformedXML, SchemaViolation
from connector.model import CONTACT_FIELDS, ESHOP_LIMITS, Consent, Contact, ShipTo

NS = "urn:connector:eshop:1"
CONTENT_TYPE = "application/xml; charset=utf-8"
MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
MAX_BATCH_ITEMS = 1000

SyncState = Literal["synced", "pending_sync"]
SYNC_STATES: tuple[str, ...] = ("synced", "pending_sync")
WriteKind = Literal["create", "update", "link"]

# Canonical field -> (element name, character limit from the field table); the order is the
# schema's sequence.
CONTACT_ELEMENTS: tuple[tuple[str, str, int | None], ...] = tuple(
    (field, element, ESHOP_LIMITS.get(field))
    for field, element in (
        ("company", "company"),
        ("name", "name"),
        ("email", "email"),
        ("phone", "phone"),
        ("mobile", "mobile"),
        ("street", "street"),
        ("city", "city"),
        ("zip", "zip"),
        ("country", "country"),
        ("ico", "ico"),
        ("dic", "dic"),
        ("ic_dph", "icDph"),
        ("birth_date", "birthDate"),
        ("note", "note"),
    )
)
SHIP_TO_ELEMENTS: tuple[tuple[str, str, int | None], ...] = tuple(
    (field, field, ESHOP_LIMITS[field])
    for field in ("company", "name", "street", "city", "zip", "country", "phone", "email")
)
CONSENT_ELEMENTS: tuple[tuple[str, str, int | None], ...] = (
    ("purpose", "purpose", 64),
    ("date_from", "from", None),
    ("date_till", "till", None),
    ("description", "description", 255),
)
LABEL_LIMIT = 64
MAX_GROUPS = 50
MAX_SHIP_TO = 20
MAX_CONSENTS = 20
ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
VERSION_PATTERN = re.compile(r"^[!#-~]{1,64}$")
TOKEN_PATTERN = re.compile(r"^[!-~]{1,64}$")
KEY_PATTERN = re.compile(r"^[!-~]{1,128}$")

# XML element name -> canonical field name, for error messages that name the field.
_CANONICAL = {
    **{element: field for field, element, _ in CONTACT_ELEMENTS},
    "group": "groups",
    "shipTo": "ship_to",
    "consent": "gdpr",
    "from": "date_from",
    "till": "date_till",
    "hqId": "hq_id",
    "syncState": "sync_state",
    "idempotencyKey": "idempotency_key",
    "sendWelcome": "send_welcome",
}
# Characters XML 1.0 cannot carry at all (lxml would refuse them with a vague message).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def schema() -> etree.XMLSchema:
    """The compiled protocol schema (compiled once per process)."""
    return load_schema(str(schemas_dir() / "eshop" / "eshop.xsd"))


# -- the protocol's data ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class EshopCustomer:
    """A customer as the e-shop stores it: the canonical contact (`contact.id` is the e-shop's
    id) plus the e-shop's version, the HQ link and the last write's time."""

    contact: Contact
    version: str
    updated_at: dt.datetime
    hq_id: str | None = None
    sync_state: SyncState | None = None

    @property
    def id(self) -> str:
        assert self.contact.id is not None
        return self.contact.id


@dataclasses.dataclass(frozen=True)
class EshopChange:
    """One entry of the change feed: a customer's latest state, or a tombstone (`customer` None)."""

    id: str
    version: str | None
    at: dt.datetime  # updatedAt, or deletedAt for a tombstone
    customer: EshopCustomer | None

    @property
    def deleted(self) -> bool:
        return self.customer is None


@dataclasses.dataclass(frozen=True)
class ChangePage:
    """One page of the feed; resume from `next_cursor` (also when `has_more` is false)."""

    changes: tuple[EshopChange, ...]
    next_cursor: str
    has_more: bool
    # Entries that alone fail the schema or the model, each naming its customer and field:
    # set aside so that one bad record stops nothing else.
    refused: tuple[BadData, ...] = ()


@dataclasses.dataclass(frozen=True)
class EshopWrite:
    """One write for `POST /batch`; build it with `create`, `update` or `link`."""

    kind: WriteKind
    id: str | None = None
    contact: Contact | None = None
    idempotency_key: str | None = None
    expected_version: str | None = None
    send_welcome: bool = False
    hq_id: str | None = None
    sync_state: SyncState | None = None

    @classmethod
    def create(
        cls,
        contact: Contact,
        idempotency_key: str,
        *,
        send_welcome: bool = False,
        hq_id: str | None = None,
        sync_state: SyncState | None = None,
    ) -> EshopWrite:
        """A new customer; the same key replayed gets the same answer and no second customer."""
        return cls(
            kind="create",
            contact=contact,
            idempotency_key=idempotency_key,
            send_welcome=send_welcome,
            hq_id=hq_id,
            sync_state=sync_state,
        )

    @classmethod
    def update(cls, id: str, contact: Contact, expected_version: str) -> EshopWrite:
        """Replace a customer's content if it is still at `expected_version` (else 409)."""
        return cls(kind="update", id=id, contact=contact, expected_version=expected_version)

    @classmethod
    def link(cls, id: str, hq_id: str | None, sync_state: SyncState | None) -> EshopWrite:
        """Set (None: clear) the customer's HQ id and sync state."""
        return cls(kind="link", id=id, hq_id=hq_id, sync_state=sync_state)


@dataclasses.dataclass(frozen=True)
class ErrorReport:
    """The e-shop's `<error>`: a code a program can act on, a message, the field at fault,
    and the customer's current state where that helps (a version conflict)."""

    code: str
    message: str
    field: str | None = None
    customer: EshopCustomer | None = None


Outcome = Literal["ok", "conflict", "not_found", "rejected"]


@dataclasses.dataclass(frozen=True)
class EshopResult:
    """The answer to one write, in the order of the writes.

    `status` is the item's HTTP-like status (200/201 ok, 404, 409, 422, 400). `customer` is
    the customer after the write, or its current state on a conflict. `sent` is false for a
    write refused before sending (a field too long); `replayed` is true when a create was
    answered from its idempotency key (no second customer was made).
    """

    ref: str
    status: int
    id: str | None = None
    customer: EshopCustomer | None = None
    error: ErrorReport | None = None
    replayed: bool = False
    sent: bool = True

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def conflict(self) -> bool:
        return self.status in (409, 412)

    @property
    def outcome(self) -> Outcome:
        if self.ok:
            return "ok"
        if self.conflict:
            return "conflict"
        if self.status == 404:
            return "not_found"
        return "rejected"

    @property
    def version(self) -> str | None:
        """The new version after success; the current one after a conflict."""
        return self.customer.version if self.customer is not None else None

    @property
    def field(self) -> str | None:
        return self.error.field if self.error is not None else None

    @property
    def message(self) -> str | None:
        return self.error.message if self.error is not None else None


# -- checks before building -------------------------------------------------------------------


def _check_text(value: str | None, *, field: str, limit: int | None, record: str | None) -> None:
    if value is None:
        return
    if _NOT_XML.search(value):
        raise BadData(
            f"record {record or '?'}: field {field!r} holds a control character XML cannot carry",
            record=record,
            field=field,
        )
    if limit is not None and len(value) > limit:
        raise FieldTooLong(
            f"record {record or '?'}: field {field!r} is {len(value)} characters long; the e-shop's limit is {limit}",
            record=record,
            field=field,
            limit=limit,
            length=len(value),
        )


def check_contact(contact: Contact, *, record: str | None = None) -> None:
    """Refuse a contact the protocol cannot carry, naming the field (BadData / FieldTooLong)."""
    for field, _, limit in CONTACT_ELEMENTS:
        _check_text(getattr(contact, field), field=field, limit=limit, record=record)
    if len(contact.groups) > MAX_GROUPS:
        raise BadData(f"record {record or '?'}: more than {MAX_GROUPS} groups", record=record, field="groups")
    for i, group in enumerate(contact.groups):
        _check_text(group, field=f"groups[{i}]", limit=LABEL_LIMIT, record=record)
    if len(contact.ship_to) > MAX_SHIP_TO:
        raise BadData(
            f"record {record or '?'}: more than {MAX_SHIP_TO} delivery addresses", record=record, field="ship_to"
        )
    for i, ship in enumerate(contact.ship_to):
        for field, _, limit in SHIP_TO_ELEMENTS:
            _check_text(getattr(ship, field), field=f"ship_to[{i}].{field}", limit=limit, record=record)
    if len(contact.gdpr) > MAX_CONSENTS:
        raise BadData(f"record {record or '?'}: more than {MAX_CONSENTS} consents", record=record, field="gdpr")
    for i, consent in enumerate(contact.gdpr):
        for field, _, limit in CONSENT_ELEMENTS:
            _check_text(getattr(consent, field), field=f"gdpr[{i}].{field}", limit=limit, record=record)


def _check_token(value: str | None, pattern: re.Pattern[str], *, field: str, record: str | None) -> None:
    if value is not None and not pattern.match(value):
        raise BadData(
            f"record {record or '?'}: {field} {value!r} is not valid (printable ASCII, no spaces, "
            f"pattern {pattern.pattern})",
            record=record,
            field=field,
        )


def check_write(write: EshopWrite) -> None:
    """Refuse a write that could not be encoded, naming the field; nothing is sent for it."""
    record = write.id or write.idempotency_key
    if write.kind in ("update", "link"):
        if not write.id:
            raise BadData(f"a {write.kind} needs the customer's id", record=record, field="id")
        _check_token(write.id, ID_PATTERN, field="id", record=record)
    if write.kind == "create":
        if not write.idempotency_key:
            raise BadData("a create needs an idempotency key", record=record, field="idempotency_key")
        _check_token(write.idempotency_key, KEY_PATTERN, field="idempotency_key", record=record)
    if write.kind == "update":
        if not write.expected_version:
            raise BadData("an update needs the expected version", record=record, field="version")
        _check_token(write.expected_version, VERSION_PATTERN, field="version", record=record)
    if write.kind in ("create", "link"):
        _check_token(write.hq_id, TOKEN_PATTERN, field="hq_id", record=record)
        if write.sync_state is not None and write.sync_state not in SYNC_STATES:
            raise BadData(
                f"record {record or '?'}: sync_state must be one of {', '.join(SYNC_STATES)}",
                record=record,
                field="sync_state",
            )
    if write.kind in ("create", "update"):
        if write.contact is None:
            raise BadData(f"a {write.kind} needs a contact", record=record, field="contact")
        check_contact(write.contact, record=record)


# -- building ---------------------------------------------------------------------------------


def _text(parent: etree._Element, tag: str, value: str | None) -> None:
    if value is not None:
        etree.SubElement(parent, _q(tag)).text = value


# Qualified tags made once: a feed page builds every customer's elements (a full snapshot,
# every customer), and a Clark name formatted per element cost more than the element.
_CONTENT_OUT = tuple((field, _q(tag)) for field, tag, _ in CONTACT_ELEMENTS)
_SHIP_TO_OUT = tuple((field, _q(tag)) for field, tag, _ in SHIP_TO_ELEMENTS)
_CONSENT_OUT = tuple((field, _q(tag)) for field, tag, _ in CONSENT_ELEMENTS)
_GROUP_TAG, _SHIP_TO_TAG, _CONSENT_TAG = _q("group"), _q("shipTo"), _q("consent")


def _fill_content(element: etree._Element, contact: Contact) -> etree._Element:
    sub = etree.SubElement
    for field, tag in _CONTENT_OUT:
        value = getattr(contact, field)
        if value is not None:
            sub(element, tag).text = value
    for group in contact.groups:
        sub(element, _GROUP_TAG).text = group
    for ship in contact.ship_to:
        ship_el = sub(element, _SHIP_TO_TAG)
        if ship.default:
            ship_el.set("default", "true")
        for field, tag in _SHIP_TO_OUT:
            value = getattr(ship, field)
            if value is not None:
                sub(ship_el, tag).text = value
    for consent in contact.gdpr:
        consent_el = sub(element, _CONSENT_TAG)
        for field, tag in _CONSENT_OUT:
            value = getattr(consent, field)
            if value is not None:
                sub(consent_el, tag).text = value
    return element


def _set_link(element: etree._Element, hq_id: str | None, sync_state: str | None) -> None:
    if hq_id:
        element.set("hqId", hq_id)
    if sync_state:
        element.set("syncState", sync_state)


def _timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def customer_element(
    customer: EshopCustomer, tag: str = "customer", *, parent: etree._Element | None = None
) -> etree._Element:
    """`<customer>`, built inside `parent` when given (moving a built element into another
    document walks it again to fix its namespaces: a page builds its customers in place)."""
    if parent is None:
        element = etree.Element(_q(tag), nsmap={None: NS})
    else:
        element = etree.SubElement(parent, _q(tag))
    element.set("id", customer.id)
    element.set("version", customer.version)
    element.set("updatedAt", _timestamp(customer.updated_at))
    _set_link(element, customer.hq_id, customer.sync_state)
    return _fill_content(element, customer.contact)


def _error_element(report: ErrorReport) -> etree._Element:
    element = etree.Element(_q("error"), nsmap={None: NS})
    element.set("code", report.code)
    if report.field:
        element.set("field", report.field)
    etree.SubElement(element, _q("message")).text = _NOT_XML.sub("?", report.message)
    if report.customer is not None:
        element.append(customer_element(report.customer))
    return element


def _serialize(root: etree._Element, *, what: str) -> bytes:
    # Validating what we send too: a bug here must not reach a peer as a puzzling 400.
    validate(root, schema(), what=what)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def encode_customer(customer: EshopCustomer) -> bytes:
    """`<customer>`: the answer of GET/PUT /customers/{id} and of POST /customers."""
    return _serialize(customer_element(customer), what="customer")


def encode_new_customer(
    contact: Contact, *, send_welcome: bool = False, hq_id: str | None = None, sync_state: str | None = None
) -> bytes:
    """`<newCustomer>`: the body of POST /customers."""
    check_contact(contact, record="new")
    element = etree.Element(_q("newCustomer"), nsmap={None: NS})
    if send_welcome:
        element.set("sendWelcome", "true")
    _set_link(element, hq_id, sync_state)
    return _serialize(_fill_content(element, contact), what="newCustomer")


def encode_customer_update(contact: Contact, *, version: str | None = None) -> bytes:
    """`<customerUpdate>`: the body of PUT /customers/{id}."""
    check_contact(contact, record=contact.id)
    element = etree.Element(_q("customerUpdate"), nsmap={None: NS})
    if version is not None:
        element.set("version", version)
    return _serialize(_fill_content(element, contact), what="customerUpdate")


def encode_hq_link(hq_id: str | None, sync_state: str | None) -> bytes:
    """`<hqLink>`: the body of PUT /customers/{id}/hq-link."""
    element = etree.Element(_q("hqLink"), nsmap={None: NS})
    _set_link(element, hq_id, sync_state)
    return _serialize(element, what="hqLink")


# A feed page written as text: the e-shop simulator answers a full snapshot of 100,000
# customers, and building their elements cost more than the client's reading of them. The
# text is what lxml writes for the tree `encode_changes` builds (a test holds the two to
# the same bytes); it is parsed back and validated before it goes out, as every document.
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTRIBUTE_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
)
_NOT_XML_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CONTENT_TEXT = tuple((field, f"<{tag}>", f"</{tag}>") for field, tag, _ in CONTACT_ELEMENTS)
_SHIP_TO_TEXT = tuple((field, f"<{tag}>", f"</{tag}>") for field, tag, _ in SHIP_TO_ELEMENTS)
_CONSENT_TEXT = tuple((field, f"<{tag}>", f"</{tag}>") for field, tag, _ in CONSENT_ELEMENTS)


def _tx(value: str) -> str:
    return value.translate(_TEXT_ESCAPES) if ("&" in value or "<" in value or ">" in value or "\r" in value) else value


def _ax(value: str) -> str:
    return value.translate(_ATTRIBUTE_ESCAPES)


def _customer_text(customer: EshopCustomer, add: Callable[[str], object]) -> None:
    head = f'<customer id="{_ax(customer.id)}" version="{_ax(customer.version)}"'
    head += f' updatedAt="{_timestamp(customer.updated_at)}"'
    if customer.hq_id:
        head += f' hqId="{_ax(customer.hq_id)}"'
    if customer.sync_state:
        head += f' syncState="{_ax(customer.sync_state)}"'
    contact = customer.contact
    parts: list[str] = []
    put = parts.append
    for field, start, end in _CONTENT_TEXT:
        value = getattr(contact, field)
        if value is not None:
            put(f"{start}{_tx(value)}{end}")
    for group in contact.groups:
        put(f"<group>{_tx(group)}</group>")
    for ship in contact.ship_to:
        inner = "".join(
            f"{start}{_tx(value)}{end}"
            for field, start, end in _SHIP_TO_TEXT
            if (value := getattr(ship, field)) is not None
        )
        opening = '<shipTo default="true"' if ship.default else "<shipTo"
        put(f"{opening}>{inner}</shipTo>" if inner else f"{opening}/>")
    for consent in contact.gdpr:
        inner = "".join(
            f"{start}{_tx(value)}{end}"
            for field, start, end in _CONSENT_TEXT
            if (value := getattr(consent, field)) is not None
        )
        put(f"<consent>{inner}</consent>" if inner else "<consent/>")
    add(f"{head}>{''.join(parts)}</customer>" if parts else f"{head}/>")


def _joined_changes(page: ChangePage, entries: Sequence[str | None]) -> bytes | None:
    head = _changes_text(ChangePage((), page.next_cursor, page.has_more))
    # The envelope (its cursor) is checked as the page it is when empty.
    if head is None or not _feed_validates(head.encode("utf-8")):
        return None
    out = [head[:-2], ">"] if page.changes else [head]
    for change, entry in zip(page.changes, entries, strict=True):
        if change.customer is None or entry is None:
            return None  # a tombstone, or an entry not checked: the page is checked whole
        out.append(entry)
    if page.changes:
        out.append("</changes>")
    return "".join(out).encode("utf-8")


def _changes_text(page: ChangePage) -> str | None:
    """The page as lxml would write it, or None when a value holds what XML cannot carry."""
    out = [
        f"<?xml version='1.0' encoding='UTF-8'?>\n<changes xmlns=\"{NS}\" nextCursor=\"{_ax(page.next_cursor)}\" "
        f'hasMore="{"true" if page.has_more else "false"}"'
    ]
    add = out.append
    if not page.changes:
        add("/>")
    else:
        add(">")
        for change in page.changes:
            if change.customer is not None:
                _customer_text(change.customer, add)
            else:
                version = f' version="{_ax(change.version)}"' if change.version else ""
                add(f'<deleted id="{_ax(change.id)}"{version} deletedAt="{_timestamp(change.at)}"/>')
        add("</changes>")
    text = "".join(out)
    return None if _NOT_XML_TEXT.search(text) else text


def customer_entry(customer: EshopCustomer) -> str | None:
    """A customer's `<customer>` entry of a feed page as text, checked alone: a page holding
    it and nothing else is parsed back and validated. None when it cannot be written as text
    or does not validate (`encode_changes` then builds its page as a tree, which says why).

    A shop that keeps each customer's entry from its last write pays for writing and checking
    it once, not on every full read of the feed (`encode_changes(..., entries=...)`)."""
    parts: list[str] = []
    _customer_text(customer, parts.append)
    entry = "".join(parts)
    if _NOT_XML_TEXT.search(entry):
        return None
    return entry if _feed_validates(f"{_ONE_ENTRY_PAGE}{entry}</changes>".encode()) else None


# A page of one entry: the envelope that `customer_entry` checks an entry in.
_ONE_ENTRY_PAGE = f"<?xml version='1.0' encoding='UTF-8'?>\n<changes xmlns=\"{NS}\" nextCursor=\"0\" hasMore=\"false\">"


def _feed_validates(data: bytes) -> bool:
    """Whether a feed page written as text parses and validates."""
    try:
        parsed = parse_bytes(data, what="changes", max_bytes=len(data) + 1)
    except MalformedXML:
        return False
    return bool(schema().validate(parsed))


def encode_changes(page: ChangePage, *, entries: Sequence[str | None] | None = None) -> bytes:
    """`<changes>`: the answer of GET /customers/changes.

    `entries`, one per change, are customers' entries checked alone (`customer_entry`; None
    where there is none): a page joined from them alone is not checked again,
    since the feed's schema ties no entry to another (no key, no uniqueness across entries),
    so a page of entries that each validate alone, in an envelope that validates (the page
    empty, checked here), validates."""
    if entries is not None and len(entries) == len(page.changes):
        joined = _joined_changes(page, entries)
        if joined is not None:
            return joined
    text = _changes_text(page)
    if text is not None:
        data = text.encode("utf-8")
        if _feed_validates(data):
            return data
        # Not what it should be: the tree below says what is wrong, as it always did.
    root = etree.Element(_q("changes"), nsmap={None: NS})
    root.set("nextCursor", page.next_cursor)
    root.set("hasMore", "true" if page.has_more else "false")
    for change in page.changes:
        if change.customer is not None:
            customer_element(change.customer, parent=root)
        else:
            deleted = etree.SubElement(root, _q("deleted"))
            deleted.set("id", change.id)
            if change.version:
                deleted.set("version", change.version)
            deleted.set("deletedAt", _timestamp(change.at))
    return _serialize(root, what="changes")


def encode_batch(writes: Sequence[EshopWrite], refs: Sequence[str]) -> bytes:
    """`<batch>`: the body of POST /batch; check each write with `check_write` first."""
    root = etree.Element(_q("batch"), nsmap={None: NS})
    for ref, write in zip(refs, writes, strict=True):
        item = etree.SubElement(root, _q(write.kind))
        item.set("ref", ref)
        if write.kind == "create":
            assert write.idempotency_key is not None and write.contact is not None
            item.set("idempotencyKey", write.idempotency_key)
            if write.send_welcome:
                item.set("sendWelcome", "true")
            _set_link(item, write.hq_id, write.sync_state)
            _fill_content(item, write.contact)
        elif write.kind == "update":
            assert write.id is not None and write.expected_version is not None and write.contact is not None
            item.set("id", write.id)
            item.set("version", write.expected_version)
            _fill_content(item, write.contact)
        else:
            assert write.id is not None
            item.set("id", write.id)
            _set_link(item, write.hq_id, write.sync_state)
    return _serialize(root, what="batch")


def encode_batch_result(results: Iterable[EshopResult]) -> bytes:
    """`<batchResult>`: the answer of POST /batch."""
    root = etree.Element(_q("batchResult"), nsmap={None: NS})
    for result in results:
        item = etree.SubElement(root, _q("result"))
        item.set("ref", result.ref)
        item.set("status", str(result.status))
        if result.replayed:
            item.set("replayed", "true")
        if result.customer is not None:
            customer_element(result.customer, parent=item)
        if result.error is not None:
            item.append(_error_element(dataclasses.replace(result.error, customer=None)))
    return _serialize(root, what="batchResult")


def encode_error(report: ErrorReport) -> bytes:
    """`<error>`: the body of every 4xx answer."""
    return _serialize(_error_element(report), what="error")


# -- reading ----------------------------------------------------------------------------------


def _readable_path(element: etree._Element) -> str:
    """'batch/create[2]/shipTo/city' for an element (positions among same-named siblings)."""
    parts: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        name = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None:
            same = [sibling for sibling in parent if sibling.tag == node.tag]
            if len(same) > 1:
                name = f"{name}[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/".join(reversed(parts))


def _strict_validate(root: etree._Element, *, what: str) -> None:
    """Validate; a violation names the element by a readable path and the canonical field."""
    compiled = schema()
    try:
        validate(root, compiled, what=what)
    except SchemaViolation as exc:
        first = compiled.error_log[0] if compiled.error_log else None
        if first is None:
            raise
        located: list[Any] = root.getroottree().xpath(first.path) if first.path else []
        element = located[0] if located and isinstance(located[0], etree._Element) else None
        message = schema_message(first.message).replace(f"{{{NS}}}", "")
        field = None
        record = None
        if element is not None:
            field = _field_path(element)
            record = _record_of(element)
            where = _readable_path(element)
            message = f"{what}: {where}: {message}"
        else:
            message = f"{what}: {message}"
        attribute = re.search(r"attribute '(\w+)'", first.message)
        if attribute and attribute.group(1) not in ("ref",):
            name = attribute.group(1)
            field = _CANONICAL.get(name, name)
        raise SchemaViolation(message, record=record, field=field) from exc


_RECORD_TAGS = frozenset({"customer", "newCustomer", "customerUpdate", "hqLink", "create", "update", "link"})


def _field_path(element: etree._Element) -> str | None:
    """The canonical field an element holds: 'street', 'ship_to[0].city', 'gdpr[1].purpose'."""
    parts: list[str] = []
    node: etree._Element | None = element
    while node is not None and etree.QName(node).localname not in _RECORD_TAGS:
        name = etree.QName(node).localname
        parent = node.getparent()
        if parent is None:
            break
        if name in ("shipTo", "consent", "group"):
            index = [sibling for sibling in parent if sibling.tag == node.tag].index(node)
            parts.append(f"{_CANONICAL[name]}[{index}]")
        else:
            parts.append(_CANONICAL.get(name, name))
        node = parent
    return ".".join(reversed(parts)) or None


def _record_of(element: etree._Element) -> str | None:
    """The batch item's ref (or the customer's id) an element belongs to."""
    node: etree._Element | None = element
    while node is not None:
        ref: str | None = node.get("ref") or (node.get("id") if etree.QName(node).localname == "customer" else None)
        if ref:
            return str(ref)
        node = node.getparent()
    return None


def _parse(data: bytes, *, root_tag: str, what: str) -> etree._Element:
    tree = parse_bytes(data, what=what, max_bytes=MAX_DOCUMENT_BYTES)
    root = tree.getroot()
    if root.tag != _q(root_tag):
        qname = etree.QName(root)
        got = f"{{{qname.namespace}}}{qname.localname}" if qname.namespace else qname.localname
        raise SchemaViolation(f"{what}: expected a <{root_tag}> in namespace {NS}, got <{got}>")
    _strict_validate(root, what=what)
    return root


def _bool(value: str | None) -> bool:
    return value in ("true", "1")


# The hot path of a feed page (a full snapshot reads every customer): the content read in
# one pass over the element's children by their qualified tags, values cleaned as the model
# cleans them. A value the model might change or refuse (a country that is not two letters,
# a date it does not take, a consent without a purpose) sends the element to `Contact.
# from_dict` instead, whose rules decide and name the field. Callers validate the element.
_CONTENT_TAGS = {_q(tag): field for field, tag, _ in CONTACT_ELEMENTS}
_SHIP_TO_TAGS = {_q(tag): field for field, tag, _ in SHIP_TO_ELEMENTS}
_CONSENT_TAGS = {_q(tag): field for field, tag, _ in CONSENT_ELEMENTS}
_GROUP, _SHIP_TO, _CONSENT = _q("group"), _q("shipTo"), _q("consent")
_NO_CONTENT: dict[str, Any] = {
    **dict.fromkeys(CONTACT_FIELDS),
    "ship_to": (),
    "groups": (),
    "gdpr": (),
}
_NO_SHIP_TO: dict[str, Any] = {**dict.fromkeys(f for f, _t, _l in SHIP_TO_ELEMENTS), "default": False}
_NO_CONSENT: dict[str, Any] = dict.fromkeys(f for f, _t, _l in CONSENT_ELEMENTS)


def _is_country(value: str | None) -> bool:
    """A country the model keeps as it is: None, or two capital ASCII letters."""
    return value is None or (len(value) == 2 and value.isascii() and value.isalpha() and value.isupper())


def _content_values(element: etree._Element) -> dict[str, Any] | None:
    """The fields of a customerContent element (already schema-valid) as the model keeps
    them, its lists as lists (each address and consent a dict of its fields); None when a
    value is for the model to judge (`_content_by_model`)."""
    values = _NO_CONTENT.copy()
    groups: list[str] = []
    ships: list[dict[str, Any]] = []
    consents: list[dict[str, Any]] = []
    for child in element:
        tag = child.tag
        field = _CONTENT_TAGS.get(tag)
        if field is not None:
            text = child.text
            values[field] = (text.strip() or None) if text else None
            continue
        if tag == _GROUP:
            text = child.text
            group = (text.strip() or None) if text else None
            if group is not None and group not in groups:
                groups.append(group)
        elif tag == _SHIP_TO:
            ship = _NO_SHIP_TO.copy()
            ship["default"] = _bool(child.get("default"))
            for part in child:
                name = _SHIP_TO_TAGS.get(part.tag)
                if name is None:
                    return None
                text = part.text
                ship[name] = (text.strip() or None) if text else None
            if not _is_country(ship["country"]):
                return None
            ships.append(ship)
        elif tag == _CONSENT:
            consent = _NO_CONSENT.copy()
            for part in child:
                name = _CONSENT_TAGS.get(part.tag)
                if name is None:
                    return None
                text = part.text
                consent[name] = (text.strip() or None) if text else None
            dates = (consent["date_from"], consent["date_till"])
            if consent["purpose"] is None or not all(is_model_date(d) for d in dates):
                return None
            consents.append(consent)
        elif isinstance(tag, str):
            return None
    if not (_is_country(values["country"]) and is_model_date(values["birth_date"])):
        return None
    values["groups"] = groups
    values["ship_to"] = ships
    values["gdpr"] = consents
    return values


def _content(element: etree._Element, *, record: str | None) -> Contact:
    """The canonical contact held by a customerContent element (already schema-valid)."""
    values = _content_values(element)
    if values is None:
        return _content_by_model(element, record=record)
    text = element.get("id")
    values["id"] = (text.strip() or None) if text else None
    values["groups"] = tuple(values["groups"])
    values["ship_to"] = tuple([ShipTo(**ship) for ship in values["ship_to"]])
    values["gdpr"] = tuple([Consent(**consent) for consent in values["gdpr"]])
    return Contact(**values)


def _content_by_model(element: etree._Element, *, record: str | None) -> Contact:
    """The content read child by child and judged by `Contact.from_dict` (which normalises a
    value or refuses it naming the field): the way for anything the fast path leaves."""
    data: dict[str, Any] = {"groups": [], "ship_to": [], "gdpr": []}
    by_tag = {tag: field for field, tag, _ in CONTACT_ELEMENTS}
    for child in element:
        if not isinstance(child.tag, str):
            continue  # a comment or a processing instruction carries no data
        tag = etree.QName(child).localname
        if tag in by_tag:
            data[by_tag[tag]] = child.text
        elif tag == "group":
            data["groups"].append(child.text)
        elif tag == "shipTo":
            ship: dict[str, Any] = {"default": _bool(child.get("default"))}
            ship_tags = {t: f for f, t, _ in SHIP_TO_ELEMENTS}
            for part in child:
                if isinstance(part.tag, str):
                    ship[ship_tags[etree.QName(part).localname]] = part.text
            data["ship_to"].append(ship)
        elif tag == "consent":
            consent_tags = {t: f for f, t, _ in CONSENT_ELEMENTS}
            data["gdpr"].append(
                {consent_tags[etree.QName(part).localname]: part.text for part in child if isinstance(part.tag, str)}
            )
    data["id"] = element.get("id")
    try:
        return Contact.from_dict(data, record=record)
    except InvalidContact:
        raise
    except ValueError as exc:  # pragma: no cover - from_dict raises InvalidContact for bad values
        raise InvalidContact(f"record {record or '?'}: {exc}", record=record) from None


def _timestamp_of(value: str | None, *, what: str) -> dt.datetime:
    assert value is not None
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        # xs:dateTime may omit the zone; the protocol means UTC then.
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


def _customer(element: etree._Element, *, what: str) -> EshopCustomer:
    record = element.get("id")
    return EshopCustomer(
        contact=_content(element, record=record),
        version=cast(str, element.get("version")),
        updated_at=_timestamp_of(element.get("updatedAt"), what=what),
        hq_id=element.get("hqId") or None,
        sync_state=cast("SyncState | None", element.get("syncState") or None),
    )


def decode_customer(data: bytes, *, what: str = "customer") -> EshopCustomer:
    return _customer(_parse(data, root_tag="customer", what=what), what=what)


@dataclasses.dataclass(frozen=True)
class NewCustomer:
    """A decoded `<newCustomer>` (POST /customers) or batch `<create>`."""

    contact: Contact
    send_welcome: bool
    hq_id: str | None
    sync_state: SyncState | None


def _new_customer(element: etree._Element, *, record: str) -> NewCustomer:
    return NewCustomer(
        contact=_content(element, record=record).replace(id=None),
        send_welcome=_bool(element.get("sendWelcome")),
        hq_id=element.get("hqId") or None,
        sync_state=cast("SyncState | None", element.get("syncState") or None),
    )


def decode_new_customer(data: bytes) -> NewCustomer:
    return _new_customer(_parse(data, root_tag="newCustomer", what="newCustomer"), record="new")


def decode_customer_update(data: bytes, *, record: str) -> tuple[Contact, str | None]:
    """The content and the expected version (None when the body does not say it)."""
    root = _parse(data, root_tag="customerUpdate", what="customerUpdate")
    return _content(root, record=record).replace(id=record), root.get("version")


def decode_hq_link(data: bytes) -> tuple[str | None, SyncState | None]:
    root = _parse(data, root_tag="hqLink", what="hqLink")
    return root.get("hqId") or None, cast("SyncState | None", root.get("syncState") or None)


def _feed(data: bytes) -> tuple[etree._Element, dict[int, BadData]]:
    """A feed page's root, validated, and its entries that alone fail the schema (by position)."""
    tree = parse_bytes(data, what="changes", max_bytes=MAX_DOCUMENT_BYTES)
    root = tree.getroot()
    if root.tag != _q("changes"):
        _parse(data, root_tag="changes", what="changes")  # raises the usual message
    try:
        _strict_validate(root, what="changes")
        bad: dict[int, BadData] = {}
    except SchemaViolation as whole:
        bad = _item_errors(root, label=lambda el: f"customer {el.get('id') or '?'}")
        if not bad:
            raise whole from None  # the page itself is wrong (its cursor, its attributes)
    return root, bad


def decode_changes(data: bytes) -> ChangePage:
    """One feed page. An entry that alone fails the schema or the model is set aside in
    `refused` (naming its customer id and the field) and the others come out as usual."""
    root, bad = _feed(data)
    changes: list[EshopChange] = []
    refused: list[BadData] = list(bad.values())
    for index, child in enumerate(root):
        if index in bad:
            continue
        try:
            changes.append(_change(child))
        except BadData as exc:
            refused.append(exc)
    return ChangePage(tuple(changes), cast(str, root.get("nextCursor")), _bool(root.get("hasMore")), tuple(refused))


@dataclasses.dataclass(frozen=True, slots=True)
class CustomerDigest:
    """A feed customer read for a full comparison: its ids, version and content fingerprint
    (`hash_content` of what `customer()` holds); `customer()` reads it in full, as
    `decode_changes` does. Call it while the page is read (it holds the page's element)."""

    id: str
    version: str
    hq_id: str | None
    sync_state: SyncState | None
    fingerprint: str
    element: etree._Element = dataclasses.field(repr=False, compare=False)

    def customer(self) -> EshopCustomer:
        return _customer(self.element, what="changes")


@dataclasses.dataclass(frozen=True)
class DigestPage:
    """A feed page as `digest_changes` reads it: like `ChangePage`, but each customer that
    the fast path reads is a `CustomerDigest`; the others are decoded as `decode_changes` does."""

    changes: tuple[CustomerDigest | EshopChange, ...]
    next_cursor: str
    has_more: bool
    refused: tuple[BadData, ...] = ()


_CUSTOMER = _q("customer")


def digest_changes(data: bytes) -> DigestPage:
    """One feed page for a full comparison: the same page, the same entries set aside, the
    same errors as `decode_changes`, but a customer is fingerprinted from the values its
    elements hold, without building its contact (that waits for `CustomerDigest.customer`)."""
    root, bad = _feed(data)
    changes: list[CustomerDigest | EshopChange] = []
    refused: list[BadData] = list(bad.values())
    for index, child in enumerate(root):
        if index in bad:
            continue
        values = _content_values(child) if child.tag == _CUSTOMER else None
        try:
            if values is None:
                changes.append(_change(child))
                continue
            _timestamp_of(child.get("updatedAt"), what="changes")  # read as the full path reads it
        except BadData as exc:
            refused.append(exc)
            continue
        text = child.get("id")
        changes.append(
            CustomerDigest(
                id=cast(str, (text.strip() or None) if text else None),
                version=cast(str, child.get("version")),
                hq_id=child.get("hqId") or None,
                sync_state=cast("SyncState | None", child.get("syncState") or None),
                fingerprint=fingerprint_of_values(values),
                element=child,
            )
        )
    return DigestPage(tuple(changes), cast(str, root.get("nextCursor")), _bool(root.get("hasMore")), tuple(refused))


def _change(child: etree._Element) -> EshopChange:
    if child.tag == _q("customer"):
        customer = _customer(child, what="changes")
        return EshopChange(customer.id, customer.version, customer.updated_at, customer)
    return EshopChange(
        id=cast(str, child.get("id")),
        version=child.get("version"),
        at=_timestamp_of(child.get("deletedAt"), what="changes"),
        customer=None,
    )


@dataclasses.dataclass(frozen=True)
class BatchItem:
    """One decoded operation of a `<batch>` (the e-shop's side), or the reason it is invalid."""

    ref: str
    kind: WriteKind
    write: EshopWrite | None
    error: BadData | None = None


def _batch_item(element: etree._Element) -> EshopWrite:
    kind = cast(WriteKind, etree.QName(element).localname)
    ref = cast(str, element.get("ref"))
    if kind == "create":
        new = _new_customer(element, record=ref)
        return EshopWrite.create(
            new.contact,
            cast(str, element.get("idempotencyKey")),
            send_welcome=new.send_welcome,
            hq_id=new.hq_id,
            sync_state=new.sync_state,
        )
    customer_id = cast(str, element.get("id"))
    if kind == "update":
        contact = _content(element, record=customer_id).replace(id=customer_id)
        return EshopWrite.update(customer_id, contact, cast(str, element.get("version")))
    return EshopWrite.link(
        customer_id, element.get("hqId") or None, cast("SyncState | None", element.get("syncState") or None)
    )


def decode_batch(data: bytes) -> list[BatchItem]:
    """The operations of a `<batch>`. An item that alone fails the schema (a field too long)
    comes back with its error and the others stay usable: one bad item fails only itself."""
    tree = parse_bytes(data, what="batch", max_bytes=MAX_DOCUMENT_BYTES)
    root = tree.getroot()
    if root.tag != _q("batch"):
        _parse(data, root_tag="batch", what="batch")  # raises the usual message
    try:
        _strict_validate(root, what="batch")
        bad: dict[int, BadData] = {}
    except SchemaViolation as whole:
        bad = _item_errors(
            root, label=lambda el: f"item {list(root).index(el) + 1}", record_attr="ref", drop_child=False
        )
        if not bad:
            # The envelope itself is wrong (no items, too many, a duplicate ref).
            raise whole from None
    items: list[BatchItem] = []
    for index, element in enumerate(root):
        ref = element.get("ref") or str(index)
        kind = cast(WriteKind, etree.QName(element).localname)
        if index in bad:
            items.append(BatchItem(ref, kind, None, bad[index]))
            continue
        try:
            items.append(BatchItem(ref, kind, _batch_item(element)))
        except BadData as exc:
            items.append(BatchItem(ref, kind, None, exc))
    return items


def _item_errors(
    root: etree._Element, *, label: Callable[[etree._Element], str], record_attr: str = "id", drop_child: bool = True
) -> dict[int, BadData]:
    """Validate each child alone, in a copy of its document with that child only; the
    failing ones by position, their message naming the record by `label`, not by path."""
    tag = etree.QName(root).localname
    errors: dict[int, BadData] = {}
    for index, element in enumerate(root):
        single = etree.Element(root.tag, attrib=dict(root.attrib), nsmap={None: NS})
        single.append(etree.fromstring(etree.tostring(element)))
        try:
            _strict_validate(single, what=tag)
        except SchemaViolation as exc:
            message = str(exc)
            child = etree.QName(element).localname
            if len(root) > 1 or tag == "changes":
                # Point at the record as the peer knows it, not at the document of one.
                inner = rf"{child}(\[\d+\])?/?" if drop_child else ""
                message = re.sub(rf"^{tag}: {tag}/{inner}", f"{tag}: {label(element)}: ", message, count=1)
            errors[index] = SchemaViolation(message, record=element.get(record_attr), field=exc.field)
    return errors


def _error_report(element: etree._Element) -> ErrorReport:
    message_el = element.find(_q("message"))
    customer_el = element.find(_q("customer"))
    return ErrorReport(
        code=cast(str, element.get("code")),
        message=(message_el.text or "") if message_el is not None else "",
        field=element.get("field") or None,
        customer=_customer(customer_el, what="error") if customer_el is not None else None,
    )


def decode_batch_result(data: bytes) -> list[EshopResult]:
    root = _parse(data, root_tag="batchResult", what="batchResult")
    results: list[EshopResult] = []
    for item in root:
        customer_el = item.find(_q("customer"))
        error_el = item.find(_q("error"))
        customer = _customer(customer_el, what="batchResult") if customer_el is not None else None
        results.append(
            EshopResult(
                ref=cast(str, item.get("ref")),
                status=int(cast(str, item.get("status"))),
                id=customer.id if customer is not None else None,
                customer=customer,
                error=_error_report(error_el) if error_el is not None else None,
                replayed=_bool(item.get("replayed")),
            )
        )
    return results


def decode_error(data: bytes) -> ErrorReport:
    return _error_report(_parse(data, root_tag="error", what="error"))


def looks_like_error(data: bytes) -> bool:
    """Whether an answer body is the protocol's `<error>` (vs. a web server's own error page)."""
    try:
        decode_error(data)
    except (MalformedXML, SchemaViolation, BadData):
        return False
    return True


__all__ = [
    "CONTENT_TYPE",
    "NS",
    "SYNC_STATES",
    "BatchItem",
    "ChangePage",
    "CustomerDigest",
    "DigestPage",
    "ErrorReport",
    "EshopChange",
    "EshopCustomer",
    "EshopResult",
    "EshopWrite",
    "NewCustomer",
    "SyncState",
    "check_contact",
    "check_write",
    "customer_entry",
    "decode_batch",
    "decode_batch_result",
    "decode_changes",
    "decode_customer",
    "decode_customer_update",
    "decode_error",
    "decode_hq_link",
    "decode_new_customer",
    "digest_changes",
    "encode_batch",
    "encode_batch_result",
    "encode_changes",
    "encode_customer",
    "encode_customer_update",
    "encode_error",
    "encode_hq_link",
    "encode_new_customer",
    "looks_like_error",
    "schema",
]
