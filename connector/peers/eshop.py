"""The e-shop client: the change feed, a full snapshot, one customer, and writes in batches.

Speaks docs/eshop-protocol.md through the shared transport's retry policy; every body it
sends or reads is built or read by `connector.codec.eshop` and so checked against the schema.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterator, Sequence, Sized
from typing import Any, Protocol, TypeVar, cast

import httpx

from connector.codec import Fingerprinted
from connector.codec import eshop as codec
from connector.codec.eshop import (
    ChangePage,
    CustomerDigest,
    DigestPage,
    ErrorReport,
    EshopChange,
    EshopCustomer,
    EshopResult,
    EshopWrite,
    SyncState,
)
from connector.config import Config, EshopConfig
from connector.errors import (
    BadData,
    ConfigError,
    EshopUnreachable,
    MalformedXML,
    PeerConfigurationError,
    PeerRefused,
)
from connector.log import get_logger
from connector.peers.base import (
    Capabilities,
    ChangeBatch,
    PeerRecord,
    PeerWrite,
    SideName,
    WithoutBreaker,
    WriteResult,
)
from connector.transport import PeerKeys, RequestAhead, RetryPolicy, make_client, send

log = get_logger(__name__)

PEER = "e-shop"
# The e-shop signs in with a bearer token, not a user name and a password.
KEYS = PeerKeys(url="[eshop] url", credentials="CONNECTOR_ESHOP_TOKEN", rejected="check the token")
FEED_PAGE_SIZE = 500


@dataclasses.dataclass
class RequestCounter:
    """Requests this client sent (attempts, retries included), by endpoint."""

    changes: int = 0
    get: int = 0
    batch: int = 0

    @property
    def total(self) -> int:
        return self.changes + self.get + self.batch


class EshopClient:
    """Talks to one e-shop with one bearer token.

    - `changes(cursor)` yields the feed's pages after `cursor` (None or "": from the start);
      resume later from the last page's `next_cursor`.
    - `snapshot()` yields every customer.
    - `get(id)` returns one customer, or None when the e-shop does not know it.
    - `apply(writes)` sends creates, updates and links in `POST /batch` calls of
      `config.batch_size`, and returns one `EshopResult` per write, in order.

    Transport failures follow the shared policy: EshopUnreachable after the bounded retries,
    PeerConfigurationError at once on 401/403/404/405; an answer that fails the schema raises
    MalformedXML or SchemaViolation.
    """

    def __init__(
        self,
        config: EshopConfig,
        token: str,
        *,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not config.url:
            raise ConfigError("[eshop] url is required (set it in the file or as CONNECTOR_ESHOP_URL)")
        if not token:
            raise ConfigError("the e-shop token is empty (set CONNECTOR_ESHOP_TOKEN)")
        self.config = config
        self.policy = policy or RetryPolicy(max_total_s=config.retry_max_s)
        self.requests = RequestCounter()
        self._http = make_client(
            config.url.rstrip("/"),
            connect_timeout_s=config.connect_timeout_s,
            read_timeout_s=config.read_timeout_s,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": codec.CONTENT_TYPE,
                "Content-Type": codec.CONTENT_TYPE,
            },
            transport=transport,
        )

    @classmethod
    def from_config(cls, config: Config, **kwargs: Any) -> EshopClient:
        config.require("eshop.url", "eshop_token")
        assert config.secrets.eshop_token is not None
        return cls(config.eshop, config.secrets.eshop_token, **kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EshopClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- reads ------------------------------------------------------------------------------

    def changes(
        self, cursor: str | None = None, *, page_size: int = FEED_PAGE_SIZE, lookahead: bool = False
    ) -> Iterator[ChangePage]:
        """Every page of the feed after `cursor`, in order, until the e-shop says no more.

        The last page's `next_cursor` is where the next run starts; store it only once the
        changes are safely persisted (the feed may be read again from an older cursor).

        With `lookahead`, the next page is requested while this one is read: its cursor is
        guessed from the page's first bytes, and the answer used only when the page, read
        as always, names the same cursor (`RequestAhead`).
        """
        return self._pages(cursor, page_size=page_size, lookahead=lookahead, decode=codec.decode_changes)

    def digests(self, *, page_size: int = FEED_PAGE_SIZE) -> Iterator[DigestPage]:
        """The whole feed from its start for a full comparison, read by `digest_changes`
        (each customer fingerprinted, decoded in full only when asked), the next page on its
        way while this one is read."""
        return self._pages(None, page_size=page_size, lookahead=True, decode=codec.digest_changes)

    def _pages(
        self, cursor: str | None, *, page_size: int, lookahead: bool, decode: Callable[[bytes], _P]
    ) -> Iterator[_P]:
        def request(current: str) -> bytes:
            params = {"cursor": current, "limit": str(page_size)}

            def attempt() -> httpx.Response:
                self.requests.changes += 1
                return self._http.get("/customers/changes", params=params)

            return send(attempt, peer=PEER, policy=self.policy, unreachable=EshopUnreachable, keys=KEYS).content

        ahead = RequestAhead(request, enabled=lookahead, name="eshop-ahead")
        try:
            current = cursor or ""
            while True:
                body = ahead.fetch(current)
                ahead.guess(_next_cursor(body))
                page = decode(body)
                log.debug("eshop.changes", changes=len(page.changes), has_more=page.has_more)
                yield page
                if not page.has_more:
                    return
                if page.next_cursor == current and not page.changes:
                    # A feed that says "more" without moving would be read forever.
                    raise MalformedXML(f"{PEER}: the change feed says hasMore but its cursor does not advance")
                current = page.next_cursor
        finally:
            ahead.close()

    def snapshot(self, *, page_size: int = FEED_PAGE_SIZE) -> Iterator[EshopCustomer]:
        """Every existing customer: the whole feed from its start, tombstones left out (the
        next page requested while this one is read)."""
        for page in self.changes(None, page_size=page_size, lookahead=True):
            for change in page.changes:
                if change.customer is not None:
                    yield change.customer

    def get(self, customer_id: str) -> EshopCustomer | None:
        """One customer with its current version, or None when the e-shop answers 404 not_found."""
        last: list[httpx.Response] = []

        def attempt() -> httpx.Response:
            self.requests.get += 1
            response = self._http.get(f"/customers/{customer_id}")
            last[:] = [response]
            return response

        try:
            response = send(attempt, peer=PEER, policy=self.policy, unreachable=EshopUnreachable, keys=KEYS)
        except PeerConfigurationError as exc:
            # A 404 carrying the protocol's <error> means "no such customer"; any other 404
            # (a web server's page) means the URL is wrong, which the transport says already.
            if exc.status_code == 404 and last and codec.looks_like_error(last[0].content):
                return None
            raise
        return codec.decode_customer(response.content)

    def probe(self, *, timeout_s: float = 3.0) -> bool:
        """One quick authenticated read (a customer that does not exist), no retries: True
        when the e-shop answers it as the protocol says."""

        last: list[httpx.Response] = []

        def attempt() -> httpx.Response:
            self.requests.get += 1
            last[:] = [self._http.get("/customers/0", timeout=timeout_s)]
            return last[0]

        try:
            send(attempt, peer=PEER, policy=RetryPolicy(max_total_s=0.0), unreachable=EshopUnreachable, keys=KEYS)
        except PeerConfigurationError as exc:
            # The protocol's own "no such customer" is an answer; a web server's 404 is not.
            return exc.status_code == 404 and bool(last) and codec.looks_like_error(last[0].content)
        except (EshopUnreachable, PeerRefused):
            return False
        return True

    # -- writes -----------------------------------------------------------------------------

    def apply(self, writes: Sequence[EshopWrite]) -> list[EshopResult]:
        """Send the writes in batches of `batch_size`; one result per write, in order.

        A write that cannot be encoded (a field too long, a bad id) gets a result with
        `sent=False`, status 422 and the field named, and the others go on. Results carry
        `ref` = the write's position in `writes`.
        """
        results: list[EshopResult] = []
        size = self.config.batch_size
        for start in range(0, len(writes), size):
            results.extend(self._apply_chunk(writes[start : start + size], offset=start))
        return results

    def _apply_chunk(self, writes: Sequence[EshopWrite], *, offset: int) -> list[EshopResult]:
        refs = [str(offset + i) for i in range(len(writes))]
        local: dict[str, EshopResult] = {}
        to_send: list[tuple[str, EshopWrite]] = []
        for ref, write in zip(refs, writes, strict=True):
            try:
                codec.check_write(write)
            except BadData as exc:
                local[ref] = EshopResult(
                    ref, 422, id=write.id, error=ErrorReport("invalid", str(exc), exc.field), sent=False
                )
            else:
                to_send.append((ref, write))
        answered: dict[str, EshopResult] = {}
        if to_send:
            body = codec.encode_batch([w for _, w in to_send], [r for r, _ in to_send])

            def attempt() -> httpx.Response:
                self.requests.batch += 1
                return self._http.post("/batch", content=body)

            response = send(attempt, peer=PEER, policy=self.policy, unreachable=EshopUnreachable, keys=KEYS)
            answered = {result.ref: result for result in codec.decode_batch_result(response.content)}
        results: list[EshopResult] = []
        for ref, write in zip(refs, writes, strict=True):
            if ref in local:
                results.append(local[ref])
                continue
            result = answered.get(ref)
            if result is None:
                # The e-shop skipped the item: not known to be applied; safe to send again.
                result = EshopResult(ref, 502, error=ErrorReport("no_answer", f"{PEER} gave no result for this item"))
            if result.id is None and write.id is not None:
                result = dataclasses.replace(result, id=write.id)
            results.append(result)
        log.debug(
            "eshop.batch",
            items=len(writes),
            ok=sum(r.ok for r in results),
            conflicts=sum(r.conflict for r in results),
            refused=sum(not r.ok and not r.conflict for r in results),
        )
        return results


class _Page(Protocol):
    @property
    def changes(self) -> Sized: ...

    @property
    def next_cursor(self) -> str: ...

    @property
    def has_more(self) -> bool: ...


_P = TypeVar("_P", bound=_Page)
_FEED_HEAD = re.compile(rb'<changes [^>]*?hasMore="true"')
_NEXT_CURSOR = re.compile(rb'<changes [^>]*?nextCursor="([A-Za-z0-9._:-]*)"')


def _next_cursor(body: bytes) -> str | None:
    """The cursor of the page after this one as its root element's start suggests (None:
    the page looks like the last). A guess: `changes` decides on the page as read."""
    head = body[:1024]
    found = _NEXT_CURSOR.search(head)
    if found is None or _FEED_HEAD.search(head) is None:
        return None
    return found.group(1).decode("ascii")


class ConnectorShop(WithoutBreaker):
    """The e-shop side over the project's own protocol (`platform = "connector"`), as a Peer.

    The shop sends its own welcome e-mail (a create asks it to) and keeps POHODA's id on
    the account (`hqId`). A feed cursor the shop no longer keeps (410) is read again from
    the start: what did not change since the last run is recognised as an echo.
    """

    side: SideName = "eshop"
    label = PEER
    capabilities = Capabilities(sends_welcome_email=True, stores_external_id=True)

    def __init__(self, client: EshopClient, *, page_size: int = FEED_PAGE_SIZE) -> None:
        self.client = client
        self.batch_size = client.config.batch_size
        # Changes per feed page: the sync plans and persists a chunk of pages at a time.
        self.page_size = page_size

    @classmethod
    def from_config(cls, config: Config, **kwargs: Any) -> ConnectorShop:
        return cls(EshopClient.from_config(config, **kwargs))

    def probe(self) -> bool:
        return self.client.probe()

    def close(self) -> None:
        self.client.close()

    @staticmethod
    def _record(change_id: str, customer: EshopCustomer | None, version: str | None) -> PeerRecord:
        if customer is None:
            return PeerRecord(change_id, None, version=version)
        # A temporary GUID is not POHODA's id: only a synced account carries a real one.
        other = customer.hq_id if customer.sync_state == "synced" else None
        return PeerRecord(change_id, customer.contact.replace(id=None, ext_id=None), version=version, other_id=other)

    def changes(self, cursor: str | None) -> Iterator[ChangeBatch]:
        try:
            yield from self._feed(cursor)
        except PeerRefused as exc:
            if exc.status_code != 410 or not cursor:
                raise
            log.warning("eshop.cursor_expired")
            yield from self._feed(None)

    def _feed(self, cursor: str | None) -> Iterator[ChangeBatch]:
        for page in self.client.changes(cursor, page_size=self.page_size):
            records = [self._record(change.id, change.customer, change.version) for change in page.changes]
            yield ChangeBatch(records, page.next_cursor, refused=page.refused)

    def snapshot(self) -> Iterator[PeerRecord]:
        for customer in self.client.snapshot():
            assert customer.id is not None
            yield self._record(customer.id, customer, customer.version)

    def snapshot_fingerprinted(self) -> Iterator[PeerRecord | Fingerprinted[PeerRecord]]:
        """`snapshot`, each customer the feed's fast path reads given as its fingerprint (its
        `decode()` is the record `snapshot` yields); the others as their records."""
        for page in self.client.digests(page_size=self.page_size):
            for entry in page.changes:
                if isinstance(entry, CustomerDigest):
                    other = entry.hq_id if entry.sync_state == "synced" else None
                    decode = functools.partial(self._decoded, entry)
                    yield Fingerprinted(entry.id, other, entry.version, entry.fingerprint, decode)
                elif entry.customer is not None:
                    yield self._record(entry.id, entry.customer, entry.customer.version)

    def _decoded(self, entry: CustomerDigest) -> PeerRecord:
        customer = entry.customer()
        return self._record(customer.id, customer, customer.version)

    def get(self, record_id: str) -> PeerRecord | None:
        customer = self.client.get(record_id)
        return None if customer is None else self._record(record_id, customer, customer.version)

    def apply(self, writes: Sequence[PeerWrite]) -> list[WriteResult]:
        answers = self.client.apply([self._wire(write) for write in writes])
        return [self._result(answer) for answer in answers]

    @staticmethod
    def _wire(write: PeerWrite) -> EshopWrite:
        sync_state = cast("SyncState | None", write.sync_state)
        if write.kind == "create":
            assert write.contact is not None and write.idempotency_key is not None
            return EshopWrite.create(
                write.contact,
                idempotency_key=write.idempotency_key,
                send_welcome=write.send_welcome,
                hq_id=write.other_id,
                sync_state=sync_state,
            )
        assert write.record_id is not None
        if write.kind == "link":
            return EshopWrite.link(write.record_id, write.other_id, sync_state)
        if write.kind == "update":
            assert write.contact is not None
            return EshopWrite.update(write.record_id, write.contact, write.expected_version or "")
        raise ValueError(f"the e-shop protocol has no {write.kind!r} write")

    @staticmethod
    def _result(answer: EshopResult) -> WriteResult:
        if answer.conflict:
            return WriteResult("conflict", record_id=answer.id, reason=answer.message)
        if answer.error is not None and answer.error.code == "email_taken" and answer.id:
            return WriteResult("taken", record_id=answer.id, reason=answer.message, field=answer.field)
        if not answer.ok:
            return WriteResult(
                "refused", record_id=answer.id, reason=answer.message or f"HTTP {answer.status}", field=answer.field
            )
        return WriteResult("done", record_id=answer.id, version=answer.version, replay=answer.replayed)


__all__ = [
    "FEED_PAGE_SIZE",
    "ChangePage",
    "ConnectorShop",
    "ErrorReport",
    "EshopChange",
    "EshopClient",
    "EshopCustomer",
    "EshopResult",
    "EshopWrite",
    "RequestCounter",
    "SyncState",
]
