"""A loopback Shoptet (premium private API, customers only) in memory, as strict as the real one.

Plays the shop for the Shoptet adapter's tests and demos. Control endpoints under `/_sim`
(no auth) seed, edit, break, age and count it, like the e-shop simulator's.

On the wire (header `Shoptet-Private-API-Token`, JSON envelope `{data, errors, metadata}`):
- `GET /api/customers` (short entries, page/itemsPerPage, email, phone), `POST /api/customers`
  (`sendRegistrationEmail`), `GET|PATCH|DELETE /api/customers/{guid}`.
- `GET /api/customers/changes?from=&changeType=` (30 days, last change per customer).
- `GET /api/customers/{guid}/accounts`, `GET|PATCH /api/customers/{guid}/accounts/{accountGuid}`.
Webhooks `customer:create|update|delete` (no payload, signed) go to the URLs added with
`add_webhook`.

Control: `GET /_sim/customers`, `POST /_sim/register`, `PATCH|DELETE /_sim/customers/{guid}`,
`GET /_sim/notifications`, `GET|POST /_sim/webhooks`, `GET|POST /_sim/faults` (plus
`lock_next`, `concurrency_limit`), `POST /_sim/clock`, `GET /_sim/stats`, `POST /_sim/reset`.

"§3" is ../shared/eshop-platforms.md §3; "OpenAPI" is shoptet/developers openapi/openapi.yaml
@5498de9, which wins where the two differ.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import hashlib
import hmac
import json
import math
import re
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import fastjsonschema
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connector.codec import compiled, field_of
from connector.sim._faults import ASGIApp, FaultConfigError, FaultInjection, Faults, Receive, Scope, Send, TrafficStats
from connector.sim._shoptet_shop import Customer, ShoptetError, ShoptetShop, shoptet_time
from connector.sim._webhooks import WebhookDelivery

DEFAULT_TOKEN = "123456-p-123-simulator"  # noqa: S105 - a loopback test double's well-known default
TOKEN_HEADER = "Shoptet-Private-API-Token"  # noqa: S105 - a header name, not a secret
EVENTS = ("customer:create", "customer:update", "customer:delete")
# "A maximum of 3 connections for a single token ... the HTTP code 429 is returned"
# (OpenAPI, Rate limiting; §3).
CONCURRENCY_PER_TOKEN = 3
# getListOfCustomers: default 20, max 1000; getLastCustomerChanges: default and max 20 (§3).
LIST_DEFAULT, LIST_MAX = 20, 1000
CHANGES_DEFAULT, CHANGES_MAX = 20, 20
# webhooks documentation: the only ports a webhook URL may use (§3).
WEBHOOK_PORTS = (80, 8080, 443, 8443)
BUSINESS_PATHS = ("/api/customers", "/api/customers/changes")
_GUID_SEGMENT = re.compile(r"/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?=/|$)")
# The `from` of the change log: ISO 8601 with the offset's `+` (OpenAPI: "+ in the time zone").
_FROM = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(Z|[+-]\d{2}:?\d{2})?$")


def webhook_signature(body: bytes, key: str) -> str:
    """Shoptet-Webhook-Signature: hex HMAC-SHA1 of the raw body (api-sdk SignatureValidator; §3)."""
    return hmac.new(key.encode(), body, hashlib.sha1).hexdigest()


def _endpoint(method: str, path: str) -> str:
    return f"{method} {_GUID_SEGMENT.sub('/{guid}', path)}"


class _Gate:
    """ASGI middleware in front of everything: per-route counts, the per-token connection
    limit (429) and the write lock (423) — both hold while the request is processed."""

    def __init__(self, app: ASGIApp, sim: ShoptetSimulator) -> None:
        self.app = app
        self.sim = sim
        self.lock = threading.Lock()
        self.in_flight: Counter[str] = Counter()
        self.writing: set[tuple[str, str, str]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        self.sim.requests[_endpoint(method, path)] += 1
        if not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        token = ""
        for name, value in scope.get("headers", []):
            if name.decode("latin-1").lower() == TOKEN_HEADER.lower():
                token = value.decode("latin-1")
        write_key = (token, method, path + "?" + scope.get("query_string", b"").decode("latin-1"))
        is_write = method in ("POST", "PATCH", "PUT", "DELETE")
        with self.lock:
            if self.in_flight[token] >= self.sim.concurrency_limit:
                refusal: tuple[int, ShoptetError, dict[str, str]] | None = (
                    429,
                    ShoptetError(429, "too-many-requests", "Too many concurrent connections for this token."),
                    # The leaky bucket's Retry-After is an HTTP date (OpenAPI, Leaky bucket).
                    {
                        "Retry-After": email.utils.format_datetime(
                            dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1), usegmt=True
                        )
                    },
                )
            elif is_write and (write_key in self.writing or self.sim.take_lock_fault()):
                # "If you execute the same request two times in quick succession, the second
                # request receives error response with a 423 code" (OpenAPI, Locks; §3).
                refusal = (423, ShoptetError(423, "locked", "The same request is still being processed."), {})
            else:
                refusal = None
                self.in_flight[token] += 1
                if is_write:
                    self.writing.add(write_key)
        if refusal is not None:
            status, error, headers = refusal
            self.sim.counters[f"refused_{status}"] += 1
            response = _envelope_error(error, headers=headers)
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            with self.lock:
                self.in_flight[token] -= 1
                self.writing.discard(write_key)


@dataclasses.dataclass
class ShoptetWebhook:
    event: str
    url: str


class ShoptetSimulator:
    """A Shoptet shop with customers in memory. `.app` is the ASGI app; the methods are the
    control API. `enforce_webhook_ports` refuses webhook URLs on other ports than Shoptet
    allows (off by default: a loopback receiver listens on a random port)."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        eshop_id: int = 222651,
        shop_url: str = "https://www.shop.example",
        signature_key: str | None = None,
        enforce_webhook_ports: bool = False,
        seed: int = 0,
    ) -> None:
        self.token = token
        self.eshop_id = eshop_id
        self.shop_url = shop_url.rstrip("/")
        self.signature_key = signature_key or secrets.token_hex(16)
        self.enforce_webhook_ports = enforce_webhook_ports
        self.concurrency_limit = CONCURRENCY_PER_TOKEN
        self.faults = Faults(seed)
        self.fault_traffic = TrafficStats()
        self.requests: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()
        self.lock_next = 0
        self._lock = threading.Lock()
        self.notification_log: list[dict[str, Any]] = []
        self.webhooks: dict[str, ShoptetWebhook] = {}
        self.delivery = WebhookDelivery()
        self.shop = ShoptetShop(seed=seed, on_event=self._on_event)
        routes = [
            Route("/api/customers", self._list, methods=["GET"]),
            Route("/api/customers", self._create, methods=["POST"]),
            Route("/api/customers/changes", self._changes, methods=["GET"]),
            Route("/api/customers/{guid}", self._get, methods=["GET"]),
            Route("/api/customers/{guid}", self._patch, methods=["PATCH"]),
            Route("/api/customers/{guid}", self._delete, methods=["DELETE"]),
            Route("/api/customers/{guid}/accounts", self._accounts, methods=["GET"]),
            Route("/api/customers/{guid}/accounts/{account}", self._get_account, methods=["GET"]),
            Route("/api/customers/{guid}/accounts/{account}", self._patch_account, methods=["PATCH"]),
            Route("/_sim/customers", self._control_list, methods=["GET"]),
            Route("/_sim/register", self._control_register, methods=["POST"]),
            Route("/_sim/customers/{guid}", self._control_edit, methods=["PATCH"]),
            Route("/_sim/customers/{guid}", self._control_delete, methods=["DELETE"]),
            Route("/_sim/notifications", self._control_notifications, methods=["GET"]),
            Route("/_sim/webhooks", self._control_webhooks, methods=["GET"]),
            Route("/_sim/webhooks", self._control_add_webhook, methods=["POST"]),
            Route("/_sim/faults", self._control_get_faults, methods=["GET"]),
            Route("/_sim/faults", self._control_set_faults, methods=["POST"]),
            Route("/_sim/clock", self._control_clock, methods=["POST"]),
            Route("/_sim/stats", self._control_stats, methods=["GET"]),
            Route("/_sim/reset", self._control_reset, methods=["POST"]),
        ]
        starlette = Starlette(routes=routes)
        starlette.add_exception_handler(404, _not_found)
        starlette.add_exception_handler(405, _not_found)
        faulted = FaultInjection(starlette, self.faults, business_paths=BUSINESS_PATHS, stats=self.fault_traffic)
        self.app = _Gate(faulted, self)

    # -- the Python control API --------------------------------------------------------------

    def customers(self) -> list[dict[str, Any]]:
        """Every customer as GET /api/customers/{guid} gives it (data.customer), oldest first."""
        with self.shop.lock:
            return [c.to_json(self.shop_url) for c in sorted(self.shop.customers.values(), key=lambda c: c.admin_id)]

    def customer(self, guid: str) -> dict[str, Any] | None:
        with self.shop.lock:
            found = self.shop.customers.get(guid)
            return found.to_json(self.shop_url) if found is not None else None

    def register(self, data: Mapping[str, Any]) -> str:
        """A shopper registers at the storefront (body = POST's `data`); the registration
        e-mail goes out. Raises ShoptetError (e.g. 409 for a registered e-mail)."""
        body = {"data": dict(data)}
        _validate("customer-create", body)
        customer = self.shop.create(body["data"])
        self._record_registration(customer)
        return customer.guid

    def edit(self, guid: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """The customer edits their profile: PATCH's `data`, plus `email`/`phone` for the account."""
        changes = dict(data)
        account: dict[str, Any] = {k: changes.pop(k) for k in ("email", "phone") if k in changes}
        with self.shop.lock:
            customer = self.shop.get(guid)
            if account:
                main = customer.main_account()
                assert main is not None
                _validate("account-update", {"data": account})
                self.shop.update_account(guid, main.guid, account)
            if changes:
                _validate("customer-update", {"data": changes})
                self.shop.update(guid, changes)
            return customer.to_json(self.shop_url)

    def delete(self, guid: str) -> bool:
        try:
            self.shop.delete(guid)
        except ShoptetError:
            return False
        return True

    def advance_clock(self, *, days: float = 0, seconds: float = 0) -> None:
        """Move the shop's clock forward (the 30-day change log ages with it)."""
        with self.shop.lock:
            self.shop.clock_offset += dt.timedelta(days=days, seconds=seconds)

    def notifications(self) -> list[dict[str, Any]]:
        """Registration e-mails Shoptet sent: {guid, email, template, at}."""
        with self._lock:
            return [dict(n) for n in self.notification_log]

    def add_webhook(self, event: str, url: str) -> None:
        """POST /api/webhooks for one event: one URL per event (422 otherwise; §3)."""
        if event not in EVENTS:
            raise ShoptetError(422, "invalid-request-data", "Unknown event.", "data.event")
        port = urlsplit(url).port or (443 if url.startswith("https") else 80)
        if self.enforce_webhook_ports and port not in WEBHOOK_PORTS:
            raise ShoptetError(
                422, "invalid-request-data", "The webhook URL uses a port that is not allowed.", "data.url"
            )
        with self._lock:
            if event in self.webhooks:
                raise ShoptetError(422, "invalid-request-data", "Webhook already exists for this event", "data.event")
            self.webhooks[event] = ShoptetWebhook(event, url)

    def renew_signature_key(self) -> str:
        """POST /api/webhooks/renew-signature-key: a new key signs every later notification."""
        with self._lock:
            self.signature_key = secrets.token_hex(16)
            return self.signature_key

    def flush_webhooks(self, timeout_s: float = 10.0) -> bool:
        return self.delivery.flush(timeout_s)

    def deliveries(self) -> list[dict[str, Any]]:
        return self.delivery.records()

    def take_lock_fault(self) -> bool:
        with self._lock:
            if self.lock_next > 0:
                self.lock_next -= 1
                return True
            return False

    def stats_dict(self) -> dict[str, Any]:
        with self.shop.lock:
            shop_counters = dict(self.shop.counters)
            customers = len(self.shop.customers)
        return {
            "requests": dict(self.requests),
            "faults": dict(self.fault_traffic.faults),
            **shop_counters,
            **dict(self.counters),
            "customers": customers,
            "notifications": len(self.notifications()),
            "webhook_deliveries": len(self.deliveries()),
        }

    def reset(self) -> None:
        """Empty shop, no faults, stats, notifications, webhooks; the clock back to now."""
        self.delivery.clear()
        self.shop.clear()
        self.faults.clear()
        self.requests.clear()
        self.counters.clear()
        self.fault_traffic.requests.clear()
        self.fault_traffic.faults.clear()
        self.concurrency_limit = CONCURRENCY_PER_TOKEN
        with self._lock:
            self.lock_next = 0
            self.notification_log.clear()
            self.webhooks.clear()

    # -- events ------------------------------------------------------------------------------

    def _record_registration(self, customer: Customer) -> None:
        main = customer.main_account()
        with self._lock:
            self.notification_log.append(
                {
                    "guid": customer.guid,
                    "email": main.email if main else None,
                    "template": "registration",
                    "at": dt.datetime.now(dt.UTC).isoformat(),
                }
            )

    def _on_event(self, event: str, guid: str) -> None:
        with self._lock:
            hook = self.webhooks.get(event)
            key = self.signature_key
        if hook is None:
            return
        # Customer events carry no payload: only the guid, as eventInstance (OpenAPI, Webhook
        # event types; §3). The body is fixed at event time.
        body = json.dumps(
            {
                "eshopId": self.eshop_id,
                "event": event,
                "eventCreated": shoptet_time(self.shop.now()),
                "eventInstance": guid,
            }
        ).encode()
        headers = {"Content-Type": "application/json", "Shoptet-Webhook-Signature": webhook_signature(body, key)}
        self.delivery.enqueue(hook.url, lambda: (body, headers))

    # -- the API -----------------------------------------------------------------------------

    async def _guard(self, request: Request) -> None:
        token = request.headers.get(TOKEN_HEADER)
        if not token:
            raise ShoptetError(
                401,
                "missing-access-token",
                f"Missing access token. Please add `{TOKEN_HEADER}` header to your request.",
            )
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            # "401 - Invalid token" (OpenAPI, Status codes).
            raise ShoptetError(401, "invalid-token", "Invalid access token.", "access-token")
        await self.faults.delay()

    async def _body(self, request: Request, schema: str) -> dict[str, Any]:
        raw = await request.body()
        try:
            data = json.loads(raw) if raw.strip() else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            # "422 ... it might not be a correct JSON" (OpenAPI, Status codes).
            raise ShoptetError(422, "invalid-request-data", "The request body is not valid JSON.", "payload") from None
        if not isinstance(data, dict):
            raise ShoptetError(422, "invalid-request-data", "The request body must be a JSON object.", "payload")
        _validate(schema, data)
        return data

    async def _list(self, request: Request) -> Response:
        try:
            await self._guard(request)
            page = _int_param(request, "page", 1)
            per_page = min(_int_param(request, "itemsPerPage", LIST_DEFAULT), LIST_MAX)
            found = self.shop.listing(email=request.query_params.get("email"), phone=request.query_params.get("phone"))
        except ShoptetError as exc:
            return _envelope_error(exc)
        rows = [c.summary(self.shop_url) for c in found[(page - 1) * per_page : page * per_page]]
        return _envelope({"customers": rows, "paginator": _paginator(len(found), page, per_page, len(rows))})

    async def _create(self, request: Request) -> Response:
        try:
            await self._guard(request)
            send_email = _bool_param(request, "sendRegistrationEmail")
            _bool_param(request, "suppressMandatoryFieldsCheck")
            body = await self._body(request, "customer-create")
            self._check_fault(body["data"])
            customer = self.shop.create(body["data"])
        except ShoptetError as exc:
            return _envelope_error(exc)
        if send_email:
            # Only with sendRegistrationEmail=true (default false; OpenAPI createCustomer; §3).
            self._record_registration(customer)
        return _envelope({"customer": customer.to_json(self.shop_url)}, status=201)

    async def _get(self, request: Request) -> Response:
        try:
            await self._guard(request)
            with self.shop.lock:
                data = self.shop.get(request.path_params["guid"]).to_json(self.shop_url)
        except ShoptetError as exc:
            return _envelope_error(exc)
        return _envelope({"customer": data})

    async def _patch(self, request: Request) -> Response:
        try:
            await self._guard(request)
            guid = request.path_params["guid"]
            with self.shop.lock:
                self.shop.get(guid)
            body = await self._body(request, "customer-update")
            self._check_fault(body["data"])
            data = self.shop.update(guid, body["data"]).to_json(self.shop_url)
        except ShoptetError as exc:
            return _envelope_error(exc)
        return _envelope({"customer": data})

    async def _delete(self, request: Request) -> Response:
        try:
            await self._guard(request)
            self.shop.delete(request.path_params["guid"])
        except ShoptetError as exc:
            return _envelope_error(exc)
        return _envelope(None)

    async def _accounts(self, request: Request) -> Response:
        try:
            await self._guard(request)
            with self.shop.lock:
                accounts = [a.to_json() for a in self.shop.get(request.path_params["guid"]).accounts]
        except ShoptetError as exc:
            return _envelope_error(exc)
        return _envelope({"accounts": accounts, "paginator": _paginator(len(accounts), 1, 1000, len(accounts))})

    async def _get_account(self, request: Request) -> Response:
        try:
            await self._guard(request)
            with self.shop.lock:
                account = self.shop.account(request.path_params["guid"], request.path_params["account"]).to_json()
        except ShoptetError as exc:
            return _envelope_error(exc)
        return _envelope({"account": account})

    async def _patch_account(self, request: Request) -> Response:
        try:
            await self._guard(request)
            guid, account_guid = request.path_params["guid"], request.path_params["account"]
            with self.shop.lock:
                self.shop.account(guid, account_guid)
            body = await self._body(request, "account-update")
            self._check_fault(body["data"])
            account = self.shop.update_account(guid, account_guid, body["data"]).to_json()
        except ShoptetError as exc:
            return _envelope_error(exc)
        return _envelope({"account": account})

    async def _changes(self, request: Request) -> Response:
        try:
            await self._guard(request)
            since = _from_param(request)
            kind = request.query_params.get("changeType") or None
            if kind is not None and kind not in ("edit", "delete"):
                raise ShoptetError(400, "invalid-parameter", 'Invalid "changeType" parameter.', "changeType")
            page = _int_param(request, "page", 1)
            per_page = min(_int_param(request, "itemsPerPage", CHANGES_DEFAULT), CHANGES_MAX)
            entries = self.shop.changes(since, kind)
        except ShoptetError as exc:
            return _envelope_error(exc)
        rows = [
            {"guid": c.guid, "changeTime": shoptet_time(c.at), "changeType": c.kind}
            for c in entries[(page - 1) * per_page : page * per_page]
        ]
        return _envelope({"changes": rows, "paginator": _paginator(len(entries), page, per_page, len(rows))})

    def _check_fault(self, data: Mapping[str, Any]) -> None:
        flat: dict[str, Any] = {k: v for k, v in data.items() if not isinstance(v, (dict, list))}
        for part in ("billingAddress", "account"):
            values = data.get(part)
            if isinstance(values, Mapping):
                flat.update({f"{part}.{k}": v for k, v in values.items()})
        note = self.faults.item_error_for(flat)
        if note is not None:
            raise ShoptetError(400, "validation-error", note, "payload")

    # -- control endpoints -------------------------------------------------------------------

    async def _control_object(self, request: Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ShoptetError(400, "sim-bad-request", "the body must be a JSON object") from None
        if not isinstance(data, dict):
            raise ShoptetError(400, "sim-bad-request", "the body must be a JSON object")
        return data

    async def _control_list(self, request: Request) -> Response:
        return JSONResponse(self.customers())

    async def _control_register(self, request: Request) -> Response:
        try:
            guid = self.register(await self._control_object(request))
        except ShoptetError as exc:
            return _envelope_error(exc)
        return JSONResponse({"guid": guid}, status_code=201)

    async def _control_edit(self, request: Request) -> Response:
        try:
            return JSONResponse(self.edit(request.path_params["guid"], await self._control_object(request)))
        except ShoptetError as exc:
            return _envelope_error(exc)

    async def _control_delete(self, request: Request) -> Response:
        if not self.delete(request.path_params["guid"]):
            return _envelope_error(ShoptetError(404, "customer-not-found", "Customer not found."))
        return Response(status_code=204)

    async def _control_notifications(self, request: Request) -> Response:
        return JSONResponse(self.notifications())

    async def _control_webhooks(self, request: Request) -> Response:
        with self._lock:
            hooks = [dataclasses.asdict(h) for h in self.webhooks.values()]
            key = self.signature_key
        return JSONResponse({"webhooks": hooks, "signatureKey": key, "deliveries": self.deliveries()})

    async def _control_add_webhook(self, request: Request) -> Response:
        try:
            data = await self._control_object(request)
            self.add_webhook(str(data.get("event", "")), str(data.get("url", "")))
        except ShoptetError as exc:
            return _envelope_error(exc)
        return JSONResponse({"signatureKey": self.signature_key}, status_code=201)

    async def _control_get_faults(self, request: Request) -> Response:
        return JSONResponse(
            {**self.faults.to_dict(), "lock_next": self.lock_next, "concurrency_limit": self.concurrency_limit}
        )

    async def _control_set_faults(self, request: Request) -> Response:
        try:
            data = await self._control_object(request)
            lock_next = data.pop("lock_next", None)
            limit = data.pop("concurrency_limit", None)
            for name, value in (("lock_next", lock_next), ("concurrency_limit", limit)):
                if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                    raise FaultConfigError(f"{name} must be a non-negative integer")
            self.faults.configure(data)
        except (ShoptetError, FaultConfigError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        with self._lock:
            if lock_next is not None:
                self.lock_next = lock_next
        if limit is not None:
            self.concurrency_limit = limit
        return await self._control_get_faults(request)

    async def _control_clock(self, request: Request) -> Response:
        try:
            data = await self._control_object(request)
            days, seconds = data.get("advance_days", 0), data.get("advance_seconds", 0)
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in (days, seconds)):
                raise ShoptetError(400, "sim-bad-request", "advance_days/advance_seconds must be non-negative numbers")
        except ShoptetError as exc:
            return JSONResponse({"error": exc.message}, status_code=400)
        self.advance_clock(days=days, seconds=seconds)
        return JSONResponse({"now": shoptet_time(self.shop.now())})

    async def _control_stats(self, request: Request) -> Response:
        return JSONResponse(self.stats_dict())

    async def _control_reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True})


# -- the wire format --------------------------------------------------------------------------


def _metadata() -> dict[str, str]:
    return {"requestId": str(uuid.uuid4())}


def _envelope(data: Any, *, status: int = 200) -> Response:
    """The common response format: {data, errors, metadata} (OpenAPI, Server response format)."""
    return JSONResponse({"data": data, "errors": None, "metadata": _metadata()}, status_code=status)


def _envelope_error(error: ShoptetError, *, headers: Mapping[str, str] | None = None) -> Response:
    body = {
        "data": None,
        "errors": [{"errorCode": error.code, "message": error.message, "instance": error.instance}],
        "metadata": _metadata(),
    }
    return JSONResponse(body, status_code=error.status, headers=dict(headers or {}))


async def _not_found(request: Request, exc: Exception) -> Response:
    return _envelope_error(ShoptetError(404, "not-found", "Endpoint not found."))


def _validate(schema: str, body: Any) -> None:
    """The request's JSON schema (OpenAPI requestBody): 422 invalid-request-data naming the
    field as `data.x.y` (api/2021-05-11_error-handling-changes.md), never the value."""
    try:
        compiled("shoptet", schema)(body)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise ShoptetError(
            422, "invalid-request-data", f"The value does not match the schema ({exc.rule}).", field_of(exc)
        ) from None


def _paginator(total: int, page: int, per_page: int, on_page: int) -> dict[str, int]:
    return {
        "totalCount": total,
        "page": page,
        "pageCount": math.ceil(total / per_page) if per_page else 0,
        "itemsOnPage": on_page,
        "itemsPerPage": per_page,
    }


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ShoptetError(400, "invalid-parameter", f'Invalid "{name}" parameter.', name)
    return int(raw)


def _bool_param(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return False
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise ShoptetError(400, "invalid-parameter", f'Invalid "{name}" parameter.', name)


def _from_param(request: Request) -> dt.datetime:
    raw = request.query_params.get("from")
    if raw is None or raw == "":
        raise ShoptetError(400, "missing-parameter", 'Missing value for parameter "from".', "from")
    # A `+` sent unencoded arrives as a space ("2024-01-01T00:00:00 0200"): that is not a
    # date-time, and Shoptet's docs require it as %2B (OpenAPI webhooks/notifications `from`;
    # §3 pitfall 2), so it is refused, not guessed at.
    match = _FROM.match(raw)
    if match is None:
        raise ShoptetError(400, "invalid-parameter", 'Invalid "from" parameter: expected ISO 8601 date-time.', "from")
    offset = match[2] or "+0000"
    if offset == "Z":
        offset = "+0000"
    try:
        return dt.datetime.strptime(match[1] + offset.replace(":", ""), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        raise ShoptetError(
            400, "invalid-parameter", 'Invalid "from" parameter: expected ISO 8601 date-time.', "from"
        ) from None


def seed_customers(sim: ShoptetSimulator, items: Iterable[Mapping[str, Any]]) -> list[str]:
    """Load customers (POST's `data` each) without e-mails or webhooks; returns their guids."""
    guids = []
    with sim._lock:
        hooks, sim.webhooks = sim.webhooks, {}
    try:
        for data in items:
            body = {"data": dict(data)}
            _validate("customer-create", body)
            guids.append(sim.shop.create(body["data"]).guid)
    finally:
        with sim._lock:
            sim.webhooks = hooks
    return guids


__all__ = [
    "CONCURRENCY_PER_TOKEN",
    "DEFAULT_TOKEN",
    "EVENTS",
    "TOKEN_HEADER",
    "ShoptetError",
    "ShoptetSimulator",
    "seed_customers",
    "webhook_signature",
]
