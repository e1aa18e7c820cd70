"""The ASGI app of `connector serve`: the e-shop's webhooks, the trigger, health, metrics and status.

A webhook is verified, stored, and only then answered; the worker does the syncing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connector.actions import status_report
from connector.config import Config
from connector.errors import ConnectorError, StoreUnavailable
from connector.log import get_logger
from connector.runtime import Runtime
from connector.transport import CircuitBreaker
from connector.web._metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from connector.web._metrics import Metrics
from connector.web._platform_hooks import PlatformWebhooks
from connector.web._signature import DEFAULT_TOLERANCE_S, HEADER, SignatureError, verify
from connector.web._worker import BATCH_MAX, POLL_S, PROBE_MAX_AGE_S, EventWorker
from connector.web.openapi import openapi_document

log = get_logger(__name__)

MAX_BODY_BYTES = 64 * 1024
EVENT_TYPES = ("customer.created", "customer.updated", "customer.deleted")
# The e-shop protocol's customer id (it becomes part of a URL path on the e-shop).
CUSTOMER_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
EVENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
POHODA_COOLDOWN_S = 30.0
BODY_TIMEOUT_S = 10.0
# Webhook bodies being received at one moment; past it a new one is answered 503 at once,
# so clients that send headers and then stall cannot pile up connections and tasks.
MAX_PENDING_BODIES = 64


@dataclasses.dataclass(frozen=True)
class WebSettings:
    """What `connector serve` takes beside the configuration (options, not config keys yet)."""

    max_body_bytes: int = MAX_BODY_BYTES
    tolerance_s: int = DEFAULT_TOLERANCE_S
    batch_max: int = BATCH_MAX
    poll_s: float = POLL_S
    run_worker: bool = True
    # A body not received in full within this time is answered 408 ([web] body_timeout_s).
    body_timeout_s: float = BODY_TIMEOUT_S
    max_pending_bodies: int = MAX_PENDING_BODIES
    # /readyz and /metrics report peers probed at most this long ago.
    probe_max_age_s: float = PROBE_MAX_AGE_S


class Rejected(ConnectorError):
    """A request refused with `status` and a JSON body naming `code`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


class WebApp:
    """The handlers and what they share: the store, the worker, the metrics, the secrets."""

    def __init__(self, config: Config, settings: WebSettings) -> None:
        self.config = config
        self.settings = settings
        self.secrets = config.secrets.webhook_secrets
        self.admin_token = config.secrets.admin_token
        self.runtime = Runtime(config, hq_options={"breaker": CircuitBreaker(cooldown_s=POHODA_COOLDOWN_S)})
        self.store = self.runtime.store
        # Built now, not on the first event: a wrong key or platform stops `serve` at start.
        self.runtime.hq, self.runtime.shop  # noqa: B018
        self.metrics = Metrics(self.store)
        self.worker = EventWorker(
            self.runtime,
            self.metrics,
            batch_max=settings.batch_max,
            poll_s=settings.poll_s,
            probe_max_age_s=settings.probe_max_age_s,
        )
        self.worker_running = False
        self._bodies_pending = 0

    # -- lifespan ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            if self.settings.run_worker:
                tasks.start_soon(self._work)
            try:
                yield
            finally:
                # Stop taking new batches; the one in hand finishes and is recorded first.
                self.worker.stop()
        self.runtime.close()

    async def _work(self) -> None:
        self.worker_running = True
        try:
            await self.worker.run()
        finally:
            self.worker_running = False

    # -- POST /webhooks/eshop ---------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        try:
            event = await self._read_event(request)
        except Rejected as exc:
            self.metrics.events_rejected.labels(reason=exc.code).inc()
            log.info("webhook.rejected", reason=exc.code, status=exc.status)
            # The rest of an unread body would be taken for the next request: close instead.
            headers = {"Connection": "close"} if exc.status in (408, 413, 503) else None
            return error_response(exc.status, exc.code, str(exc), headers)
        try:
            stored = await anyio.to_thread.run_sync(
                self.store.record_event, event["event_id"], event["type"], event["customer_id"]
            )
        except StoreUnavailable:
            log.exception("webhook.store_failed", event_id=event["event_id"])
            # Not stored, so not accepted: the e-shop retries it later.
            return error_response(503, "store_unavailable", "the event could not be stored; send it again later")
        if not stored:
            self.metrics.events_duplicate.inc()
            log.info("webhook.duplicate", event_id=event["event_id"], type=event["type"])
            return JSONResponse({"status": "duplicate", "event_id": event["event_id"]}, status_code=200)
        self.metrics.events_received.labels(type=event["type"]).inc()
        # Ids only (no personal data); whether the customer exists is the worker's to find.
        log.info("webhook.accepted", event_id=event["event_id"], type=event["type"], customer_id=event["customer_id"])
        self.worker.wake()
        return JSONResponse({"status": "accepted", "event_id": event["event_id"]}, status_code=202)

    async def _read_event(self, request: Request) -> dict[str, str]:
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            raise Rejected(415, "unsupported_media_type", "the body must be sent as Content-Type: application/json")
        body = await self._read_body(request)
        try:
            verify(request.headers.get(HEADER), body, self.secrets, tolerance_s=self.settings.tolerance_s)
        except SignatureError as exc:
            raise Rejected(exc.status, exc.code, str(exc)) from None
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise Rejected(400, "malformed_json", "the body is not a JSON document in UTF-8") from None
        return validate_event(data)

    async def _read_body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise Rejected(400, "bad_content_length", "Content-Length must be a number of bytes")
            if int(declared) > limit:
                raise Rejected(413, "body_too_large", f"the body may be at most {limit} bytes")
        if self._bodies_pending >= self.settings.max_pending_bodies:
            raise Rejected(503, "too_many_pending_bodies", "too many webhook bodies are being received; send it later")
        timeout = self.settings.body_timeout_s
        # Counted while reading: a chunked body (no Content-Length) cannot make us hold more.
        chunks: list[bytes] = []
        size = 0
        self._bodies_pending += 1
        try:
            # A whole-body deadline, not a per-read one: a client dripping a byte a second
            # would never trip a read timeout.
            with anyio.fail_after(timeout):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise Rejected(413, "body_too_large", f"the body may be at most {limit} bytes")
                    chunks.append(chunk)
        except TimeoutError:
            raise Rejected(408, "body_timeout", f"the body was not received in full within {timeout:g} s") from None
        finally:
            self._bodies_pending -= 1
        return b"".join(chunks)

    # -- POST /trigger/sync -----------------------------------------------------------------

    async def trigger_sync(self, request: Request) -> Response:
        if not self.admin_token:
            return error_response(403, "trigger_disabled", "no admin token is configured (CONNECTOR_ADMIN_TOKEN)")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.strip().encode("utf-8")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given, self.admin_token.encode("utf-8")):
            return error_response(
                401, "unauthorized", "Authorization: Bearer <admin token> required", {"WWW-Authenticate": "Bearer"}
            )
        run_id = self.worker.request_full_run()
        log.info("trigger.queued", run_id=run_id)
        return JSONResponse({"status": "queued", "run_id": run_id}, status_code=202)

    # -- health, metrics, status ------------------------------------------------------------

    async def healthz(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, _request: Request) -> Response:
        store_ok = await anyio.to_thread.run_sync(self.store.ping)
        await anyio.to_thread.run_sync(self.worker.refresh_peers)
        # Ready means "can take webhooks": that needs the store, not POHODA (a registration
        # made while POHODA is down takes the async path), so the peers are reported only.
        ready = store_ok and (self.worker_running or not self.settings.run_worker)
        body = {
            "ready": ready,
            "store": {"ok": store_ok},
            "worker": {"running": self.worker_running},
            "pohoda": self.worker.peers["pohoda"].to_dict(),
            "eshop": self.worker.peers["eshop"].to_dict(),
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics_text(self, _request: Request) -> Response:
        await anyio.to_thread.run_sync(self.worker.refresh_peers)
        text = await anyio.to_thread.run_sync(self.metrics.render)
        return Response(text, media_type=METRICS_CONTENT_TYPE)

    async def status(self, _request: Request) -> Response:
        try:
            report = await anyio.to_thread.run_sync(self._status_report)
        except StoreUnavailable:
            log.exception("status.store_failed")
            return error_response(503, "store_unavailable", "the store could not be read")
        return JSONResponse(report)

    def _status_report(self) -> dict[str, Any]:
        report = status_report(self.store)
        report["webhook_events"] = self.store.event_counts()
        return report

    async def openapi(self, _request: Request) -> Response:
        return JSONResponse(openapi_document())


def validate_event(data: Any) -> dict[str, str]:
    """The three fields of an event, or Rejected naming the first field that is wrong."""
    if not isinstance(data, dict):
        raise Rejected(422, "invalid_event", "the body must be a JSON object")
    for field, pattern in (("event_id", EVENT_ID), ("customer_id", CUSTOMER_ID)):
        value = data.get(field)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise Rejected(
                422, "invalid_event", f"{field} must be a string of 1–{_max_len(pattern)} of A-Z a-z 0-9 . _ : -"
            )
    kind = data.get("type")
    if not isinstance(kind, str):
        raise Rejected(422, "invalid_event", "type must be a string")
    if kind not in EVENT_TYPES:
        raise Rejected(422, "unknown_event_type", f"type must be one of {', '.join(EVENT_TYPES)}")
    return {"event_id": data["event_id"], "type": kind, "customer_id": data["customer_id"]}


def _max_len(pattern: re.Pattern[str]) -> str:
    return pattern.pattern.rsplit(",", 1)[1].rstrip("}")


def create_app(config: Config, settings: WebSettings | None = None) -> Starlette:
    """The app for `connector serve`; the worker starts and stops with the app's lifespan."""
    web = WebApp(config, settings or WebSettings())
    platforms = PlatformWebhooks(web)
    routes = [
        Route("/webhooks/eshop", web.webhook, methods=["POST"]),
        Route("/webhooks/woocommerce", platforms.woocommerce, methods=["POST"]),
        Route("/webhooks/shoptet", platforms.shoptet, methods=["POST"]),
        Route("/trigger/sync", web.trigger_sync, methods=["POST"]),
        Route("/healthz", web.healthz, methods=["GET"]),
        Route("/readyz", web.readyz, methods=["GET"]),
        Route("/metrics", web.metrics_text, methods=["GET"]),
        Route("/status", web.status, methods=["GET"]),
        Route("/openapi.json", web.openapi, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=web.lifespan)
    app.state.web = web
    return app
