"""A loopback PrestaShop webservice (1.7 or 8) for customers, addresses and countries, in memory.

Plays the shop for the PrestaShop adapter's tests and demos, as strict as the platform
(../shared/eshop-platforms.md §1 and the PrestaShop source it cites). Control endpoints
under `/_sim` (no auth) seed, edit, count and break it, like the other simulators'.

On the wire, under `/api/`:
- HTTP Basic with the 32-character key as the user (the password is not read: the
  dispatcher takes only PHP_AUTH_USER), or `?ws_key=`; 401 with PrestaShop's codes otherwise.
- `GET /api/{customers|addresses|countries}` with `display=full|minimum|[f,…]`,
  `filter[f]=…`, `sort=[f_ASC,…]`, `limit=offset,count`, `date=1`; `GET /api/{r}/{id}`;
  `?schema=blank|synopsis`.
- `POST` (201), `PUT` (full replace), `PATCH` (8 only), `DELETE /api/{r}/{id}` or `?id=[1,2]`;
  `ps_method=` overrides the HTTP method (cheat-sheet.md).
- Answers in `<prestashop xmlns:xlink=…>`, errors as `<errors><error><code/><message/>`,
  headers `PSWS-Version`, `Execution-Time`, `Content-Sha1` (8: `Local-Content-Sha1` → 304).

Control: `POST /_sim/register`, `POST /_sim/customers/{id}/addresses`,
`PATCH|DELETE /_sim/customers/{id}`, `PATCH|DELETE /_sim/addresses/{id}`,
`POST /_sim/addresses/{id}/used`, `GET /_sim/customers`, `GET /_sim/addresses`,
`GET /_sim/notifications`, `GET /_sim/stats`, `GET|POST /_sim/faults`, `POST /_sim/clock`,
`POST /_sim/reset`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import difflib
import hashlib
import hmac
import json
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connector.codec import parse_bytes
from connector.errors import MalformedXML
from connector.sim._faults import FaultConfigError, FaultInjection, Faults, TrafficStats
from connector.sim._prestashop_rules import HTTP_METHODS, PSWS_VERSIONS, FieldSpec, Resource, Version
from connector.sim._prestashop_shop import (
    DEFAULT_LANG,
    Display,
    Entity,
    ListQuery,
    PrestaShopShop,
    Row,
    WsError,
    parse_display,
)

XLINK = "http://www.w3.org/1999/xlink"
DEFAULT_KEY = "CONNECTORSIMULATORKEY00000000000"
MAX_BODY_BYTES = 8 * 1024 * 1024
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]
_NO_BODY = object()


class _ApiPaths(frozenset[str]):
    """Every path under /api/ counts as a business path for fault injection."""

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and (item == "/api" or item.startswith("/api/"))


class PrestaShopSimulator:
    """A PrestaShop shop with customers, addresses and countries in memory.

    `.app` is the ASGI app; the methods are the control API. `version` decides PATCH and the
    `PSWS-Version` header; `key` must be 32 characters, as a real key (code 18 otherwise).
    """

    def __init__(
        self,
        version: Version = "1.7",
        key: str = DEFAULT_KEY,
        *,
        base_url: str = "http://localhost",
        clock: Callable[[], dt.datetime] | None = None,
        seed: int = 0,
    ) -> None:
        if version not in PSWS_VERSIONS:
            raise ValueError(f"version must be one of {sorted(PSWS_VERSIONS)}")
        if len(key) != 32:
            raise ValueError("a PrestaShop webservice key has 32 characters")
        self.version: Version = version
        self.key = key
        self.base_url = base_url.rstrip("/")
        self.enabled = True  # PS_WEBSERVICE; off -> 503 code 22
        self.shop = PrestaShopShop(version, clock=clock)
        self.faults = Faults(seed)
        self.traffic = TrafficStats()
        self.calls: Counter[str] = Counter()  # "GET customers", "PUT addresses", …
        routes = [
            Route("/api", self._api, methods=_ALL_METHODS),
            Route("/api/{path:path}", self._api, methods=_ALL_METHODS),
            Route("/_sim/register", self._register, methods=["POST"]),
            Route("/_sim/customers", self._list_rows("customers"), methods=["GET"]),
            Route("/_sim/addresses", self._list_rows("addresses"), methods=["GET"]),
            Route("/_sim/customers/{rid:int}", self._edit("customers"), methods=["PATCH"]),
            Route("/_sim/addresses/{rid:int}", self._edit("addresses"), methods=["PATCH"]),
            Route("/_sim/customers/{rid:int}", self._remove("customers"), methods=["DELETE"]),
            Route("/_sim/addresses/{rid:int}", self._remove("addresses"), methods=["DELETE"]),
            Route("/_sim/customers/{rid:int}/addresses", self._add_address, methods=["POST"]),
            Route("/_sim/addresses/{rid:int}/used", self._mark_used, methods=["POST"]),
            Route("/_sim/notifications", self._notifications, methods=["GET"]),
            Route("/_sim/stats", self._stats, methods=["GET"]),
            Route("/_sim/faults", self._get_faults, methods=["GET"]),
            Route("/_sim/faults", self._set_faults, methods=["POST"]),
            Route("/_sim/clock", self._clock, methods=["POST"]),
            Route("/_sim/reset", self._reset, methods=["POST"]),
        ]
        middleware = FaultInjection(Starlette(routes=routes), self.faults, business_paths=(), stats=self.traffic)
        middleware.business_paths = _ApiPaths()
        self.app = middleware

    # -- the Python control API --------------------------------------------------------------

    def register(self, fields: Mapping[str, str], addresses: list[Mapping[str, str]] | None = None) -> int:
        """A storefront registration (active, default group, welcome mail recorded); the id."""
        return self.shop.register(fields, addresses or ()).id

    def add_address(self, customer_id: int, fields: Mapping[str, str]) -> int:
        return self.shop.add_address(customer_id, fields).id

    def edit_customer(self, customer_id: int, **changes: str) -> dict[str, str]:
        """A back-office edit of the customer; returns the stored fields."""
        return self.shop.back_office_edit("customers", customer_id, changes).values

    def edit_address(self, address_id: int, **changes: str) -> dict[str, str]:
        """A back-office edit of one address: only that address's date_upd moves."""
        return self.shop.back_office_edit("addresses", address_id, changes).values

    def delete(self, resource: str, record_id: int) -> None:
        self.shop.delete(resource, [record_id])

    def customers(self) -> list[Row]:
        return self.shop.rows("customers")

    def addresses(self) -> list[Row]:
        return self.shop.rows("addresses")

    def customer(self, customer_id: int) -> Row | None:
        return self.shop.get("customers", customer_id)

    def address(self, address_id: int) -> Row | None:
        return self.shop.get("addresses", address_id)

    def advance_clock(self, seconds: float) -> str:
        return self.shop.advance_clock(seconds)

    def stats_dict(self) -> dict[str, Any]:
        with self.shop.lock:
            return {
                **self.traffic.to_dict(),
                "calls": dict(self.calls),
                "writes": dict(self.shop.writes),
                "customers": len(self.shop.tables["customers"]),
                "addresses": len(self.shop.tables["addresses"]),
                "notifications": len(self.shop.notifications),
            }

    def reset(self) -> None:
        """No customers or addresses, the default countries, no faults, no counters."""
        self.shop.clear()
        self.faults.clear()
        self.traffic.requests.clear()
        self.traffic.faults.clear()
        self.calls.clear()
        self.enabled = True

    # -- the webservice ----------------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        started = time.monotonic()
        params = request.query_params
        # ps_method overrides the HTTP method (dispatcher.php, cheat-sheet.md).
        method = (params.get("ps_method") or request.method).upper()
        segments = [part for part in request.path_params.get("path", "").split("/")]
        resource_name = segments[0] if segments else ""
        record = segments[1] if len(segments) > 1 else ""
        self.calls[f"{method} {resource_name or '/'}"] += 1
        if not self.enabled:
            # WebserviceRequest::isActivated
            return self._errors(
                WsError(
                    503, (22, "The PrestaShop webservice is disabled. Please activate it in the PrestaShop Back Office")
                ),
                started,
                authenticated=False,
            )
        refusal = self._authenticate(request)
        if refusal is not None:
            return self._errors(
                refusal,
                started,
                authenticated=False,
                headers={
                    "WWW-Authenticate": 'Basic realm="Welcome to PrestaShop Webservice, please enter the '
                    'authentication key as the login. No password required."'
                },
            )
        await self.faults.delay()
        try:
            if resource_name == "":
                return self._answer(self._resource_list(), started, method=method)
            resource = self.shop.resources.get(resource_name)
            if resource is None:
                # checkResource: 400 code 27 with a suggestion (the real list is longer).
                raise WsError(400, (27, _suggest(resource_name, list(self.shop.resources))))
            if method not in HTTP_METHODS[self.version]:
                raise WsError(405, (23, f"Method {method} is not valid"))
            if method not in resource.methods:
                raise WsError(
                    405,
                    (
                        25,
                        f"Method {method} is not allowed for the resource {resource.name} with this authentication key",
                    ),
                )
            if method in ("GET", "HEAD"):
                return self._read(request, resource, record, started, method)
            if method == "DELETE":
                ids = _delete_ids(record, params.get("id"))
                self.shop.delete(resource.name, ids)
                return self._answer(None, started, method=method)
            entities = _entities(await self._body(request))
            # No welcome e-mail is recorded for a webservice create: addWs()/add() send none;
            # only the storefront's CustomerPersister does (§1).
            rows = self.shop.save(resource.name, method, entities)
            document = _envelope()
            for row in rows:
                document.append(self._record(resource, row, "full"))
            return self._answer(document, started, method=method, status=201 if method == "POST" else 200)
        except WsError as exc:
            return self._errors(exc, started, authenticated=True)

    def _authenticate(self, request: Request) -> WsError | None:
        """WebserviceRequest::authenticate: 16 no key, 17 empty, 18 not 32 characters, 20 and
        21 for a key the shop does not have (both errors are answered), all 401."""
        key: str | None = None
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic" and credentials.strip():
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            key = decoded.partition(":")[0]  # PHP_AUTH_USER; the password is never read
        elif "ws_key" in request.query_params:
            key = request.query_params["ws_key"]
        if key is None:
            return WsError(401, (16, "Please enter the authentication key as the login. No password required"))
        key = key.strip()
        if not key:
            return WsError(401, (17, "Authentication key is empty"))
        if len(key) != 32:
            return WsError(401, (18, "Invalid authentication key format"))
        if not hmac.compare_digest(key.encode(), self.key.encode()):
            return WsError(
                401,
                (20, "Authentification key is not active"),
                (21, "No permission for this authentication key"),
            )
        return None

    async def _body(self, request: Request) -> bytes:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise WsError(413, (127, f"XML error : the body is larger than {MAX_BODY_BYTES} bytes"))
        # dispatcher.php reads $_REQUEST['xml'] first (a form field), else the raw body.
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            if "xml" in form:
                return form["xml"][0].encode("utf-8")
        return body

    def _read(self, request: Request, resource: Resource, record: str, started: float, method: str) -> Response:
        params = request.query_params
        schema = params.get("schema")
        if schema is not None:
            if schema not in ("blank", "synopsis"):
                raise WsError(
                    400,
                    (
                        28,
                        "Please select a schema of type 'synopsis' to get the whole schema informations (which "
                        "fields are required, which kind of content...) or 'blank' to get an empty schema to fill "
                        "before using POST request",
                    ),
                )
            document = _envelope()
            document.append(self._schema(resource, synopsis=schema == "synopsis"))
            return self._answer(document, started, method=method, request=request)
        if record:
            display = parse_display(resource, params.get("display"))
            row = self.shop.get(resource.name, _int_or_zero(record))
            if row is None:
                # getFilteredObjectDetails: 404 and no content at all.
                return self._answer(None, started, method=method, status=404)
            document = _envelope()
            document.append(self._record(resource, row, "full" if display == "minimum" else display))
            return self._answer(document, started, method=method, request=request)
        filters = {
            key[len("filter[") : -1]: value
            for key, value in params.multi_items()
            if key.startswith("filter[") and key.endswith("]")
        }
        query = ListQuery(
            filters=filters,
            display=params.get("display"),
            sort=params.get("sort"),
            limit=params.get("limit"),
            date=bool(params.get("date")) and params.get("date") != "0",
        )
        rows, display = self.shop.select(resource.name, query)
        document = _envelope()
        container = etree.SubElement(document, resource.name)
        for row in rows:
            if display == "minimum":
                item = etree.SubElement(container, resource.node, id=str(row.id))
                item.set(f"{{{XLINK}}}href", f"{self.base_url}/api/{resource.name}/{row.id}")
            else:
                container.append(self._record(resource, row, display))
        return self._answer(document, started, method=method, request=request)

    # -- rendering ---------------------------------------------------------------------------

    def _record(self, resource: Resource, row: Row, display: Display) -> etree._Element:
        element = etree.Element(resource.node)
        wanted = None if display == "full" else set(display)
        for spec in resource.fields:
            if wanted is not None and spec.name not in wanted:
                continue
            element.append(self._field(spec, row))
        if resource.name == "customers" and (wanted is None or "associations" in wanted):
            associations = etree.SubElement(element, "associations")
            groups = etree.SubElement(associations, "groups", nodeType="group", api="groups")
            for group in row.groups:
                item = etree.SubElement(groups, "group")
                item.set(f"{{{XLINK}}}href", f"{self.base_url}/api/groups/{group}")
                _cdata(etree.SubElement(item, "id"), group)
        return element

    def _field(self, spec: FieldSpec, row: Row) -> etree._Element:
        element = etree.Element(spec.name)
        if spec.i18n:
            for lang, text in sorted(row.names.items()):
                language = etree.SubElement(element, "language", id=lang)
                language.set(f"{{{XLINK}}}href", f"{self.base_url}/api/languages/{lang}")
                _cdata(language, text)
            return element
        value = row.values.get(spec.name, "")
        if spec.xlink is not None and value not in ("", "0"):
            element.set(f"{{{XLINK}}}href", f"{self.base_url}/api/{spec.xlink}/{value}")
        _cdata(element, value)
        return element

    def _schema(self, resource: Resource, *, synopsis: bool) -> etree._Element:
        element = etree.Element(resource.node)
        for spec in resource.fields:
            if spec.name == "id":
                continue
            field = etree.SubElement(element, spec.name)
            if spec.i18n:
                language = etree.SubElement(field, "language", id=DEFAULT_LANG)
                if synopsis:
                    language.set("format", "isUnsignedId")
            if synopsis:
                if spec.required:
                    field.set("required", "true")
                if spec.size is not None:
                    field.set("maxSize", str(spec.size))
                if spec.validate is not None:
                    field.set("format", _validator_name(spec))
                if spec.name in ("last_passwd_gen", "secure_key"):
                    field.set("readOnly", "true")
        if resource.name == "customers":
            associations = etree.SubElement(element, "associations")
            groups = etree.SubElement(associations, "groups", nodeType="group", api="groups")
            etree.SubElement(etree.SubElement(groups, "group"), "id")
        return element

    def _resource_list(self) -> etree._Element:
        document = _envelope()
        api = etree.SubElement(document, "api", shopName="connector simulator")
        for name, resource in self.shop.resources.items():
            item = etree.SubElement(api, name)
            item.set(f"{{{XLINK}}}href", f"{self.base_url}/api/{name}")
            for method in ("get", "put", "post", "patch", "delete", "head"):
                item.set(method, "true" if method.upper() in resource.methods else "false")
        return document

    def _headers(self, started: float, *, authenticated: bool) -> dict[str, str]:
        headers = {
            "Access-Time": str(int(time.time())),
            "X-Powered-By": "PrestaShop Webservice",
            "Execution-Time": f"{time.monotonic() - started:.3f}",
        }
        if authenticated:
            # "write this header only now (avoid hackers happiness...)" (returnOutput)
            headers["PSWS-Version"] = PSWS_VERSIONS[self.version]
        return headers

    def _answer(
        self,
        document: etree._Element | None,
        started: float,
        *,
        method: str,
        status: int = 200,
        request: Request | None = None,
    ) -> Response:
        headers = self._headers(started, authenticated=True)
        if document is None:
            return Response(b"", status_code=status, headers=headers)
        content = _serialize(document)
        sha1 = hashlib.sha1(content).hexdigest()  # noqa: S324 - PrestaShop's Content-Sha1, not a security hash
        headers["Content-Sha1"] = sha1
        if (
            request is not None
            and self.version == "8"
            and request.headers.get("local-content-sha1", "").strip() == sha1
        ):
            # 8.0+ cache handling: the client's copy is current (getting-started.md).
            return Response(b"", status_code=304, headers=headers)
        body = self.faults.corrupt(content) if method != "HEAD" else b""
        return Response(body, status_code=status, media_type="text/xml;charset=utf-8", headers=headers)

    def _errors(
        self,
        error: WsError,
        started: float,
        *,
        authenticated: bool,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        document = _envelope()
        errors = etree.SubElement(document, "errors")
        for code, message in error.errors:
            item = etree.SubElement(errors, "error")
            _cdata(etree.SubElement(item, "code"), str(code))
            _cdata(etree.SubElement(item, "message"), message)
        all_headers = {**self._headers(started, authenticated=authenticated), **(headers or {})}
        return Response(
            _serialize(document), status_code=error.status, media_type="text/xml;charset=utf-8", headers=all_headers
        )

    # -- control endpoints -------------------------------------------------------------------

    async def _json(self, request: Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise WsError(400, (0, f"the body must be JSON: {exc}")) from None
        if not isinstance(data, dict):
            raise WsError(400, (0, "the body must be a JSON object"))
        return data

    async def _register(self, request: Request) -> Response:
        try:
            data = await self._json(request)
            addresses = data.pop("addresses", [])
            if not isinstance(addresses, list):
                raise WsError(400, (0, "addresses must be a list"))
            row = self.shop.register(_texts(data), [_texts(a) for a in addresses])
        except WsError as exc:
            return _json_error(exc)
        return JSONResponse({"id": row.id}, status_code=201)

    async def _add_address(self, request: Request) -> Response:
        try:
            row = self.shop.add_address(request.path_params["rid"], _texts(await self._json(request)))
        except WsError as exc:
            return _json_error(exc)
        return JSONResponse({"id": row.id}, status_code=201)

    def _edit(self, resource: str) -> Callable[[Request], Any]:
        async def edit(request: Request) -> Response:
            try:
                changes = _texts(await self._json(request))
                row = self.shop.back_office_edit(resource, request.path_params["rid"], changes)
            except WsError as exc:
                return _json_error(exc)
            return JSONResponse(row.values)

        return edit

    def _remove(self, resource: str) -> Callable[[Request], Any]:
        async def remove(request: Request) -> Response:
            try:
                self.shop.delete(resource, [request.path_params["rid"]])
            except WsError as exc:
                return _json_error(exc)
            return Response(status_code=204)

        return remove

    def _list_rows(self, resource: str) -> Callable[[Request], Any]:
        async def list_rows(request: Request) -> Response:
            lines = []
            for row in self.shop.rows(resource):
                data: dict[str, Any] = dict(row.values)
                if resource == "customers":
                    data["groups"] = row.groups
                else:
                    data["used"] = row.used
                lines.append(json.dumps(data, ensure_ascii=False) + "\n")
            return Response("".join(lines), media_type="application/x-ndjson")

        return list_rows

    async def _mark_used(self, request: Request) -> Response:
        try:
            self.shop.mark_used(request.path_params["rid"])
        except KeyError:
            return JSONResponse({"error": "no such address"}, status_code=404)
        return Response(status_code=204)

    async def _notifications(self, request: Request) -> Response:
        with self.shop.lock:
            lines = "".join(json.dumps(n) + "\n" for n in self.shop.notifications)
        return Response(lines, media_type="application/x-ndjson")

    async def _stats(self, request: Request) -> Response:
        return JSONResponse(self.stats_dict())

    async def _get_faults(self, request: Request) -> Response:
        return JSONResponse({**self.faults.to_dict(), "webservice_enabled": self.enabled})

    async def _set_faults(self, request: Request) -> Response:
        try:
            data = await self._json(request)
            enabled = data.pop("webservice_enabled", None)
            if enabled is not None and not isinstance(enabled, bool):
                raise FaultConfigError("webservice_enabled must be true or false")
            self.faults.configure(data)
            if enabled is not None:
                self.enabled = enabled
        except FaultConfigError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except WsError as exc:
            return _json_error(exc)
        return JSONResponse({**self.faults.to_dict(), "webservice_enabled": self.enabled})

    async def _clock(self, request: Request) -> Response:
        try:
            data = await self._json(request)
        except WsError as exc:
            return _json_error(exc)
        seconds = data.get("advance_s")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            return JSONResponse({"error": "advance_s must be a non-negative number"}, status_code=400)
        return JSONResponse({"now": self.shop.advance_clock(seconds)})

    async def _reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True})


# -- helpers --------------------------------------------------------------------------------


def _envelope() -> etree._Element:
    """`<prestashop xmlns:xlink="http://www.w3.org/1999/xlink">` (WebserviceOutputXML::overrideContent)."""
    return etree.Element("prestashop", nsmap={"xlink": XLINK})


def _cdata(element: etree._Element, value: str) -> None:
    """Values go out as CDATA, as renderField writes them; an empty value is an empty element."""
    if not value:
        return
    element.text = etree.CDATA(value) if "]]>" not in value else value


def _serialize(document: etree._Element) -> bytes:
    return bytes(etree.tostring(document, xml_declaration=True, encoding="UTF-8"))


def _entities(body: bytes) -> list[Entity]:
    """The records of a write body: the root's children, each child a field (SimpleXML reads
    the text as sent: no trimming, so indentation inside a value tag stays in the value)."""
    if not body.strip():
        raise WsError(500, (127, "XML error : String could not be parsed as XML"))
    try:
        root = parse_bytes(body, what="request body", max_bytes=MAX_BODY_BYTES).getroot()
    except MalformedXML:
        # saveEntityFromXml: new SimpleXMLElement() failed -> 500 code 127.
        raise WsError(500, (127, "XML error : String could not be parsed as XML")) from None
    entities = []
    for record in root:
        if not isinstance(record.tag, str):
            continue
        fields: dict[str, str] = {}
        associations: dict[str, list[dict[str, str]]] | None = None
        for child in record:
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            if name == "associations":
                associations = {}
                for association in child:
                    if not isinstance(association.tag, str):
                        continue
                    items = []
                    for item in association:
                        if isinstance(item.tag, str):
                            items.append(
                                {etree.QName(f).localname: f.text or "" for f in item if isinstance(f.tag, str)}
                            )
                    associations[etree.QName(association).localname] = items
            else:
                fields[name] = child.text or ""
        entities.append(Entity(fields, associations))
    return entities


def _delete_ids(record: str, id_param: str | None) -> list[int]:
    """`DELETE /api/r/5` or `DELETE /api/r?id=[1,2]` (executeEntityDelete)."""
    if id_param is not None:
        inner = id_param[1:-1] if id_param.startswith("[") and id_param.endswith("]") else ""
        return [_int_or_zero(part) for part in inner.split(",") if part != ""]
    return [_int_or_zero(record)] if record else []


def _int_or_zero(text: str) -> int:
    digits = ""
    for char in text.strip():
        if not char.isdigit():
            break
        digits += char
    return int(digits) if digits else 0


def _suggest(wrong: str, names: list[str]) -> str:
    closest = difflib.get_close_matches(wrong, names, n=1, cutoff=0.0)
    return (
        f'Resource of type "{wrong}" does not exists. Did you mean: "{closest[0] if closest else ""}"? '
        'The full list is: "' + '", "'.join(names) + '"'
    )


def _validator_name(spec: FieldSpec) -> str:
    assert spec.validate is not None
    words = spec.validate.__name__.split("_")
    return words[0] + "".join(word.capitalize() for word in words[1:])


def _texts(data: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, bool):
            out[key] = "1" if value else "0"
        elif isinstance(value, (str, int)):
            out[key] = str(value)
        else:
            raise WsError(400, (0, f"field {key!r} must be a string, a number or a boolean"))
    return out


def _json_error(error: WsError) -> Response:
    return JSONResponse(
        {"errors": [{"code": code, "message": message} for code, message in error.errors]},
        status_code=error.status,
    )
