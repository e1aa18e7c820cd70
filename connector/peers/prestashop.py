"""The e-shop side on PrestaShop 1.7 / 8 (`platform = "prestashop"`): the webservice under
`{url}/api/`, customers and their addresses as canonical contacts (../shared/eshop-platforms.md §1).

The platform's quirks stay here: `date_upd` polled on customers *and* addresses (a
back-office address edit moves only the address's date), keyset pages over an inclusive
window, deletions found by an id scan, GET-merge-PUT on 1.7 and PATCH on 8.0+, a duplicate
e-mail answered 500 / 140. The link lives in the connector's store: no field carries ids.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import time
import zoneinfo
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import httpx

from connector.codec import prestashop as codec
from connector.codec.prestashop import (
    AddressWrite,
    CountryTable,
    PrestaShopMapping,
    ShopAddress,
    ShopCustomer,
    ShopError,
)
from connector.config import Config, EshopConfig
from connector.errors import BadData, ConfigError, EshopUnreachable, PeerRefused
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

PEER = "PrestaShop"
KEY_LENGTH = 32
PAGE_SIZE = 100  # records per list page, and ids per `filter[id]=[a|b|…]` fetch
ID_PAGE_SIZE = 1000  # ids per page of the deletion scan
# How often the deletion scan lists every customer id (hard deletes leave no other trace).
ID_SCAN_S = 900.0
# The window's overlap: date_upd has 1-second resolution and BETWEEN is inclusive (§1).
OVERLAP = dt.timedelta(seconds=1)
FIRST_DATE = "0000-00-00 00:00:00"  # below every date_upd, a zero date included
LAST_DATE = "9999-12-31 23:59:59"
MAX_ID = 4294967295  # int(10) unsigned
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# Answers that are the shop's word on one record, not a transport failure: a validation
# refusal (400), the e-mail taken (500 / 140 on create, 141 on update), a delete that failed
# (500 / 88); 404 / 87 on a delete; 405 on a PATCH the key may not use (§1).
_RECORD_ERRORS_500 = frozenset({140, 141, 88})
_EMAIL_TAKEN = frozenset({140, 141})


class _ShopRefusal(PeerRefused):
    """The shop refused one request with its `<errors>` (kept inside this module: `apply`
    turns it into the write's result, the reads into PeerRefused)."""

    def __init__(self, status: int, errors: Sequence[ShopError]) -> None:
        codes = ", ".join(str(e.code) for e in errors)
        super().__init__(f"{PEER} answered HTTP {status} (error {codes})", status_code=status)
        self.errors = tuple(errors)

    @property
    def codes(self) -> frozenset[int]:
        return frozenset(e.code for e in self.errors if e.code is not None)

    def reason(self) -> str:
        # PrestaShop's messages name the class and the field ('Property Customer->firstname
        # is not valid'), never the value; they are cut short all the same.
        return "; ".join(f"[{e.code}] {e.message[:200]}" for e in self.errors) or self.args[0]

    def field(self) -> str | None:
        """The contact's field the refusal names (PrestaShop's own name when it has none)."""
        for error in self.errors:
            name: str | None = None
            _, arrow, rest = error.message.partition("->")
            if arrow and rest.split():
                name = rest.split()[0].strip('"')
            elif error.code in _EMAIL_TAKEN:
                name = "email"
            elif error.code == 41 and error.message.count('"') >= 2:
                name = error.message.split('"')[1]
            if name:
                return _CONTACT_FIELD.get(name, name)
        return None


# PrestaShop's field -> the contact's (codec.to_contact's mapping).
_CONTACT_FIELD = {
    "firstname": "name", "lastname": "name", "address1": "street", "postcode": "zip", "id_country": "country",
    "phone_mobile": "mobile", "dni": "ico", "vat_number": "dic",
}  # fmt: skip


# -- the cursor ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FeedCursor:
    """Where the next pull starts: the newest `date_upd` read of customers (`customers`) and of
    addresses (`addresses`), and the last deletion scan: when (UTC epoch seconds), the highest
    customer id it saw and a hash of the ids up to it. Fits the store's 200 characters."""

    customers: str | None = None
    addresses: str | None = None
    scanned_at: float | None = None
    max_id: int = 0
    ids_hash: str = ""

    def encode(self) -> str:
        return json.dumps(
            {"c": self.customers, "a": self.addresses, "t": self.scanned_at, "m": self.max_id, "h": self.ids_hash},
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, text: str | None) -> FeedCursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            return cls(data["c"], data["a"], data["t"], int(data["m"]), str(data["h"]))
        except (ValueError, KeyError, TypeError):
            # Not ours (another platform's cursor, say): read everything again; what did not
            # change is recognised as an echo.
            log.warning("prestashop.cursor_unreadable")
            return cls()


def _ids_hash(ids: Iterable[int]) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    for record_id in ids:
        digest.update(b"%d," % record_id)
    return digest.hexdigest()[:16]


def _parse_date(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text, _DATE_FORMAT)
    except ValueError:
        return None


def window_start(since: str, zone: dt.tzinfo, now: dt.datetime | None = None) -> str:
    """The lower end of the next `date_upd` window after `since` (the newest date read): one
    second earlier, and, when the shop's clock went back (the autumn change) between then and
    now, the start of the repeated hour, so the edits written in it are read too."""
    wall = _parse_date(since)
    if wall is None:
        return FIRST_DATE
    lowest = wall
    start = wall.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
    end = min(now or dt.datetime.now(dt.UTC), start + dt.timedelta(days=400))
    moment, step = start, dt.timedelta(minutes=30)
    offset = moment.astimezone(zone).utcoffset()
    while moment < end:
        previous, moment = moment, min(moment + step, end)
        current = moment.astimezone(zone).utcoffset()
        if offset is not None and current is not None and current < offset:
            # The clock fell back between `previous` and `moment`: the earliest wall time
            # shown after it is at least `previous` read with the new offset.
            lowest = min(lowest, previous.replace(tzinfo=None) + current)
        offset = current
    return (lowest - OVERLAP).strftime(_DATE_FORMAT)


def _next_second(text: str) -> str:
    parsed = _parse_date(text)
    if parsed is None:  # the zero date: its second is followed by any real one
        return "0001-01-01 00:00:00"
    return (parsed + dt.timedelta(seconds=1)).strftime(_DATE_FORMAT)


def _record_version(customer: ShopCustomer, addresses: Sequence[ShopAddress]) -> str:
    """What changes whenever the shop changes the customer or one of its addresses: a hash of
    every field as read, since date_upd alone has 1-second resolution (§1)."""
    digest = hashlib.sha1(usedforsecurity=False)
    records: list[ShopCustomer | ShopAddress] = [customer, *sorted(addresses, key=lambda a: int(a.id or 0))]
    for record in records:
        digest.update(json.dumps(sorted(record.fields.items()), ensure_ascii=False).encode())
    digest.update(json.dumps(customer.groups).encode())
    return digest.hexdigest()[:20]


# -- the client ----------------------------------------------------------------------------------


class PrestaShopClient:
    """The webservice of one shop with one key: lists, fetches by id, and single-record writes.

    The version comes from the `PSWS-Version` header of any answer; `supports_patch` is true on
    8.0+ (PATCH was added in 8.0, PrestaShop/PrestaShop#27952). `requests` counts what was sent,
    by method and resource.
    """

    def __init__(
        self,
        config: EshopConfig,
        key: str,
        *,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not config.url:
            raise ConfigError("[eshop] url is required (set it in the file or as CONNECTOR_ESHOP_URL)")
        if len(key) != KEY_LENGTH:
            # The shop answers 401 code 18 "Invalid authentication key format" (§1).
            raise ConfigError(f"CONNECTOR_ESHOP_KEY must be the {KEY_LENGTH}-character PrestaShop webservice key")
        self.config = config
        self.policy = policy or RetryPolicy(max_total_s=config.retry_max_s)
        self.requests: Counter[str] = Counter()
        self.version: str | None = None
        self.patch_refused = False  # the key lacks the PATCH permission (after an upgrade)
        token = base64.b64encode(f"{key}:".encode()).decode("ascii")
        self._http = make_client(
            _api_url(config.url),
            connect_timeout_s=config.connect_timeout_s,
            read_timeout_s=config.read_timeout_s,
            headers={"Authorization": f"Basic {token}", "Content-Type": codec.CONTENT_TYPE},
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    @property
    def supports_patch(self) -> bool:
        if self.patch_refused or not self.version:
            return False
        major = self.version.split(".", 1)[0]
        return major.isdigit() and int(major) >= 8

    def request(
        self, method: str, path: str, *, params: dict[str, str] | None = None, content: bytes | None = None
    ) -> httpx.Response:
        """One exchange under the retry policy; the shop's `<errors>` about a record raise
        _ShopRefusal at once (a 500 / 140 is an answer, not an outage to retry)."""
        resource = path.strip("/").split("/", 1)[0]

        def attempt() -> httpx.Response:
            self.requests[f"{method} {resource}"] += 1
            response = self._http.request(method, path, params=params, content=content)
            version = response.headers.get("PSWS-Version")
            if version:
                self.version = version.strip()
            status = response.status_code
            if status in (400, 404, 405, 500) and codec.looks_like_errors(response.content):
                errors = codec.decode_errors(response.content)
                codes = {e.code for e in errors}
                if (
                    status == 400
                    or (status == 500 and codes & _RECORD_ERRORS_500)
                    or (status == 404 and method == "DELETE" and 87 in codes)
                    or (status == 405 and method == "PATCH")
                ):
                    raise _ShopRefusal(status, errors)
            return response

        return send(attempt, peer=PEER, policy=self.policy, unreachable=EshopUnreachable)

    def get(self, resource: str, params: dict[str, str]) -> bytes:
        return self.request("GET", f"/{resource}", params=params).content

    def countries(self) -> CountryTable:
        return codec.decode_countries(self.get("countries", {"display": "[id,iso_code]"}))

    def customers_by_id(self, ids: Sequence[str]) -> list[ShopCustomer | BadData]:
        out: list[ShopCustomer | BadData] = []
        for chunk in _chunks(ids, PAGE_SIZE):
            params = {"display": "full", "filter[id]": f"[{'|'.join(chunk)}]", "sort": "[id_ASC]"}
            out.extend(codec.decode_customers(self.get("customers", params)))
        return out

    def addresses_of(self, customer_ids: Sequence[str]) -> list[ShopAddress]:
        out: list[ShopAddress] = []
        for chunk in _chunks(customer_ids, PAGE_SIZE):
            params = {"display": "full", "filter[id_customer]": f"[{'|'.join(chunk)}]", "sort": "[id_ASC]"}
            for address in codec.decode_addresses(self.get("addresses", params)):
                if isinstance(address, BadData):
                    # The customer is read without it; the next edit of the address reads it again.
                    log.warning("prestashop.bad_address", record=address.record, field=address.field)
                    continue
                out.append(address)
        return out

    def changed_since(self, resource: str, lower: str, fields: str) -> Iterator[list[ShopCustomer | ShopAddress]]:
        """Pages of the records whose `date_upd` is at or after `lower`, oldest first.

        Keyset pages (`limit=0,N` from the last page's newest date, inclusive, deduplicated)
        rather than growing offsets: a record edited while the pages are read moves to the
        end of the order, and offset paging would then skip the record after it. A second
        holding a whole page (a bulk import) is walked by id within that second.
        """
        decode = codec.decode_customers if resource == "customers" else codec.decode_addresses
        seen: set[str] = set()  # ids read with date_upd == lower
        while True:
            params = {
                "display": fields,
                "date": "1",
                "filter[date_upd]": f"[{lower},{LAST_DATE}]",
                "sort": "[date_upd_ASC,id_ASC]",
                "limit": f"0,{PAGE_SIZE}",
            }
            page = _good(decode(self.get(resource, params)), resource)
            fresh = [r for r in page if not (r.date_upd == lower and r.id in seen)]
            if fresh:
                yield fresh
            if len(page) < PAGE_SIZE:
                return
            newest = page[-1].date_upd or lower
            if newest != lower:
                lower = newest
                seen = {r.id or "" for r in page if r.date_upd == newest}
                continue
            # The whole page is one second: read the rest of that second by id, then go on.
            last_id = max(int(r.id or 0) for r in page)
            while True:
                params = {
                    "display": fields,
                    "date": "1",
                    "filter[date_upd]": f"[{lower},{lower}]",
                    "filter[id]": f"[{last_id + 1},{MAX_ID}]",
                    "sort": "[id_ASC]",
                    "limit": f"0,{PAGE_SIZE}",
                }
                same_second = _good(decode(self.get(resource, params)), resource)
                if same_second:
                    yield list(same_second)
                    last_id = max(int(r.id or 0) for r in same_second)
                if len(same_second) < PAGE_SIZE:
                    break
            lower, seen = _next_second(lower), set()

    def live_customer_ids(self) -> list[int]:
        """Every customer id that is an account (not deleted, not a guest), ascending."""
        ids: list[int] = []
        last = 0
        while True:
            params = {
                "filter[id]": f"[{last + 1},{MAX_ID}]",
                "filter[deleted]": "[0]",
                "filter[is_guest]": "[0]",
                "sort": "[id_ASC]",
                "limit": f"0,{ID_PAGE_SIZE}",
            }
            page = [int(i) for i in codec.decode_ids(self.get("customers", params)) if i.isdigit()]
            ids.extend(page)
            if len(page) < ID_PAGE_SIZE:
                return ids
            last = page[-1]

    def customer_by_email(self, email: str) -> ShopCustomer | None:
        """The account holding this e-mail (guests ignored, as customerExists does, §1)."""
        params = {"display": "full", "filter[email]": f"[{email}]", "filter[is_guest]": "[0]", "sort": "[id_ASC]"}
        for customer in codec.decode_customers(self.get("customers", params)):
            if isinstance(customer, ShopCustomer) and customer.get("email").casefold() == email.casefold():
                return customer
        return None


def _api_url(url: str) -> str:
    """`[eshop] url` is the shop's base URL; the webservice is under /api (an URL given with
    /api already is taken as it is)."""
    base = url.rstrip("/")
    return base if base.endswith("/api") else base + "/api"


def _good(records: Sequence[Any], resource: str) -> list[Any]:
    out = []
    for record in records:
        if isinstance(record, BadData):
            log.warning("prestashop.bad_record", resource=resource, record=record.record, field=record.field)
            continue
        out.append(record)
    return out


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- the peer ------------------------------------------------------------------------------------


class PrestaShopShop(WithoutBreaker):
    """The e-shop side over the PrestaShop webservice, as a Peer.

    The webservice sends no welcome e-mail (Customer::addWs sends none, §1) and no field may
    carry POHODA's id (`note` is the merchant's), so the link table is the only mapping and a
    "link" write has nothing to send.
    """

    side: SideName = "eshop"
    label = "the PrestaShop shop"
    capabilities = Capabilities(sends_welcome_email=False, stores_external_id=False)

    def __init__(
        self,
        client: PrestaShopClient,
        *,
        timezone: str = "Europe/Prague",
        mapping: PrestaShopMapping = codec.DEFAULT_MAPPING,
        id_scan_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.batch_size = client.config.batch_size
        self.zone = zoneinfo.ZoneInfo(timezone)
        self.mapping = mapping
        self.id_scan_s = ID_SCAN_S if id_scan_s is None else id_scan_s
        self._clock = clock
        self._countries: CountryTable | None = None

    @classmethod
    def from_config(cls, config: Config, **kwargs: Any) -> PrestaShopShop:
        config.require("eshop.url", "eshop_key")
        assert config.secrets.eshop_key is not None
        client_options = {k: kwargs.pop(k) for k in ("policy", "transport") if k in kwargs}
        client = PrestaShopClient(config.eshop, config.secrets.eshop_key, **client_options)
        return cls(client, timezone=config.eshop.timezone, **kwargs)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> PrestaShopShop:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def countries(self) -> CountryTable:
        if self._countries is None:
            self._countries = self.client.countries()
        return self._countries

    def storable_content(self, content: Mapping[str, Any]) -> dict[str, Any]:
        """What the shop shows of `content` once written: the sync takes a field showing just
        that as unchanged here (a note PrestaShop cannot hold is not wiped in POHODA)."""
        return codec.storable(content, self.mapping)

    # -- reads ------------------------------------------------------------------------------

    def _records(self, customers: Iterable[ShopCustomer | BadData]) -> list[PeerRecord]:
        """PeerRecords of full customers (their addresses fetched here); a deleted customer
        or a guest is a tombstone; one that cannot be mapped is logged and left out."""
        good: list[ShopCustomer] = _good(list(customers), "customers")
        accounts = {c.id for c in good if c.get("deleted") != "1" and c.get("is_guest") != "1"}
        addresses: dict[str, list[ShopAddress]] = {}
        for address in self.client.addresses_of([i for i in accounts if i]):
            addresses.setdefault(address.customer_id or "", []).append(address)
        records = []
        for customer in good:
            assert customer.id is not None
            if customer.id not in accounts:
                records.append(PeerRecord(customer.id, None, version=customer.date_upd))
                continue
            mine = addresses.get(customer.id, [])
            try:
                contact = codec.to_contact(customer, mine, self.countries, self.mapping)
            except BadData as exc:
                log.warning("prestashop.unmappable", record=customer.id, field=exc.field)
                continue
            records.append(PeerRecord(customer.id, contact.replace(id=None), version=_record_version(customer, mine)))
        return records

    def changes(self, cursor: str | None) -> Iterator[ChangeBatch]:
        state = FeedCursor.decode(cursor)
        started = self._clock()
        c_lower = window_start(state.customers, self.zone) if state.customers else FIRST_DATE
        a_lower = window_start(state.addresses, self.zone) if state.addresses else FIRST_DATE
        newest_c, newest_a = state.customers, state.addresses
        changed: dict[str, None] = {}
        for page in self.client.changed_since("customers", c_lower, "[id,date_upd]"):
            for customer in page:
                changed[customer.id or ""] = None
                newest_c = max(newest_c or "", customer.date_upd or "")
        # An address edited in the back office moves only its own date_upd (§1).
        for page in self.client.changed_since("addresses", a_lower, "[id,id_customer,date_upd]"):
            for address in page:
                assert isinstance(address, ShopAddress)
                if address.customer_id not in (None, "0"):
                    changed[address.customer_id or ""] = None
                newest_a = max(newest_a or "", address.date_upd or "")
        changed.pop("", None)
        ids = list(changed)
        for chunk in _chunks(ids, PAGE_SIZE):
            found = self.client.customers_by_id(chunk)
            records = self._records(found)
            # Ids asked for and not answered were hard-deleted meanwhile.
            answered = {c.record or "" if isinstance(c, BadData) else c.id or "" for c in found}
            records += [PeerRecord(i, None) for i in chunk if i not in answered]
            yield ChangeBatch(records, None)
        # A date_upd ahead of the shop's clock (a record written while its clock was wrong)
        # would move the window past every edit until then: the cursor stays at "now" there.
        shop_now = dt.datetime.fromtimestamp(started, self.zone).strftime(_DATE_FORMAT)
        newest_c = min(newest_c, shop_now) if newest_c else None
        newest_a = min(newest_a, shop_now) if newest_a else None
        scan = dataclasses.replace(state, customers=newest_c, addresses=newest_a)
        tombstones: list[PeerRecord] = []
        if state.scanned_at is None or started - state.scanned_at >= self.id_scan_s:
            scan, tombstones = self._scan(scan, started, skip=changed)
        yield ChangeBatch(tombstones, scan.encode())

    def _scan(self, state: FeedCursor, started: float, *, skip: Iterable[str]) -> tuple[FeedCursor, list[PeerRecord]]:
        """The deletion scan: when the ids up to the last scan's highest no longer hash the
        same, each missing id is reported deleted (ids the sync never knew are ignored by it)."""
        live = self.client.live_customer_ids()
        tombstones: list[PeerRecord] = []
        if state.max_id and _ids_hash(i for i in live if i <= state.max_id) != state.ids_hash:
            present, skipped = set(live), set(skip)
            tombstones = [
                PeerRecord(str(i), None)
                for i in range(1, state.max_id + 1)
                if i not in present and str(i) not in skipped
            ]
            log.info("prestashop.deletions_scanned", missing=len(tombstones))
        highest = live[-1] if live else state.max_id
        return (
            dataclasses.replace(state, scanned_at=started, max_id=highest, ids_hash=_ids_hash(live)),
            tombstones,
        )

    def snapshot(self) -> Iterator[PeerRecord]:
        ids = [str(i) for i in self.client.live_customer_ids()]
        for chunk in _chunks(ids, PAGE_SIZE):
            yield from (r for r in self._records(self.client.customers_by_id(chunk)) if r.contact is not None)

    def get(self, record_id: str) -> PeerRecord | None:
        if not record_id.isdigit():
            return None
        for record in self._records(self.client.customers_by_id([record_id])):
            return record if record.contact is not None else None
        return None

    # -- writes -----------------------------------------------------------------------------

    def apply(self, writes: Sequence[PeerWrite]) -> list[WriteResult]:
        """One result per write. Each customer is its own request: a PrestaShop body with
        several records stops at the first error and does not say which ones were saved."""
        results = []
        for write in writes:
            try:
                results.append(self._apply_one(write))
            except BadData as exc:
                # Refused before anything was sent: the field named, never the value.
                results.append(WriteResult("refused", record_id=write.record_id, reason=str(exc), field=exc.field))
            except _ShopRefusal as exc:
                results.append(
                    WriteResult("refused", record_id=write.record_id, reason=exc.reason(), field=exc.field())
                )
        return results

    def _apply_one(self, write: PeerWrite) -> WriteResult:
        if write.kind == "link":
            # Nothing on the shop holds POHODA's id or a sync state: the link table is the mapping.
            return WriteResult("done", record_id=write.record_id)
        if write.kind == "create":
            assert write.contact is not None
            return self._create(write.contact, known=write.record_id)
        assert write.record_id is not None
        if write.kind == "update":
            assert write.contact is not None
            return self._update(write.record_id, write.contact, write.expected_version)
        try:
            self.client.request("DELETE", f"/customers/{write.record_id}")
        except _ShopRefusal as exc:
            if 87 not in exc.codes:  # 87: no such id, so already deleted
                raise
        return WriteResult("done", record_id=write.record_id)

    def _current(self, record_id: str) -> tuple[ShopCustomer, list[ShopAddress]] | None:
        found = [c for c in self.client.customers_by_id([record_id]) if isinstance(c, ShopCustomer)]
        if not found or found[0].get("deleted") == "1":
            return None
        return found[0], self.client.addresses_of([record_id])

    def _create(self, contact: Contact, *, known: str | None = None) -> WriteResult:
        # Everything is checked before the first request: one refused value sends nothing.
        plan = codec.plan_contact_write(contact, self.countries, self.mapping, record=None)
        try:
            answer = self.client.request("POST", "/customers", content=codec.encode_customer_post(plan.customer))
        except _ShopRefusal as exc:
            if not exc.codes & _EMAIL_TAKEN or not contact.email:
                raise
            return self._email_taken(contact, exc, known=known)
        created = codec.decode_customer(answer.content)
        assert created.id is not None
        try:
            self._write_addresses(plan.for_customer(created.id).addresses)
        except _PartRefused as exc:
            return self._undo_create(created.id, exc)
        return WriteResult("done", record_id=created.id)

    def _email_taken(self, contact: Contact, refusal: _ShopRefusal, *, known: str | None) -> WriteResult:
        """The e-mail has an account: "taken" with its id, so the sync links instead of copying;
        or, when that account is this very create cut short (a crash after the customer and
        before its addresses), the rest of the create, as a replay. When the sync has linked
        the account already (`known`, found by its pull), it is done: the link's own update
        carries the merged content."""
        assert contact.email is not None
        existing = self.client.customer_by_email(contact.email)
        if existing is None or existing.id is None:
            return WriteResult("refused", reason=refusal.reason(), field="email")
        addresses = self.client.addresses_of([existing.id])
        plan = codec.plan_contact_write(
            contact, self.countries, self.mapping, current=existing, current_addresses=addresses
        )
        live = {a.id: a for a in codec.customer_addresses(existing, addresses)}
        ours = codec.changed_fields(existing.fields, plan.customer.fields) == {} and all(
            w.action == "create" or (w.action == "update" and not _address_changes(live[w.address.id], w.address))
            for w in plan.addresses
        )
        if ours:
            try:
                self._write_addresses([w for w in plan.addresses if w.action == "create"])
            except _PartRefused as exc:
                return self._undo_create(existing.id, exc)
            return WriteResult("done", record_id=existing.id, replay=True)
        if known is not None and existing.id == known:
            return WriteResult("done", record_id=existing.id, replay=True)
        return WriteResult("taken", record_id=existing.id, reason=refusal.reason(), field="email")

    def _update(self, record_id: str, contact: Contact, expected_version: str | None) -> WriteResult:
        current = self._current(record_id)
        if current is None:
            return WriteResult("refused", record_id=record_id, reason="the customer is no longer on the e-shop")
        customer, addresses = current
        if expected_version and _record_version(customer, addresses) != expected_version:
            # Changed since the sync read it: the next run reads it again and merges.
            return WriteResult("conflict", record_id=record_id, reason="the customer changed since it was read")
        plan = codec.plan_contact_write(
            contact, self.countries, self.mapping, current=customer, current_addresses=addresses, record=record_id
        )
        changes = codec.changed_fields(customer.fields, plan.customer.fields)
        if changes:
            self._save("customers", record_id, changes, lambda: codec.encode_customer_put(plan.customer))
        try:
            self._write_addresses(plan.addresses, current=addresses)
        except _PartRefused as exc:
            reason = f"{exc.reason} (the customer's own fields were saved)" if changes else exc.reason
            return WriteResult("refused", record_id=record_id, reason=reason, field=exc.field)
        return WriteResult("done", record_id=record_id)

    def _save(self, resource: str, record_id: str, changes: dict[str, str], full: Callable[[], bytes]) -> None:
        """PATCH the changed fields on 8.0+; else (1.7, or a key without the PATCH permission)
        PUT the whole record as read and merged, so nothing the connector does not own changes."""
        path = f"/{resource}/{record_id}"
        if self.client.supports_patch:
            encode = codec.encode_customer_patch if resource == "customers" else codec.encode_address_patch
            try:
                self.client.request("PATCH", path, content=encode(record_id, changes))
                return
            except _ShopRefusal as exc:
                if exc.status_code != 405:
                    raise
                log.warning("prestashop.patch_refused", code=sorted(exc.codes))
                self.client.patch_refused = True
        self.client.request("PUT", path, content=full())

    def _write_addresses(self, writes: Iterable[AddressWrite], *, current: Sequence[ShopAddress] = ()) -> None:
        """The address writes of one contact, billing first; raises _PartRefused naming the
        address and the field when the shop refuses one."""
        before = {a.id: a for a in current}
        for write in writes:
            address = write.address
            try:
                if write.action == "create":
                    self.client.request("POST", "/addresses", content=codec.encode_address_post(address))
                elif write.action == "delete":
                    self.client.request("DELETE", f"/addresses/{address.id}")
                else:
                    assert address.id is not None
                    old = before.get(address.id)
                    changes = _address_changes(old, address) if old is not None else dict(address.fields)
                    if changes:
                        self._save(
                            "addresses", address.id, changes, functools.partial(codec.encode_address_put, address)
                        )
            except _ShopRefusal as exc:
                if write.action == "delete" and 87 in exc.codes:
                    continue  # gone already
                field = exc.field()
                if field is not None and write.role != "billing":
                    field = f"{write.role}.{field}"
                raise _PartRefused(f"the {write.role} address was refused: {exc.reason()}", field) from exc

    def _undo_create(self, customer_id: str, refused: _PartRefused) -> WriteResult:
        """A new account whose address the shop refused is removed again, so that no account
        half made is left for the next pull to take for a registration."""
        try:
            self.client.request("DELETE", f"/customers/{customer_id}")
        except _ShopRefusal as exc:
            if 87 not in exc.codes:
                raise
        return WriteResult("refused", reason=f"{refused.reason}; the new account was removed", field=refused.field)


class _PartRefused(Exception):
    """One address of a contact was refused (the customer record itself was saved)."""

    def __init__(self, reason: str, field: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def _address_changes(before: ShopAddress, after: ShopAddress) -> dict[str, str]:
    return codec.changed_fields(before.fields, after.fields)


__all__ = ["FeedCursor", "PrestaShopClient", "PrestaShopShop", "window_start"]
