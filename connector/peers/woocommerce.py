"""The e-shop side on WooCommerce (REST API v3, `/wp-json/wc/v3/customers`), as a Peer.

WooCommerce has no "changed since" filter for customers (woocommerce#31482): the pull is a
cheap scan of every customer's `date_modified_gmt`, compared with what the last pull saw
(kept in the cursor), and only the changed ones are fetched; ids gone since are tombstones.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from connector.codec import woocommerce as codec
from connector.codec.woocommerce import WooCommerceMapping, WooCustomer
from connector.config import Config, EshopConfig
from connector.errors import BadData, ConfigError, EshopUnreachable, PeerConfigurationError, PeerRefused
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

PEER = "WooCommerce"
API = "/wp-json/wc/v3"
PAGE = codec.MAX_PER_PAGE  # per_page is 1..100 (WP_REST_Controller::get_collection_params)
CURSOR_PREFIX = "wc1:"
# date_modified_gmt has one-second resolution (last_update = gmdate('U')): a record seen
# modified in the last seconds of a scan may change again within that second unseen, so it
# is remembered as unsure (-1) and the next pull fetches it again (an echo, nothing written).
UNSURE_S = 2
_TAKEN = "registration-error-email-exists"


@dataclasses.dataclass
class RequestCounter:
    """Requests sent (attempts, retries included), by purpose."""

    scan: int = 0
    fetch: int = 0
    get: int = 0
    batch: int = 0
    lookup: int = 0


def encode_cursor(seen: Mapping[int, int]) -> str:
    """`{customer id: date_modified_gmt as a unix time}`, compact: ids sorted and delta-coded,
    zlib, base64 (a shop of 100,000 customers fits in a few hundred kilobytes of text)."""
    ids = sorted(seen)
    deltas = [b - a for a, b in zip([0, *ids], ids, strict=False)]
    blob = json.dumps([deltas, [seen[i] for i in ids]], separators=(",", ":")).encode()
    return CURSOR_PREFIX + base64.b64encode(zlib.compress(blob, 9)).decode("ascii")


def decode_cursor(cursor: str | None) -> dict[int, int] | None:
    """The scan a cursor remembers; None when there is none or it is not ours (read all)."""
    if not cursor or not cursor.startswith(CURSOR_PREFIX):
        return None
    try:
        deltas, stamps = json.loads(zlib.decompress(base64.b64decode(cursor[len(CURSOR_PREFIX) :])))
    except (ValueError, zlib.error, TypeError):
        log.warning("woocommerce.cursor_unreadable")
        return None
    seen: dict[int, int] = {}
    current = 0
    for delta, stamp in zip(deltas, stamps, strict=True):
        current += int(delta)
        seen[current] = int(stamp)
    return seen


def _unix(value: str | None) -> int:
    """date_modified_gmt ("2026-12-01T09:00:00", UTC without an offset) as a unix time; 0 if absent."""
    if not value:
        return 0
    try:
        return int(dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC).timestamp())
    except ValueError:
        return 0


class WooCommerceShop(WithoutBreaker):
    """WooCommerce's customers of one role, over one REST API key pair.

    POHODA's id is kept on the customer as a `meta_data` entry (`[eshop]
    woocommerce_hq_id_key`, default `pohoda_id`) with the link's state beside it; IČO/DIČ/IČ
    DPH in the configured meta keys. WooCommerce mails its "new account" e-mail on every
    create, API ones included (no flag suppresses it, woocommerce#14890): the connector sends
    none. Writes go through `/customers/batch` (at most 100 items) with one result per item.
    """

    side: SideName = "eshop"
    label = PEER
    capabilities = Capabilities(sends_welcome_email=True, stores_external_id=True)

    def __init__(
        self,
        config: EshopConfig,
        key: str,
        secret: str,
        *,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not config.url:
            raise ConfigError("[eshop] url is required: the WordPress site's base URL (CONNECTOR_ESHOP_URL)")
        if not key or not secret:
            raise ConfigError("WooCommerce needs CONNECTOR_ESHOP_KEY and CONNECTOR_ESHOP_SECRET (the API key pair)")
        try:
            self.mapping = WooCommerceMapping(
                ico_key=config.woocommerce_ico_key or None,
                dic_key=config.woocommerce_dic_key or None,
                ic_dph_key=config.woocommerce_ic_dph_key or None,
                hq_id_key=config.woocommerce_hq_id_key or None,
            )
        except ValueError as exc:
            raise ConfigError(f"[eshop] woocommerce_*_key: {exc}") from None
        if self.mapping.hq_id_key is None:
            raise ConfigError("[eshop] woocommerce_hq_id_key may not be empty: the link keeps POHODA's id there")
        self.state_key = f"{self.mapping.hq_id_key}_sync_state"
        self.role = config.woocommerce_role
        self.config = config
        self.batch_size = min(config.batch_size, codec.MAX_BATCH_ITEMS)
        self.policy = policy or RetryPolicy(max_total_s=config.retry_max_s)
        self.requests = RequestCounter()
        credentials = base64.b64encode(f"{key}:{secret}".encode()).decode("ascii")
        self._http = make_client(
            config.url.rstrip("/") + API,
            connect_timeout_s=config.connect_timeout_s,
            read_timeout_s=config.read_timeout_s,
            headers={"Authorization": f"Basic {credentials}", "Accept": "application/json"},
            transport=transport,
        )

    @classmethod
    def from_config(cls, config: Config, **kwargs: Any) -> WooCommerceShop:
        config.require("eshop.url", "eshop_key", "eshop_secret")
        assert config.secrets.eshop_key is not None and config.secrets.eshop_secret is not None
        return cls(config.eshop, config.secrets.eshop_key, config.secrets.eshop_secret, **kwargs)

    # -- the Peer's small talk ----------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def storable_content(self, content: dict[str, Any]) -> dict[str, Any]:
        """`content` as WooCommerce gives it back (what it cannot hold cleared), for the planner."""
        return codec.storable(Contact.from_dict(content), self.mapping).content()

    # -- HTTP ---------------------------------------------------------------------------------

    def _send(self, counter: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        last: list[httpx.Response] = []

        def attempt() -> httpx.Response:
            setattr(self.requests, counter, getattr(self.requests, counter) + 1)
            response = self._http.request(method, path, **kwargs)
            last[:] = [response]
            return response

        try:
            return send(attempt, peer=PEER, policy=self.policy, unreachable=EshopUnreachable)
        except PeerRefused as exc:
            # The transport quotes the body; only WooCommerce's error code is kept of it.
            code = _error_code(last[0]) if last else None
            raise type(exc)(
                f"{PEER} refused: HTTP {exc.status_code} {code or ''}".rstrip(), status_code=exc.status_code
            ) from None

    def _pages(self, counter: str, params: Mapping[str, str]) -> Iterator[list[Any]]:
        """Every page of GET /customers with `params`, by X-WP-TotalPages."""
        page = 1
        while True:
            response = self._send(counter, "GET", "/customers", params={**params, "page": str(page)})
            items = response.json()
            if not isinstance(items, list):
                raise BadData(f"{PEER}: GET /customers did not answer a list", field="customers")
            yield items
            pages = response.headers.get("X-WP-TotalPages", "1")
            if not pages.isdigit() or page >= int(pages) or not items:
                return
            page += 1

    # -- reads --------------------------------------------------------------------------------

    def _record(self, customer: WooCustomer) -> PeerRecord:
        hq_id = customer.contact.ext_id
        state = dict(customer.meta).get(self.state_key)
        # A temporary GUID ("pending_sync") is not POHODA's id: only a synced account has one.
        other = hq_id if hq_id and state != "pending_sync" else None
        return PeerRecord(
            str(customer.id),
            customer.contact.replace(id=None, ext_id=None),
            version=customer.date_modified_gmt,
            other_id=other,
        )

    def _decode(self, items: Sequence[Any]) -> list[WooCustomer]:
        found = []
        for result in codec.decode_customers(items, mapping=self.mapping):
            if result.error is not None:
                # Named by id and field only; the others go on.
                log.warning("woocommerce.bad_customer", record=result.record, field=result.error.field)
                continue
            assert result.value is not None
            if result.value.role == self.role:
                found.append(result.value)
        return found

    def _scan(self) -> dict[int, int]:
        """Every customer's id and modification time: the cheap full scan (`_fields`)."""
        seen: dict[int, int] = {}
        params = {
            "role": self.role,
            "per_page": str(PAGE),
            "orderby": "id",
            "order": "asc",
            "_fields": "id,date_modified_gmt",
        }
        for items in self._pages("scan", params):
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("id"), int):
                    seen[item["id"]] = _unix(item.get("date_modified_gmt"))
        return seen

    def changes(self, cursor: str | None) -> Iterator[ChangeBatch]:
        before = decode_cursor(cursor) or {}
        started = int(dt.datetime.now(dt.UTC).timestamp())
        now = self._scan()
        changed = [cid for cid, stamp in now.items() if before.get(cid) != stamp or stamp == 0]
        gone = sorted(set(before) - set(now))
        remembered = {cid: stamp for cid, stamp in now.items() if cid not in changed}
        log.debug("woocommerce.scan", customers=len(now), changed=len(changed), gone=len(gone))
        for start in range(0, len(changed), PAGE):
            chunk = changed[start : start + PAGE]
            params = {
                "role": self.role,
                "per_page": str(PAGE),
                "include": ",".join(map(str, chunk)),
                "orderby": "include",
            }
            records = []
            for items in self._pages("fetch", params):
                for customer in self._decode(items):
                    records.append(self._record(customer))
                    stamp = _unix(customer.date_modified_gmt)
                    # Known either way (a later scan without it is a deletion); -1: fetch again.
                    remembered[customer.id] = stamp if stamp and stamp < started - UNSURE_S else -1
            yield ChangeBatch(records)
        # An id gone from the scan was deleted (hard: WooCommerce has no trash) or left the role.
        yield ChangeBatch([PeerRecord(str(cid), None) for cid in gone], encode_cursor(remembered))

    def snapshot(self) -> Iterator[PeerRecord]:
        params = {"role": self.role, "per_page": str(PAGE), "orderby": "id", "order": "asc"}
        for items in self._pages("fetch", params):
            for customer in self._decode(items):
                yield self._record(customer)

    def get(self, record_id: str) -> PeerRecord | None:
        if not record_id.isdigit():
            return None
        last: list[httpx.Response] = []

        def attempt() -> httpx.Response:
            self.requests.get += 1
            response = self._http.get(f"/customers/{record_id}")
            last[:] = [response]
            return response

        try:
            response = send(attempt, peer=PEER, policy=self.policy, unreachable=EshopUnreachable)
        except PeerConfigurationError as exc:
            # WooCommerce's "no such customer" is a 404 with its own code; any other 404 means
            # the URL is wrong, which the transport's error says already.
            if exc.status_code == 404 and last and _error_code(last[0]) == "woocommerce_rest_invalid_id":
                return None
            raise
        found = self._decode([response.json()])
        return self._record(found[0]) if found else None

    # -- writes -------------------------------------------------------------------------------

    def _meta_link(self, hq_id: str | None, sync_state: str | None) -> list[dict[str, Any]]:
        assert self.mapping.hq_id_key is not None
        return [
            {"key": self.mapping.hq_id_key, "value": hq_id or ""},
            {"key": self.state_key, "value": sync_state or ""},
        ]

    def _body(self, write: PeerWrite) -> tuple[str, dict[str, Any]]:
        """(list, item) of the batch for one write; BadData when it cannot be encoded."""
        if write.kind == "delete":
            assert write.record_id is not None
            return "delete", {"id": int(write.record_id)}
        if write.kind == "link":
            assert write.record_id is not None
            return "update", {
                "id": int(write.record_id),
                "meta_data": self._meta_link(write.other_id, write.sync_state),
            }
        assert write.contact is not None
        if write.kind == "create":
            body = codec.encode_customer(write.contact.replace(id=None, ext_id=None), mapping=self.mapping)
            body["meta_data"] = [m for m in body.get("meta_data", []) if m["key"] != self.mapping.hq_id_key]
            if write.other_id:
                body["meta_data"].extend(self._meta_link(write.other_id, write.sync_state))
            return "create", body
        assert write.record_id is not None
        body = codec.encode_customer(write.contact.replace(id=write.record_id, ext_id=None), mapping=self.mapping)
        # The update is partial: POHODA's id is left as the link last wrote it.
        body["meta_data"] = [m for m in body.get("meta_data", []) if m["key"] != self.mapping.hq_id_key]
        return "update", {"id": int(write.record_id), **body}

    def apply(self, writes: Sequence[PeerWrite]) -> list[WriteResult]:
        results: list[WriteResult] = []
        for start in range(0, len(writes), self.batch_size):
            results.extend(self._apply_chunk(writes[start : start + self.batch_size]))
        return results

    def _apply_chunk(self, writes: Sequence[PeerWrite]) -> list[WriteResult]:
        results: dict[int, WriteResult] = {}
        lists: dict[str, list[tuple[int, dict[str, Any]]]] = {"create": [], "update": [], "delete": []}
        for index, write in enumerate(writes):
            if write.kind == "create" and write.record_id is not None:
                # Created before, and the account found since (it carries POHODA's id): the
                # answer was lost, the account is there; what changed meanwhile is merged anew.
                results[index] = WriteResult("done", record_id=write.record_id, replay=True)
                continue
            if write.kind not in ("create", "update", "link", "delete"):
                results[index] = WriteResult("refused", reason=f"WooCommerce has no {write.kind} write")
                continue
            try:
                kind, item = self._body(write)
            except BadData as exc:
                results[index] = WriteResult("refused", record_id=write.record_id, reason=str(exc), field=exc.field)
                continue
            lists[kind].append((index, item))
        body: dict[str, Any] = {kind: [item for _i, item in items] for kind, items in lists.items() if items}
        if body:
            response = self._send("batch", "POST", "/customers/batch", json=body)
            answer = response.json()
            if not isinstance(answer, dict):
                raise BadData(f"{PEER}: the batch answer is not an object", field="batch")
            for kind, items in lists.items():
                answered = answer.get(kind) or []
                for position, (index, sent) in enumerate(items):
                    reply = answered[position] if position < len(answered) else None
                    results[index] = self._result(writes[index], kind, sent, reply)
        out = [results[i] for i in range(len(writes))]
        log.debug("woocommerce.batch", items=len(writes), ok=sum(r.ok for r in out))
        return out

    def _result(self, write: PeerWrite, kind: str, sent: Mapping[str, Any], item: Any) -> WriteResult:
        if not isinstance(item, dict):
            # Not answered: not known to be applied; the outbox sends it again.
            return WriteResult("refused", record_id=write.record_id, reason=f"{PEER} gave no result for this item")
        error = item.get("error")
        if isinstance(error, dict):
            code = str(error.get("code", "error"))
            if kind == "create" and code == _TAKEN and write.contact is not None and write.contact.email:
                existing = self._id_of_email(write.contact.email)
                if existing is not None:
                    return WriteResult("taken", record_id=existing, reason=code, field="email")
            field = "email" if "email" in code else None
            return WriteResult(
                "refused", record_id=write.record_id, reason=f"{code}: {error.get('message', '')}", field=field
            )
        record_id = item.get("id")
        if not isinstance(record_id, int) or isinstance(record_id, bool):
            return WriteResult("refused", record_id=write.record_id, reason=f"{PEER} answered without an id")
        # No mixing: the answer must be the record that was written.
        if kind != "create" and str(record_id) != write.record_id:
            return WriteResult("refused", record_id=write.record_id, reason=f"{PEER} answered for another customer")
        if kind == "create" and str(item.get("email", "")).casefold() != str(sent.get("email", "")).casefold():
            return WriteResult("refused", reason=f"{PEER} answered a create with another customer")
        return WriteResult("done", record_id=str(record_id), version=item.get("date_modified_gmt"))

    def _id_of_email(self, email: str) -> str | None:
        """The customer holding `email` (any role: the address is unique site-wide)."""
        response = self._send("lookup", "GET", "/customers", params={"email": email, "role": "all", "_fields": "id"})
        items = response.json()
        if isinstance(items, list) and items and isinstance(items[0], dict) and isinstance(items[0].get("id"), int):
            return str(items[0]["id"])
        return None


def _error_code(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return str(data.get("code")) if isinstance(data, dict) else None


__all__ = ["CURSOR_PREFIX", "PEER", "RequestCounter", "WooCommerceShop", "decode_cursor", "encode_cursor"]
