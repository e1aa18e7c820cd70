"""The POHODA mServer simulator over real HTTP: auth, imports, exports, duplicity, faults.

Requests are built here with lxml and the shared field mapping; every responsePack the
simulator sends is validated against STORMWARE's official response.xsd by the harness.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import gzip
import itertools
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from connector.codec._addressbook import NS, build_gdpr, build_header, parse_addressbook, q
from connector.codec._xml import load_schema
from connector.model import Consent, Contact, ShipTo
from connector.sim._pohoda_protocol import (
    ERRNO_AMBIGUOUS,
    ERRNO_EXISTS,
    ERRNO_EXT_ID_TAKEN,
    ERRNO_NOT_FOUND,
    ERRNO_REFUSED,
)
from connector.sim._server import serve_in_thread
from connector.sim.pohoda import PohodaSimulator

ICO = "12345678"
EX = "eshop"

# A dropped connection reaches the client as a closed stream or as a reset (RST),
# depending on timing: both are "no answer".
DROPPED = (httpx.RemoteProtocolError, httpx.ReadError)


# -- building requests ------------------------------------------------------------------


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def add_filter(parent: etree._Element, **conditions: Any) -> None:
    flt = _sub(parent, q("ftr", "filter"))
    for key, value in conditions.items():
        if key == "ext_id":
            ids, system = value if isinstance(value, tuple) else (value, EX)
            ext = _sub(flt, q("ftr", "extId"))
            _sub(ext, q("typ", "ids"), ids)
            _sub(ext, q("typ", "exSystemName"), system)
        elif key == "last_changes":
            _sub(flt, q("ftr", "lastChanges"), value.isoformat(timespec="milliseconds"))
        else:
            _sub(flt, q("ftr", key), str(value))


def addressbook(
    contact: Contact | None = None,
    *,
    action: str | None = "add",
    update: bool = False,
    add: bool = False,
    where: dict[str, Any] | None = None,
    include_empty: bool = False,
    ex_system: str | None = EX,
) -> etree._Element:
    nsmap = {p: NS[p] for p in ("adb", "ftr", "typ")}
    ab = etree.Element(q("adb", "addressbook"), nsmap=nsmap, version="2.0")
    if action is not None:
        request = _sub(_sub(ab, q("adb", "actionType")), q("adb", action))
        if update:
            request.set("update", "true")
        if add:
            request.set("add", "true")
        if where is not None:
            add_filter(request, **where)
    if contact is not None:
        ab.append(build_header(contact, ex_system=ex_system, include_empty=include_empty))
        gdpr = build_gdpr(contact.gdpr)
        if gdpr is not None:
            ab.append(gdpr)
    return ab


def upsert(contact: Contact) -> etree._Element:
    """What the connector sends: add with update="true", keyed by the extId."""
    assert contact.ext_id
    return addressbook(contact, update=True, where={"ext_id": contact.ext_id})


def list_request(
    *, ext_system: str | None = EX, id_from: int | None = None, count: int | None = None, **conditions: Any
) -> etree._Element:
    nsmap = {p: NS[p] for p in ("lAdb", "ftr", "typ")}
    req = etree.Element(q("lAdb", "listAddressBookRequest"), nsmap=nsmap, version="2.0", addressBookVersion="2.0")
    if ext_system:
        req.set("extSystem", ext_system)
    if id_from is not None or count is not None:
        limit = _sub(req, q("lAdb", "limit"))
        if id_from is not None:
            _sub(limit, q("ftr", "idFrom"), str(id_from))
        if count is not None:
            _sub(limit, q("ftr", "count"), str(count))
    request = _sub(req, q("lAdb", "requestAddressBook"))
    if conditions:
        add_filter(request, **conditions)
    return req


def data_pack(*items: etree._Element | tuple[str, etree._Element], ico: str | None = ICO, pack_id: str = "p1") -> bytes:
    root = etree.Element(q("dat", "dataPack"), nsmap={"dat": NS["dat"]}, version="2.0", id=pack_id)
    if ico is not None:
        root.set("ico", ico)
    root.set("application", "tests")
    root.set("note", "simulator tests")
    for n, item in enumerate(items, start=1):
        item_id, element = item if isinstance(item, tuple) else (f"i{n}", item)
        _sub(root, q("dat", "dataPackItem")).attrib.update({"version": "2.0", "id": item_id})
        root[-1].append(element)
    return etree.tostring(root, encoding="windows-1250", xml_declaration=True)


def auth(user: str = "admin", password: str = "admin") -> dict[str, str]:
    return {"STW-Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# -- reading answers --------------------------------------------------------------------


@dataclasses.dataclass
class ItemResult:
    id: str
    state: str
    note: str | None
    produced_id: int | None
    action: str | None
    ext_id: tuple[str, str] | None
    details: list[dict[str, str | None]]
    duplicity: dict[str, str | None] | None
    listing: etree._Element | None

    def contacts(self, ex_system: str | None = EX) -> list[Contact]:
        assert self.listing is not None
        return [parse_addressbook(r, ex_system=ex_system) for r in self.listing.iterfind(q("lAdb", "addressbook"))]


def _t(el: etree._Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path, NS)
    return found.text if found is not None else None


def item_results(pack: etree._Element) -> list[ItemResult]:
    results = []
    for item in pack.iterfind("rsp:responsePackItem", NS):
        response = item.find("adb:addressbookResponse", NS)
        produced = response.find("rdc:producedDetails", NS) if response is not None else None
        ext = produced.find("rdc:extId", NS) if produced is not None else None
        dup = item.find("rsp:errorDetail/rsp:recordDuplicity", NS)
        results.append(
            ItemResult(
                id=item.get("id"),
                state=item.get("state"),
                note=item.get("note"),
                produced_id=int(_t(produced, "rdc:id")) if produced is not None else None,
                action=_t(produced, "rdc:actionType"),
                ext_id=(_t(ext, "typ:ids"), _t(ext, "typ:exSystemName")) if ext is not None else None,
                details=[
                    {k: _t(d, f"rdc:{k}") for k in ("state", "errno", "note", "XPath")}
                    for d in item.iterfind("adb:addressbookResponse/rdc:importDetails/rdc:detail", NS)
                ],
                duplicity={k: _t(dup, f"rsp:{k}") for k in ("agendaType", "dateCreate", "id")}
                if dup is not None
                else None,
                listing=item.find("lAdb:listAddressBook", NS),
            )
        )
    return results


# -- the harness ------------------------------------------------------------------------


@dataclasses.dataclass
class Harness:
    sim: PohodaSimulator
    url: str
    client: httpx.Client
    xsd_dir: Path

    def post(self, body: bytes, *, headers: dict[str, str] | None = None, credentials: bool = True) -> httpx.Response:
        sent = {"Content-Type": "text/xml", **(auth() if credentials else {}), **(headers or {})}
        return self.client.post("/xml", content=body, headers=sent)

    def pack(self, body: bytes, **kwargs: Any) -> etree._Element:
        """POST a dataPack; assert an HTTP 200 answer that validates against response.xsd."""
        response = self.post(body, **kwargs)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/xml; charset=windows-1250"
        assert response.content.startswith(b'<?xml version="1.0" encoding="Windows-1250"?>')
        root = etree.fromstring(response.content)
        schema = load_schema(str(self.xsd_dir / "response.xsd"))
        assert schema.validate(root), schema.error_log
        return root

    def items(self, *items: etree._Element | tuple[str, etree._Element], **kwargs: Any) -> list[ItemResult]:
        headers = kwargs.pop("headers", None)
        root = self.pack(data_pack(*items, **kwargs), headers=headers)
        assert root.get("state") == "ok", root.get("note")
        return item_results(root)

    def one(self, item: etree._Element, **kwargs: Any) -> ItemResult:
        (result,) = self.items(item, **kwargs)
        return result

    def export(self, **kwargs: Any) -> list[Contact]:
        ex_system = kwargs.get("ext_system", EX)
        result = self.one(list_request(**kwargs))
        assert result.state == "ok"
        return result.contacts(ex_system)


@contextlib.contextmanager
def running(xsd_dir: Path, **kwargs: Any) -> Iterator[Harness]:
    sim = PohodaSimulator(schema_dir=xsd_dir, **kwargs)
    with serve_in_thread(sim.app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield Harness(sim, server.url, client, xsd_dir)


@pytest.fixture
def pohoda(official_xsd_dir: Path) -> Iterator[Harness]:
    with running(official_xsd_dir) as harness:
        yield harness


FULL = Contact(
    ext_id="C-1",
    company="Žluťoučký kůň s.r.o.",
    name="Jiří Dvořák",
    email="jiri@example.cz",
    phone="+420 123 456 789",
    mobile="+420 777 000 111",
    street="Náměstí Míru 12",
    city="Příbram",
    zip="261 01",
    country="CZ",
    ico="12345679",
    dic="CZ12345679",
    ic_dph="SK2020123456",
    ship_to=(
        ShipTo(
            company="Sklad Ústí",
            name="Řehoř Šťastný",
            street="Dlouhá 1",
            city="Ústí nad Labem",
            zip="400 01",
            country="CZ",
            phone="+420 1",
            email="sklad@example.cz",
            default=True,
        ),
        ShipTo(name="Gáspár Éva", street="Fő utca 2", city="Győr", zip="9021", country="HU"),
    ),
    groups=("VIP", "B2B"),
    note="Poznámka: ěščřžýáíé ĚŠČŘŽÝÁÍÉ ůú ľĺŕ ąęłńśźż őű",
    birth_date="1980-02-29",
    gdpr=(Consent(purpose="Newsletter", date_from="2024-01-01", date_till="2026-12-31", description="e-mail"),),
)


# -- HTTP, auth, pack-level errors ------------------------------------------------------


def test_status_answers_running_and_503_when_down(pohoda: Harness) -> None:
    response = pohoda.client.get("/status")
    assert response.status_code == 200
    assert b"<status>idle</status>" in response.content
    pohoda.client.post("/_sim/faults", json={"down": True})
    assert pohoda.client.get("/status").status_code == 503
    assert pohoda.post(data_pack(list_request())).status_code == 503
    assert pohoda.client.get("/_sim/contacts").status_code == 200  # control stays reachable


@pytest.mark.parametrize(
    "headers",
    [
        {},
        auth("admin", "wrong"),
        auth("someone", "admin"),
        {"STW-Authorization": "Basic !!!"},
        {"STW-Authorization": "x"},
    ],
    ids=["missing", "wrong-password", "wrong-user", "not-base64", "not-basic"],
)
def test_bad_credentials_get_401(pohoda: Harness, headers: dict[str, str]) -> None:
    response = pohoda.post(data_pack(list_request()), headers=headers, credentials=False)
    assert response.status_code == 401
    assert pohoda.sim.stats_dict()["items"] == 0


@pytest.mark.parametrize("ico", ["87654321", None], ids=["other-company", "missing"])
def test_ico_mismatch_is_a_pack_error(pohoda: Harness, ico: str | None) -> None:
    root = pohoda.pack(data_pack(upsert(FULL), ico=ico, pack_id="pk"))
    assert root.get("state") == "error"
    assert root.get("id") == "pk"
    assert "ico" in root.get("note")
    assert item_results(root) == []
    assert pohoda.sim.contacts() == []


@pytest.mark.parametrize(
    "body",
    [b"<dat:dataPack", b"<hello/>", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'],
    ids=["truncated", "not-a-datapack", "doctype"],
)
def test_unreadable_body_is_a_pack_error(pohoda: Harness, body: bytes) -> None:
    root = pohoda.pack(body)
    assert root.get("state") == "error"
    assert root.get("note")


def test_a_datapack_failing_the_schema_is_refused_as_a_whole(pohoda: Harness) -> None:
    bad = addressbook(FULL.replace(ico="1" * 16), update=True, where={"ext_id": "C-1"})  # ico is 15 chars at most
    root = pohoda.pack(data_pack(upsert(FULL.replace(ext_id="ok")), bad))
    assert root.get("state") == "error"
    assert "schema" in root.get("note")
    assert pohoda.sim.contacts() == []  # nothing of the pack was executed


def test_answers_are_windows_1250(pohoda: Harness) -> None:
    pohoda.one(upsert(FULL))
    response = pohoda.post(data_pack(list_request()), headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in response.headers
    assert response.headers["content-type"] == "text/xml; charset=windows-1250"
    raw = response.content
    assert "Žluťoučký kůň".encode("cp1250") in raw
    assert "Žluťoučký".encode() not in raw
    listing = item_results(etree.fromstring(raw))[0]
    assert listing.contacts()[0].note == FULL.note


def test_gzip_both_ways(pohoda: Harness) -> None:
    body = gzip.compress(data_pack(upsert(FULL)))
    response = pohoda.client.post(
        "/xml", content=body, headers={**auth(), "Content-Encoding": "gzip", "Accept-Encoding": "gzip"}
    )
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert item_results(etree.fromstring(response.content))[0].state == "ok"  # httpx inflated it
    broken = pohoda.client.post("/xml", content=b"not gzip", headers={**auth(), "Content-Encoding": "gzip"})
    assert broken.status_code == 400


PROJECT_XSD_DIR = Path(__file__).resolve().parent.parent / "schemas" / "pohoda"


@pytest.mark.parametrize("which", ["official", "project"])
def test_every_kind_of_answer_validates(pohoda: Harness, which: str) -> None:
    """Official response.xsd is the contract; the project's own is what the codec checks at run time."""
    xsd_dir = pohoda.xsd_dir if which == "official" else PROJECT_XSD_DIR
    if not (xsd_dir / "response.xsd").is_file():
        pytest.skip(f"no response.xsd in {xsd_dir} yet")
    schema = load_schema(str(xsd_dir / "response.xsd"))
    pohoda.sim.faults.configure({"item_error": [{"field": "email", "contains": "@refuse"}]})
    with_id = addressbook(Contact(ext_id="W", name="warned"), update=True, where={"ext_id": "W"})
    _sub(with_id.find("adb:addressbookHeader", NS), q("adb", "id"), "5")
    kinds = {
        "import ok": data_pack(upsert(FULL), pack_id="dup"),
        "import warning": data_pack(with_id),
        "item errors": data_pack(
            addressbook(action="delete", where={"id": 99}), upsert(Contact(ext_id="R", email="x@refuse.cz"))
        ),
        "duplicity": data_pack(upsert(FULL), pack_id="dup"),
        "export": data_pack(list_request(), list_request(ext_system=None, id_from=1, count=1)),
        "empty export": data_pack(list_request(id=999)),
        "pack error": data_pack(list_request(), ico="1"),
        "broken request": b"<dat:dataPack",
    }
    for kind, body in kinds.items():
        response = pohoda.post(body, headers={"STW-Check-Duplicity": "true"})
        assert response.status_code == 200, kind
        assert schema.validate(etree.fromstring(response.content)), (kind, schema.error_log)


def test_an_id_in_an_import_is_ignored_with_a_warning(pohoda: Harness) -> None:
    ab = addressbook(Contact(ext_id="W", name="warned"), update=True, where={"ext_id": "W"})
    _sub(ab.find("adb:addressbookHeader", NS), q("adb", "id"), "5")
    result = pohoda.one(ab)
    assert (result.state, result.produced_id) == ("ok", 1)
    assert result.details[0]["state"] == "warning"
    assert result.details[0]["XPath"].endswith("adb:addressbookHeader/adb:id")


# -- imports ----------------------------------------------------------------------------


def test_every_mapped_field_round_trips_through_import_and_export(pohoda: Harness) -> None:
    result = pohoda.one(upsert(FULL))
    assert (result.state, result.action, result.produced_id) == ("ok", "add", 1)
    assert result.ext_id == ("C-1", EX)
    (exported,) = pohoda.export()
    assert exported == FULL.replace(id="1")
    assert pohoda.sim.contacts() == [FULL.replace(id="1")]


def test_add_without_action_type_and_ids_increase(pohoda: Harness) -> None:
    results = pohoda.items(
        addressbook(Contact(name="A"), action=None), addressbook(Contact(name="B")), addressbook(Contact(name="C"))
    )
    assert [(r.state, r.action, r.produced_id) for r in results] == [
        ("ok", "add", 1),
        ("ok", "add", 2),
        ("ok", "add", 3),
    ]
    assert [c.name for c in pohoda.sim.contacts()] == ["A", "B", "C"]


def test_upsert_updates_the_record_with_that_ext_id(pohoda: Harness) -> None:
    first = pohoda.one(upsert(Contact(ext_id="E1", name="Old")))
    second = pohoda.one(upsert(Contact(ext_id="E1", name="New")))
    assert (second.action, second.produced_id) == ("update", first.produced_id)
    assert [(c.id, c.name) for c in pohoda.sim.contacts()] == [("1", "New")]


def test_add_over_an_existing_record_without_update_is_refused(pohoda: Harness) -> None:
    pohoda.one(upsert(Contact(ext_id="E1", name="Old")))
    result = pohoda.one(addressbook(Contact(ext_id="E1", name="New"), where={"ext_id": "E1"}))
    assert result.state == "error"
    assert result.details[0]["errno"] == str(ERRNO_EXISTS)
    assert pohoda.sim.contacts()[0].name == "Old"


def test_an_ext_id_belongs_to_one_record(pohoda: Harness) -> None:
    pohoda.one(upsert(Contact(ext_id="E1", name="One")))
    result = pohoda.one(addressbook(Contact(ext_id="E1", name="Two")))  # plain add, same extId
    assert result.state == "error"
    assert result.details[0]["errno"] == str(ERRNO_EXT_ID_TAKEN)
    assert "typ:extId" in result.details[0]["XPath"]
    assert len(pohoda.sim.contacts()) == 1


def _seed_two(pohoda: Harness) -> None:
    pohoda.sim.add_contact(Contact(company="Alfa a.s.", ico="11111111", name="Anna"), {EX: "E1"})
    pohoda.sim.add_contact(Contact(company="Beta s.r.o.", ico="22222222", name="Bohdan"), {EX: "E2"})


@pytest.mark.parametrize(
    "where",
    [{"id": 2}, {"ext_id": "E2"}, {"company": "Beta s.r.o."}, {"ico": "22222222"}, {"company": "Beta s.r.o.", "id": 2}],
    ids=["id", "extId", "company", "ico", "company+id"],
)
def test_update_by_each_filter(pohoda: Harness, where: dict[str, Any]) -> None:
    _seed_two(pohoda)
    result = pohoda.one(addressbook(Contact(email="b@example.cz"), action="update", where=where, ex_system=None))
    assert (result.state, result.action, result.produced_id) == ("ok", "update", 2)
    contacts = pohoda.sim.contacts()
    assert contacts[1].email == "b@example.cz"
    assert contacts[1].company == "Beta s.r.o."  # absent fields are left alone
    assert contacts[0].email is None


@pytest.mark.parametrize(
    "where",
    [{"id": 1}, {"ext_id": "E1"}, {"company": "Alfa a.s."}, {"ico": "11111111"}],
    ids=["id", "extId", "company", "ico"],
)
def test_delete_by_each_filter(pohoda: Harness, where: dict[str, Any]) -> None:
    _seed_two(pohoda)
    result = pohoda.one(addressbook(action="delete", where=where))
    assert (result.state, result.action, result.produced_id) == ("ok", "delete", 1)
    assert [c.id for c in pohoda.sim.contacts()] == ["2"]


def test_update_or_delete_of_nothing_is_an_item_error(pohoda: Harness) -> None:
    _seed_two(pohoda)
    results = pohoda.items(
        addressbook(Contact(name="X"), action="update", where={"id": 99}),
        addressbook(action="delete", where={"ext_id": "nope"}),
    )
    for result in results:
        assert result.state == "error"
        assert result.note == "no record matches the filter"
        assert result.details == [
            {"state": "error", "errno": str(ERRNO_NOT_FOUND), "note": result.note, "XPath": result.details[0]["XPath"]}
        ]
        assert result.details[0]["XPath"].endswith("/ftr:filter")
    assert (
        results[0].details[0]["XPath"]
        == "/dat:dataPack/dat:dataPackItem[1]/adb:addressbook/adb:actionType/adb:update/ftr:filter"
    )


def test_update_with_add_true_inserts_when_nothing_matches(pohoda: Harness) -> None:
    result = pohoda.one(
        addressbook(Contact(ext_id="N1", name="New"), action="update", add=True, where={"ext_id": "N1"})
    )
    assert (result.state, result.action, result.produced_id) == ("ok", "add", 1)
    assert pohoda.sim.contacts()[0].ext_id == "N1"


def test_an_ambiguous_filter_is_an_item_error_and_changes_nothing(pohoda: Harness) -> None:
    pohoda.sim.add_contact(Contact(company="Twins", name="One"))
    pohoda.sim.add_contact(Contact(company="Twins", name="Two"))
    results = pohoda.items(
        addressbook(Contact(name="Changed"), action="update", where={"company": "Twins"}),
        addressbook(action="delete", where={"company": "Twins"}),
        addressbook(Contact(company="Twins", name="Three"), update=True, where={"company": "Twins"}),
    )
    for result in results:
        assert result.state == "error"
        assert result.details[0]["errno"] == str(ERRNO_AMBIGUOUS)
        assert "2 records match" in result.details[0]["note"]
    assert [c.name for c in pohoda.sim.contacts()] == ["One", "Two"]


def test_items_of_one_pack_succeed_or_fail_independently(pohoda: Harness) -> None:
    results = pohoda.items(
        upsert(Contact(ext_id="A", name="A")),
        addressbook(action="delete", where={"id": 42}),
        upsert(Contact(ext_id="B", name="B")),
    )
    assert [r.state for r in results] == ["ok", "error", "ok"]
    assert [c.name for c in pohoda.sim.contacts()] == ["A", "B"]


def test_update_clears_empty_fields_and_replaces_the_ship_to_list(pohoda: Harness) -> None:
    pohoda.one(upsert(FULL))
    # Present-but-empty clears; the identity carries the complete ship-to list (one now).
    change = Contact(ext_id="C-1", name="Jiří Dvořák", phone=None, ship_to=(ShipTo(city="Brno", default=True),))
    element = addressbook(change, update=True, where={"ext_id": "C-1"}, include_empty=True)
    assert pohoda.one(element).state == "ok"
    (stored,) = pohoda.sim.contacts()
    cleared = dict.fromkeys(
        ("company", "email", "phone", "mobile", "street", "city", "zip", "ico", "dic", "ic_dph", "note")
    )
    # Country, birth date, groups and consents were not sent at all, so they stay.
    assert stored == FULL.replace(id="1", ship_to=(ShipTo(city="Brno", default=True),), **cleared)


def test_update_without_identity_keeps_address_and_ship_to(pohoda: Harness) -> None:
    pohoda.one(upsert(FULL))
    ab = addressbook(action="update", where={"id": 1})
    header = _sub(ab, q("adb", "addressbookHeader"))
    _sub(header, q("adb", "email"), "new@example.cz")
    assert pohoda.one(ab).state == "ok"
    (stored,) = pohoda.sim.contacts()
    assert stored == FULL.replace(id="1", email="new@example.cz")


def test_an_identity_without_ship_to_clears_the_list(pohoda: Harness) -> None:
    pohoda.one(upsert(FULL))
    assert pohoda.one(addressbook(Contact(ext_id="C-1"), update=True, where={"ext_id": "C-1"})).state == "ok"
    (stored,) = pohoda.sim.contacts()
    assert stored.ship_to == ()
    assert stored.company == FULL.company  # absent address fields stay


def test_a_record_keeps_the_ext_ids_of_several_systems(pohoda: Harness) -> None:
    pohoda.one(upsert(Contact(ext_id="E-7", name="Multi")))
    crm = addressbook(Contact(ext_id="CRM-9"), action="update", where={"ext_id": ("E-7", EX)}, ex_system="crm")
    result = pohoda.one(crm)
    assert (result.state, result.produced_id, result.ext_id) == ("ok", 1, ("CRM-9", "crm"))
    assert pohoda.sim.record(1).ext_ids == {EX: "E-7", "crm": "CRM-9"}
    assert [c.ext_id for c in pohoda.export(ext_system=EX)] == ["E-7"]
    assert [c.ext_id for c in pohoda.export(ext_system="crm")] == ["CRM-9"]
    assert [c.ext_id for c in pohoda.export(ext_system=None)] == [None]
    assert pohoda.one(addressbook(action="delete", where={"ext_id": ("CRM-9", "crm")})).produced_id == 1


def test_item_with_an_unacceptable_value_is_refused_naming_it(pohoda: Harness) -> None:
    ab = addressbook(Contact(ext_id="X", name="Bad country"), update=True, where={"ext_id": "X"})
    country = _sub(ab.find("adb:addressbookHeader/adb:identity/typ:address", NS), q("typ", "country"))
    _sub(country, q("typ", "ids"), "Czechia")
    result = pohoda.one(ab)
    assert result.state == "error"
    assert "country" in result.note
    assert result.details[0]["XPath"].endswith("typ:address/typ:country/typ:ids")


# -- exports ----------------------------------------------------------------------------


def test_export_full_by_id_by_ext_id_and_empty(pohoda: Harness) -> None:
    _seed_two(pohoda)
    assert [c.id for c in pohoda.export()] == ["1", "2"]
    assert [c.name for c in pohoda.export(id=2)] == ["Bohdan"]
    assert [c.id for c in pohoda.export(ext_id="E1")] == ["1"]
    assert pohoda.export(ext_id="nobody") == []
    empty = pohoda.one(list_request(id=99))
    assert empty.state == "ok" and empty.listing is not None and len(empty.listing) == 0


def test_last_changes_reports_records_modified_at_or_after_the_time(pohoda: Harness) -> None:
    _seed_two(pohoda)
    pohoda.sim.add_contact(Contact(name="Third"))
    since = pohoda.sim.record(2).modified
    assert [c.id for c in pohoda.export(last_changes=since)] == ["2", "3"]
    pohoda.one(addressbook(Contact(note="touched"), action="update", where={"id": 1}))
    touched = pohoda.sim.record(1).modified
    assert touched > pohoda.sim.record(3).modified
    assert [c.id for c in pohoda.export(last_changes=touched)] == ["1"]
    assert pohoda.export(last_changes=touched + dt.timedelta(milliseconds=1)) == []
    # The same instant with a zone is the same instant.
    aware = touched.astimezone()
    assert [c.id for c in pohoda.export(last_changes=aware)] == ["1"]


def test_modification_times_are_strictly_increasing_in_milliseconds(pohoda: Harness) -> None:
    pohoda.items(*[addressbook(Contact(name=f"n{i}")) for i in range(50)])
    times = [pohoda.sim.record(int(c.id)).modified for c in pohoda.sim.contacts()]
    assert all(a < b for a, b in itertools.pairwise(times))
    assert all(t.microsecond % 1000 == 0 for t in times)


def test_paging_by_id_with_limit(pohoda: Harness) -> None:
    for n in range(25):
        pohoda.sim.add_contact(Contact(name=f"P{n}"))
    pages, id_from = [], 1
    while True:
        page = pohoda.export(id_from=id_from, count=10)
        if not page:
            break
        pages.append([int(c.id) for c in page])
        id_from = int(page[-1].id) + 1
    assert pages == [list(range(1, 11)), list(range(11, 21)), list(range(21, 26))]
    pohoda.sim.delete_contact(12)
    assert [int(c.id) for c in pohoda.export(id_from=11, count=3)] == [11, 13, 14]


def test_an_unsupported_agenda_is_an_item_error(pohoda: Harness) -> None:
    # dat:dataPackItem may carry any agenda; the simulator plays the address book only.
    inv = etree.Element("{http://www.stormware.cz/schema/version_2/list_stock.xsd}listStockRequest")
    inv.set("version", "2.0")
    inv.set("stockVersion", "2.0")
    etree.SubElement(inv, "{http://www.stormware.cz/schema/version_2/list_stock.xsd}requestStock")
    result = pohoda.one(inv)
    assert result.state == "error" and "not supported" in result.note


# -- duplicity --------------------------------------------------------------------------


DUP = {"STW-Check-Duplicity": "true"}


def test_a_replayed_item_is_refused_as_a_duplicate(pohoda: Harness) -> None:
    items = [("c1-v1", upsert(Contact(ext_id="C1", name="v1"))), ("gone", addressbook(Contact(name="tmp")))]
    first = pohoda.items(*items, pack_id="batch-1", headers=DUP)
    assert [r.state for r in first] == ["ok", "ok"]
    pohoda.sim.delete_contact(first[1].produced_id)
    replay = pohoda.items(*items, pack_id="batch-1", headers=DUP)
    assert [r.state for r in replay] == ["error", "error"]
    assert replay[0].duplicity == {"agendaType": "adresar", "dateCreate": dt.date.today().isoformat(), "id": "1"}
    assert replay[1].duplicity["id"] is None  # the record has been deleted since
    assert "already imported" in replay[0].note
    assert pohoda.sim.stats_dict()["duplicates"] == 2
    assert [c.name for c in pohoda.sim.contacts()] == ["v1"]


def test_duplicity_is_per_pack_and_item_and_only_when_asked(pohoda: Harness) -> None:
    item = ("c1-v1", upsert(Contact(ext_id="C1", name="v1")))
    assert pohoda.items(item, pack_id="A", headers=DUP)[0].state == "ok"
    assert pohoda.items(item, pack_id="B", headers=DUP)[0].state == "ok"  # another pack
    newer = ("c1-v2", upsert(Contact(ext_id="C1", name="v2")))
    assert pohoda.items(newer, pack_id="A", headers=DUP)[0].action == "update"  # a new version
    assert pohoda.items(item, pack_id="A")[0].state == "ok"  # no header: executed again


def test_a_failed_item_is_not_remembered(pohoda: Harness) -> None:
    item = ("del", addressbook(action="delete", where={"ext_id": "late"}))
    assert pohoda.items(item, headers=DUP)[0].state == "error"
    pohoda.sim.add_contact(Contact(name="late"), {EX: "late"})
    result = pohoda.items(item, headers=DUP)[0]
    assert (result.state, result.action, result.duplicity) == ("ok", "delete", None)


# -- one request at a time --------------------------------------------------------------


def test_data_packs_are_processed_one_at_a_time(pohoda: Harness) -> None:
    pohoda.client.post("/_sim/faults", json={"delay_ms": 40})
    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def send(n: int) -> None:
        with httpx.Client(base_url=pohoda.url, timeout=10) as client:
            barrier.wait()
            body = data_pack(upsert(Contact(ext_id=f"T{n}", name=f"T{n}")), pack_id=f"t{n}")
            statuses.append(client.post("/xml", content=body, headers=auth()).status_code)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = pohoda.client.get("/_sim/stats").json()
    assert statuses == [200] * 6
    assert stats["max_in_flight"] > 1  # the requests did overlap…
    assert stats["max_concurrency"] == 1  # …and were processed one after another
    assert len(pohoda.sim.contacts()) == 6


# -- faults -----------------------------------------------------------------------------


def test_error_next_answers_503_then_recovers(pohoda: Harness) -> None:
    pohoda.client.post("/_sim/faults", json={"error_next": 2})
    body = data_pack(list_request())
    assert [pohoda.post(body).status_code for _ in range(3)] == [503, 503, 200]
    stats = pohoda.sim.stats_dict()
    assert stats["requests"]["POST /xml"] == 3
    assert stats["faults"] == {"error": 2}


def test_error_rate_is_deterministic_for_a_seed(official_xsd_dir: Path) -> None:
    patterns = []
    for _ in range(2):
        with running(official_xsd_dir, seed=7) as h:
            h.client.post("/_sim/faults", json={"error_rate": 0.5})
            patterns.append([h.post(data_pack(list_request())).status_code for _ in range(12)])
    assert patterns[0] == patterns[1]
    assert set(patterns[0]) == {200, 503}


def test_error_rate_one_and_custom_status(pohoda: Harness) -> None:
    pohoda.client.post("/_sim/faults", json={"error_rate": 1.0, "error_status": 500})
    assert pohoda.post(data_pack(list_request())).status_code == 500
    assert pohoda.client.get("/status").status_code == 200  # errors hit the business endpoint only


def test_reset_drops_the_connection(pohoda: Harness) -> None:
    pohoda.client.post("/_sim/faults", json={"reset_rate": 1.0})
    with pytest.raises(DROPPED):
        pohoda.post(data_pack(upsert(Contact(ext_id="R", name="R"))))
    assert pohoda.sim.contacts() == []  # dropped before processing


def test_reset_after_processing_loses_the_answer_but_not_the_write(pohoda: Harness) -> None:
    pohoda.client.post("/_sim/faults", json={"reset_next": 1, "reset_after": True})
    body = data_pack(("r-v1", upsert(Contact(ext_id="R", name="R"))), pack_id="lost")
    with pytest.raises(DROPPED):
        pohoda.post(body, headers=DUP)
    assert [c.ext_id for c in pohoda.sim.contacts()] == ["R"]
    replay = item_results(pohoda.pack(body, headers=DUP))[0]
    assert replay.duplicity is not None and replay.duplicity["id"] == "1"  # the retry is recognised


def test_delay_slows_the_answer(pohoda: Harness) -> None:
    pohoda.client.post("/_sim/faults", json={"delay_ms": 150})
    response = pohoda.post(data_pack(list_request()))
    assert response.status_code == 200
    assert response.elapsed >= dt.timedelta(milliseconds=150)


def test_item_error_rule_refuses_matching_items_only(pohoda: Harness) -> None:
    rule = {"field": "email", "contains": "@refuse", "note": "e-mail rejected by POHODA"}
    assert pohoda.client.post("/_sim/faults", json={"item_error": [rule]}).status_code == 200
    results = pohoda.items(
        upsert(Contact(ext_id="ok", email="a@example.cz")), upsert(Contact(ext_id="no", email="b@refuse.cz"))
    )
    assert [r.state for r in results] == ["ok", "error"]
    assert results[1].note == "e-mail rejected by POHODA"
    assert results[1].details[0]["errno"] == str(ERRNO_REFUSED)
    assert [c.ext_id for c in pohoda.sim.contacts()] == ["ok"]


def test_malformed_answers_are_broken_xml(pohoda: Harness) -> None:
    pohoda.client.post("/_sim/faults", json={"malformed": True})
    response = pohoda.post(data_pack(list_request()))
    assert response.status_code == 200
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(response.content)


def test_fault_configuration_is_checked(pohoda: Harness) -> None:
    for bad in ({"eror_rate": 1}, {"error_rate": 2}, {"down": "yes"}, {"item_error": [{"note": "x"}]}, [1]):
        response = pohoda.client.post("/_sim/faults", json=bad)
        assert response.status_code == 400, bad
        assert response.json()["error"]
    assert pohoda.client.get("/_sim/faults").json()["error_rate"] == 0.0


# -- control endpoints ------------------------------------------------------------------


def test_control_endpoints(pohoda: Harness) -> None:
    client = pohoda.client
    created = client.post("/_sim/contacts", json={"name": "Counter Customer", "city": "Plzeň", "ext_id": "W1"})
    assert created.status_code == 201 and created.json() == {"id": 1}
    second = client.post("/_sim/contacts", json={"company": "Other", "ext_ids": {"crm": "K1"}})
    assert second.json() == {"id": 2}
    assert client.post("/_sim/contacts", json={"nmae": "typo"}).status_code == 400
    lines = client.get("/_sim/contacts")
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    contacts = [Contact.from_dict(json.loads(line)) for line in lines.text.splitlines()]
    assert [(c.id, c.ext_id, c.city) for c in contacts] == [("1", "W1", "Plzeň"), ("2", "K1", None)]
    before = pohoda.sim.record(1).modified
    patched = client.patch("/_sim/contacts/1", json={"email": "counter@example.cz", "city": None})
    assert patched.status_code == 200 and patched.json()["email"] == "counter@example.cz"
    assert pohoda.sim.contacts()[0].city is None
    assert pohoda.sim.record(1).modified > before  # a counter edit shows in lastChanges
    assert client.patch("/_sim/contacts/9", json={"name": "x"}).status_code == 404
    assert client.delete("/_sim/contacts/2").status_code == 204
    assert client.delete("/_sim/contacts/2").status_code == 404
    assert [c.id for c in pohoda.sim.contacts()] == ["1"]
    client.post("/_sim/faults", json={"down": True})
    stats = client.get("/_sim/stats").json()
    assert stats["requests"]["DELETE /_sim/contacts/{id}"] == 2
    assert client.post("/_sim/reset").json() == {"reset": True, "contacts": 0}
    assert client.get("/_sim/faults").json()["down"] is False
    assert client.get("/_sim/stats").json()["requests"] == {"GET /_sim/faults": 1, "GET /_sim/stats": 1}


def test_seed_contacts_and_reset(official_xsd_dir: Path) -> None:
    seed = [Contact(name="Seed One", ext_id="S1"), Contact(name="Seed Two")]
    with running(official_xsd_dir, seed_contacts=seed, ico="99999999", user="u", password="p") as h:
        assert [(c.id, c.ext_id) for c in h.sim.contacts()] == [("1", "S1"), ("2", None)]
        body = data_pack(addressbook(Contact(name="Three")), ico="99999999")
        assert h.client.post("/xml", content=body, headers=auth("u", "p")).status_code == 200
        assert len(h.sim.contacts()) == 3
        h.sim.reset()
        assert [c.name for c in h.sim.contacts()] == ["Seed One", "Seed Two"]
