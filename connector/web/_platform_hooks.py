"""The platforms' own webhooks for `connector serve`: WooCommerce's and Shoptet's, each
verified by its platform's signature, stored (deduplicated) and only then answered.

`POST /webhooks/woocommerce`: `X-WC-Webhook-Signature` = base64 HMAC-SHA256 of the raw body;
the body is the customer (`{"id": N}` for a deletion); the unsigned form-encoded creation ping
`webhook_id=N` is answered 200 and stores nothing. `POST /webhooks/shoptet`:
`Shoptet-Webhook-Signature` = hex HMAC-SHA1 of the raw body; the body names only the guid.
The keys are CONNECTOR_WEBHOOK_SECRETS; the worker then fetches each customer (`shop.get`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connector.errors import StoreUnavailable
from connector.log import get_logger

if TYPE_CHECKING:
    from connector.web._app import WebApp

log = get_logger(__name__)

WOO_SIGNATURE = "X-WC-Webhook-Signature"
WOO_TOPIC = "X-WC-Webhook-Topic"
SHOPTET_SIGNATURE = "Shoptet-Webhook-Signature"
WOO_TOPICS = ("customer.created", "customer.updated", "customer.deleted")
# Shoptet event -> the event type the worker knows (customer events carry no payload).
SHOPTET_EVENTS = {
    "customer:create": "customer.created",
    "customer:update": "customer.updated",
    "customer:delete": "customer.deleted",
}
_PING = re.compile(rb"^webhook_id=[0-9]{1,20}$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NOT_ID = re.compile(r"[^A-Za-z0-9._:-]")


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _woo_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def _shoptet_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()


def _matches(given: str | None, expected: list[str], header: str) -> None:
    if given is None or not given.strip():
        raise _Refused(401, "signature_missing", f"the {header} header is required")
    matched = False
    for value in expected:
        # No early exit: every comparison runs, each in constant time.
        matched |= hmac.compare_digest(value.encode("ascii"), given.strip().encode("utf-8", "replace"))
    if not matched:
        raise _Refused(401, "signature_mismatch", f"{header}: no active secret produces this signature")


def _event_id(*parts: str) -> str:
    return _NOT_ID.sub(".", ":".join(parts))[:128]


class PlatformWebhooks:
    """The two endpoints, over the webhook app's store, worker, metrics and body limits."""

    def __init__(self, web: WebApp) -> None:
        self.web = web

    async def woocommerce(self, request: Request) -> Response:
        return await self._handle(request, "woocommerce", self._read_woocommerce)

    async def shoptet(self, request: Request) -> Response:
        return await self._handle(request, "shoptet", self._read_shoptet)

    async def _handle(self, request: Request, platform: str, read: Any) -> Response:
        web = self.web
        try:
            if web.config.eshop.platform != platform:
                # Another platform's customer ids would be looked up in the wrong shop.
                raise _Refused(404, "platform_not_configured", f"[eshop] platform is not {platform!r}")
            body = await self._body(request)
            event = read(request, body)
        except _Refused as exc:
            web.metrics.events_rejected.labels(reason=exc.code).inc()
            log.info("webhook.rejected", platform=platform, reason=exc.code, status=exc.status)
            return JSONResponse({"error": exc.code, "message": str(exc)}, status_code=exc.status)
        if event is None:  # WooCommerce's creation ping, or an event with no customer in it
            return JSONResponse({"status": "ok"}, status_code=200)
        event_id, kind, customer_id = event
        try:
            stored = await anyio.to_thread.run_sync(web.store.record_event, event_id, kind, customer_id)
        except StoreUnavailable:
            log.exception("webhook.store_failed", event_id=event_id)
            return JSONResponse(
                {"error": "store_unavailable", "message": "the event could not be stored; send it again later"},
                status_code=503,
            )
        if not stored:
            web.metrics.events_duplicate.inc()
            return JSONResponse({"status": "duplicate", "event_id": event_id}, status_code=200)
        web.metrics.events_received.labels(type=kind).inc()
        web.worker.wake()
        return JSONResponse({"status": "accepted", "event_id": event_id}, status_code=202)

    async def _body(self, request: Request) -> bytes:
        from connector.web._app import Rejected

        try:
            return await self.web._read_body(request)
        except Rejected as exc:
            raise _Refused(exc.status, exc.code, str(exc)) from None

    def _json(self, body: bytes) -> Any:
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise _Refused(400, "malformed_json", "the body is not a JSON document in UTF-8") from None

    def _read_woocommerce(self, request: Request, body: bytes) -> tuple[str, str, str] | None:
        given = request.headers.get(WOO_SIGNATURE)
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if given is None and media_type == "application/x-www-form-urlencoded" and _PING.match(body.strip()):
            # The creation ping is unsigned and must be answered 200, or WooCommerce refuses
            # to save the webhook; it names no customer, so nothing is stored.
            return None
        _matches(given, [_woo_signature(secret, body) for secret in self.web.secrets], WOO_SIGNATURE)
        data = self._json(body)
        topic = request.headers.get(WOO_TOPIC, "")
        if topic not in WOO_TOPICS:
            raise _Refused(422, "unknown_event_type", f"{WOO_TOPIC} must be one of {', '.join(WOO_TOPICS)}")
        customer = data.get("id") if isinstance(data, dict) else None
        if not isinstance(customer, int) or isinstance(customer, bool) or customer < 1:
            raise _Refused(422, "invalid_event", "the body must carry the customer's id")
        if topic == "customer.deleted":
            event_id = _event_id("wc", str(customer), "deleted")
        else:
            # The payload is built at delivery time and Delivery-ID is no stable id (§2): the
            # customer's state (its modification time) is what a repeat delivery repeats.
            event_id = _event_id("wc", str(customer), str(data.get("date_modified_gmt") or ""))
        return event_id, topic, str(customer)

    def _read_shoptet(self, request: Request, body: bytes) -> tuple[str, str, str] | None:
        given = request.headers.get(SHOPTET_SIGNATURE)
        expected = [_shoptet_signature(secret, body) for secret in self.web.secrets]
        _matches(given.lower() if given else given, expected, SHOPTET_SIGNATURE)
        data = self._json(body)
        if not isinstance(data, dict):
            raise _Refused(422, "invalid_event", "the body must be a JSON object")
        event, instance, created = data.get("event"), data.get("eventInstance"), data.get("eventCreated")
        if event not in SHOPTET_EVENTS:
            if isinstance(event, str) and event.startswith("customer:"):
                return None  # customer:import and the like name no customer: the cron run reads them
            raise _Refused(422, "unknown_event_type", f"event must be one of {', '.join(SHOPTET_EVENTS)}")
        if not isinstance(instance, str) or not _GUID.match(instance):
            raise _Refused(422, "invalid_event", "eventInstance must be the customer's guid")
        return _event_id("st", instance, str(event), str(created or "")), SHOPTET_EVENTS[event], instance


__all__ = ["SHOPTET_SIGNATURE", "WOO_SIGNATURE", "PlatformWebhooks"]
