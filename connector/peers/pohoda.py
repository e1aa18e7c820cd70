"""The POHODA mServer client: address-book writes in batches, exports, and status.

One request in flight at a time (mServer serves one at a time), every exchange through the
shared transport's retry policy, every message built and read by the POHODA codec.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import functools
import gzip
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import httpx

from connector.codec import Fingerprinted
from connector.codec.pohoda import (
    AddressbookDigest,
    AddressBookWrite,
    ExportItem,
    ExportStream,
    ItemResult,
    PohodaCodec,
    record_id_of,
)
from connector.config import Config, PohodaConfig
from connector.errors import (
    BadData,
    ConfigError,
    MalformedXML,
    PeerConfigurationError,
    PohodaRefused,
    PohodaUnreachable,
)
from connector.log import get_logger
from connector.model import Contact
from connector.peers.base import Capabilities, ChangeBatch, PeerRecord, PeerWrite, SideName, WriteResult
from connector.transport import CircuitBreaker, PeerKeys, RequestAhead, RetryPolicy, make_client, safe_url, send

log = get_logger(__name__)

PEER = "POHODA mServer"
KEYS = PeerKeys(url="[pohoda] url", credentials="[pohoda] user and CONNECTOR_POHODA_PASSWORD")
BadRecord = Callable[[BadData], None]
EXPORT_PAGE_SIZE = 1000
# Re-read this much of POHODA's history on each poll (lastChanges has one-second resolution).
CHANGES_OVERLAP = dt.timedelta(seconds=2)
K = TypeVar("K")
R = TypeVar("R", bound=ExportItem)


@dataclasses.dataclass(frozen=True)
class PohodaStatus:
    """What `GET {base}/status` said."""

    up: bool
    http_status: int | None
    detail: str


@dataclasses.dataclass(frozen=True)
class PohodaCheck:
    """What one authenticated request (a one-record address-book list) showed: is mServer
    up, does it take these credentials, does the accounting unit answer for this IČO."""

    url: str
    user: str
    ico: str
    up: bool = False
    signed_in: bool = False
    ico_ok: bool = False
    records: int = 0
    seconds: float = 0.0
    problem: str = ""
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.up and self.signed_in and self.ico_ok

    def summary(self) -> str:
        """One line for people."""
        if self.ok:
            return (
                f"up: user {self.user!r} signed in, the accounting unit with IČO {self.ico} answers "
                f"(a one-record address-book read gave {self.records}, in {self.seconds:.2f} s)"
            )
        state = "DOWN" if not self.up else "up, but not usable"
        return f"{state}: {self.problem}" + (f"; {self.fix}" if self.fix else "")

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "ok": self.ok}


@dataclasses.dataclass
class RequestCounter:
    """Requests this client sent (attempts, retries included), by endpoint."""

    xml: int = 0
    status: int = 0

    @property
    def total(self) -> int:
        return self.xml + self.status


class PohodaClient:
    """Talks to one POHODA mServer as one user, for one company (ICO)."""

    def __init__(
        self,
        config: PohodaConfig,
        password: str,
        *,
        run_id: str | None = None,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        breaker: CircuitBreaker | None = None,
        gate: Callable[[], AbstractContextManager[None]] | None = None,
    ) -> None:
        if not config.url:
            raise ConfigError("[pohoda] url is required (set it in the file or as CONNECTOR_POHODA_URL)")
        if not config.user:
            raise ConfigError("[pohoda] user is required (set it in the file or as CONNECTOR_POHODA_USER)")
        if not config.ico:
            raise ConfigError("[pohoda] ico is required (set it in the file or as CONNECTOR_POHODA_ICO)")
        self.config = config
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.policy = policy or RetryPolicy(max_total_s=config.retry_max_s)
        self.codec = PohodaCodec(
            ico=config.ico,
            ex_system=config.ex_system,
            application=config.application,
            schema_dir=config.schema_dir,
            truncate_long_values=config.truncate_long_values,
        )
        credentials = f"{config.user}:{password}".encode("cp1250", errors="strict")
        headers = {
            "STW-Authorization": "Basic " + base64.b64encode(credentials).decode("ascii"),
            "STW-Application": config.application,
            "STW-Instance": self.run_id,
            "Content-Type": "text/xml",
            "Accept-Encoding": "gzip",
        }
        if config.check_duplicity:
            headers["STW-Check-Duplicity"] = "true"
        self._http = make_client(
            config.url.rstrip("/"),
            connect_timeout_s=config.connect_timeout_s,
            read_timeout_s=config.read_timeout_s,
            headers=headers,
            transport=transport,
            max_response_bytes=config.max_response_mb * 1024 * 1024,
        )
        self._one_at_a_time = threading.Lock()
        # Held around each /xml exchange (not the retries' sleeps): the store's lock that keeps
        # one request in flight to this mServer across processes.
        self._gate = gate or contextlib.nullcontext
        self._pack_seq = 0
        self.requests = RequestCounter()
        # Shared by every call of this client: once POHODA failed, the rest fail fast.
        self.breaker = breaker or CircuitBreaker()
        self.max_response_bytes = config.max_response_mb * 1024 * 1024

    @classmethod
    def from_config(cls, config: Config, **kwargs: Any) -> PohodaClient:
        config.require("pohoda.url", "pohoda.user", "pohoda.ico", "pohoda_password")
        assert config.secrets.pohoda_password is not None
        return cls(config.pohoda, config.secrets.pohoda_password, **kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PohodaClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- HTTP ---------------------------------------------------------------------------

    def status(self) -> PohodaStatus:
        """Ask `GET /status`; never raises for a down server, says so instead."""

        def attempt() -> httpx.Response:
            self.requests.status += 1
            return self._http.get("/status")

        try:
            response = send(attempt, peer=PEER, policy=self.policy, unreachable=PohodaUnreachable, keys=KEYS)
        except PohodaUnreachable as exc:
            return PohodaStatus(up=False, http_status=None, detail=str(exc))
        return PohodaStatus(up=True, http_status=response.status_code, detail=response.text.strip()[:200])

    def check(self) -> PohodaCheck:
        """One authenticated request, a one-record address-book list: unlike `GET /status`
        (which mServer answers without credentials), it fails on a wrong user, password or
        IČO. Never raises for a peer's answer; says what is wrong and what to fix instead.
        Bounded by this client's retry policy and timeouts."""
        config = self.config
        found = PohodaCheck(url=safe_url(str(config.url)), user=str(config.user), ico=str(config.ico))
        started = time.monotonic()
        body = self.codec.encode_list_request(pack_id=self._next_pack_id("check"), id_from=1, count=1)
        try:
            records = sum(1 for _ in self.codec.iter_export(self.post_xml(body)))
        except PohodaUnreachable as exc:
            return dataclasses.replace(
                found, problem=str(exc), fix="check [pohoda] url and that mServer is started for this company"
            )
        except PeerConfigurationError as exc:
            # The transport's message names the keys ([pohoda] user and CONNECTOR_POHODA_PASSWORD
            # for a 401, [pohoda] url for a 404).
            return dataclasses.replace(found, up=True, problem=str(exc))
        except PohodaRefused as exc:
            # A pack refused as a whole on a valid one-record list: mServer serves another
            # accounting unit than dataPack@ico names (data-package.xsd: ico must match).
            return dataclasses.replace(
                found,
                up=True,
                signed_in=True,
                problem=f"POHODA refused a request for IČO {config.ico}: {exc.note or exc}",
                fix="check [pohoda] ico against the accounting unit the mServer configuration serves",
            )
        except BadData as exc:
            return dataclasses.replace(found, up=True, problem=f"the answer could not be read: {exc}")
        return dataclasses.replace(
            found, up=True, signed_in=True, ico_ok=True, records=records, seconds=round(time.monotonic() - started, 3)
        )

    def probe(self, *, timeout_s: float = 3.0) -> bool:
        """One quick `GET /status` (no retries): False trips the breaker, so a run with
        POHODA switched off takes the async path at once instead of waiting out retries."""

        def attempt() -> httpx.Response:
            self.requests.status += 1
            return self._http.get("/status", timeout=timeout_s)

        once = RetryPolicy(max_total_s=0.0)
        try:
            send(attempt, peer=PEER, policy=once, unreachable=PohodaUnreachable, keys=KEYS)
        except PohodaUnreachable as exc:
            self.breaker.trip(str(exc))
            return False
        return True

    def post_xml(self, body: bytes) -> bytes:
        """POST one dataPack to `/xml` and return the responsePack's bytes (gunzipped)."""
        if self.breaker.is_open:
            raise PohodaUnreachable(f"{PEER} is not called again for now (it failed: {self.breaker.reason})")
        payload = gzip.compress(body, compresslevel=5) if self.config.gzip else body
        headers = {"Content-Encoding": "gzip"} if self.config.gzip else {}

        def attempt() -> httpx.Response:
            with self._gate():
                self.requests.xml += 1
                return self._http.post("/xml", content=payload, headers=headers)

        with self._one_at_a_time:
            try:
                response = send(attempt, peer=PEER, policy=self.policy, unreachable=PohodaUnreachable, keys=KEYS)
            except PohodaUnreachable as exc:
                self.breaker.trip(str(exc))
                raise
        content = response.content  # httpx has already undone Content-Encoding: gzip
        if len(content) > self.max_response_bytes:
            raise MalformedXML(f"{PEER}: the answer is larger than {self.config.max_response_mb} MB")
        return content

    def _next_pack_id(self, kind: str) -> str:
        self._pack_seq += 1
        return f"{kind}-{self.run_id}-{self._pack_seq}"

    # -- writes -------------------------------------------------------------------------

    def apply(self, writes: Sequence[AddressBookWrite]) -> list[ItemResult]:
        """Send writes in dataPacks of `batch_size` items; one result per write, in order.

        A write the codec cannot encode (a field too long, characters Windows-1250 cannot
        carry) gets an error result naming the field and is not sent; the others go on. A
        pack-level refusal raises PohodaRefused; an unreachable server PohodaUnreachable.
        """
        results: list[ItemResult] = []
        size = self.config.batch_size
        for start in range(0, len(writes), size):
            chunk = writes[start : start + size]
            results.extend(self._apply_chunk(chunk))
        return results

    def _apply_chunk(self, writes: Sequence[AddressBookWrite]) -> list[ItemResult]:
        encoded = self.codec.encode_import(writes, pack_id=self._pack_id_for(writes))
        by_item: dict[str, ItemResult] = {}
        if encoded.body is not None:
            answer = self.codec.decode_response(self.post_xml(encoded.body))
            if answer.state == "error":
                raise PohodaRefused(f"{PEER} refused the whole dataPack: {answer.note}", note=answer.note or "")
            by_item = {item.item_id: item for item in answer.items}
        results = []
        for report in encoded.reports:
            if report.error is not None:
                results.append(ItemResult.refused_locally(report))
                continue
            item = by_item.get(report.item_id)
            if item is None:
                item = ItemResult.missing(report)
            results.append(item.with_report(report))
        return results

    def _pack_id_for(self, writes: Sequence[AddressBookWrite]) -> str:
        # The pack id is derived from its items (record, version) so that a replay of the same
        # batch after a crash carries the same (pack id, item id) pairs and POHODA refuses it
        # as a duplicate instead of importing it twice.
        return self.codec.pack_id(writes)

    # -- reads --------------------------------------------------------------------------

    def snapshot(
        self,
        *,
        page_size: int = EXPORT_PAGE_SIZE,
        on_bad_record: BadRecord | None = None,
        lookahead: bool = False,
    ) -> Iterator[Contact]:
        """Every contact in the address book, page by page, in id order.

        With `lookahead`, the next page is requested while this one is read (see `_paged`)."""
        return self._paged(
            last_changes=None,
            page_size=page_size,
            on_bad_record=on_bad_record,
            lookahead=lookahead,
            export=self.codec.iter_export,
        )

    def changes_since(
        self, since: dt.datetime, *, page_size: int = EXPORT_PAGE_SIZE, on_bad_record: BadRecord | None = None
    ) -> Iterator[Contact]:
        """Contacts changed at or after `since` (POHODA's lastChanges; no deletions).

        With `on_bad_record`, a record that fails the schema or the model on its own is
        handed to it and the others come out (see `PohodaCodec.iter_export`)."""
        return self._paged(
            last_changes=since, page_size=page_size, on_bad_record=on_bad_record, export=self.codec.iter_export
        )

    def snapshot_digests(self, *, page_size: int = EXPORT_PAGE_SIZE) -> Iterator[AddressbookDigest | Contact]:
        """`snapshot` for a full comparison (the next page on its way while this one is
        read): each record the fast path reads as its digest, the others as their contacts."""
        return self._paged(
            last_changes=None, page_size=page_size, lookahead=True, export=self.codec.iter_export_digests
        )

    def _paged(
        self,
        *,
        last_changes: dt.datetime | None,
        page_size: int,
        on_bad_record: BadRecord | None = None,
        lookahead: bool = False,
        export: Callable[..., ExportStream[R]],
    ) -> Iterator[R]:
        """The pages from id 1 on, each after the last id of the one before.

        With `lookahead`, the page after this one is requested (in a thread of its own, in
        this context: the same retries and deadline) while this one is read: its idFrom is
        guessed from the page's bytes (the highest `adb:id` of a full page). The guess is
        only used when the page, read as always, says the same; else the answer is dropped
        and the right page requested. A request waits for the one before (mServer takes one
        at a time), so at most two pages are held: the one read and the one arriving.
        """

        def request(id_from: int) -> bytes:
            body = self.codec.encode_list_request(
                pack_id=self._next_pack_id("list"),
                last_changes=last_changes,
                id_from=id_from,
                count=page_size,
            )
            return self.post_xml(body)

        ahead = RequestAhead(request, enabled=lookahead, name="pohoda-ahead")
        try:
            id_from = 1
            page = ahead.fetch(id_from)
            while True:
                ahead.guess(_next_id_from(page, page_size))
                seen = 0
                last_id = 0
                set_aside: list[str | None] = []  # the ids of records handed to on_bad_record

                def aside(error: BadData, into: list[str | None] = set_aside) -> None:
                    into.append(record_id_of(error))
                    if on_bad_record is not None:
                        on_bad_record(error)

                for contact in export(page, on_bad_record=aside if on_bad_record is not None else None):
                    seen += 1
                    if contact.id is not None and contact.id.isdigit():
                        last_id = max(last_id, int(contact.id))
                    yield contact
                # A record set aside still counts for paging: the page was full and may end at it.
                for record_id in set_aside:
                    seen += 1
                    if record_id is not None:
                        last_id = max(last_id, int(record_id))
                if seen < page_size or last_id == 0:
                    return
                id_from = last_id + 1
                page = ahead.fetch(id_from)
        finally:
            ahead.close()

    def ext_ids_of(self, pohoda_ids: Iterable[str]) -> dict[str, str | None]:
        """The e-shop id (extId of our system) each of these records carries now, read back
        by one export per run of close ids; a record POHODA does not have is left out."""
        numbers = sorted({int(i) for i in pohoda_ids if i.isdigit()})
        found: dict[str, str | None] = {}
        start = 0
        while start < len(numbers):
            # A run of ids whose span stays near its size: one export of that id range.
            end = start + 1
            while end < len(numbers) and numbers[end] - numbers[start] < 2 * (end - start + 1) + 50:
                end += 1
            low, high = numbers[start], numbers[end - 1]
            body = self.codec.encode_list_request(
                pack_id=self._next_pack_id("check"), id_from=low, count=min(high - low + 1, 10_000)
            )
            wanted = {str(n) for n in numbers[start:end]}
            for contact in self.codec.iter_export(self.post_xml(body)):
                if contact.id in wanted:
                    found[contact.id] = contact.ext_id
            start = end
        return found

    def get(self, *, pohoda_id: str | None = None, ext_id: str | None = None) -> Contact | None:
        """One contact by POHODA id or by the e-shop's extId, or None."""
        body = self.codec.encode_list_request(pack_id=self._next_pack_id("get"), pohoda_id=pohoda_id, ext_id=ext_id)
        for contact in self.codec.iter_export(self.post_xml(body)):
            return contact
        return None


class PohodaPeer:
    """POHODA mServer as the sync's HQ side: the address book through `PohodaClient`.

    The pull's cursor is the time a poll *started*, less an overlap: lastChanges has
    one-second resolution and the two clocks may differ a little; what is read twice is an
    echo. POHODA never reports deletions in lastChanges (reconcile finds them).
    """

    side: SideName = "pohoda"
    label = PEER
    capabilities = Capabilities(sends_welcome_email=False, stores_external_id=True)

    def __init__(self, client: PohodaClient, *, page_size: int = EXPORT_PAGE_SIZE) -> None:
        self.client = client
        self.batch_size = client.config.batch_size
        self.page_size = page_size

    @classmethod
    def from_config(cls, config: Config, **kwargs: Any) -> PohodaPeer:
        return cls(PohodaClient.from_config(config, **kwargs))

    @property
    def available(self) -> bool:
        return not self.client.breaker.is_open

    @property
    def unavailable_reason(self) -> str:
        return self.client.breaker.reason or ""

    def probe(self) -> bool:
        return self.client.probe()

    def close(self) -> None:
        self.client.close()

    @staticmethod
    def _record(contact: Contact) -> PeerRecord:
        assert contact.id is not None
        return PeerRecord(contact.id, contact.replace(id=None, ext_id=None), other_id=contact.ext_id)

    def changes(self, cursor: str | None) -> Iterator[ChangeBatch]:
        started = dt.datetime.now(dt.UTC)
        refused: list[BadData] = []

        def aside(error: BadData) -> None:
            # The sync names records by this side's id: "POHODA 7" is record "7" here.
            error.record = record_id_of(error) or error.record
            refused.append(error)

        if cursor:
            contacts = self.client.changes_since(dt.datetime.fromisoformat(cursor), on_bad_record=aside)
        else:
            contacts = self.client.snapshot(on_bad_record=aside)
        batch: list[PeerRecord] = []
        for contact in contacts:
            batch.append(self._record(contact))
            if len(batch) == self.page_size:
                yield ChangeBatch(batch, refused=tuple(refused))
                batch, refused[:] = [], []
        yield ChangeBatch(batch, (started - CHANGES_OVERLAP).isoformat(), refused=tuple(refused))

    def snapshot(self) -> Iterator[PeerRecord]:
        # A full read: the next page is on its way while this one is read.
        for contact in self.client.snapshot(page_size=self.page_size, lookahead=True):
            yield self._record(contact)

    def snapshot_fingerprinted(self) -> Iterator[PeerRecord | Fingerprinted[PeerRecord]]:
        """`snapshot`, each record the export's fast path reads given as its fingerprint (its
        `decode()` is the record `snapshot` yields); the others as their records."""
        for item in self.client.snapshot_digests(page_size=self.page_size):
            if isinstance(item, AddressbookDigest):
                assert item.id is not None
                decode = functools.partial(self._decoded, item)
                yield Fingerprinted(item.id, item.ext_id, None, item.fingerprint, decode)
            else:
                yield self._record(item)

    def _decoded(self, item: AddressbookDigest) -> PeerRecord:
        return self._record(item.contact())

    def get(self, record_id: str) -> PeerRecord | None:
        contact = self.client.get(pohoda_id=record_id)
        return None if contact is None else self._record(contact)

    def apply(self, writes: Sequence[PeerWrite]) -> list[WriteResult]:
        results = [self._result(item) for item in self.client.apply([self._wire(w) for w in writes])]
        return self._verified(writes, results)

    def _verified(self, writes: Sequence[PeerWrite], results: list[WriteResult]) -> list[WriteResult]:
        """Each answer checked against the record it claims to be, before the sync links it.

        mServer is reached over plain HTTP and its answer only pairs item ids with produced
        ids: an update must produce the record it was sent to, and a created record must
        carry the e-shop id it was created with (read back by an export of the produced
        ids). A mismatch is refused: the sync then links nothing, and the record that POHODA
        did create is found by its extId at the next pull.
        """
        checked = list(results)
        created: dict[str, list[int]] = {}
        for index, (write, result) in enumerate(zip(writes, results, strict=True)):
            if not result.ok or result.record_id is None:
                continue
            if write.record_id is not None and result.record_id != write.record_id:
                checked[index] = _mismatch(result.record_id, "is not the record the update was sent to")
            elif write.record_id is None and write.kind == "create":
                created.setdefault(result.record_id, []).append(index)
        if created:
            carried = self.client.ext_ids_of(created)
            for pohoda_id, indexes in created.items():
                for index in indexes:
                    if carried.get(pohoda_id) != writes[index].other_id or len(indexes) > 1:
                        checked[index] = _mismatch(pohoda_id, "does not carry the e-shop id this item was sent with")
        return checked

    @staticmethod
    def _wire(write: PeerWrite) -> AddressBookWrite:
        if write.kind == "delete":
            return AddressBookWrite.delete(version=write.ref, pohoda_id=write.record_id, ext_id=write.other_id)
        if write.kind == "link":
            raise ValueError("POHODA learns the e-shop id through an update (typ:extId), not a link write")
        assert write.contact is not None
        contact = write.contact.replace(ext_id=write.other_id)
        if write.kind == "create" or write.record_id is None:
            # An upsert keyed by the e-shop id: a replay or a lost answer makes no second contact.
            return AddressBookWrite.upsert(contact, version=write.ref)
        return AddressBookWrite.update(contact, version=write.ref, pohoda_id=write.record_id)

    @staticmethod
    def _result(item: ItemResult) -> WriteResult:
        if not item.ok:
            return WriteResult(
                "refused",
                reason=item.note or "refused",
                field=item.error.field if item.error is not None else None,
                errors=tuple(d.note or "" for d in item.errors),
                warnings=tuple(w.message for w in item.warnings),
            )
        return WriteResult(
            "done",
            record_id=item.pohoda_id,
            warnings=tuple(w.message for w in item.warnings),
            replay=item.duplicate,
            other_id=item.ext_id,
        )


_RECORD_ID = re.compile(rb"<adb:id>\s*(\d+)\s*</adb:id>")


def _next_id_from(page: bytes, page_size: int) -> int | None:
    """The idFrom of the page after `page`, as its bytes suggest (None: it looks like the
    last page). A guess: only `_paged`'s reading of the page decides."""
    ids = _RECORD_ID.findall(page)
    if len(ids) < page_size:
        return None
    return max(int(i) for i in ids) + 1


def _mismatch(pohoda_id: str, why: str) -> WriteResult:
    return WriteResult(
        "refused",
        reason=f"POHODA's answer names record {pohoda_id}, which {why}; not linked (checked again at the next pull)",
        field="id",
    )
