"""The e-shop side on Shoptet (premium private API, `/api/customers`), as a Peer.

The pull reads Shoptet's change log (`/api/customers/changes`: 30 days, each customer's last
change, creations as `edit`) and fetches each changed customer; a first run, or a cursor older
than the log, reads the full list. Shoptet has no field for an external id: the links in the
store are the only mapping (`stores_external_id=False`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from connector.codec import shoptet as codec
from connector.codec.shoptet import ShoptetCustomer
from connector.config import Config, EshopConfig
from connector.errors import (
    BadData,
    ConfigError,
    Conflict,
    EshopUnreachable,
    PeerConfigurationError,
    PeerRefused,
    RetryableTransportError,
)
from connector.log import get_logger
from connector.model import Contact
from connector.peers.base import (
    Capabilities,
    ChangeBatch,
    PeerRecord,
    PeerWrite,
    SideName,
    WithoutBreaker,
    WriteResult,
)
from connector.transport import RetryPolicy, make_client, send

log = get_logger(__name__)

PEER = "Shoptet"
DEFAULT_URL = "https://api.myshoptet.com"
TOKEN_HEADER = "Shoptet-Private-API-Token"  # noqa: S105 - a header name
# "A maximum of 3 connections for a single token" (OpenAPI, Rate limiting): more get 429.
MAX_IN_FLIGHT = 3
# "Guaranteed history is 30 days" (getLastCustomerChanges): a cursor older than this (with a
# day's margin for clocks) may have lost changes, so the full list is read instead.
HISTORY = dt.timedelta(days=29)
# 423: "the same request ... while the first one is being processed", locked at most 5 s
# (OpenAPI, Locks): waited out and sent again.
LOCKED_RETRY_S = 1.0
CURSOR_PREFIX = "st1:"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


@dataclasses.dataclass
class RequestCounter:
    """Requests sent (attempts, retries included), by purpose."""

    changes: int = 0
    list: int = 0
    get: int = 0
    write: int = 0
    lookup: int = 0
    locked: int = 0


def _parse_time(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(value, _TIME_FORMAT)
    except ValueError:
        return None


def _format_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


class ShoptetShop(WithoutBreaker):
    """One Shoptet shop over its private API token.

    E-mail and phone live on the customer's main account, the rest on the customer; an
    update reads the customer first and patches only the part that differs. A create asks
    Shoptet to send its registration e-mail (`sendRegistrationEmail=true`) when the write
    asks for a welcome, so the connector sends none. At most three requests are in flight
    (Shoptet's limit per token); 429 waits for Retry-After, 423 is sent again.
    """

    side: SideName = "eshop"
    label = PEER
    capabilities = Capabilities(sends_welcome_email=True, stores_external_id=False)

    def __init__(
        self,
        config: EshopConfig,
        token: str,
        *,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not token:
            raise ConfigError("Shoptet needs CONNECTOR_ESHOP_TOKEN (the private API token)")
        self.config = config
        self.batch_size = config.batch_size
        self.policy = policy or RetryPolicy(max_total_s=config.retry_max_s)
        self.requests = RequestCounter()
        self._counter_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)
        self._http = make_client(
            (config.url or DEFAULT_URL).rstrip("/"),
            connect_timeout_s=config.connect_timeout_s,
            read_timeout_s=config.read_timeout_s,
            headers={TOKEN_HEADER: token, "Accept": "application/json", "Content-Type": "application/json"},
            transport=transport,
        )

    @classmethod
    def from_config(cls, config: Config, **kwargs: Any) -> ShoptetShop:
        config.require("eshop_token")
        assert config.secrets.eshop_token is not None
        return cls(config.eshop, config.secrets.eshop_token, **kwargs)

    def close(self) -> None:
        self._http.close()

    def storable_content(self, content: dict[str, Any]) -> dict[str, Any]:
        """`content` as Shoptet gives it back (what it cannot hold cleared), for the planner."""
        return codec.storable(Contact.from_dict(content)).content()

    # -- HTTP ---------------------------------------------------------------------------------

    def _count(self, counter: str) -> None:
        with self._counter_lock:
            setattr(self.requests, counter, getattr(self.requests, counter) + 1)

    def _send(self, counter: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        def attempt() -> httpx.Response:
            self._count(counter)
            with self._slots:
                response = self._http.request(method, path, **kwargs)
            if response.status_code == 423:
                self._count("locked")
                raise RetryableTransportError(
                    f"{PEER} answered HTTP 423: the same write is still being processed",
                    status_code=423,
                    retry_after=LOCKED_RETRY_S,
                )
            return response

        last: list[httpx.Response] = []

        def kept() -> httpx.Response:
            response = attempt()
            last[:] = [response]
            return response

        try:
            return send(kept, peer=PEER, policy=self.policy, unreachable=EshopUnreachable)
        except PeerRefused as exc:
            # The transport quotes the body; Shoptet's errors may echo a value sent, so only
            # their codes and the fields they name are kept.
            raise type(exc)(
                f"{PEER} refused: HTTP {exc.status_code} {_error_codes(last)}", status_code=exc.status_code
            ) from None

    def _parallel(self, work: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        if len(items) <= 1:
            return [work(item) for item in items]
        with ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT, thread_name_prefix="shoptet") as pool:
            return list(pool.map(work, items))

    # -- reads --------------------------------------------------------------------------------

    @staticmethod
    def _record(customer: ShoptetCustomer) -> PeerRecord:
        # No external id: the account cannot show POHODA's id (other_id None), the link does.
        return PeerRecord(customer.guid, customer.contact.replace(id=None), version=customer.change_time)

    def _detail(self, guid: str) -> ShoptetCustomer | None:
        """One customer, or None when Shoptet does not know it (or it does not decode)."""
        if not _GUID.match(guid):
            return None
        last: list[int] = []
        try:
            response = self._send("get", "GET", f"/api/customers/{guid}")
        except PeerConfigurationError as exc:
            last.append(exc.status_code or 0)
            if exc.status_code == 404:
                # 404 customer-not-found and a wrong URL look alike; the list and the change
                # log tell the two apart, here the customer is taken as gone.
                return None
            raise
        try:
            return codec.decode_customer(response.json())
        except BadData as exc:
            log.warning("shoptet.bad_customer", record=guid, field=exc.field)
            return None
        except ValueError:
            log.warning("shoptet.bad_customer", record=guid, field=None)
            return None

    def _records(self, guids: Sequence[str]) -> list[PeerRecord]:
        records: list[PeerRecord] = []
        for guid, customer in zip(guids, self._parallel(self._detail, guids), strict=True):
            records.append(self._record(customer) if customer is not None else PeerRecord(guid, None))
        return records

    def _list_guids(self) -> tuple[list[str], dt.datetime | None]:
        """Every customer's guid (the full list) and the newest change time among them."""
        guids: list[str] = []
        newest: dt.datetime | None = None
        page = 1
        while True:
            response = self._send(
                "list", "GET", "/api/customers", params={"page": str(page), "itemsPerPage": str(codec.MAX_LIST_PAGE)}
            )
            listing = codec.decode_list(response.json())
            for item in listing.items:
                guids.append(str(item["guid"]))
                changed = _parse_time(str(item.get("changeTime") or ""))
                if changed is not None and (newest is None or changed > newest):
                    newest = changed
            if page >= listing.page_count or not listing.items:
                break
            page += 1
        return list(dict.fromkeys(guids)), newest

    def _change_page(self, since: str, page: int) -> codec.ShoptetPage:
        # httpx encodes the offset's "+" as %2B (Shoptet reads a raw "+" as a space).
        params = {"from": since, "page": str(page), "itemsPerPage": str(codec.MAX_CHANGES_PAGE)}
        response = self._send("changes", "GET", "/api/customers/changes", params=params)
        return codec.decode_changes(response.json())

    def _change_log(self, since: str) -> list[codec.ShoptetChange]:
        """Every entry after `since`. Pages are read last to first, then the first again: an
        entry that changes again meanwhile moves to the end and pulls the later ones one place
        forward, so reading backwards can read one twice but never skip one."""
        first = self._change_page(since, 1)
        entries = list(first.items)
        if first.page_count <= 1:
            return entries  # one page is read at one moment: nothing can move past it
        for page in range(first.page_count, 0, -1):
            entries.extend(self._change_page(since, page).items)
        return entries

    def changes(self, cursor: str | None) -> Iterator[ChangeBatch]:
        since = _parse_time(cursor[len(CURSOR_PREFIX) :]) if cursor and cursor.startswith(CURSOR_PREFIX) else None
        local_now = dt.datetime.now(dt.UTC)
        if since is not None and since < local_now - HISTORY:
            log.warning("shoptet.cursor_older_than_history")
            since = None
        if since is not None:
            entries = self._change_log(_format_time(since))
            times = [t for t in (_parse_time(e.change_time) for e in entries) if t is not None]
            if times and max(times) - since > HISTORY:
                # The shop's own clock says the log has moved past the cursor's time.
                log.warning("shoptet.cursor_older_than_history")
                since = None
        if since is None:
            guids, newest = self._list_guids()
            start = newest or local_now - dt.timedelta(minutes=5)
            yield from self._batches(guids, [], CURSOR_PREFIX + _format_time(start))
            return
        last: dict[str, str] = {}
        for entry in sorted(entries, key=lambda e: e.change_time):
            last[entry.guid] = entry.change_type
        # The log is inclusive of `from` and has one-second times: starting the next pull at
        # the newest time seen reads that second again (an echo) rather than miss a change.
        newest_time = max(times, default=since)
        edited = [g for g, kind in last.items() if kind != "delete"]
        deleted = [g for g, kind in last.items() if kind == "delete"]
        yield from self._batches(edited, deleted, CURSOR_PREFIX + _format_time(max(newest_time, since)))

    def _batches(self, guids: Sequence[str], deleted: Sequence[str], cursor: str) -> Iterator[ChangeBatch]:
        size = 200
        for start in range(0, len(guids), size):
            yield ChangeBatch(self._records(guids[start : start + size]))
        yield ChangeBatch([PeerRecord(guid, None) for guid in deleted], cursor)

    def snapshot(self) -> Iterator[PeerRecord]:
        guids, _newest = self._list_guids()
        for start in range(0, len(guids), 200):
            for record in self._records(guids[start : start + 200]):
                if record.contact is not None:
                    yield record

    def get(self, record_id: str) -> PeerRecord | None:
        customer = self._detail(record_id)
        return self._record(customer) if customer is not None else None

    # -- writes -------------------------------------------------------------------------------

    def apply(self, writes: Sequence[PeerWrite]) -> list[WriteResult]:
        """One request (or two: customer and account) per write; the writes of one customer
        in order, different customers side by side, three requests at most in flight."""
        groups: dict[str, list[int]] = defaultdict(list)
        for index, write in enumerate(writes):
            groups[write.record_id or f"new:{index}"].append(index)
        results: dict[int, WriteResult] = {}

        def run(indexes: list[int]) -> None:
            for index in indexes:
                results[index] = self._apply_one(writes[index])

        self._parallel(run, list(groups.values()))
        out = [results[i] for i in range(len(writes))]
        log.debug("shoptet.writes", items=len(writes), ok=sum(r.ok for r in out))
        return out

    def _apply_one(self, write: PeerWrite) -> WriteResult:
        try:
            if write.kind == "create":
                if write.record_id is not None:
                    # Created before and found since by the link: the answer was lost.
                    return WriteResult("done", record_id=write.record_id, replay=True)
                return self._create(write)
            if write.kind == "update":
                return self._update(write)
            if write.kind == "link":
                # No field can carry POHODA's id or a sync state: the link lives in the store.
                return WriteResult("done", record_id=write.record_id)
            if write.kind == "delete":
                assert write.record_id is not None
                self._send("write", "DELETE", f"/api/customers/{write.record_id}")
                return WriteResult("done", record_id=write.record_id)
        except BadData as exc:
            return WriteResult("refused", record_id=write.record_id, reason=str(exc), field=exc.field)
        except PeerRefused as exc:
            return WriteResult("refused", record_id=write.record_id, reason=str(exc))
        return WriteResult("refused", record_id=write.record_id, reason=f"Shoptet has no {write.kind} write")

    def _create(self, write: PeerWrite) -> WriteResult:
        assert write.contact is not None
        body = codec.encode_create(write.contact.replace(id=None, ext_id=None))
        params = {"sendRegistrationEmail": "true" if write.send_welcome else "false"}
        try:
            response = self._send("write", "POST", "/api/customers", params=params, json=body)
        except Conflict as exc:
            # 409: an account holds this e-mail already (the status decides, the errorCode
            # is not documented for it): the same person, to be linked.
            existing = self._guid_of_email(body["data"]["account"]["email"])
            if existing is None:
                return WriteResult("refused", reason=str(exc), field="email")
            return WriteResult("taken", record_id=existing, reason="e-mail already registered", field="email")
        created = codec.decode_customer(response.json())
        sent_email = str(body["data"]["account"]["email"]).casefold()
        if (created.contact.email or "").casefold() != sent_email:
            return WriteResult("refused", reason=f"{PEER} answered a create with another customer")
        return WriteResult("done", record_id=created.guid, version=created.change_time)

    def _update(self, write: PeerWrite) -> WriteResult:
        assert write.contact is not None and write.record_id is not None
        current = self._detail(write.record_id)
        if current is None:
            return WriteResult("refused", record_id=write.record_id, reason=f"{PEER} no longer has this customer")
        if write.expected_version and current.change_time and current.change_time != write.expected_version:
            # Read-compare-write: the customer changed after the pull (Shoptet has no If-Match).
            return WriteResult("conflict", record_id=write.record_id, reason="changed on Shoptet after it was read")
        target = codec.storable(write.contact.replace(id=write.record_id))
        have = current.contact
        version = current.change_time
        account = ("email", "phone", "name")
        if any(getattr(target, f) != getattr(have, f) for f in account) and current.account_guid:
            path = f"/api/customers/{write.record_id}/accounts/{current.account_guid}"
            self._send("write", "PATCH", path, json=codec.encode_account_patch(target))
        rest = [f for f in dataclasses.fields(Contact) if f.name not in ("id", "ext_id", "email", "phone", "ship_to")]
        if any(getattr(target, f.name) != getattr(have, f.name) for f in rest):
            response = self._send(
                "write", "PATCH", f"/api/customers/{write.record_id}", json=codec.encode_customer_patch(target)
            )
            version = codec.decode_customer(response.json()).change_time
        return WriteResult("done", record_id=write.record_id, version=version)

    def _guid_of_email(self, email: str) -> str | None:
        response = self._send("lookup", "GET", "/api/customers", params={"email": email})
        listing = codec.decode_list(response.json())
        return str(listing.items[0]["guid"]) if listing.items else None


def _error_codes(last: Sequence[httpx.Response]) -> str:
    try:
        errors = codec.decode_errors(last[0].json()) if last else ()
    except (BadData, ValueError):
        return "(no error envelope)"
    return ", ".join(f"{e.code} ({e.instance})" for e in errors) or "(no errors listed)"


__all__ = ["CURSOR_PREFIX", "DEFAULT_URL", "PEER", "RequestCounter", "ShoptetShop"]
