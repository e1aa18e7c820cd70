"""A loopback e-shop speaking the connector's e-shop protocol (docs/eshop-protocol.md), in memory.

Plays the e-shop for tests and demos; control endpoints under `/_sim` (no auth) let a test
seed, inspect, edit, break and count it, like the POHODA simulator's.

On the wire: `Authorization: Bearer <token>` or 401; every request body is validated against
schemas/eshop (400 with an `<error>` naming the element and the field otherwise), every answer
is built by the same codec and so validates too.

- `GET /customers/changes?cursor=&limit=` — the feed (`<changes>`), one entry per customer.
- `GET /customers/{id}` — `<customer>` with its version as ETag; 404 when unknown.
- `POST /customers` — `<newCustomer>` with `Idempotency-Key`; 201, replay 201 with
  `Idempotency-Replayed: true`, same key and another body 422.
- `PUT /customers/{id}` — `<customerUpdate>`, version in If-Match or in the body; 409 stale.
- `PUT /customers/{id}/hq-link` — `<hqLink>`.
- `POST /batch` — `<batch>` of create/update/link, answered per item in `<batchResult>`.

Control: `GET /_sim/contacts` (JSON lines: the canonical contact plus `hq_id`, `sync_state`),
`POST /_sim/register`, `PATCH|DELETE /_sim/customers/{id}`, `GET /_sim/notifications`,
`GET|POST /_sim/faults`, `GET /_sim/stats`, `POST /_sim/reset`.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterable, Mapping
from typing import IO, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connector.codec import eshop as codec
from connector.codec.eshop import ErrorReport, EshopCustomer, EshopResult, EshopWrite
from connector.errors import BadData, ConnectorError, InvalidContact, MalformedXML, SchemaViolation
from connector.model import Contact
from connector.sim._eshop_shop import (
    BadCursor,
    CursorExpired,
    EmailTaken,
    Shop,
    UnknownCustomer,
    seed_entry,
    seed_shop,
)
from connector.sim._faults import FaultConfigError, FaultInjection, Faults, TrafficStats

DEFAULT_TOKEN = "eshop-token"  # noqa: S105 - a loopback test double's well-known default
DEFAULT_PAGE = 100
MAX_PAGE = 1000
BUSINESS_PATHS = ("/customers", "/customers/changes", "/batch")


class EshopSimulator:
    """An e-shop with customers in memory. `.app` is the ASGI app; the methods are the control API.

    `seed_contacts` (contacts, or JSON objects that may carry `hq_id` and `sync_state`) are
    loaded now and again on `reset()`, keeping their ids when they have one. With
    `unique_emails` (the default) a create, an update or a registration that would give two
    customers one e-mail address (case-folded) is refused, as e-shops do; seeds are not checked.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        seed_contacts: Iterable[Contact | Mapping[str, Any]] = (),
        unique_emails: bool = True,
        seed: int = 0,
    ) -> None:
        self.token = token
        self._seeds = list(seed_contacts)
        self.faults = Faults(seed)
        self.traffic = TrafficStats()
        self.shop = Shop(faults=self.faults, unique_emails=unique_emails)
        seed_shop(self.shop, self._seeds)
        routes = [
            Route("/customers/changes", self._changes, methods=["GET"]),
            Route("/customers", self._create, methods=["POST"]),
            Route("/customers/{customer_id}", self._get, methods=["GET"]),
            Route("/customers/{customer_id}", self._update, methods=["PUT"]),
            Route("/customers/{customer_id}/hq-link", self._link, methods=["PUT"]),
            Route("/batch", self._batch, methods=["POST"]),
            Route("/_sim/contacts", self._list_contacts, methods=["GET"]),
            Route("/_sim/register", self._register, methods=["POST"]),
            Route("/_sim/customers/{customer_id}", self._edit, methods=["PATCH"]),
            Route("/_sim/customers/{customer_id}", self._delete, methods=["DELETE"]),
            Route("/_sim/notifications", self._notifications, methods=["GET"]),
            Route("/_sim/faults", self._get_faults, methods=["GET"]),
            Route("/_sim/faults", self._set_faults, methods=["POST"]),
            Route("/_sim/stats", self._stats, methods=["GET"]),
            Route("/_sim/reset", self._reset, methods=["POST"]),
            Route("/_sim/forget-history", self._forget_history, methods=["POST"]),
        ]
        self.app = FaultInjection(
            Starlette(routes=routes), self.faults, business_paths=BUSINESS_PATHS, stats=self.traffic
        )

    # -- the Python control API --------------------------------------------------------------

    def contacts(self) -> list[Contact]:
        """Every customer in canonical form (`id` = the e-shop id), in id order."""
        return [customer.contact for customer in self.shop.customers()]

    def customers(self) -> list[EshopCustomer]:
        """Every customer with its version, HQ link and sync state, in id order."""
        return self.shop.customers()

    def customer(self, customer_id: str) -> EshopCustomer | None:
        return self.shop.get(customer_id)

    def register(self, contact: Contact) -> str:
        """A registration through the storefront; returns the new id (EmailTaken if taken)."""
        return self.shop.register(contact)

    def edit(self, customer_id: str, **changes: Any) -> EshopCustomer:
        """The customer edits their profile (canonical field names); KeyError when unknown."""
        return self.shop.edit(customer_id, changes)

    def delete(self, customer_id: str) -> bool:
        return self.shop.delete(customer_id)

    def notifications(self) -> list[dict[str, Any]]:
        """Welcome e-mails sent: {customer_id, email, at}, oldest first."""
        with self.shop.lock:
            return list(self.shop.notifications)

    def stats_dict(self) -> dict[str, Any]:
        with self.shop.lock:
            counters = dict(self.shop.counters)
            notifications = len(self.shop.notifications)
            customers = len(self.shop)
        return {**self.traffic.to_dict(), **counters, "notifications": notifications, "customers": customers}

    def reset(self) -> None:
        """Back to the seeds: no faults, no stats, no idempotency keys, no notifications."""
        with self.shop.lock:
            self.shop.clear()
            seed_shop(self.shop, self._seeds)
        self.faults.clear()
        self.traffic.requests.clear()
        self.traffic.faults.clear()

    # -- the protocol ------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.token.encode())

    async def _guard(self, request: Request) -> Response | None:
        if not self._authorized(request):
            return _xml_error(
                401,
                ErrorReport("unauthorized", "missing or wrong bearer token (Authorization: Bearer <token>)"),
                headers={"WWW-Authenticate": 'Bearer realm="eshop"'},
            )
        await self.faults.delay()
        return None

    async def _body(self, request: Request) -> bytes:
        body = await request.body()
        if len(body) > codec.MAX_DOCUMENT_BYTES:
            raise MalformedXML(f"the body is larger than {codec.MAX_DOCUMENT_BYTES} bytes")
        return body

    def _answer(self, payload: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        return Response(
            self.faults.corrupt(payload), status_code=status, media_type=codec.CONTENT_TYPE, headers=headers
        )

    async def _changes(self, request: Request) -> Response:
        refusal = await self._guard(request)
        if refusal is not None:
            return refusal
        cursor = request.query_params.get("cursor") or None
        raw_limit = request.query_params.get("limit") or str(DEFAULT_PAGE)
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE:
            return _xml_error(400, ErrorReport("invalid_parameter", f"limit must be 1..{MAX_PAGE}", "limit"))
        try:
            page, entries = self.shop.changes_and_entries(cursor, int(raw_limit))
        except BadCursor as exc:
            return _xml_error(400, ErrorReport("invalid_cursor", str(exc), "cursor"))
        except CursorExpired as exc:
            return _xml_error(410, ErrorReport("cursor_expired", str(exc), "cursor"))
        return self._answer(codec.encode_changes(page, entries=entries))

    async def _get(self, request: Request) -> Response:
        refusal = await self._guard(request)
        if refusal is not None:
            return refusal
        customer_id = request.path_params["customer_id"]
        customer = self.shop.get(customer_id)
        if customer is None:
            return _xml_error(404, ErrorReport("not_found", f"no customer {customer_id}"))
        return self._answer(codec.encode_customer(customer), headers=_etag(customer))

    async def _create(self, request: Request) -> Response:
        refusal = await self._guard(request)
        if refusal is not None:
            return refusal
        key = request.headers.get("idempotency-key", "").strip()
        if not key:
            return _xml_error(
                400,
                ErrorReport(
                    "missing_idempotency_key", "POST /customers needs an Idempotency-Key header", "idempotency_key"
                ),
            )
        try:
            new = codec.decode_new_customer(await self._body(request))
            write = EshopWrite.create(
                new.contact, key, send_welcome=new.send_welcome, hq_id=new.hq_id, sync_state=new.sync_state
            )
            codec.check_write(write)
        except BadData as exc:
            return _bad_request(exc)
        result = self.shop.apply(write)
        headers = {"Idempotency-Replayed": "true"} if result.replayed else {}
        if result.ok and result.customer is not None:
            headers.update(_etag(result.customer))
            headers["Location"] = f"/customers/{result.customer.id}"
        return self._single(result, headers)

    async def _update(self, request: Request) -> Response:
        refusal = await self._guard(request)
        if refusal is not None:
            return refusal
        customer_id = request.path_params["customer_id"]
        try:
            contact, body_version = codec.decode_customer_update(await self._body(request), record=customer_id)
        except BadData as exc:
            return _bad_request(exc)
        version = _if_match(request.headers.get("if-match")) or body_version
        if version is None:
            return _xml_error(
                428,
                ErrorReport("version_required", "send the expected version in If-Match or in version=", "version"),
            )
        result = self.shop.apply(EshopWrite.update(customer_id, contact, version))
        return self._single(result, _etag(result.customer) if result.customer is not None else {})

    async def _link(self, request: Request) -> Response:
        refusal = await self._guard(request)
        if refusal is not None:
            return refusal
        customer_id = request.path_params["customer_id"]
        try:
            hq_id, sync_state = codec.decode_hq_link(await self._body(request))
        except BadData as exc:
            return _bad_request(exc)
        result = self.shop.apply(EshopWrite.link(customer_id, hq_id, sync_state))
        return self._single(result, _etag(result.customer) if result.customer is not None else {})

    def _single(self, result: EshopResult, headers: Mapping[str, str]) -> Response:
        """A single-operation answer: the customer on success, else `<error>` (with the
        current customer for a conflict or an e-mail already taken)."""
        if result.ok and result.customer is not None:
            return self._answer(codec.encode_customer(result.customer), result.status, headers)
        assert result.error is not None
        report = result.error
        if result.customer is not None:
            report = ErrorReport(report.code, report.message, report.field, result.customer)
        return _xml_error(result.status, report, headers=headers)

    async def _batch(self, request: Request) -> Response:
        refusal = await self._guard(request)
        if refusal is not None:
            return refusal
        try:
            items = codec.decode_batch(await self._body(request))
        except BadData as exc:
            return _bad_request(exc)
        results: list[EshopResult] = []
        for item in items:
            self.shop.counters["batch_items"] += 1
            if item.write is None:
                error = item.error or BadData("invalid item")
                results.append(EshopResult(item.ref, 400, error=_report_for(error)))
                continue
            try:
                codec.check_write(item.write)
            except BadData as exc:
                results.append(EshopResult(item.ref, 400, id=item.write.id, error=_report_for(exc)))
                continue
            results.append(_with_ref(self.shop.apply(item.write), item.ref))
        self.shop.counters["batches"] += 1
        return self._answer(codec.encode_batch_result(results))

    # -- control endpoints -------------------------------------------------------------------

    async def _forget_history(self, request: Request) -> Response:
        """Expire every cursor handed out so far, as an e-shop that prunes its change log."""
        return JSONResponse({"history_from": self.shop.forget_history()})

    async def _list_contacts(self, request: Request) -> Response:
        lines = []
        for customer in self.shop.customers():
            data = customer.contact.to_dict()
            data["hq_id"] = customer.hq_id
            data["sync_state"] = customer.sync_state
            lines.append(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
        return Response("".join(lines), media_type="application/x-ndjson")

    async def _json_object(self, request: Request, what: str) -> dict[str, Any]:
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _BadRequest(f"the body must be JSON: {exc}") from None
        if not isinstance(data, dict):
            raise _BadRequest(f"the body must be a JSON object ({what})")
        field = _surrogate_field(data)
        if field is not None:
            # JSON's \ud800 escapes decode to a lone surrogate that no UTF-8 or XML layer can
            # carry; a real shop refuses it at the door instead of failing on every read later.
            raise _BadRequest(
                f"field {field!r} holds a lone surrogate (U+D800-U+DFFF), which is not a character",
                field=field,
            )
        return data

    async def _register(self, request: Request) -> Response:
        try:
            data = await self._json_object(request, "a contact")
            data.pop("id", None)  # the e-shop assigns ids
            customer_id = self.register(Contact.from_dict(data, record="registration"))
        except EmailTaken as exc:
            return JSONResponse({"error": str(exc), "field": "email", "existing_id": exc.existing_id}, status_code=409)
        except (_BadRequest, InvalidContact, BadData) as exc:
            return _json_error(400, str(exc), getattr(exc, "field", None))
        return JSONResponse({"id": customer_id}, status_code=201)

    async def _edit(self, request: Request) -> Response:
        customer_id = request.path_params["customer_id"]
        try:
            data = await self._json_object(request, "the fields to change")
            data.pop("id", None)
            customer = self.edit(customer_id, **data)
        except UnknownCustomer:
            return _json_error(404, f"no customer {customer_id}")
        except EmailTaken as exc:
            return JSONResponse({"error": str(exc), "field": "email", "existing_id": exc.existing_id}, status_code=409)
        except (_BadRequest, InvalidContact, BadData) as exc:
            return _json_error(400, str(exc), getattr(exc, "field", None))
        return JSONResponse({**customer.contact.to_dict(), "version": customer.version})

    async def _delete(self, request: Request) -> Response:
        customer_id = request.path_params["customer_id"]
        if not self.delete(customer_id):
            return _json_error(404, f"no customer {customer_id}")
        return Response(status_code=204)

    async def _notifications(self, request: Request) -> Response:
        lines = "".join(json.dumps(n, ensure_ascii=False) + "\n" for n in self.notifications())
        return Response(lines, media_type="application/x-ndjson")

    async def _get_faults(self, request: Request) -> Response:
        return JSONResponse(self.faults.to_dict())

    async def _set_faults(self, request: Request) -> Response:
        try:
            self.faults.configure(await self._json_object(request, "of faults"))
        except (_BadRequest, FaultConfigError) as exc:
            return _json_error(400, str(exc))
        return JSONResponse(self.faults.to_dict())

    async def _stats(self, request: Request) -> Response:
        return JSONResponse(self.stats_dict())

    async def _reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True, "contacts": len(self.shop)})


def read_seed_jsonl(stream: IO[str]) -> list[dict[str, Any]]:
    """Seed customers from JSON lines: canonical contacts that may carry `hq_id` and
    `sync_state` (the output of `GET /_sim/contacts`); a bad line raises InvalidContact
    naming its line number and the field."""
    seeds: list[dict[str, Any]] = []
    for lineno, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidContact(f"line {lineno}: not valid JSON ({exc.msg})", record=f"line {lineno}") from None
        if not isinstance(data, dict):
            raise InvalidContact(f"line {lineno}: a contact must be a JSON object", record=f"line {lineno}")
        seed_entry(data, record=f"line {lineno}")  # the same checks as the load itself
        seeds.append(data)
    return seeds


class _BadRequest(ConnectorError):
    """A control request that cannot be understood."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate_field(value: Any, path: str = "") -> str | None:
    """The path of the first string (or key) in a JSON value that holds a lone surrogate."""
    if isinstance(value, str):
        return (path or "body") if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if _SURROGATE.search(str(key)):
                return path or "body"
            found = _surrogate_field(item, where)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _surrogate_field(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _with_ref(result: EshopResult, ref: str) -> EshopResult:
    return EshopResult(ref, result.status, result.id, result.customer, result.error, result.replayed)


def _report_for(exc: BadData) -> ErrorReport:
    if isinstance(exc, MalformedXML):
        code = "malformed_xml"
    elif isinstance(exc, SchemaViolation):
        code = "schema_violation"
    else:
        code = "invalid"
    return ErrorReport(code, str(exc), exc.field)


def _bad_request(exc: BadData) -> Response:
    return _xml_error(400, _report_for(exc))


def _xml_error(status: int, report: ErrorReport, *, headers: Mapping[str, str] | None = None) -> Response:
    return Response(codec.encode_error(report), status_code=status, media_type=codec.CONTENT_TYPE, headers=headers)


def _json_error(status: int, message: str, field: str | None = None) -> Response:
    body = {"error": message} if field is None else {"error": message, "field": field}
    return JSONResponse(body, status_code=status)


def _etag(customer: EshopCustomer) -> dict[str, str]:
    return {"ETag": f'"{customer.version}"'}


def _if_match(value: str | None) -> str | None:
    """The version in an If-Match header ('"7"', 'W/"7"' or a bare 7)."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None
