"""mServer's XML contract as the simulator plays it: a dataPack in, a responsePack out.

Executes address-book imports (add / update / delete with filters) and list requests against
an AddressBook; the field mapping itself is `connector.codec._addressbook`'s, shared with the codec.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

from lxml import etree

from connector.codec import parse_bytes, validate
from connector.codec.addressbook import (
    ADDRESS_FIELDS,
    HEADER_FIELDS,
    NS,
    build_gdpr,
    build_header,
    parse_addressbook,
    q,
    render_export_record,
)
from connector.errors import ConnectorError, InvalidContact, MalformedXML, SchemaViolation
from connector.model import Contact
from connector.sim._faults import Faults
from connector.sim._pohoda_book import AddressBook, Criteria, ExtIdTaken, Record, local_naive

VERSION = "2.0"
PROGRAM_VERSION = "connector POHODA mServer simulator"
AGENDA = "adresar"  # ftr:printAgendaType of the address book, as rsp:recordDuplicity names it

# Error numbers of rdc:detail/rdc:errno. POHODA's own numbers are not published; these are
# the simulator's, stable so that tests may assert on them.
ERRNO_NOT_FOUND = 101  # update / delete: the filter matched no record
ERRNO_AMBIGUOUS = 102  # the filter matched more than one record
ERRNO_EXISTS = 103  # add without update="true": the filter matched an existing record
ERRNO_INVALID = 104  # a value POHODA would not accept (e.g. a country that is not a code)
ERRNO_EXT_ID_TAKEN = 105  # the extId of that system already belongs to another record
ERRNO_UNSUPPORTED = 106  # a request the simulator does not implement (queryFilter, ...)
ERRNO_NO_FILTER = 107  # update / delete without ftr:filter
ERRNO_REFUSED = 108  # refused by an item_error fault rule
WARN_ID_IGNORED = 201  # adb:id in an import is POHODA's to assign; ignored

# Where a contact field sits in an adb:addressbook, for rdc:XPath in error details.
_FIELD_XPATH: dict[str, str] = {
    **{f: f"adb:addressbookHeader/adb:identity/typ:address/typ:{el}" for f, el, _l in ADDRESS_FIELDS},
    **{f: f"adb:addressbookHeader/adb:{el}" for f, el, _l in HEADER_FIELDS},
    "country": "adb:addressbookHeader/adb:identity/typ:address/typ:country/typ:ids",
    "birth_date": "adb:addressbookHeader/adb:dateOfBirth",
    "groups": "adb:addressbookHeader/adb:labels",
    "ship_to": "adb:addressbookHeader/adb:identity/typ:shipToAddress",
    "gdpr": "adb:addressbookGDPR",
    "ext_id": "adb:addressbookHeader/adb:identity/typ:extId",
}
_TEXT_FILTERS = ("company", "name", "city", "street", "zip", "ico", "dic")


@dataclasses.dataclass(frozen=True)
class Detail:
    """One rdc:detail: a problem (or a remark) found while importing an item."""

    state: str  # ok | warning | error (typ:stavType)
    note: str
    errno: int | None = None
    xpath: str | None = None


class ItemFailure(ConnectorError):
    """The current item cannot be executed; the others go on."""

    def __init__(self, note: str, *, errno: int, xpath: str | None = None) -> None:
        super().__init__(note)
        self.detail = Detail("error", note, errno, xpath)


@dataclasses.dataclass(frozen=True)
class Incoming:
    """What an import item says about a record: the values, which fields it named, its extIds."""

    contact: Contact
    present: frozenset[str]
    ext_ids: Mapping[str, str]


@dataclasses.dataclass(frozen=True)
class Imported:
    """What the duplicity check remembers of an imported item."""

    at: dt.datetime
    record_id: int | None


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


def _timestamp(moment: dt.datetime) -> str:
    return moment.replace(microsecond=0).isoformat()


def _bool(value: str | None) -> bool:
    return (value or "").strip() in ("true", "1")


def _text(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


class PackProcessor:
    """Executes one dataPack at a time against the address book and builds the responsePack.

    Not thread-safe by itself: the caller runs one pack at a time (as mServer does).
    """

    def __init__(
        self,
        book: AddressBook,
        *,
        ico: str,
        faults: Faults,
        schema: etree.XMLSchema | None = None,
        ex_system: str | None = None,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.book = book
        self.ico = ico
        self.faults = faults
        self.schema = schema
        self.ex_system = ex_system
        self.max_bytes = max_bytes
        self.imported: dict[tuple[str, str], Imported] = {}
        self.counters: Counter[str] = Counter()
        # While `answer` runs: each export list's records as text, by the marker that holds
        # their place in the list until the pack is serialized (None: build them as elements).
        self._record_texts: dict[str, str] | None = None
        # Whether `answer` writes export records as text (False: as elements, for comparison).
        self.records_as_text = True

    def reset(self) -> None:
        self.imported.clear()
        self.counters.clear()

    # -- the pack -------------------------------------------------------------------------

    def answer(self, body: bytes, *, check_duplicity: bool) -> bytes:
        """The responsePack for a dataPack, on the wire (`to_wire`). Export records are
        written as text (`render_export_record`) and put in place in the serialized pack:
        the same bytes as building them as elements, at a fraction of the cost."""
        self._record_texts = {} if self.records_as_text else None
        try:
            response = self.process(body, check_duplicity=check_duplicity)
            return to_wire(response, record_texts=self._record_texts)
        finally:
            self._record_texts = None

    def process(self, body: bytes, *, check_duplicity: bool) -> etree._Element:
        """The responsePack for a dataPack (a pack-level error for anything unreadable)."""
        try:
            document = parse_bytes(body, what="dataPack", max_bytes=self.max_bytes)
        except MalformedXML as exc:
            return self._pack_error("", str(exc))
        pack = document.getroot()
        pack_id = pack.get("id", "") if pack.tag == q("dat", "dataPack") else ""
        if pack.tag != q("dat", "dataPack"):
            return self._pack_error("", f"the root element must be dat:dataPack, not {pack.tag}")
        if self.schema is not None:
            try:
                validate(document, self.schema, what="dataPack")
            except SchemaViolation as exc:
                return self._pack_error(pack_id, str(exc))
        ico = (pack.get("ico") or "").strip()
        if ico != self.ico:
            # mServer serves one company; a pack meant for another one is refused as a whole.
            shown = repr(ico) if ico else "missing"
            return self._pack_error(pack_id, f"dataPack@ico {shown} does not match the company's IČO {self.ico!r}")
        response = self._response_pack(pack_id, "ok")
        with self.book.lock:
            for index, item in enumerate(pack.iterfind(q("dat", "dataPackItem")), start=1):
                self._item(pack_id, item, index, check_duplicity=check_duplicity, parent=response)
        return response

    def _response_pack(self, pack_id: str, state: str, note: str | None = None) -> etree._Element:
        nsmap = {p: NS[p] for p in ("rsp", "rdc", "typ", "adb", "lAdb")}
        root = etree.Element(q("rsp", "responsePack"), nsmap=nsmap)
        root.set("version", VERSION)
        root.set("id", pack_id)
        root.set("state", state)
        if note is not None:
            root.set("note", note)
        root.set("programVersion", PROGRAM_VERSION)
        root.set("ico", self.ico)
        root.set("dateTimeStamp", _timestamp(self.book.now()))
        return root

    def _pack_error(self, pack_id: str, note: str) -> etree._Element:
        self.counters["pack_errors"] += 1
        return self._response_pack(pack_id, "error", note)

    # -- one item -------------------------------------------------------------------------

    def _item(
        self, pack_id: str, item: etree._Element, index: int, *, check_duplicity: bool, parent: etree._Element
    ) -> etree._Element:
        """The answer to one item, built in the responsePack (`parent`): an export's list runs
        to thousands of records, and lxml walks a subtree moved into another document again,
        looking each namespace up in a list that grows with the records (quadratic)."""
        item_id = item.get("id", "")
        base = f"/dat:dataPack/dat:dataPackItem[{index}]"
        out = etree.SubElement(parent, q("rsp", "responsePackItem"), version=VERSION, id=item_id)
        self.counters["items"] += 1
        content = next(iter(item), None)
        if content is None or not isinstance(content.tag, str):
            return self._item_error(out, Detail("error", "the dataPackItem is empty", ERRNO_UNSUPPORTED, base))
        if content.tag == q("lAdb", "listAddressBookRequest"):
            self.counters["exports"] += 1
            try:
                self._export(content, f"{base}/lAdb:listAddressBookRequest", parent=out)
            except ItemFailure as failure:
                return self._item_error(out, failure.detail)
            out.set("state", "ok")
            return out
        if content.tag != q("adb", "addressbook"):
            note = f"{etree.QName(content).localname} is not supported by the simulator (address book only)"
            return self._item_error(out, Detail("error", note, ERRNO_UNSUPPORTED, base))
        key = (pack_id, item_id)
        earlier = self.imported.get(key)
        if check_duplicity and earlier is not None:
            return self._duplicate(out, pack_id, item_id, earlier)
        self.counters["imports"] += 1
        try:
            answer, record_id = self._import(content, f"{base}/adb:addressbook")
        except ItemFailure as failure:
            self.counters["item_errors"] += 1
            response = etree.SubElement(out, q("adb", "addressbookResponse"), version=VERSION, state="error")
            self._details(response, [failure.detail])
            out.set("state", "error")
            out.set("note", failure.detail.note)
            return out
        # Only an item that was executed counts as imported: a refused one may come again.
        self.imported[key] = Imported(self.book.now(), record_id)
        out.append(answer)
        out.set("state", "ok")
        return out

    def _item_error(self, out: etree._Element, detail: Detail) -> etree._Element:
        self.counters["item_errors"] += 1
        out.set("state", "error")
        out.set("note", detail.note)
        return out

    def _duplicate(self, out: etree._Element, pack_id: str, item_id: str, earlier: Imported) -> etree._Element:
        """POHODA's answer to a replayed item under STW-Check-Duplicity: refused, with a pointer."""
        self.counters["duplicates"] += 1
        out.set("state", "error")
        out.set("note", f"duplicate: item {item_id!r} of dataPack {pack_id!r} was already imported")
        error_detail = _el(out, q("rsp", "errorDetail"))
        duplicity = _el(error_detail, q("rsp", "recordDuplicity"))
        _el(duplicity, q("rsp", "agendaType"), AGENDA)
        _el(duplicity, q("rsp", "dateCreate"), earlier.at.date().isoformat())
        if earlier.record_id is not None and self.book.get(earlier.record_id) is not None:
            # POHODA leaves the id out when the record has been deleted since.
            _el(duplicity, q("rsp", "id"), str(earlier.record_id))
        return out

    @staticmethod
    def _details(parent: etree._Element, details: list[Detail]) -> None:
        if not details:
            return
        import_details = _el(parent, q("rdc", "importDetails"))
        for detail in details:
            el = _el(import_details, q("rdc", "detail"))
            _el(el, q("rdc", "state"), detail.state)
            if detail.errno is not None:
                _el(el, q("rdc", "errno"), str(detail.errno))
            _el(el, q("rdc", "note"), detail.note)
            if detail.xpath is not None:
                _el(el, q("rdc", "XPath"), detail.xpath)

    # -- import ---------------------------------------------------------------------------

    def _import(self, abook: etree._Element, base: str) -> tuple[etree._Element, int | None]:
        action, request = "add", None
        action_type = abook.find(q("adb", "actionType"))
        if action_type is not None:
            request = next((c for c in action_type if isinstance(c.tag, str)), None)
            if request is None:
                raise ItemFailure("adb:actionType is empty", errno=ERRNO_UNSUPPORTED, xpath=f"{base}/adb:actionType")
            action = etree.QName(request).localname
            if action not in ("add", "update", "delete"):
                raise ItemFailure(f"unknown action {action!r}", errno=ERRNO_UNSUPPORTED, xpath=f"{base}/adb:actionType")
        request_xpath = f"{base}/adb:actionType/adb:{action}"
        criteria = self._criteria(request, request_xpath) if request is not None else None
        warnings: list[Detail] = []

        if action == "delete":
            record = self._one(criteria, f"{request_xpath}/ftr:filter", required=True)
            assert record is not None
            self._check_rules(record.as_contact(self.ex_system), base)
            self.book.delete(record.id)
            return self._ok("delete", record, warnings), record.id

        incoming = self._incoming(abook, base, warnings)
        if action == "add":
            matches = self.book.find(criteria) if criteria is not None else []
            if matches and not _bool(request.get("update") if request is not None else None):
                raise ItemFailure(
                    f'the record already exists (id {matches[0].id}); use update="true" to update it',
                    errno=ERRNO_EXISTS,
                    xpath=f"{request_xpath}/ftr:filter",
                )
            record = self._one(criteria, f"{request_xpath}/ftr:filter", required=False) if matches else None
            if record is None:
                created = self._insert(incoming, base)
                return self._ok("add", created, warnings, incoming), created.id
            updated = self._update(record, incoming, base)
            return self._ok("update", updated, warnings, incoming), updated.id

        # update
        assert request is not None  # an update always comes from adb:actionType/adb:update
        if criteria is None:
            raise ItemFailure("an update needs ftr:filter", errno=ERRNO_NO_FILTER, xpath=request_xpath)
        record = self._one(criteria, f"{request_xpath}/ftr:filter", required=not _bool(request.get("add")))
        if record is None:  # add="true": insert when nothing matches
            created = self._insert(incoming, base)
            return self._ok("add", created, warnings, incoming), created.id
        updated = self._update(record, incoming, base)
        return self._ok("update", updated, warnings, incoming), updated.id

    def _one(self, criteria: Criteria | None, xpath: str, *, required: bool) -> Record | None:
        if criteria is None:
            raise ItemFailure("this action needs ftr:filter", errno=ERRNO_NO_FILTER, xpath=xpath.rsplit("/", 1)[0])
        matches = self.book.find(criteria)
        if len(matches) > 1:
            ids = ", ".join(str(r.id) for r in matches[:10])
            raise ItemFailure(
                f"the filter is ambiguous: {len(matches)} records match (ids {ids})", errno=ERRNO_AMBIGUOUS, xpath=xpath
            )
        if not matches:
            if required:
                raise ItemFailure("no record matches the filter", errno=ERRNO_NOT_FOUND, xpath=xpath)
            return None
        return matches[0]

    def _incoming(self, abook: etree._Element, base: str, warnings: list[Detail]) -> Incoming:
        """The values of an import item, and which fields it names (absent = leave as it is)."""
        header = abook.find(q("adb", "addressbookHeader"))
        identity = header.find(q("adb", "identity")) if header is not None else None
        address = identity.find(q("typ", "address")) if identity is not None else None
        present: set[str] = set()
        if address is not None:
            present.update(f for f, el, _l in ADDRESS_FIELDS if address.find(q("typ", el)) is not None)
            if address.find(q("typ", "country")) is not None:
                present.add("country")
        if header is not None:
            present.update(f for f, el, _l in HEADER_FIELDS if header.find(q("adb", el)) is not None)
            if header.find(q("adb", "dateOfBirth")) is not None:
                present.add("birth_date")
            if header.find(q("adb", "labels")) is not None:
                present.add("groups")
            if header.find(q("adb", "id")) is not None:
                warnings.append(
                    Detail(
                        "warning",
                        "adb:id is assigned by POHODA; ignored",
                        WARN_ID_IGNORED,
                        f"{base}/adb:addressbookHeader/adb:id",
                    )
                )
        if identity is not None:
            # The ship-to list of an identity is complete: none listed means none kept.
            present.add("ship_to")
        if abook.find(q("adb", "addressbookGDPR")) is not None:
            present.add("gdpr")
        ext_ids: dict[str, str] = {}
        if identity is not None:
            for ext in identity.iterfind(q("typ", "extId")):
                system, ids = _text(ext.find(q("typ", "exSystemName"))), _text(ext.find(q("typ", "ids")))
                if system is None or ids is None:
                    raise ItemFailure(
                        "typ:extId needs ids and exSystemName",
                        errno=ERRNO_INVALID,
                        xpath=f"{base}/{_FIELD_XPATH['ext_id']}",
                    )
                ext_ids[system] = ids
        try:
            contact = parse_addressbook(abook, ex_system=None).replace(id=None, ext_id=None)
        except InvalidContact as exc:
            field = (exc.field or "").split("[")[0].split(".")[0]
            xpath = f"{base}/{_FIELD_XPATH[field]}" if field in _FIELD_XPATH else base
            raise ItemFailure(str(exc), errno=ERRNO_INVALID, xpath=xpath) from None
        return Incoming(contact, frozenset(present), ext_ids)

    def _check_rules(self, contact: Contact, base: str) -> None:
        note = self.faults.item_error_for(contact.to_dict())
        if note is not None:
            raise ItemFailure(note, errno=ERRNO_REFUSED, xpath=base)

    def _ext_for_rules(self, contact: Contact, ext_ids: Mapping[str, str]) -> Contact:
        ext_id = ext_ids.get(self.ex_system or "") or next(iter(ext_ids.values()), None)
        return contact.replace(ext_id=ext_id)

    def _insert(self, incoming: Incoming, base: str) -> Record:
        self._check_rules(self._ext_for_rules(incoming.contact, incoming.ext_ids), base)
        try:
            return self.book.add(incoming.contact, incoming.ext_ids)
        except ExtIdTaken as exc:
            raise ItemFailure(str(exc), errno=ERRNO_EXT_ID_TAKEN, xpath=f"{base}/{_FIELD_XPATH['ext_id']}") from None

    def _update(self, record: Record, incoming: Incoming, base: str) -> Record:
        merged = record.contact.to_dict()
        new = incoming.contact.to_dict()
        for field in incoming.present:
            merged[field] = new[field]
        contact = Contact.from_dict(merged, record=f"POHODA {record.id}")
        ext_ids = {**record.ext_ids, **incoming.ext_ids}
        self._check_rules(self._ext_for_rules(contact, ext_ids), base)
        try:
            return self.book.replace(record.id, contact, ext_ids)
        except ExtIdTaken as exc:
            raise ItemFailure(str(exc), errno=ERRNO_EXT_ID_TAKEN, xpath=f"{base}/{_FIELD_XPATH['ext_id']}") from None

    def _ok(
        self, action: str, record: Record, warnings: list[Detail], incoming: Incoming | None = None
    ) -> etree._Element:
        response = etree.Element(q("adb", "addressbookResponse"), version=VERSION, state="ok")
        self._details(response, warnings)
        produced = _el(response, q("rdc", "producedDetails"))
        _el(produced, q("rdc", "id"), str(record.id))
        _el(produced, q("rdc", "actionType"), action)
        # The extId the item was about: the one it sent, else the record's for our system.
        ext_ids = incoming.ext_ids if incoming is not None and incoming.ext_ids else record.ext_ids
        system = self.ex_system if self.ex_system in ext_ids else next(iter(ext_ids), None)
        if system is not None:
            ext = _el(produced, q("rdc", "extId"))
            _el(ext, q("typ", "ids"), ext_ids[system])
            _el(ext, q("typ", "exSystemName"), system)
        return response

    # -- filters --------------------------------------------------------------------------

    def _criteria(self, request: etree._Element, xpath: str) -> Criteria | None:
        """The ftr:filter of an ftr:requestAddressBook(Action)Type, or None when it has none."""
        for unsupported in ("queryFilter", "userFilterName"):
            if request.find(q("ftr", unsupported)) is not None:
                raise ItemFailure(
                    f"ftr:{unsupported} is not supported by the simulator; use ftr:filter",
                    errno=ERRNO_UNSUPPORTED,
                    xpath=f"{xpath}/ftr:{unsupported}",
                )
        flt = request.find(q("ftr", "filter"))
        if flt is None:
            return None
        xpath = f"{xpath}/ftr:filter"
        values: dict[str, Any] = {}
        if flt.find(q("ftr", "number")) is not None:
            raise ItemFailure("ftr:number is not supported by the simulator", errno=ERRNO_UNSUPPORTED, xpath=xpath)
        id_text = _text(flt.find(q("ftr", "id")))
        if id_text is not None:
            if not id_text.isdigit() or int(id_text) < 1:
                raise ItemFailure(f"ftr:id {id_text!r} is not an id", errno=ERRNO_INVALID, xpath=f"{xpath}/ftr:id")
            values["id"] = int(id_text)
        ext = flt.find(q("ftr", "extId"))
        if ext is not None:
            ids, system = _text(ext.find(q("typ", "ids"))), _text(ext.find(q("typ", "exSystemName")))
            if ids is None or system is None:
                raise ItemFailure(
                    "ftr:extId needs ids and exSystemName", errno=ERRNO_INVALID, xpath=f"{xpath}/ftr:extId"
                )
            values["ext_id"] = (system, ids)
        for field in _TEXT_FILTERS:
            el = flt.find(q("ftr", field))
            if el is not None:
                values[field] = (el.text or "").strip() or None
        changed = _text(flt.find(q("ftr", "lastChanges")))
        if changed is not None:
            try:
                values["last_changes"] = local_naive(dt.datetime.fromisoformat(changed))
            except ValueError:
                raise ItemFailure(
                    f"ftr:lastChanges {changed!r} is not a date and time",
                    errno=ERRNO_INVALID,
                    xpath=f"{xpath}/ftr:lastChanges",
                ) from None
        criteria = Criteria(**values)
        return None if criteria.is_empty() else criteria

    # -- export ---------------------------------------------------------------------------

    def _export(self, request: etree._Element, base: str, *, parent: etree._Element) -> etree._Element:
        """The list the request asks for, built in `parent` once the request was read (a
        request POHODA cannot read fails before any of it is built)."""
        ex_system = request.get("extSystem") or None
        selected: dict[int, Record] = {}
        limit: tuple[int | None, int | None] | None = None
        group = 0
        for child in request:
            if not isinstance(child.tag, str):
                continue
            local = etree.QName(child).localname
            if local == "limit":
                limit = self._limit(child, f"{base}/lAdb:limit")
            elif local == "requestAddressBook":
                group += 1
                criteria = self._criteria(child, f"{base}/lAdb:requestAddressBook[{group}]")
                if limit is not None:
                    id_from, count = limit
                    records = self.book.page(criteria, id_from=id_from, count=count)
                else:
                    records = self.book.find(criteria) if criteria is not None else self.book.all()
                selected.update((r.id, r) for r in records)
                limit = None
        now = self.book.now()
        listing = etree.SubElement(
            parent,
            q("lAdb", "listAddressBook"),
            version=VERSION,
            dateTimeStamp=_timestamp(now),
            dateValidFrom=now.date().isoformat(),
            state="ok",
        )
        ordered = [selected[record_id] for record_id in sorted(selected)]
        if self._record_texts is not None and ordered:
            texts = [
                render_export_record(
                    r.contact, record_id=str(r.id), ext_id=r.ext_ids.get(ex_system or ""), ex_system=ex_system
                )
                for r in ordered
            ]
            if all(text is not None for text in texts):
                marker = f"records-{uuid.uuid4().hex}"
                listing.text = marker
                self._record_texts[marker] = "".join(t for t in texts if t is not None)
                return listing
        entry_tag = q("lAdb", "addressbook")
        for record in ordered:
            entry = _el(listing, entry_tag, version=VERSION)
            build_header(
                record.contact,
                ex_system=ex_system,
                parent=entry,
                record_id=str(record.id),
                ext_id=record.ext_ids.get(ex_system or ""),
            )
            build_gdpr(record.contact.gdpr, parent=entry)
        return listing

    @staticmethod
    def _limit(limit: etree._Element, xpath: str) -> tuple[int | None, int | None]:
        values: list[int | None] = []
        for name in ("idFrom", "count"):
            text = _text(limit.find(q("ftr", name)))
            try:
                values.append(int(text) if text is not None else None)
            except ValueError:
                raise ItemFailure(
                    f"ftr:{name} {text!r} is not a number", errno=ERRNO_INVALID, xpath=f"{xpath}/ftr:{name}"
                ) from None
        return values[0], values[1]


def to_wire(response: etree._Element, *, record_texts: Mapping[str, str] | None = None) -> bytes:
    """The responsePack as mServer sends it: Windows-1250, POHODA's own XML declaration.

    `record_texts` are export records written as text, each put in place of its marker
    (the text of the list they belong to); their prefixes stay declared on the pack."""
    keep = ["typ", "adb", "lAdb"] if record_texts else None
    etree.cleanup_namespaces(response, keep_ns_prefixes=keep)
    body: bytes = etree.tostring(response, encoding="windows-1250", xml_declaration=False)
    for marker, text in (record_texts or {}).items():
        # A character Windows-1250 lacks becomes a character reference, as lxml writes it.
        body = body.replace(marker.encode("ascii"), text.encode("cp1250", "xmlcharrefreplace"), 1)
    return b'<?xml version="1.0" encoding="Windows-1250"?>\n' + body
