"""A loopback POHODA mServer: `POST /xml` on an in-memory address book, `GET /status`, faults.

Plays POHODA for the connector's tests and demos (never for production paths); control
endpoints under `/_sim` let a test seed, inspect, edit and break it.

On the wire, as POHODA answers (every answer validates against STORMWARE's response.xsd):

- Missing or wrong `STW-Authorization` (user or password) on `/xml` → HTTP 401. `GET
  /status` answers anyone, as mServer does, without the company; `?companyDetail` needs
  the credentials. A body that is not XML, not a dataPack,
  fails the schema, or whose `dataPack@ico` is not the company's → HTTP 200 with
  `rsp:responsePack state="error" note="…"` and no items.
- Each `dat:dataPackItem` is executed on its own. Success: `rsp:responsePackItem state="ok"`
  with `adb:addressbookResponse state="ok"` / `rdc:producedDetails` (`rdc:id`,
  `rdc:actionType` add|update|delete, `rdc:extId` when the record has one), warnings as
  `rdc:importDetails/rdc:detail` with `rdc:state` warning. Failure: the item has
  `state="error"` and `note`, and its `adb:addressbookResponse state="error"` carries
  `rdc:importDetails/rdc:detail` (`rdc:state` error, `rdc:errno`, `rdc:note`, `rdc:XPath`);
  the errno values are the simulator's own, listed in `_pohoda_protocol` (ERRNO_*).
- With `STW-Check-Duplicity: true`, an item whose (dataPack@id, dataPackItem@id) was already
  executed successfully is not executed again; it answers `state="error"` with a note and
  `rsp:errorDetail/rsp:recordDuplicity` (`rsp:agendaType` adresar, `rsp:dateCreate`, and
  `rsp:id` of the record when it still exists) and no `adb:addressbookResponse`. That
  element is how a client recognises a replay that POHODA refused as already imported: a
  success. Items that failed are not remembered and may be sent again.
- Answers are Windows-1250 (`Content-Type: text/xml; charset=windows-1250`), gzip when the
  request accepts it; request bodies may be gzip (`Content-Encoding: gzip`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import gzip
import json
import logging
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connector._paths import schemas_dir
from connector.codec import load_schema
from connector.errors import ConnectorError, InvalidContact
from connector.model import Contact
from connector.sim._faults import FaultConfigError, FaultInjection, Faults, TrafficStats
from connector.sim._pohoda_book import AddressBook, Record
from connector.sim._pohoda_protocol import PackProcessor

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/xml; charset=windows-1250"
DEFAULT_USER = "admin"
DEFAULT_PASSWORD = "admin"  # noqa: S105 - a loopback test double's well-known default
DEFAULT_ICO = "12345678"
DEFAULT_EX_SYSTEM = "eshop"
MAX_BODY_BYTES = 64 * 1024 * 1024


def default_schema_dir() -> Path | None:
    """The project's own POHODA XSDs when they exist (`schemas/pohoda/data.xsd`), else None."""
    candidate = schemas_dir() / "pohoda"
    return candidate if (candidate / "data.xsd").is_file() else None


@dataclasses.dataclass
class Stats:
    """What the simulator saw: requests by endpoint, faults, items, and how many ran at once."""

    traffic: TrafficStats = dataclasses.field(default_factory=TrafficStats)
    max_concurrency: int = 0  # dataPacks processed at the same time (mServer: always 1)
    max_in_flight: int = 0  # /xml requests received at the same time (waiting included)
    active: int = 0
    in_flight: int = 0

    def to_dict(self, counters: Mapping[str, int]) -> dict[str, Any]:
        return {
            **self.traffic.to_dict(),
            "items": counters.get("items", 0),
            "imports": counters.get("imports", 0),
            "exports": counters.get("exports", 0),
            "duplicates": counters.get("duplicates", 0),
            "item_errors": counters.get("item_errors", 0),
            "pack_errors": counters.get("pack_errors", 0),
            "max_concurrency": self.max_concurrency,
            "max_in_flight": self.max_in_flight,
        }


def _split_ext_ids(data: dict[str, Any], ex_system: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A contact's JSON with an optional `ext_ids` {system: id} taken out; `ext_id` is ex_system's."""
    data = dict(data)
    ext_ids = data.pop("ext_ids", None) or {}
    if not isinstance(ext_ids, Mapping) or not all(isinstance(v, str) for v in ext_ids.values()):
        raise InvalidContact("ext_ids must be an object {system: id}", field="ext_ids")
    ext = {str(k): v for k, v in ext_ids.items()}
    if data.get("ext_id"):
        ext.setdefault(ex_system, str(data["ext_id"]))
    return data, ext


class PohodaSimulator:
    """An mServer for one company. `.app` is the ASGI app; the methods are the control API.

    `seed_contacts` are loaded (ids 1, 2, … in order; a contact's `ext_id` becomes its extId
    of `ex_system`) now and again on `reset()`. `schema_dir` holds the XSDs incoming
    dataPacks are validated against (`data.xsd`); default: the project's `schemas/pohoda/`
    when present, else none (no validation). `seed` makes the faults' randomness repeatable.
    """

    def __init__(
        self,
        *,
        user: str = DEFAULT_USER,
        password: str = DEFAULT_PASSWORD,
        ico: str = DEFAULT_ICO,
        seed_contacts: Iterable[Contact] = (),
        schema_dir: str | Path | None = None,
        ex_system: str = DEFAULT_EX_SYSTEM,
        seed: int = 0,
        book: AddressBook | None = None,
    ) -> None:
        self.user = user
        self.password = password
        self.ico = ico
        self.ex_system = ex_system
        self._seed_contacts = list(seed_contacts)
        directory = Path(schema_dir) if schema_dir is not None else default_schema_dir()
        self.schema_dir = directory
        schema = load_schema(str(directory / "data.xsd")) if directory is not None else None
        self.book = book if book is not None else AddressBook()
        self.faults = Faults(seed)
        self.stats = Stats()
        self.processor = PackProcessor(self.book, ico=ico, faults=self.faults, schema=schema, ex_system=ex_system)
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._load_seed()
        routes = [
            Route("/xml", self._xml, methods=["POST"]),
            Route("/status", self._status, methods=["GET"]),
            Route("/_sim/contacts", self._list_contacts, methods=["GET"]),
            Route("/_sim/contacts", self._create_contact, methods=["POST"]),
            Route("/_sim/contacts/{record_id:int}", self._patch_contact, methods=["PATCH"]),
            Route("/_sim/contacts/{record_id:int}", self._delete_contact, methods=["DELETE"]),
            Route("/_sim/faults", self._get_faults, methods=["GET"]),
            Route("/_sim/faults", self._set_faults, methods=["POST"]),
            Route("/_sim/stats", self._get_stats, methods=["GET"]),
            Route("/_sim/reset", self._reset, methods=["POST"]),
        ]
        self.app = FaultInjection(
            Starlette(routes=routes), self.faults, business_paths=("/xml",), stats=self.stats.traffic
        )

    # -- the Python control API ------------------------------------------------------------

    def contacts(self, ex_system: str | None = None) -> list[Contact]:
        """The address book in canonical form, by id; `ext_id` is the extId of `ex_system`."""
        system = ex_system or self.ex_system
        return [record.as_contact(system) for record in self.book.all()]

    def record(self, record_id: int) -> Record | None:
        """The stored record (extIds of every system, modification time), or None."""
        return self.book.get(record_id)

    def add_contact(self, contact: Contact, ext_ids: Mapping[str, str] | None = None) -> int:
        """Create a record as a POHODA user at the counter would; returns its id."""
        ext = dict(ext_ids or {})
        if contact.ext_id:
            ext.setdefault(self.ex_system, contact.ext_id)
        return self.book.add(contact, ext).id

    def update_contact(self, record_id: int, **changes: Any) -> Contact:
        """Change some fields of a record (canonical names); raises KeyError when it is absent."""
        with self.book.lock:
            record = self.book.get(record_id)
            if record is None:
                raise KeyError(record_id)
            data = {**record.contact.to_dict(), **changes}
            data, ext = _split_ext_ids(data, self.ex_system)
            contact = Contact.from_dict(data, record=f"POHODA {record_id}")
            updated = self.book.replace(record_id, contact, {**record.ext_ids, **ext})
            return updated.as_contact(self.ex_system)

    def delete_contact(self, record_id: int) -> bool:
        return self.book.delete(record_id) is not None

    def stats_dict(self) -> dict[str, Any]:
        return self.stats.to_dict(self.processor.counters)

    def reset(self) -> None:
        """Back to the start: the seed contacts only, no faults, no stats, nothing remembered."""
        with self.book.lock:
            self.book.clear()
            self._load_seed()
        self.faults.clear()
        self.processor.reset()
        traffic = self.stats.traffic
        traffic.requests.clear()
        traffic.faults.clear()
        self.stats.max_concurrency = self.stats.max_in_flight = 0

    def _load_seed(self) -> None:
        for contact in self._seed_contacts:
            self.add_contact(contact)

    # -- mServer ---------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("stw-authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic" or not token:
            return False
        try:
            # POHODA is a Windows-1250 program: credentials travel in that code page, like the XML.
            decoded = base64.b64decode(token.strip(), validate=True).decode("cp1250")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        return bool(sep) and user == self.user and password == self.password

    def _pack_lock(self) -> asyncio.Lock:
        # One lock per event loop: a simulator may be served again from a new loop in tests.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    async def _xml(self, request: Request) -> Response:
        if not self._authorized(request):
            # mServer answers a missing or wrong STW-Authorization with a bare 401.
            return Response("Unauthorized\n", status_code=401, media_type="text/plain")
        body = await request.body()
        if "gzip" in request.headers.get("content-encoding", "").lower():
            try:
                body = _gunzip(body, MAX_BODY_BYTES)
            except ValueError as exc:
                return Response(f"{exc}\n", status_code=400, media_type="text/plain")
        check_duplicity = request.headers.get("stw-check-duplicity", "").strip().lower() == "true"
        stats = self.stats
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            async with self._pack_lock():
                stats.active += 1
                stats.max_concurrency = max(stats.max_concurrency, stats.active)
                try:
                    await self.faults.delay()
                    payload = await anyio.to_thread.run_sync(self._process, body, check_duplicity)
                finally:
                    stats.active -= 1
        finally:
            stats.in_flight -= 1
        payload = self.faults.corrupt(payload)
        headers: dict[str, str] = {}
        if "gzip" in request.headers.get("accept-encoding", "").lower():
            payload = gzip.compress(payload, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        return Response(payload, media_type=CONTENT_TYPE, headers=headers)

    def _process(self, body: bytes, check_duplicity: bool) -> bytes:
        return self.processor.answer(body, check_duplicity=check_duplicity)

    async def _status(self, request: Request) -> Response:
        # As mServer answers (../shared/pohoda-protocol.md §1, Spoje-NET/pohoda-client-checker
        # tests/ok.xml): plain `GET /status` needs no credentials and says nothing about the
        # company, so it cannot tell a wrong user, password or IČO; `?companyDetail` needs
        # STW-Authorization and names the accounting unit (dg/pohoda-mcp PohodaClient.php).
        state = "working" if self.stats.active else "idle"
        detail = ""
        if "companyDetail" in request.query_params:
            if not self._authorized(request):
                return Response("Unauthorized\n", status_code=401, media_type="text/plain")
            detail = (
                f"<companyDetail><company>Simulated company {self.ico}</company>"
                f"<databaseName>StwPh_{self.ico}_2026</databaseName><year>2026</year></companyDetail>"
            )
        body = (
            '<?xml version="1.0" encoding="Windows-1250"?>\n'
            "<mServer><message>Response from POHODA mServer</message><name>connector-sim</name>"
            f"<server>http://{request.url.netloc}</server><status>{state}</status>"
            f"<processing>{self.stats.in_flight}</processing>{detail}</mServer>"
        )
        return Response(body.encode("cp1250"), media_type=CONTENT_TYPE)

    # -- control endpoints -----------------------------------------------------------------

    async def _list_contacts(self, request: Request) -> Response:
        system = request.query_params.get("ex_system") or self.ex_system
        lines = "".join(contact.to_json() + "\n" for contact in self.contacts(system))
        return Response(lines, media_type="application/x-ndjson")

    async def _json(self, request: Request) -> Any:
        try:
            return await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _BadRequest(f"the body must be JSON: {exc}") from None

    async def _create_contact(self, request: Request) -> Response:
        try:
            data = await self._json(request)
            if not isinstance(data, dict):
                raise _BadRequest("the body must be a JSON object (a contact)")
            data.pop("id", None)  # POHODA assigns ids
            data, ext = _split_ext_ids(data, self.ex_system)
            contact = Contact.from_dict(data, record="new")
            record = self.book.add(contact.replace(ext_id=None), ext)
        except _BadRequest as exc:
            return _error(400, str(exc))
        except (InvalidContact, ValueError) as exc:
            return _error(400, str(exc))
        return JSONResponse({"id": record.id}, status_code=201)

    async def _patch_contact(self, request: Request) -> Response:
        record_id: int = request.path_params["record_id"]
        try:
            data = await self._json(request)
            if not isinstance(data, dict):
                raise _BadRequest("the body must be a JSON object (the fields to change)")
            data.pop("id", None)
            contact = self.update_contact(record_id, **data)
        except KeyError:
            return _error(404, f"no record {record_id}")
        except _BadRequest as exc:
            return _error(400, str(exc))
        except (InvalidContact, ValueError) as exc:
            return _error(400, str(exc))
        return JSONResponse(contact.to_dict())

    async def _delete_contact(self, request: Request) -> Response:
        record_id: int = request.path_params["record_id"]
        if not self.delete_contact(record_id):
            return _error(404, f"no record {record_id}")
        return Response(status_code=204)

    async def _get_faults(self, request: Request) -> Response:
        return JSONResponse(self.faults.to_dict())

    async def _set_faults(self, request: Request) -> Response:
        try:
            data = await self._json(request)
            if not isinstance(data, dict):
                raise _BadRequest("the body must be a JSON object of faults")
            self.faults.configure(data)
        except (_BadRequest, FaultConfigError) as exc:
            return _error(400, str(exc))
        return JSONResponse(self.faults.to_dict())

    async def _get_stats(self, request: Request) -> Response:
        return JSONResponse(self.stats_dict())

    async def _reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True, "contacts": len(self.book)})


class _BadRequest(ConnectorError):
    """A control request that cannot be understood."""


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def _gunzip(body: bytes, limit: int) -> bytes:
    """Inflate a gzip body, refusing one that would grow beyond `limit` (a gzip bomb)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ValueError(f"the gzip body cannot be inflated: {exc}") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise ValueError(f"the inflated body is larger than {limit} bytes")
    return data
