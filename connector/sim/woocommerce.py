"""A loopback WooCommerce (REST API v3, customers only) in memory, as strict as the real one.

Plays the shop for the WooCommerce adapter's tests and demos. Control endpoints under `/_sim`
(no auth) seed, edit, break and count it, like the e-shop simulator's.

On the wire, under `/wp-json/wc/v3`:
- `GET /customers` — role (default `customer`), page, per_page (1..100), offset, orderby, order,
  email, search, include, exclude, `_fields`; `X-WP-Total`, `X-WP-TotalPages`, `Link`.
- `POST /customers`; `GET|POST|PUT|PATCH /customers/{id}` (partial update);
  `DELETE /customers/{id}?force=true`; `POST|PUT|PATCH /customers/batch`.
- HTTP Basic with the consumer key and secret (or `consumer_key`/`consumer_secret` in the query).
Webhooks `customer.created|updated|deleted` go to the delivery URLs added with `add_webhook`.

Control: `GET /_sim/customers`, `POST /_sim/register`, `PATCH|DELETE /_sim/customers/{id}`,
`GET /_sim/notifications`, `GET|POST /_sim/webhooks`, `GET|POST /_sim/faults`,
`GET /_sim/stats`, `POST /_sim/reset`.

"§2" in comments is ../shared/eshop-platforms.md §2 and the WooCommerce/WordPress sources it cites.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
import json
import math
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import fastjsonschema
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connector.codec import compiled, field_of
from connector.sim import _http
from connector.sim._faults import FaultConfigError, FaultInjection, Faults, TrafficStats
from connector.sim._webhooks import WebhookDelivery
from connector.sim._woo_store import ROLES, WooError, WooStore, WooUser

DEFAULT_CONSUMER_KEY = "ck_simulator"
DEFAULT_CONSUMER_SECRET = "cs_simulator"  # noqa: S105 - a loopback test double's well-known default
API = "/wp-json/wc/v3"
TOPICS = ("customer.created", "customer.updated", "customer.deleted")
# WC_REST_Controller::check_batch_limit (woocommerce_rest_batch_items_limit; §2).
BATCH_LIMIT = 100
# WP_REST_Controller::get_collection_params: per_page default 10, 1..100 (§2).
DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100
# WC_Webhook::failed_delivery: disabled after more than 5 consecutive failures (§2).
MAX_CONSECUTIVE_FAILURES = 5
BUSINESS_PATHS = (f"{API}/customers", f"{API}/customers/batch")
ORDERBY = ("id", "include", "name", "registered_date")
_EDITABLE = ["POST", "PUT", "PATCH"]  # WP_REST_Server::EDITABLE


@dataclasses.dataclass
class Webhook:
    """One webhook as WooCommerce keeps it (wc/v3/webhooks): a topic, a URL, a secret, a status."""

    id: int
    topic: str
    delivery_url: str
    secret: str
    status: str = "active"
    failure_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "topic": self.topic,
            "delivery_url": self.delivery_url,
            "status": self.status,
            "failure_count": self.failure_count,
        }


def webhook_signature(body: bytes, secret: str) -> str:
    """X-WC-Webhook-Signature: base64(HMAC-SHA256(raw body, secret)) (class-wc-webhook.php; §2)."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class WooCommerceSimulator:
    """A WooCommerce shop with customers in memory. `.app` is the ASGI app; the methods are the
    control API.

    `key_permissions` is the API key's scope: "read", "write" or "read_write".
    `generate_username`/`generate_password` are the store's registration options (when off, a
    create must carry them, §2). `new_account_email` is whether the "new account" e-mail is
    enabled; WooCommerce sends it on every create, API ones included (§2).
    """

    def __init__(
        self,
        *,
        consumer_key: str = DEFAULT_CONSUMER_KEY,
        consumer_secret: str = DEFAULT_CONSUMER_SECRET,
        key_permissions: str = "read_write",
        generate_username: bool = True,
        generate_password: bool = True,
        new_account_email: bool = True,
        site_url: str = "http://shop.example",
        seed_customers: Iterable[Mapping[str, Any]] = (),
        seed: int = 0,
    ) -> None:
        if key_permissions not in ("read", "write", "read_write"):
            raise ValueError("key_permissions must be read, write or read_write")
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.key_permissions = key_permissions
        self.new_account_email = new_account_email
        self.site_url = site_url.rstrip("/")
        self._seeds = [dict(s) for s in seed_customers]
        self.faults = Faults(seed)
        self.traffic = TrafficStats()
        self.delivery = WebhookDelivery()
        self.webhooks: dict[int, Webhook] = {}
        self._webhook_lock = threading.Lock()
        self._next_webhook_id = 1
        self.notification_log: list[dict[str, Any]] = []
        self.store = WooStore(
            generate_username=generate_username,
            generate_password=generate_password,
            on_event=self._on_event,
            on_new_account=self._on_new_account,
        )
        for data in self._seeds:
            self.store.seed(data)
        customers = f"{API}/customers"
        routes = [
            Route(customers, self._list, methods=["GET"]),
            Route(customers, self._create, methods=["POST"]),
            Route(f"{customers}/batch", self._batch, methods=_EDITABLE),
            Route(customers + "/{id:int}", self._get, methods=["GET"]),
            Route(customers + "/{id:int}", self._update, methods=_EDITABLE),
            Route(customers + "/{id:int}", self._delete, methods=["DELETE"]),
            Route("/_sim/customers", self._control_list, methods=["GET"]),
            Route("/_sim/register", self._control_register, methods=["POST"]),
            Route("/_sim/customers/{id:int}", self._control_edit, methods=["PATCH"]),
            Route("/_sim/customers/{id:int}", self._control_delete, methods=["DELETE"]),
            Route("/_sim/notifications", self._control_notifications, methods=["GET"]),
            Route("/_sim/webhooks", self._control_webhooks, methods=["GET"]),
            Route("/_sim/webhooks", self._control_add_webhook, methods=["POST"]),
            Route("/_sim/faults", self._control_get_faults, methods=["GET"]),
            Route("/_sim/faults", self._control_set_faults, methods=["POST"]),
            Route("/_sim/stats", self._control_stats, methods=["GET"]),
            Route("/_sim/reset", self._control_reset, methods=["POST"]),
        ]
        starlette = Starlette(routes=routes)
        starlette.add_exception_handler(404, _no_route)
        starlette.add_exception_handler(405, _no_route)
        self.app = FaultInjection(starlette, self.faults, business_paths=BUSINESS_PATHS, stats=self.traffic)

    # -- the Python control API --------------------------------------------------------------

    def customers(self, *, role: str = "all") -> list[dict[str, Any]]:
        """Every user (of `role`, default all) as GET /customers/{id} would answer, in id order."""
        with self.store.lock:
            users = sorted(self.store.users.values(), key=lambda u: u.id)
            return [u.to_json(self.site_url) for u in users if role in ("all", u.role)]

    def customer(self, customer_id: int) -> dict[str, Any] | None:
        with self.store.lock:
            user = self.store.users.get(customer_id)
            return user.to_json(self.site_url) if user is not None else None

    def register(self, body: Mapping[str, Any], *, role: str = "customer") -> int:
        """A shopper registers at the storefront: the new-account e-mail and customer.created
        follow as for an API create. Raises WooError (e.g. the e-mail is taken)."""
        _check_body(body, record="registration")
        if not body.get("email"):
            raise WooError(400, "registration-error-invalid-email", "Please provide a valid email address.")
        return self.store.create(body, role=role).id

    def edit(self, customer_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
        """The customer edits their profile (wire field names, partial); fires customer.updated."""
        _check_body(changes, record=str(customer_id))
        with self.store.lock:
            user = self.store.get(customer_id)
            if changes.get("email") and self.store.owner_of_email(str(changes["email"]), other_than=user.id):
                raise WooError(400, "woocommerce_rest_customer_invalid_email", "Email address is invalid.")
            return self.store.update(customer_id, {k: v for k, v in changes.items() if k != "username"}).to_json(
                self.site_url
            )

    def delete(self, customer_id: int) -> bool:
        """An administrator deletes the user in wp-admin (any role; no API role check)."""
        try:
            self.store.delete(customer_id, force=True, check_role=False)
        except WooError:
            return False
        return True

    def notifications(self) -> list[dict[str, Any]]:
        """The "new account" e-mails WooCommerce sent: {customer_id, email, template, at}."""
        with self.store.lock:
            return [dict(n) for n in self.notification_log]

    def add_webhook(self, topic: str, delivery_url: str, secret: str, *, ping: bool = True) -> int:
        """Register a webhook. Like WooCommerce, the creation pings the URL (form-encoded
        `webhook_id=N`, unsigned) and refuses the webhook unless it answers 2xx (§2)."""
        if topic not in TOPICS:
            raise ValueError(f"topic must be one of {', '.join(TOPICS)}")
        if not secret:
            # Without a secret WooCommerce signs with a hash of the user's id|name (§2):
            # the simulator insists on a real one.
            raise ValueError("a webhook needs a secret")
        with self._webhook_lock:
            webhook_id = self._next_webhook_id
            self._next_webhook_id += 1
        if ping:
            answer = _http.post(delivery_url, data={"webhook_id": str(webhook_id)}, timeout=5.0)
            if not 200 <= answer.status_code < 300:
                raise ValueError(f"the delivery URL answered the ping with {answer.status_code}")
        with self._webhook_lock:
            self.webhooks[webhook_id] = Webhook(webhook_id, topic, delivery_url, secret)
        return webhook_id

    def flush_webhooks(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued webhook delivery was attempted."""
        return self.delivery.flush(timeout_s)

    def deliveries(self) -> list[dict[str, Any]]:
        """Webhook deliveries attempted: {url, headers, body, status}, oldest first."""
        return self.delivery.records()

    def stats_dict(self) -> dict[str, Any]:
        with self.store.lock:
            counters = dict(self.store.counters)
            customers = len(self.store.users)
            notifications = len(self.notification_log)
        return {
            **self.traffic.to_dict(),
            **counters,
            "customers": customers,
            "notifications": notifications,
            "webhook_deliveries": len(self.delivery.records()),
            "webhooks_coalesced": self.delivery.coalesced,
        }

    def reset(self) -> None:
        """Back to the seeds: no faults, stats, notifications, webhooks or deliveries."""
        self.delivery.clear()
        with self.store.lock:
            self.store.clear()
            self.notification_log.clear()
            for data in self._seeds:
                self.store.seed(data)
        with self._webhook_lock:
            self.webhooks.clear()
        self.faults.clear()
        self.traffic.requests.clear()
        self.traffic.faults.clear()

    # -- events ------------------------------------------------------------------------------

    def _on_new_account(self, user: WooUser) -> None:
        if self.new_account_email:
            self.notification_log.append(
                {
                    "customer_id": user.id,
                    "email": user.email,
                    "template": "customer_new_account",
                    "at": dt.datetime.now(dt.UTC).isoformat(),
                }
            )

    def _on_event(self, topic: str, user: WooUser) -> None:
        with self._webhook_lock:
            hooks = [w for w in self.webhooks.values() if w.topic == topic and w.status == "active"]
        for hook in hooks:
            on_result = functools.partial(self._delivery_result, hook)
            if topic == "customer.deleted":
                # A deletion sends only {"id": N} (§2): the user is gone when it leaves.
                frozen = json.dumps({"id": user.id}).encode()
                self.delivery.enqueue(
                    hook.delivery_url, functools.partial(self._signed, hook, frozen), on_result=on_result
                )
                continue
            # The payload is built at delivery time, not at event time, and a delivery already
            # queued for the same (webhook, id) absorbs a new one (wc-webhook-functions.php; §2).
            self.delivery.enqueue(
                hook.delivery_url,
                functools.partial(self._signed_payload, hook, user.id),
                key=(hook.id, user.id),
                on_result=on_result,
            )

    def _signed_payload(self, hook: Webhook, user_id: int) -> tuple[bytes, dict[str, str]]:
        return self._signed(hook, self._payload(user_id))

    def _payload(self, user_id: int) -> bytes:
        with self.store.lock:
            user = self.store.users.get(user_id)
            if user is None:
                data: dict[str, Any] = WooError(404, "woocommerce_rest_invalid_id", "Invalid resource ID.").body()
            else:
                data = user.to_json(self.site_url)
                data.pop("_links")
        return json.dumps(data, ensure_ascii=False).encode()

    def _signed(self, hook: Webhook, body: bytes) -> tuple[bytes, dict[str, str]]:
        resource, _, event = hook.topic.partition(".")
        delivery_id = hashlib.md5(f"{hook.id}{dt.datetime.now(dt.UTC).timestamp()}".encode()).hexdigest()  # noqa: S324 - wp_hash stand-in, not security
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "WooCommerce/9.9 Hookshot (WordPress/6.8)",
            "X-WC-Webhook-Source": self.site_url + "/",
            "X-WC-Webhook-Topic": hook.topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": webhook_signature(body, hook.secret),
            "X-WC-Webhook-ID": str(hook.id),
            # wp_hash(webhook_id . time): not a stable event id (§2).
            "X-WC-Webhook-Delivery-ID": delivery_id,
        }
        return body, headers

    def _delivery_result(self, hook: Webhook, status: int | None) -> None:
        with self._webhook_lock:
            # No retry; 2xx, 301 and 302 count as delivered (WC_Webhook::failed_delivery; §2).
            if status is not None and (200 <= status < 300 or status in (301, 302)):
                hook.failure_count = 0
                return
            hook.failure_count += 1
            if hook.failure_count > MAX_CONSECUTIVE_FAILURES:
                hook.status = "disabled"

    # -- authentication ----------------------------------------------------------------------

    def _authenticate(self, request: Request, *, write: bool, denied: WooError) -> None:
        """WC_REST_Authentication: Basic (key:secret) or the query-string pair (§2).

        An unknown key leaves the request anonymous, so the endpoint's permission check refuses
        it (`denied`, 401); a known key with a wrong secret is refused outright.
        """
        key = secret = ""
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic" and credentials:
            try:
                key, _, secret = base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                key = secret = ""
        elif "consumer_key" in request.query_params:
            key = request.query_params.get("consumer_key", "")
            secret = request.query_params.get("consumer_secret", "")
        if not key or not hmac.compare_digest(key.encode(), self.consumer_key.encode()):
            raise denied
        if not secret:
            raise WooError(401, "woocommerce_rest_authentication_error", "Consumer secret is missing.")
        if not hmac.compare_digest(secret.encode(), self.consumer_secret.encode()):
            raise WooError(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
        # WC_REST_Authentication::check_permissions: a key's scope is checked per HTTP method.
        if write and self.key_permissions == "read":
            raise WooError(
                401, "woocommerce_rest_authentication_error", "The API key provided does not have write permissions."
            )
        if not write and self.key_permissions == "write":
            raise WooError(
                401, "woocommerce_rest_authentication_error", "The API key provided does not have read permissions."
            )

    async def _json_body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise WooError(400, "rest_invalid_json", "Invalid JSON body passed.") from None
        if not isinstance(data, dict):
            raise WooError(400, "rest_invalid_json", "Invalid JSON body passed.")
        return data

    # -- the REST API ------------------------------------------------------------------------

    async def _list(self, request: Request) -> Response:
        try:
            self._authenticate(
                request,
                write=False,
                denied=_denied("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
            )
            await self.faults.delay()
            params = _list_params(request.query_params)
        except WooError as exc:
            return _error(exc)
        users = self.store.listing(
            role=params["role"],
            orderby=params["orderby"],
            order=params["order"],
            email=params["email"],
            search=params["search"],
            include=params["include"],
            exclude=params["exclude"],
        )
        per_page = params["per_page"]
        offset = params["offset"] if params["offset"] is not None else (params["page"] - 1) * per_page
        page_users = users[offset : offset + per_page]
        total = len(users)
        pages = math.ceil(total / per_page)
        page = math.ceil(offset / per_page + 1)
        body = [_fields(u.to_json(self.site_url), params["fields"]) for u in page_users]
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        links = []
        base = {k: v for k, v in request.query_params.items() if k not in ("page", "consumer_key", "consumer_secret")}
        if page > 1:
            links.append(
                f'<{self.site_url}{API}/customers?{urlencode({**base, "page": min(page - 1, pages)})}>; rel="prev"'
            )
        if pages > page:
            links.append(f'<{self.site_url}{API}/customers?{urlencode({**base, "page": page + 1})}>; rel="next"')
        if links:
            headers["Link"] = ", ".join(links)
        return JSONResponse(body, headers=headers)

    async def _get(self, request: Request) -> Response:
        user_id = int(request.path_params["id"])
        try:
            self._authenticate(
                request,
                write=False,
                denied=_denied("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
            )
            await self.faults.delay()
            user = self.store.get(user_id)
        except WooError as exc:
            return _error(exc)
        fields = _split_fields(request.query_params.get("_fields"))
        return JSONResponse(_fields(user.to_json(self.site_url), fields))

    async def _create(self, request: Request) -> Response:
        try:
            self._authenticate(
                request,
                write=True,
                denied=_denied("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
            )
            await self.faults.delay()
            body = await self._json_body(request)
            _check_required(body, self.store)
            _check_body(body, record="new")
            self._check_fault(body)
            user = self.store.create(body)
        except WooError as exc:
            return _error(exc)
        location = f"{self.site_url}{API}/customers/{user.id}"
        return JSONResponse(user.to_json(self.site_url), status_code=201, headers={"Location": location})

    async def _update(self, request: Request) -> Response:
        user_id = int(request.path_params["id"])
        try:
            self._authenticate(
                request,
                write=True,
                denied=_denied("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
            )
            await self.faults.delay()
            self.store.get(user_id)  # the permission check looks the user up first (404)
            body = await self._json_body(request)
            _check_body(body, record=str(user_id))
            self._check_fault(body)
            user = self.store.update(user_id, body)
        except WooError as exc:
            return _error(exc)
        return JSONResponse(user.to_json(self.site_url))

    async def _delete(self, request: Request) -> Response:
        user_id = int(request.path_params["id"])
        try:
            self._authenticate(
                request,
                write=True,
                denied=_denied("woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource."),
            )
            await self.faults.delay()
            force = _boolean(request.query_params.get("force"), name="force")
            if force:
                self.store.get(user_id)
            with self.store.lock:
                before = self.store.users[user_id].to_json(self.site_url) if user_id in self.store.users else None
                self.store.delete(user_id, force=force)
        except WooError as exc:
            return _error(exc)
        # The answer is the customer as it was before the deletion (V1 delete_item).
        return JSONResponse(before)

    async def _batch(self, request: Request) -> Response:
        try:
            self._authenticate(
                request,
                write=True,
                denied=_denied(
                    "woocommerce_rest_cannot_batch", "Sorry, you are not allowed to batch manipulate this resource."
                ),
            )
            await self.faults.delay()
            body = await self._json_body(request)
            lists: dict[str, list[Any]] = {}
            for kind in ("create", "update", "delete"):
                value = body.get(kind)
                if value is None or value == []:
                    continue
                if not isinstance(value, list):
                    raise _invalid_param(kind, f"{kind} is not of type array.")
                lists[kind] = value
            total = sum(len(items) for items in lists.values())
            if total > BATCH_LIMIT:
                # check_batch_limit: 413 for the whole request, nothing applied (§2).
                raise WooError(
                    413,
                    "woocommerce_rest_request_entity_too_large",
                    f"Unable to accept more than {BATCH_LIMIT} items for this request.",
                )
        except WooError as exc:
            return _error(exc)
        self.store.counters["batches"] += 1
        answer: dict[str, list[dict[str, Any]]] = {}
        for kind, items in lists.items():
            answer[kind] = [self._batch_item(kind, item) for item in items]
        return JSONResponse(answer)

    def _batch_item(self, kind: str, item: Any) -> dict[str, Any]:
        """One batch item, answered like the single endpoint or as {id, error} (batch_items)."""
        self.store.counters["batch_items"] += 1
        item_id = 0
        try:
            if kind == "delete":
                item_id = _batch_id(item)
                with self.store.lock:
                    user = self.store.get(item_id)
                    before = user.to_json(self.site_url)
                    # batch_items sends each delete with force=true.
                    self.store.delete(item_id, force=True)
                return before
            if not isinstance(item, Mapping):
                raise WooError(400, "woocommerce_rest_invalid_param", "A batch item must be an object.")
            if kind == "update":
                item_id = _batch_id(item.get("id"))
                self.store.get(item_id)
            # Batch items are passed to create_item/update_item directly, without WordPress's
            # argument validation, so a bad value fails in the WC_Customer setters instead.
            _check_item_setters(item, record=str(item_id or "new"))
            _check_body(item, record=str(item_id or "new"))
            self._check_fault(item)
            if kind == "create":
                if not item.get("email"):
                    raise WooError(400, "registration-error-invalid-email", "Please provide a valid email address.")
                return self.store.create(item).to_json(self.site_url)
            return self.store.update(item_id, item).to_json(self.site_url)
        except WooError as exc:
            return {"id": item_id, "error": exc.body()}

    def _check_fault(self, body: Mapping[str, Any]) -> None:
        flat = _flatten(body)
        note = self.faults.item_error_for(flat)
        if note is not None:
            raise WooError(400, "woocommerce_rest_cannot_create", note)

    # -- control endpoints -------------------------------------------------------------------

    async def _control_list(self, request: Request) -> Response:
        return JSONResponse(self.customers(role=request.query_params.get("role", "all")))

    async def _control_object(self, request: Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise WooError(400, "sim_bad_request", "the body must be a JSON object") from None
        if not isinstance(data, dict):
            raise WooError(400, "sim_bad_request", "the body must be a JSON object")
        return data

    async def _control_register(self, request: Request) -> Response:
        try:
            data = await self._control_object(request)
            role = str(data.pop("role", "customer"))
            if role not in ROLES:
                raise WooError(400, "sim_bad_request", "unknown role")
            customer_id = self.register(data, role=role)
        except WooError as exc:
            return _error(exc)
        return JSONResponse({"id": customer_id}, status_code=201)

    async def _control_edit(self, request: Request) -> Response:
        try:
            data = await self._control_object(request)
            return JSONResponse(self.edit(int(request.path_params["id"]), data))
        except WooError as exc:
            return _error(exc)

    async def _control_delete(self, request: Request) -> Response:
        if not self.delete(int(request.path_params["id"])):
            return _error(WooError(404, "woocommerce_rest_invalid_id", "Invalid resource ID."))
        return Response(status_code=204)

    async def _control_notifications(self, request: Request) -> Response:
        return JSONResponse(self.notifications())

    async def _control_webhooks(self, request: Request) -> Response:
        with self._webhook_lock:
            hooks = [w.to_dict() for w in self.webhooks.values()]
        return JSONResponse({"webhooks": hooks, "deliveries": self.deliveries()})

    async def _control_add_webhook(self, request: Request) -> Response:
        try:
            data = await self._control_object(request)
            webhook_id = self.add_webhook(
                str(data.get("topic", "")),
                str(data.get("delivery_url", "")),
                str(data.get("secret", "")),
                ping=bool(data.get("ping", True)),
            )
        except (WooError, ValueError, httpx.HTTPError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"id": webhook_id}, status_code=201)

    async def _control_get_faults(self, request: Request) -> Response:
        return JSONResponse(self.faults.to_dict())

    async def _control_set_faults(self, request: Request) -> Response:
        try:
            self.faults.configure(await self._control_object(request))
        except (WooError, FaultConfigError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.faults.to_dict())

    async def _control_stats(self, request: Request) -> Response:
        return JSONResponse(self.stats_dict())

    async def _control_reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True})


# -- argument checks (WordPress's REST argument validation) -----------------------------------


def _denied(code: str, message: str) -> WooError:
    # rest_authorization_required_code(): 401 for an anonymous request.
    return WooError(401, code, message)


def _invalid_param(name: str, detail: str) -> WooError:
    """WP_REST_Request::has_valid_params: 400 rest_invalid_param naming the parameter(s)."""
    return WooError(400, "rest_invalid_param", f"Invalid parameter(s): {name}", params={name: detail})


def _check_required(body: Mapping[str, Any], store: WooStore) -> None:
    # V1 register_routes: email always required; username and password only when the store
    # does not generate them (§2).
    missing = [name for name in ("email",) if not body.get(name)]
    if not store.generate_username and not body.get("username"):
        missing.append("username")
    if not store.generate_password and not body.get("password"):
        missing.append("password")
    if missing:
        raise WooError(
            400, "rest_missing_callback_param", f"Missing parameter(s): {', '.join(missing)}", params=missing
        )


def _check_body(body: Mapping[str, Any], *, record: str) -> None:
    """Types and formats of the known arguments (get_endpoint_args_for_item_schema); unknown
    arguments are ignored, as WordPress does."""
    try:
        compiled("woocommerce", "customer-write")(dict(body))
    except fastjsonschema.JsonSchemaValueException as exc:
        field = field_of(exc)
        top = field.split(".", 1)[0].split("[", 1)[0]
        raise _invalid_param(top, f"{field} is not valid ({exc.rule}).") from None


def _check_item_setters(item: Mapping[str, Any], *, record: str) -> None:
    """What the WC_Customer setters refuse in a batch item (WC_Data_Exception codes)."""
    email = item.get("email")
    if isinstance(email, str) and email and not _looks_like_email(email):
        raise WooError(400, "customer_invalid_email", "Invalid email address")
    billing = item.get("billing")
    if isinstance(billing, Mapping):
        billing_email = billing.get("email")
        if isinstance(billing_email, str) and billing_email and not _looks_like_email(billing_email):
            raise WooError(400, "customer_invalid_billing_email", "Invalid billing email address")


def _looks_like_email(value: str) -> bool:
    local, at, domain = value.partition("@")
    return bool(at and local and "." in domain and not domain.startswith(".") and not domain.endswith("."))


def _integer(
    value: str | None, *, name: str, default: int | None, minimum: int, maximum: int | None = None
) -> int | None:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise _invalid_param(name, f"{name} is not of type integer.") from None
    if number < minimum or (maximum is not None and number > maximum):
        if maximum is None:
            raise _invalid_param(name, f"{name} must be greater than or equal to {minimum}")
        raise _invalid_param(name, f"{name} must be between {minimum} (inclusive) and {maximum} (inclusive)")
    return number


def _boolean(value: str | None, *, name: str) -> bool:
    # rest_sanitize_boolean / rest_is_boolean: these spellings only, else rest_invalid_param.
    if value is None or value == "":
        return False
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise _invalid_param(name, f"{name} is not of type boolean.")


def _id_list(value: str | None, *, name: str) -> list[int]:
    if not value:
        return []
    ids: list[int] = []
    for part in value.split(","):
        if not part.strip().isdigit():
            raise _invalid_param(name, f"{name}[{len(ids)}] is not of type integer.")
        ids.append(int(part))
    return ids


def _list_params(query: Mapping[str, str]) -> dict[str, Any]:
    """V1 get_collection_params with WordPress's validation of each."""
    per_page = _integer(
        query.get("per_page"), name="per_page", default=DEFAULT_PER_PAGE, minimum=1, maximum=MAX_PER_PAGE
    )
    page = _integer(query.get("page"), name="page", default=1, minimum=1)
    offset = _integer(query.get("offset"), name="offset", default=None, minimum=0)
    order = query.get("order") or "asc"
    if order not in ("asc", "desc"):
        raise _invalid_param("order", "order is not one of asc and desc.")
    orderby = query.get("orderby") or "name"
    if orderby not in ORDERBY:
        raise _invalid_param("orderby", f"orderby is not one of {', '.join(ORDERBY)}.")
    role = query.get("role") or "customer"
    if role not in ("all", *ROLES):
        raise _invalid_param("role", f"role is not one of all, {', '.join(ROLES)}.")
    email = query.get("email") or None
    if email is not None and not _looks_like_email(email):
        raise _invalid_param("email", "Invalid email address.")
    assert per_page is not None and page is not None
    return {
        "per_page": per_page,
        "page": page,
        "offset": offset,
        "order": order,
        "orderby": orderby,
        "role": role,
        "email": email,
        "search": query.get("search") or None,
        "include": _id_list(query.get("include"), name="include"),
        "exclude": _id_list(query.get("exclude"), name="exclude"),
        "fields": _split_fields(query.get("_fields")),
    }


def _split_fields(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [f.strip() for f in value.split(",") if f.strip()]


def _fields(data: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """rest_filter_response_fields: keep the named top-level keys and dotted nested ones."""
    if fields is None:
        return data
    out: dict[str, Any] = {}
    for name in fields:
        top, _, rest = name.partition(".")
        if top not in data:
            continue
        if not rest or not isinstance(data[top], dict):
            out[top] = copy.deepcopy(data[top])
        elif rest in data[top]:
            nested = out.setdefault(top, {})
            if isinstance(nested, dict):
                nested[rest] = data[top][rest]
    return out


def _batch_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit() or int(value) < 1:
        raise WooError(400, "woocommerce_rest_invalid_id", "Invalid resource ID.")
    return int(value)


def _flatten(body: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level fields plus `billing.x`/`shipping.x`, for the item_error fault rules."""
    flat: dict[str, Any] = {k: v for k, v in body.items() if not isinstance(v, (dict, list))}
    for part in ("billing", "shipping"):
        values = body.get(part)
        if isinstance(values, Mapping):
            flat.update({f"{part}.{k}": v for k, v in values.items()})
    return flat


def _error(exc: WooError) -> Response:
    return JSONResponse(exc.body(), status_code=exc.status)


async def _no_route(request: Request, exc: Exception) -> Response:
    # WP_REST_Server::dispatch: no route matches the path and method.
    return JSONResponse(
        {
            "code": "rest_no_route",
            "message": "No route was found matching the URL and request method.",
            "data": {"status": 404},
        },
        status_code=404,
    )


__all__ = [
    "API",
    "BATCH_LIMIT",
    "DEFAULT_CONSUMER_KEY",
    "DEFAULT_CONSUMER_SECRET",
    "TOPICS",
    "Webhook",
    "WooCommerceSimulator",
    "WooError",
    "webhook_signature",
]
