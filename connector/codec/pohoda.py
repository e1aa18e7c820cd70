"""The POHODA codec: import dataPacks and list requests out, responsePacks and exports in.

Owns the envelopes (dat:dataPack, rsp:responsePack, lAdb:listAddressBook), Windows-1250 on
the wire, POHODA's field limits and run-time validation; the field mapping is `_addressbook`.
"""

from __future__ import annotations

import concurrent.futures
import copy
import dataclasses
import datetime as dt
import functools
import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Generic, Literal, Protocol, TypeVar

from lxml import etree

from connector._paths import schemas_dir
from connector.codec import _xml
from connector.codec._addressbook import (
    ADDRESS_FIELDS,
    EXT_ID_LIMIT,
    FIELD_LIMITS,
    GDPR_NAME_LIMIT,
    GROUP_LIMIT,
    HEADER_FIELDS,
    NS,
    SHIP_TO_FIELDS,
    SHIP_TO_LIMITS,
    AddressbookDigest,
    build_gdpr,
    build_header,
    digest_addressbook,
    parse_addressbook,
    q,
)
from connector.codec._cp1250 import WIRE_ENCODING, Unencodable, is_cp1250, to_cp1250
from connector.errors import (
    BadData,
    ConfigError,
    FieldTooLong,
    InvalidContact,
    MalformedXML,
    PohodaRefused,
    SchemaViolation,
    UnencodableCharacters,
)
from connector.model import Consent, Contact, ShipTo

VERSION = "2.0"
MAX_LIST_COUNT = 10_000  # ftr:limitType/count
STRING64 = 64  # typ:string64: dataPack@id, dataPackItem@id, extSystem
APPLICATION_LIMIT = 100  # typ:string100
ICO_LIMIT = 15  # typ:icoType
# Import answers are small (about 1 kB per item); exports are streamed, so they may be larger.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_EXPORT_BYTES = 192 * 1024 * 1024

Action = Literal["upsert", "update", "delete"]
WarningKind = Literal["transliterated", "truncated"]

# Values that name something (an id, a code, a purpose defined in POHODA): cutting one would
# make it name something else, so they are refused even when truncation is switched on.
_NEVER_CUT = frozenset({"ext_id", "ico", "dic", "ic_dph", "country"})
_TOP_TEXT_FIELDS: tuple[str, ...] = (
    "ext_id",
    "company",
    "name",
    "street",
    "city",
    "zip",
    "country",
    "ico",
    "dic",
    "ic_dph",
    "phone",
    "mobile",
    "email",
    "note",
)
_SHIP_TO_TEXT_FIELDS: tuple[str, ...] = ("company", "name", "street", "city", "zip", "country", "phone", "email")
_KEY_CHARS = re.compile(r"[^A-Za-z0-9_.:-]+")


# -- identifiers ---------------------------------------------------------------------------


def item_id(record_key: str, version: str | int) -> str:
    """The `dataPackItem@id` of one version of one record (typ:string64, at most 53 chars).

    Stable: a replay of the same (record, version) gets the same id, so that POHODA with
    STW-Check-Duplicity refuses it as already imported; a new version gets a new id. The
    readable prefix helps an operator find the item in POHODA's XML import log.
    """
    digest = hashlib.sha256(f"{record_key}\x1f{version}".encode()).hexdigest()[:32]
    prefix = _KEY_CHARS.sub("_", record_key)[:20]
    return f"{prefix}.{digest}"


def pack_id_of(item_ids: Iterable[str]) -> str:
    """A `dataPack@id` derived from its items: the same batch replayed gets the same id."""
    digest = hashlib.sha256("\x1f".join(item_ids).encode()).hexdigest()[:40]
    return f"adb-{digest}"


# -- what goes out ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class AddressBookWrite:
    """One address-book write for a dataPack: upsert, update or delete of one record.

    `version` must change with every change of the record (a counter or a modification
    time, not a content hash: A -> B -> A would repeat a hash and POHODA would refuse the
    third write as a duplicate). Build it with `upsert`, `update` or `delete`.
    """

    action: Action
    version: str
    contact: Contact | None = None
    pohoda_id: str | None = None  # filter by POHODA's id (update, delete)
    ext_id: str | None = None  # filter by the e-shop's id (upsert, update, delete)

    @classmethod
    def upsert(cls, contact: Contact, *, version: str | int) -> AddressBookWrite:
        """Create or update by extId: `<adb:add update="true">` + `ftr:filter/ftr:extId`."""
        return cls("upsert", str(version), contact=contact, ext_id=contact.ext_id)

    @classmethod
    def update(cls, contact: Contact, *, version: str | int, pohoda_id: str | None = None) -> AddressBookWrite:
        """Update by POHODA id when `pohoda_id` is given, else by the contact's extId."""
        if pohoda_id is not None:
            return cls("update", str(version), contact=contact, pohoda_id=str(pohoda_id))
        return cls("update", str(version), contact=contact, ext_id=contact.ext_id)

    @classmethod
    def delete(cls, *, version: str | int, pohoda_id: str | None = None, ext_id: str | None = None) -> AddressBookWrite:
        """Delete by POHODA id, or by extId."""
        return cls("delete", str(version), pohoda_id=None if pohoda_id is None else str(pohoda_id), ext_id=ext_id)

    @property
    def record_key(self) -> str:
        """`ext:<extId>` when the e-shop's id is known, else `id:<POHODA id>`."""
        ext = self.ext_id or (self.contact.ext_id if self.contact is not None else None)
        if ext:
            return f"ext:{ext}"
        if self.pohoda_id:
            return f"id:{self.pohoda_id}"
        return "unidentified"

    @property
    def item_id(self) -> str:
        return item_id(self.record_key, self.version)


@dataclasses.dataclass(frozen=True, slots=True)
class ItemWarning:
    """A change the codec made to a value so that POHODA can take it; never holds the value."""

    field: str  # the contact's field path, e.g. "name", "ship_to[1].street", "groups"
    kind: WarningKind
    message: str


@dataclasses.dataclass(frozen=True, slots=True)
class ItemReport:
    """What the codec did with one write: encoded (with warnings) or refused (`error`)."""

    item_id: str
    record_key: str
    action: Action
    warnings: tuple[ItemWarning, ...] = ()
    error: BadData | None = None

    @property
    def refused(self) -> bool:
        return self.error is not None


@dataclasses.dataclass(frozen=True, slots=True)
class EncodedImport:
    """An import dataPack: the bytes to POST (None when every item was refused) and one
    report per write, in the order of the writes."""

    body: bytes | None
    pack_id: str
    reports: tuple[ItemReport, ...]

    @property
    def item_count(self) -> int:
        """How many items the pack carries (refused writes are left out of it)."""
        return sum(1 for r in self.reports if r.error is None)

    @property
    def refused(self) -> tuple[ItemReport, ...]:
        return tuple(r for r in self.reports if r.error is not None)


# -- what comes back -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ImportDetail:
    """One `rdc:importDetails/rdc:detail`: what POHODA said about one part of an item."""

    state: str  # ok | warning | error
    errno: int | None = None
    note: str | None = None
    xpath: str | None = None
    value_requested: str | None = None
    value_produced: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ItemResult:
    """The outcome of one dataPackItem.

    `ok` is True for an import POHODA accepted and for a replay it refused as already
    imported (`duplicate`: the earlier import stands). `pohoda_id` is the record's id from
    `rdc:producedDetails` or, for a duplicate, from `rsp:recordDuplicity` (None when POHODA
    has deleted the record since). `warnings` are the codec's own changes to the values.
    """

    item_id: str
    state: str  # the responsePackItem's state: ok | error
    ok: bool
    note: str | None = None
    duplicate: bool = False
    pohoda_id: str | None = None
    ext_id: str | None = None  # rdc:producedDetails/rdc:extId/typ:ids
    action: str | None = None  # rdc:producedDetails/rdc:actionType: add | update | delete
    response_state: str | None = None  # adb:addressbookResponse@state
    details: tuple[ImportDetail, ...] = ()
    record_key: str | None = None
    warnings: tuple[ItemWarning, ...] = ()
    error: BadData | None = None  # set when the codec refused the write (nothing was sent)

    @property
    def errors(self) -> tuple[ImportDetail, ...]:
        return tuple(d for d in self.details if d.state == "error")

    @property
    def pohoda_warnings(self) -> tuple[ImportDetail, ...]:
        return tuple(d for d in self.details if d.state == "warning")

    @classmethod
    def refused_locally(cls, report: ItemReport) -> ItemResult:
        """The result of a write the codec refused: never sent, the error names the field."""
        return cls(
            item_id=report.item_id,
            state="error",
            ok=False,
            note=str(report.error) if report.error is not None else None,
            record_key=report.record_key,
            warnings=report.warnings,
            error=report.error,
        )

    @classmethod
    def missing(cls, report: ItemReport) -> ItemResult:
        """The result of an item sent but absent from POHODA's answer."""
        return cls(
            item_id=report.item_id,
            state="error",
            ok=False,
            note="POHODA's answer holds no result for this item",
            record_key=report.record_key,
            warnings=report.warnings,
        )

    def with_report(self, report: ItemReport) -> ItemResult:
        """This result with the record key and the codec's warnings of its write."""
        return dataclasses.replace(self, record_key=report.record_key, warnings=report.warnings)


@dataclasses.dataclass(frozen=True, slots=True)
class ResponsePack:
    """A decoded `rsp:responsePack`: the pack's state and one result per item."""

    pack_id: str
    state: str  # ok | error
    note: str | None
    items: tuple[ItemResult, ...]
    ico: str | None = None
    program_version: str | None = None

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    def raise_for_state(self) -> None:
        """PohodaRefused with POHODA's note when the whole pack was refused."""
        if self.state != "ok":
            note = self.note or ""
            raise PohodaRefused(f"POHODA refused the whole dataPack {self.pack_id}: {note}", note=note)

    def by_item_id(self) -> dict[str, ItemResult]:
        return {item.item_id: item for item in self.items}


class ExportItem(Protocol):
    """What an export stream hands out for a record: its contact, or its digest."""

    @property
    def id(self) -> str | None: ...


R = TypeVar("R", bound="ExportItem")


@dataclasses.dataclass(frozen=True, slots=True)
class _Batch(Generic[R]):
    """Records moved out of an export stream, their validation under way, their contacts read."""

    records: etree._Element  # an lAdb:listAddressBook of their own
    passed: concurrent.futures.Future[bool]
    read: list[R | InvalidContact]


class ExportStream(Generic[R]):
    """The contacts of a `lAdb:listAddressBook` export, one at a time, validated as read.

    Iterate it once. The list's attributes (`state`, `version`, `date_time_stamp`,
    `date_valid_from`), its `details` and `parts`, `count` and `last_id` (for paging with
    `idFrom = last_id + 1`) fill in as the stream goes. Raises PohodaRefused when POHODA
    refused the request, SchemaViolation/InvalidContact naming the record and field for a
    bad record, MalformedXML for broken or hostile input. Any exception means the export
    is incomplete: do not advance a cursor on it.

    How it validates: records are parsed without a schema, moved out of the stream's tree
    into batches of `RECORD_BATCH`, and each batch is validated as a list of its own by
    libxml2 in a worker thread (which frees the interpreter lock) while the stream reads on,
    against the codec's `batch_schema`; no contact of a batch is handed out before its batch
    passed. What is left of the document (its envelope) is validated when it ends, and a
    record must sit in a list after the list's importDetails and parts, as the schema orders
    them. Together that is the whole document against the schema, at about half the cost of
    plugging the schema into the parser.

    A page held in memory (bytes, at most `WHOLE_PAGE_BYTES`: an export paged by
    idFrom/count) is read whole instead: parsed in one call, validated as one document in
    the worker thread while its records are read, and handed out once both are done. The
    parse and the validation then run without the interpreter lock, and no record is moved.
    Anything but a plain valid page of one list (a record the schema or the model refuses,
    a refusal, import details) is read again as a stream, so the stream decides what is
    handed out and what is raised. `read_as` says which way it went.
    """

    RECORD_BATCH = 256
    WHOLE_PAGE_BYTES = 8 * 1024 * 1024

    def __init__(
        self,
        codec: PohodaCodec,
        source: bytes | IO[bytes],
        *,
        what: str,
        read: Callable[[etree._Element], R],
        on_bad_record: Callable[[BadData], None] | None = None,
    ) -> None:
        self._codec = codec
        self._what = what
        # How a record is read: `parse_addressbook` (a contact), or `digest_addressbook`.
        self._read = read
        # Where a record that alone fails the schema or the model goes (then the stream goes
        # on without it); None: the stream raises on it.
        self._on_bad_record = on_bad_record
        self._stream = _xml.iterparse(
            source,
            tag=_EXPORT_TAGS,
            what=what,
            max_bytes=codec.max_export_bytes,
            # End events only: a start event per record would double the Python work on the
            # hot path; the envelopes' attributes are read from a record's ancestors.
            events=("end",),
        )
        self.pack_state: str | None = None
        self.pack_note: str | None = None
        self.state: str | None = None
        self.version: str | None = None
        self.date_time_stamp: str | None = None
        self.date_valid_from: str | None = None
        self.details: tuple[ImportDetail, ...] = ()
        self.parts: tuple[str, ...] = ()
        self.count = 0
        self.last_id: int | None = None
        self.read_as: Literal["whole", "stream"] | None = None
        self._page = source if isinstance(source, bytes) and len(source) <= self.WHOLE_PAGE_BYTES else None
        self._started = False

    def __iter__(self) -> Iterator[R]:
        if self._started:
            raise RuntimeError("an ExportStream can be iterated only once")
        self._started = True
        return self._contacts()

    def _contacts(self) -> Iterator[R]:
        whole = self._read_whole(self._page) if self._page is not None else None
        self._page = None
        if whole is None:
            self.read_as = "stream"
            yield from self._streamed()
            return
        self.read_as = "whole"
        for contact in whole:
            self.count += 1
            if contact.id is not None and contact.id.isdigit():
                self.last_id = max(self.last_id or 0, int(contact.id))
            yield contact

    def _read_whole(self, page: bytes) -> list[R] | None:
        """The contacts of a plain, valid page of one list; None for anything else."""
        try:
            tree = _xml.parse_bytes(page, what=self._what, max_bytes=self._codec.max_export_bytes)
        except BadData:
            return None
        root = tree.getroot()
        if root.tag == _PACK:
            listings = [el for el in root.iter(_LIST)]
        elif root.tag == _LIST:
            listings = [root]
        else:
            return None
        if len(listings) != 1:
            return None
        listing = listings[0]
        for el in root.iter(_PACK, _PACK_ITEM, _LIST):
            if el.get("state") == "error":
                return None
        for _el in root.iter(_IMPORT_DETAILS, _PARTS):
            return None
        records = [el for el in listing if el.tag == _RECORD]
        if sum(1 for _ in root.iter(_RECORD)) != len(records):
            return None  # a record outside the list
        validator = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pohoda-validate")
        try:
            passed = validator.submit(self._codec.batch_schema.validate, tree)
            read = self._read
            try:
                contacts = [read(record) for record in records]
            except InvalidContact:
                return None
            if not passed.result():
                return None
        finally:
            validator.shutdown(wait=True)
        if root.tag == _PACK:
            self.pack_state = root.get("state")
            self.pack_note = root.get("note")
        self.state = listing.get("state")
        self.version = listing.get("version")
        self.date_time_stamp = listing.get("dateTimeStamp")
        self.date_valid_from = listing.get("dateValidFrom")
        return contacts

    def _streamed(self) -> Iterator[R]:
        lists = 0
        envelope_read = False
        seen = False  # any element of the export's vocabulary was read
        root: etree._Element | None = None  # set when the root element's end was read
        batch: etree._Element | None = None  # records moved out of the stream, not yet sent to check
        batch_list: etree._Element | None = None  # the list the last records came from
        size = 0  # records in batch
        checking: _Batch[R] | None = None  # the batch being validated while the stream reads on
        validator = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pohoda-validate")
        try:
            for _event, el in self._stream:
                seen = True
                tag = el.tag
                if tag == _RECORD:
                    parent = el.getparent()
                    if parent is not batch_list:
                        if parent is None or parent.tag != _LIST:
                            label = _record_label(el)
                            raise SchemaViolation(
                                f"{self._what}: record {label} is not inside a lAdb:listAddressBook", record=label
                            )
                        if not envelope_read:
                            envelope_read = True
                            self._envelope(parent)
                        batch_list = parent
                    if batch is None:
                        batch = self._codec.record_list()
                        size = 0
                    batch.append(el)  # moves it, with its namespaces, out of the stream's tree
                    size += 1
                    if size == self.RECORD_BATCH:
                        # Validate this batch while the next one is read; hand out the one before.
                        started = self._start(batch, validator)
                        batch = None
                        if checking is not None:
                            yield from self._finish(checking)
                        checking = started
                    continue
                # Any other element: the records before it count first.
                last = self._start(batch, validator) if batch is not None else None
                for pending in (checking, last):
                    if pending is not None:
                        yield from self._finish(pending)
                checking = batch = None
                if el.getparent() is None:
                    root = el
                if tag == _LIST:
                    lists += 1
                    batch_list = None
                    if not envelope_read:
                        envelope_read = True
                        self._envelope(el)
                    if self.state == "error":
                        notes = "; ".join(d.note for d in self.details if d.note) or "no reason given"
                        raise PohodaRefused(f"{self._what}: POHODA refused the export: {notes}", note=notes)
                elif tag in (_PACK, _PACK_ITEM):
                    self._refused(el)
                elif tag in (_IMPORT_DETAILS, _PARTS):
                    parent = el.getparent()
                    if parent is not None and parent is batch_list:
                        field = etree.QName(tag).localname
                        raise SchemaViolation(
                            f"{self._what}: rdc:{field} comes after the list's records; the schema puts it first",
                            field=field,
                        )
                    if tag == _PARTS:
                        self.parts = tuple((p.text or "") for p in el)
                    elif parent is not None and parent.tag == _LIST:
                        self.details = _details(el)
        finally:
            validator.shutdown(wait=True)
        if seen and root is None:
            # Belt and braces: lxml reports a truncated document itself, but a cut stream
            # must never pass for a complete export.
            raise MalformedXML(f"{self._what}: not well-formed XML: the document ends before its root element")
        if root is not None:
            # The envelope, with the records moved out (the schema lets a list be empty).
            _xml.validate(root, self._codec.response_schema, what=self._what)
        if lists == 0:
            raise SchemaViolation(f"{self._what}: the answer holds no lAdb:listAddressBook", field="listAddressBook")

    def _start(self, batch: etree._Element, validator: concurrent.futures.ThreadPoolExecutor) -> _Batch[R]:
        """Send a batch to be validated, and read its contacts meanwhile."""
        passed = validator.submit(self._codec.batch_schema.validate, batch)
        read: list[R | InvalidContact] = []
        for record in batch:
            try:
                read.append(self._read(record))
            except InvalidContact as exc:
                read.append(exc)
        return _Batch(batch, passed, read)

    def _finish(self, checked: _Batch[R]) -> Iterator[R]:
        """The contacts of a batch, once it passed the schema; else up to its first bad record."""
        valid = checked.passed.result()
        set_aside = 0
        for record, contact in zip(checked.records, checked.read, strict=True):
            try:
                if not valid:
                    # The violation is in this record or in one still to come: pin it down.
                    self._codec.check_export_record(record, what=self._what)
                if isinstance(contact, InvalidContact):
                    raise contact
            except BadData as bad:
                if self._on_bad_record is None:
                    raise
                self._on_bad_record(bad)
                set_aside += 1
                continue
            self.count += 1
            if contact.id is not None and contact.id.isdigit():
                self.last_id = max(self.last_id or 0, int(contact.id))
            yield contact
        if not valid and not set_aside:
            # Every record passes on its own, so what fails is the batch as a list (POHODA's
            # schemas put no rule across records, so this is not expected): say where.
            _xml.validate(checked.records, self._codec.response_schema, what=f"{self._what}: a batch of records")
            raise SchemaViolation(f"{self._what}: a batch of records failed the schema once, then passed it")

    def _envelope(self, listing: etree._Element | None) -> None:
        """Read the list's attributes and refuse an export POHODA refused, before any record."""
        if listing is None or listing.tag != _LIST:
            return
        self.state = listing.get("state")
        self.version = listing.get("version")
        self.date_time_stamp = listing.get("dateTimeStamp")
        self.date_valid_from = listing.get("dateValidFrom")
        item = listing.getparent()
        if item is not None and item.tag == _PACK_ITEM:
            self._refused(item)
            pack = item.getparent()
            if pack is not None and pack.tag == _PACK:
                self._refused(pack)

    def _refused(self, el: etree._Element) -> None:
        """PohodaRefused when this responsePack or responsePackItem says state="error"."""
        if el.tag == _PACK:
            self.pack_state = el.get("state")
            self.pack_note = el.get("note")
            if self.pack_state == "error":
                note = self.pack_note or ""
                raise PohodaRefused(f"{self._what}: POHODA refused the whole request: {note}", note=note)
        elif el.get("state") == "error":
            note = el.get("note") or ""
            raise PohodaRefused(f"{self._what}: POHODA refused the list request: {note}", note=note)


_PACK = q("rsp", "responsePack")
_PACK_ITEM = q("rsp", "responsePackItem")
_LIST = q("lAdb", "listAddressBook")
_RECORD = q("lAdb", "addressbook")
_IMPORT_DETAILS = q("rdc", "importDetails")
_PARTS = q("rdc", "parts")
_EXPORT_TAGS = (_PACK, _PACK_ITEM, _LIST, _RECORD, _IMPORT_DETAILS, _PARTS)


# -- the codec -------------------------------------------------------------------------------


class PohodaCodec:
    """Builds and reads POHODA's XML for one company (ICO) and one external system.

    `schema_dir` points at STORMWARE's full XSD set to validate against instead of the
    project's `schemas/pohoda`. With `truncate_long_values`, a value longer than POHODA's
    limit is cut with a warning instead of refusing the item (ids and codes never are).
    """

    def __init__(
        self,
        ico: str,
        ex_system: str,
        application: str,
        schema_dir: str | Path | None = None,
        truncate_long_values: bool = False,
        *,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_export_bytes: int = DEFAULT_MAX_EXPORT_BYTES,
    ) -> None:
        for key, value, limit in (
            ("pohoda.ico", ico, ICO_LIMIT),
            ("pohoda.ex_system", ex_system, STRING64),
            ("pohoda.application", application, APPLICATION_LIMIT),
        ):
            if not value or len(value) > limit or not is_cp1250(value):
                raise ConfigError(
                    f"{key} must be 1 to {limit} characters that Windows-1250 can carry, got {len(value or '')}"
                )
        self.ico = ico
        self.ex_system = ex_system
        self.application = application
        self.truncate_long_values = truncate_long_values
        self.max_response_bytes = max_response_bytes
        self.max_export_bytes = max_export_bytes
        directory = Path(schema_dir) if schema_dir else schemas_dir() / "pohoda"
        for name in ("data.xsd", "response.xsd"):
            if not (directory / name).is_file():
                raise ConfigError(f"pohoda.schema_dir: {directory} holds no {name}")
        self.data_schema = _xml.load_schema(str(directory / "data.xsd"))
        self.response_schema = _xml.load_schema(str(directory / "response.xsd"))
        self._response_xsd = str(directory / "response.xsd")
        self._batch_schema: etree.XMLSchema | None = None

    @property
    def batch_schema(self) -> etree.XMLSchema:
        """The response schema again, compiled apart, for the export stream's worker thread.

        lxml keeps one error log per schema object and each validation clears it; the
        worker only asks valid-or-not, so it must not wipe the log another thread is about to
        read from `response_schema`.
        """
        if self._batch_schema is None:
            self._batch_schema = _xml.compile_schema(self._response_xsd)
        return self._batch_schema

    # -- import dataPacks ----------------------------------------------------------------

    def pack_id(self, writes: Sequence[AddressBookWrite]) -> str:
        """The dataPack id for these writes, derived from their item ids (replay-stable)."""
        return pack_id_of(w.item_id for w in writes)

    def encode_import(
        self, writes: Iterable[AddressBookWrite], *, pack_id: str | None = None, note: str = ""
    ) -> EncodedImport:
        """One dataPack with an item per write; writes that cannot be encoded are left out.

        Every report names its item; a refused write's report holds a BadData naming the
        record and the field (FieldTooLong, UnencodableCharacters, ...). The built pack is
        validated before it is returned.
        """
        writes = list(writes)
        pack = pack_id or self.pack_id(writes)
        if len(pack) > STRING64:
            raise ValueError(f"a dataPack id is at most {STRING64} characters, got {len(pack)}")
        note_text, _ = self._config_text(note, "note")
        reports: list[ItemReport] = []
        elements: list[etree._Element | None] = []
        seen: set[str] = set()
        for write in writes:
            iid = write.item_id
            try:
                if iid in seen:
                    raise BadData(
                        f"record {write.record_key}: the same record and version twice in one dataPack",
                        record=write.record_key,
                    )
                element, warnings = self._item(write, iid)
            except BadData as exc:
                reports.append(ItemReport(iid, write.record_key, write.action, error=exc))
                elements.append(None)
                continue
            seen.add(iid)
            reports.append(ItemReport(iid, write.record_key, write.action, warnings=tuple(warnings)))
            elements.append(element)
        body = self._pack_bytes(pack, note_text, reports, elements)
        return EncodedImport(body=body, pack_id=pack, reports=tuple(reports))

    def _pack_bytes(
        self, pack: str, note: str, reports: list[ItemReport], elements: list[etree._Element | None]
    ) -> bytes | None:
        root = self._data_pack(pack, note)
        for element in elements:
            if element is not None:
                root.append(element)
        if len(root) == 0:
            return None
        if not self.data_schema.validate(root):
            # Should not happen (values were checked); find the items at fault, refuse only
            # them, and send the rest.
            for i, element in enumerate(elements):
                if element is None:
                    continue
                single = self._data_pack(pack, note)
                single.append(copy.deepcopy(element))
                try:
                    _xml.validate(single, self.data_schema, what=f"dataPack item {reports[i].item_id}")
                except SchemaViolation as exc:
                    report = reports[i]
                    error = SchemaViolation(f"record {report.record_key}: {exc}", record=report.record_key)
                    reports[i] = dataclasses.replace(report, error=error, warnings=())
                    root.remove(element)
                    elements[i] = None
            if len(root) == 0:
                return None
            _xml.validate(root, self.data_schema, what=f"dataPack {pack}")
        return _serialize(root)

    def _data_pack(self, pack: str, note: str) -> etree._Element:
        return etree.Element(
            q("dat", "dataPack"),
            {"version": VERSION, "id": pack, "ico": self.ico, "application": self.application, "note": note},
            nsmap={p: NS[p] for p in ("dat", "adb", "lAdb", "ftr", "typ")},
        )

    def _item(self, write: AddressBookWrite, iid: str) -> tuple[etree._Element, list[ItemWarning]]:
        record = write.record_key
        item = etree.Element(q("dat", "dataPackItem"), version=VERSION, id=iid)
        book = etree.SubElement(item, q("adb", "addressbook"), version=VERSION)
        action = etree.SubElement(book, q("adb", "actionType"))
        warnings: list[ItemWarning] = []
        if write.action == "delete":
            etree.SubElement(action, q("adb", "delete")).append(self._filter(write, record))
            return item, warnings
        if write.contact is None:
            raise BadData(f"record {record}: an {write.action} needs a contact", record=record)
        contact, warnings = self.prepare(write.contact.replace(id=None), record=record)
        if write.action == "upsert":
            if not contact.ext_id:
                raise BadData(f"record {record}: an upsert needs the contact's ext_id", record=record, field="ext_id")
            verb = etree.SubElement(action, q("adb", "add"), update="true")
        else:
            verb = etree.SubElement(action, q("adb", "update"))
        verb.append(self._filter(write, record, ext_id=contact.ext_id))
        # An update sends every mapped field: an empty element clears the field in POHODA.
        try:
            # Built in place: on an error the whole item is dropped, half-built parts with it.
            build_header(contact, ex_system=self.ex_system, include_empty=True, parent=book)
            build_gdpr(contact.gdpr, parent=book)
        except ValueError as exc:  # lxml refuses text XML cannot carry; prepare() should have
            raise BadData(f"record {record}: {exc}", record=record) from None
        return item, warnings

    def _filter(self, write: AddressBookWrite, record: str, *, ext_id: str | None = None) -> etree._Element:
        flt = etree.Element(q("ftr", "filter"))
        if write.pohoda_id is not None:
            if not write.pohoda_id.isdigit() or int(write.pohoda_id) < 1:
                raise BadData(f"record {record}: POHODA id {write.pohoda_id!r} is not a positive integer",
                              record=record, field="id")
            etree.SubElement(flt, q("ftr", "id")).text = str(int(write.pohoda_id))
            return flt
        ext = ext_id or write.ext_id
        if not ext:
            raise BadData(f"record {record}: a {write.action} needs a POHODA id or an ext_id", record=record,
                          field="ext_id")
        ext, _ = self._fit(ext, record=record, field="ext_id", limit=EXT_ID_LIMIT, warnings=[])
        self._ext_id(flt, q("ftr", "extId"), ext)
        return flt

    def _ext_id(self, parent: etree._Element, tag: str, ext: str) -> None:
        el = etree.SubElement(parent, tag)
        etree.SubElement(el, q("typ", "ids")).text = ext
        etree.SubElement(el, q("typ", "exSystemName")).text = self.ex_system

    # -- values: Windows-1250 and limits ----------------------------------------------------

    def prepare(self, contact: Contact, *, record: str) -> tuple[Contact, list[ItemWarning]]:
        """The contact as POHODA can take it, and what was changed to get there.

        Characters Windows-1250 lacks are transliterated (warning) or refused
        (UnencodableCharacters); values over POHODA's limits are refused (FieldTooLong) or,
        with `truncate_long_values`, cut (warning). Every error and warning names the field.
        """
        warnings: list[ItemWarning] = []
        changes: dict[str, object] = {}
        for field in _TOP_TEXT_FIELDS:
            value = getattr(contact, field)
            if value is not None:
                limit = FIELD_LIMITS.get(field)
                fitted, _ = self._fit(value, record=record, field=field, limit=limit, warnings=warnings)
                if fitted != value:
                    changes[field] = fitted
        ships: list[ShipTo] = []
        for i, ship in enumerate(contact.ship_to):
            ship_changes: dict[str, object] = {}
            for field in _SHIP_TO_TEXT_FIELDS:
                value = getattr(ship, field)
                if value is not None:
                    fitted, _ = self._fit(
                        value, record=record, field=f"ship_to[{i}].{field}", limit=SHIP_TO_LIMITS.get(field),
                        warnings=warnings, never_cut=field == "country",
                    )
                    if fitted != value:
                        ship_changes[field] = fitted
            ships.append(dataclasses.replace(ship, **ship_changes) if ship_changes else ship)  # type: ignore[arg-type]
        if ships != list(contact.ship_to):
            changes["ship_to"] = tuple(ships)
        groups = [
            self._fit(g, record=record, field=f"groups[{i}]", limit=None, warnings=warnings)[0]
            for i, g in enumerate(contact.groups)
        ]
        if len(groups) > GROUP_LIMIT:
            if not self.truncate_long_values:
                raise FieldTooLong(
                    f"record {record}: field 'groups' holds {len(groups)} groups; POHODA takes at most {GROUP_LIMIT}",
                    record=record, field="groups", limit=GROUP_LIMIT, length=len(groups),
                )
            warnings.append(ItemWarning("groups", "truncated", f"kept the first {GROUP_LIMIT} of {len(groups)} groups"))
            groups = groups[:GROUP_LIMIT]
        if tuple(groups) != contact.groups:
            changes["groups"] = tuple(groups)
        consents: list[Consent] = []
        for i, consent in enumerate(contact.gdpr):
            purpose, _ = self._fit(consent.purpose, record=record, field=f"gdpr[{i}].purpose", limit=GDPR_NAME_LIMIT,
                                   warnings=warnings, never_cut=True)
            description = consent.description
            if description is not None:
                description, _ = self._fit(description, record=record, field=f"gdpr[{i}].description", limit=None,
                                           warnings=warnings)
            consents.append(dataclasses.replace(consent, purpose=purpose, description=description))
        if tuple(consents) != contact.gdpr:
            changes["gdpr"] = tuple(consents)
        return (contact.replace(**changes) if changes else contact), warnings

    def _fit(
        self,
        value: str,
        *,
        record: str,
        field: str,
        limit: int | None,
        warnings: list[ItemWarning],
        never_cut: bool = False,
    ) -> tuple[str, bool]:
        try:
            text, replaced = to_cp1250(value)
        except Unencodable as exc:
            raise UnencodableCharacters(f"record {record}: field {field!r} holds {exc}", record=record,
                                        field=field) from None
        if replaced:
            shown = ", ".join(f"U+{ord(a):04X}->{b!r}" if len(a) == 1 else f"{a}->{b}" for a, b in replaced[:5])
            more = f" and {len(replaced) - 5} more" if len(replaced) > 5 else ""
            warnings.append(ItemWarning(field, "transliterated", f"transliterated for Windows-1250: {shown}{more}"))
        if limit is not None and len(text) > limit:
            if not self.truncate_long_values or never_cut or field in _NEVER_CUT:
                raise FieldTooLong(
                    f"record {record}: field {field!r} is {len(text)} characters long; POHODA takes at most {limit}",
                    record=record, field=field, limit=limit, length=len(text),
                )
            warnings.append(ItemWarning(field, "truncated", f"cut from {len(text)} to {limit} characters"))
            text = text[:limit].rstrip()
        return text, bool(replaced)

    def _config_text(self, value: str, what: str) -> tuple[str, bool]:
        try:
            text, replaced = to_cp1250(value)
        except Unencodable as exc:
            raise ValueError(f"the dataPack {what} holds {exc}") from None
        return text, bool(replaced)

    # -- list requests ------------------------------------------------------------------------

    def encode_list_request(
        self,
        *,
        pack_id: str | None = None,
        last_changes: dt.datetime | None = None,
        pohoda_id: str | int | None = None,
        ext_id: str | None = None,
        id_from: int | None = None,
        count: int | None = None,
        note: str = "",
    ) -> bytes:
        """A dataPack with one `lAdb:listAddressBookRequest` (extSystem = our ex_system).

        No filter asks for the whole address book; `last_changes` for records changed at or
        after that moment (a naive datetime is POHODA's local time; an aware one is turned
        into this machine's local time); `pohoda_id` / `ext_id` for one record. `id_from` and
        `count` (1..10000) page it. The pack id defaults to a fresh one: a list request must
        not look like a replay to STW-Check-Duplicity.
        """
        if count is not None and not 1 <= count <= MAX_LIST_COUNT:
            raise ValueError(f"count must be 1..{MAX_LIST_COUNT}, got {count}")
        if id_from is not None and id_from < 0:
            raise ValueError(f"id_from must not be negative, got {id_from}")
        pack = pack_id or f"list-{uuid.uuid4().hex}"
        if len(pack) > STRING64:
            raise ValueError(f"a dataPack id is at most {STRING64} characters, got {len(pack)}")
        note_text, _ = self._config_text(note, "note")
        root = self._data_pack(pack, note_text)
        item = etree.SubElement(root, q("dat", "dataPackItem"), version=VERSION, id="list")
        request = etree.SubElement(
            item,
            q("lAdb", "listAddressBookRequest"),
            version=VERSION,
            addressBookVersion=VERSION,
            extSystem=self.ex_system,
        )
        if id_from is not None or count is not None:
            limit = etree.SubElement(request, q("lAdb", "limit"))
            if id_from is not None:
                etree.SubElement(limit, q("ftr", "idFrom")).text = str(id_from)
            if count is not None:
                etree.SubElement(limit, q("ftr", "count")).text = str(count)
        wanted = etree.SubElement(request, q("lAdb", "requestAddressBook"))
        if last_changes is not None or pohoda_id is not None or ext_id is not None:
            flt = etree.SubElement(wanted, q("ftr", "filter"))
            if pohoda_id is not None:
                text = str(pohoda_id)
                if not text.isdigit() or int(text) < 1:
                    raise ValueError(f"a POHODA id is a positive integer, got {text!r}")
                etree.SubElement(flt, q("ftr", "id")).text = str(int(text))
            if ext_id is not None:
                ext, _ = self._fit(ext_id, record=f"ext:{ext_id}", field="ext_id", limit=EXT_ID_LIMIT, warnings=[])
                self._ext_id(flt, q("ftr", "extId"), ext)
            if last_changes is not None:
                etree.SubElement(flt, q("ftr", "lastChanges")).text = _pohoda_datetime(last_changes)
        _xml.validate(root, self.data_schema, what=f"list request {pack}")
        return _serialize(root)

    # -- decoding ----------------------------------------------------------------------------

    def decode_response(self, data: bytes) -> ResponsePack:
        """The answer to an import dataPack, one result per item, validated.

        A pack POHODA refused comes back with `state == "error"` (see `raise_for_state`);
        an item's error is in its result. Windows-1250 and UTF-8 answers are both read.
        """
        what = "POHODA responsePack"
        tree = _xml.parse_bytes(data, what=what, max_bytes=self.max_response_bytes)
        root = tree.getroot()
        if root.tag != _PACK:
            raise SchemaViolation(f"{what}: the root element is {root.tag}, not rsp:responsePack", field=root.tag)
        _xml.validate(tree, self.response_schema, what=what)
        items = tuple(_item_result(el) for el in root.iterfind(_PACK_ITEM))
        return ResponsePack(
            pack_id=root.get("id", ""),
            state=root.get("state", ""),
            note=root.get("note"),
            items=items,
            ico=root.get("ico"),
            program_version=root.get("programVersion"),
        )

    def iter_export(
        self, source: bytes | IO[bytes], *, on_bad_record: Callable[[BadData], None] | None = None
    ) -> ExportStream[Contact]:
        """Stream the contacts of an export: a responsePack holding `lAdb:listAddressBook`,
        or a bare `lAdb:listAddressBook`. Never holds the whole document as one tree.

        With `on_bad_record`, a record that alone fails the schema or the model is handed to
        it (the error names the record and the field) and the stream goes on without it."""
        read = functools.partial(parse_addressbook, ex_system=self.ex_system)
        return ExportStream(self, source, what="POHODA listAddressBook", read=read, on_bad_record=on_bad_record)

    def iter_export_digests(
        self, source: bytes | IO[bytes], *, on_bad_record: Callable[[BadData], None] | None = None
    ) -> ExportStream[AddressbookDigest | Contact]:
        """`iter_export` for a full comparison: the same records, checks and errors, each
        record that the fast path reads given as its `AddressbookDigest` (its fingerprint; its
        contact read only on request), the others as their contacts."""
        read = functools.partial(digest_addressbook, ex_system=self.ex_system)
        return ExportStream(self, source, what="POHODA listAddressBook", read=read, on_bad_record=on_bad_record)

    def write_export(
        self,
        contacts: Iterable[Contact],
        out: IO[bytes],
        *,
        pack_id: str = "export",
        item_id: str = "list",
        bare: bool = False,
        when: dt.datetime | None = None,
    ) -> int:
        """Write contacts as POHODA answers a list request (a responsePack holding one
        `lAdb:listAddressBook`, or the bare list), in Windows-1250, record by record.

        For the simulator, tests and benchmarks; returns the number of records written.
        """
        moment = (when or dt.datetime.now()).replace(microsecond=0, tzinfo=None)
        list_attrs = {
            "version": VERSION,
            "dateTimeStamp": moment.isoformat(),
            "dateValidFrom": moment.date().isoformat(),
            "state": "ok",
        }
        nsmap = {p: NS[p] for p in ("rsp", "lAdb", "adb", "typ")}
        written = 0
        with etree.xmlfile(out, encoding="Windows-1250") as xf:
            xf.write_declaration()
            if bare:
                outer = xf.element(_LIST, list_attrs, nsmap=nsmap)
            else:
                outer = xf.element(
                    _PACK, {"version": VERSION, "id": pack_id, "state": "ok", "ico": self.ico}, nsmap=nsmap
                )
            with outer:
                if bare:
                    written = self._write_records(xf, contacts)
                else:
                    item_attrs = {"version": VERSION, "id": item_id, "state": "ok"}
                    with xf.element(_PACK_ITEM, item_attrs), xf.element(_LIST, list_attrs):
                        written = self._write_records(xf, contacts)
        return written

    def _write_records(self, xf: etree.xmlfile, contacts: Iterable[Contact]) -> int:
        written = 0
        for contact in contacts:
            record = etree.Element(_RECORD, version=VERSION, nsmap={"lAdb": NS["lAdb"]})
            build_header(contact, ex_system=self.ex_system, parent=record)
            build_gdpr(contact.gdpr, parent=record)
            xf.write(record)
            written += 1
        return written

    @staticmethod
    def record_list() -> etree._Element:
        """An empty `lAdb:listAddressBook` to validate export records in, apart from their export."""
        return etree.Element(
            _LIST, version=VERSION, dateTimeStamp="2000-01-01T00:00:00", dateValidFrom="2000-01-01", state="ok"
        )

    def check_export_record(self, record: etree._Element, *, what: str) -> None:
        """Validate one export record on its own; SchemaViolation names the record and field."""
        wrapper = self.record_list()
        wrapper.append(copy.deepcopy(record))
        if self.response_schema.validate(wrapper):
            return
        error = self.response_schema.error_log[0]
        label = _record_label(record)
        field = _field_from_path(error.path or "")
        raise SchemaViolation(
            f"{what}: record {label}: field {field!r}: {_xml.schema_message(error.message)}", record=label, field=field
        )


# -- decoding helpers ----------------------------------------------------------------------


def _serialize(root: etree._Element) -> bytes:
    data: bytes = etree.tostring(root, encoding="Windows-1250", xml_declaration=True)
    return data


def _pohoda_datetime(moment: dt.datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone().replace(tzinfo=None)
    return moment.isoformat(timespec="seconds")


def _text(parent: etree._Element | None, path: str) -> str | None:
    if parent is None:
        return None
    value = parent.findtext(path)
    if value is None:
        return None
    return value.strip() or None


def _details(import_details: etree._Element | None) -> tuple[ImportDetail, ...]:
    if import_details is None:
        return ()
    out = []
    for detail in import_details.iterfind(q("rdc", "detail")):
        errno = _text(detail, q("rdc", "errno"))
        out.append(
            ImportDetail(
                state=_text(detail, q("rdc", "state")) or "",
                errno=int(errno) if errno is not None else None,
                note=_text(detail, q("rdc", "note")),
                xpath=_text(detail, q("rdc", "XPath")),
                value_requested=_text(detail, q("rdc", "valueRequested")),
                value_produced=_text(detail, q("rdc", "valueProduced")),
            )
        )
    return tuple(out)


def _item_result(el: etree._Element) -> ItemResult:
    state = el.get("state", "")
    response = el.find(q("adb", "addressbookResponse"))
    response_state = response.get("state") if response is not None else None
    details = _details(response.find(q("rdc", "importDetails"))) if response is not None else ()
    produced = response.find(q("rdc", "producedDetails")) if response is not None else None
    pohoda_id = _text(produced, q("rdc", "id"))
    ext_id = _text(produced, f"{q('rdc', 'extId')}/{q('typ', 'ids')}")
    action = _text(produced, q("rdc", "actionType"))
    duplicate = False
    error_detail = el.find(q("rsp", "errorDetail"))
    if error_detail is not None:
        duplicity = error_detail.find(q("rsp", "recordDuplicity"))
        if duplicity is not None:
            # With STW-Check-Duplicity POHODA refuses a (pack id, item id) pair it has
            # imported before: the earlier import stands, so this is a success.
            duplicate = True
            pohoda_id = pohoda_id or _text(duplicity, q("rsp", "id"))
    ok = duplicate or (state == "ok" and response_state in (None, "ok"))
    return ItemResult(
        item_id=el.get("id", ""),
        state=state,
        ok=ok,
        note=el.get("note"),
        duplicate=duplicate,
        pohoda_id=pohoda_id,
        ext_id=ext_id,
        action=action,
        response_state=response_state,
        details=details,
    )


def record_id_of(error: BadData) -> str | None:
    """The POHODA id an export record's error names (its `record` is "POHODA <id>")."""
    label = error.record or ""
    return label.removeprefix("POHODA ") if label.startswith("POHODA ") and label[7:].isdigit() else None


def _record_label(record: etree._Element) -> str:
    pohoda_id = _text(record, f"{q('adb', 'addressbookHeader')}/{q('adb', 'id')}")
    return f"POHODA {pohoda_id}" if pohoda_id else "POHODA (no id)"


# Element path in a record -> the contact's field, for error messages.
_ADDRESS_BY_ELEMENT = {el: field for field, el, _l in ADDRESS_FIELDS} | {"country": "country"}
_HEADER_BY_ELEMENT = {el: field for field, el, _l in HEADER_FIELDS} | {"dateOfBirth": "birth_date", "labels": "groups"}
_SHIP_BY_ELEMENT = {el: field for field, el, _l in SHIP_TO_FIELDS} | {"country": "country"}
_STEP = re.compile(r"([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)(?:\[(\d+)\])?$")


def _field_from_path(path: str) -> str:
    """"/lAdb:listAddressBook/.../typ:shipToAddress[2]/typ:street" -> "ship_to[1].street"."""
    steps = [_STEP.match(s) for s in path.split("/") if s]
    names = [(m.group(2), int(m.group(3) or 1)) for m in steps if m]
    if not names:
        return "?"
    local = [n for n, _ in names]
    if "shipToAddress" in local:
        index = names[local.index("shipToAddress")][1] - 1
        tail = local[local.index("shipToAddress") + 1 :]
        return f"ship_to[{index}].{_SHIP_BY_ELEMENT.get(tail[0], tail[0]) if tail else ''}".rstrip(".")
    if "address" in local:
        tail = local[local.index("address") + 1 :]
        return _ADDRESS_BY_ELEMENT.get(tail[0], tail[0]) if tail else "address"
    if "extId" in local:
        return "ext_id"
    if "addressbookGDPR" in local:
        return "gdpr"
    if "addressbookHeader" in local:
        tail = local[local.index("addressbookHeader") + 1 :]
        return _HEADER_BY_ELEMENT.get(tail[0], tail[0]) if tail else "addressbookHeader"
    return local[-1]


__all__ = [
    "DEFAULT_MAX_EXPORT_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "MAX_LIST_COUNT",
    "WIRE_ENCODING",
    "AddressBookWrite",
    "AddressbookDigest",
    "EncodedImport",
    "ExportItem",
    "ExportStream",
    "ImportDetail",
    "ItemReport",
    "ItemResult",
    "ItemWarning",
    "PohodaCodec",
    "ResponsePack",
    "item_id",
    "pack_id_of",
]
