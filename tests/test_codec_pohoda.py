"""The POHODA codec: import dataPacks, list requests, responsePacks and streamed exports.

Every message the codec builds is checked against STORMWARE's official XSDs and against the
project's own schemas/pohoda; every sample answer is checked against the official XSDs too.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from connector._paths import schemas_dir
from connector.codec._addressbook import NS, parse_addressbook, q
from connector.codec.pohoda import (
    AddressBookWrite,
    ItemResult,
    PohodaCodec,
    item_id,
    pack_id_of,
)
from connector.errors import BadData, PohodaRefused, SchemaViolation
from connector.model import Contact

PROJECT_XSD = schemas_dir() / "pohoda"

# Letters of Czech, Slovak, Polish and Hungarian names, all carried by Windows-1250.
CZ_SK_PL_HU = "áčďéěíňóřšťúůýžÁČĎÉĚÍŇÓŘŠŤÚŮÝŽäľĺôŕÄĽĹÔŔąćęłńóśźżĄĆĘŁŃŚŹŻöőüűÖŐÜŰ"
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" + CZ_SK_PL_HU


def schema(directory: Path, name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(directory / name)))


@pytest.fixture(scope="module")
def codec() -> PohodaCodec:
    return PohodaCodec(ico="12345678", ex_system="eshop", application="connector tests")


@pytest.fixture(scope="module")
def official(official_xsd_dir: Path) -> dict[str, etree.XMLSchema]:
    return {name: schema(official_xsd_dir, name) for name in ("data.xsd", "response.xsd")}


@pytest.fixture(scope="module")
def project() -> dict[str, etree.XMLSchema]:
    return {name: schema(PROJECT_XSD, name) for name in ("data.xsd", "response.xsd")}


def assert_valid(data: bytes, *schemas: etree.XMLSchema) -> etree._Element:
    root = etree.fromstring(data)
    for s in schemas:
        assert s.validate(root), s.error_log
    return root


def full_contact(ext_id: str = "E-1001") -> Contact:
    """A contact that uses every mapped field."""
    return Contact.from_dict(
        {
            "id": "eshop-1001",
            "ext_id": ext_id,
            "company": "Žluťoučký kůň, s.r.o.",
            "name": "Łukasz Świątek-Öröm",
            "email": "lukasz@example.cz",
            "phone": "+420 222 333 444",
            "mobile": "+420 777 888 999",
            "street": "Příčná 12/3",
            "city": "Ústí nad Labem",
            "zip": "400 01",
            "country": "CZ",
            "ico": "12345678",
            "dic": "CZ12345678",
            "ic_dph": "SK2020123456",
            "ship_to": [
                {"company": "Sklad Ľubovňa", "name": "Ján Ďurčo", "street": "Hlavná 1", "city": "Košice",
                 "zip": "040 01", "country": "SK", "phone": "+421 900 000 000", "email": "sklad@example.sk",
                 "default": True},
                {"name": "Győző Bőröndi", "street": "Fő utca 2", "city": "Győr", "zip": "9021", "country": "HU"},
                {"company": "Magazyn Łódź", "city": "Łódź", "country": "PL"},
            ],
            "groups": ["VIP", "Velkoobchod"],
            "note": "Doručovat jen dopoledne.\nPozor na psa.",
            "birth_date": "1984-02-29",
            "gdpr": [
                {"purpose": "Newsletter", "date_from": "2024-01-01", "date_till": "2026-12-31",
                 "description": "Souhlas udělen v e-shopu"},
                {"purpose": "Marketing SMS", "date_from": "2024-03-15"},
            ],
        }
    )


def items_of(data: bytes) -> list[etree._Element]:
    return etree.fromstring(data).findall(q("dat", "dataPackItem"))


def decoded_items(data: bytes, ex_system: str = "eshop") -> list[Contact]:
    root = etree.fromstring(data)
    return [parse_addressbook(el, ex_system=ex_system) for el in root.iter(q("adb", "addressbook"))]


# -- import dataPacks -------------------------------------------------------------------------


def test_every_kind_of_write_validates_against_official_and_project_schemas(codec, official, project):
    contact = full_contact()
    writes = [
        AddressBookWrite.upsert(contact, version=1),
        AddressBookWrite.update(contact, version=2),
        AddressBookWrite.update(contact.replace(ext_id=None), version=3, pohoda_id="42"),
        AddressBookWrite.delete(version=4, pohoda_id="43"),
        AddressBookWrite.delete(version=5, ext_id="E-77"),
    ]
    encoded = codec.encode_import(writes, note="sync run 7")
    assert encoded.item_count == 5 and not encoded.refused
    assert encoded.body is not None
    assert encoded.body.startswith(b"<?xml version='1.0' encoding='Windows-1250'?>")
    encoded.body.decode("cp1250")  # really Windows-1250 bytes
    root = assert_valid(encoded.body, official["data.xsd"], project["data.xsd"])
    assert root.attrib == {"version": "2.0", "id": encoded.pack_id, "ico": "12345678",
                           "application": "connector tests", "note": "sync run 7"}
    ids = [el.get("id") for el in items_of(encoded.body)]
    assert ids == [r.item_id for r in encoded.reports] and len(set(ids)) == 5


def test_upsert_is_add_with_update_true_filtered_by_ext_id(codec):
    encoded = codec.encode_import([AddressBookWrite.upsert(full_contact(), version=9)])
    book = items_of(encoded.body)[0].find(q("adb", "addressbook"))
    add = book.find(f"{q('adb', 'actionType')}/{q('adb', 'add')}")
    assert add is not None and add.get("update") == "true"
    ext = add.find(f"{q('ftr', 'filter')}/{q('ftr', 'extId')}")
    assert ext.findtext(q("typ", "ids")) == "E-1001"
    assert ext.findtext(q("typ", "exSystemName")) == "eshop"
    # The e-shop's own id never travels as POHODA's adb:id.
    assert book.find(f"{q('adb', 'addressbookHeader')}/{q('adb', 'id')}") is None


def test_update_by_id_and_delete_filters(codec):
    encoded = codec.encode_import(
        [
            AddressBookWrite.update(full_contact(), version=1, pohoda_id="42"),
            AddressBookWrite.delete(version=1, pohoda_id="43"),
            AddressBookWrite.delete(version=1, ext_id="E-9"),
        ]
    )
    update, delete_id, delete_ext = (el.find(f"{q('adb', 'addressbook')}/{q('adb', 'actionType')}")[0]
                                     for el in items_of(encoded.body))
    assert update.tag == q("adb", "update")
    assert update.findtext(f"{q('ftr', 'filter')}/{q('ftr', 'id')}") == "42"
    assert delete_id.tag == q("adb", "delete")
    assert delete_id.findtext(f"{q('ftr', 'filter')}/{q('ftr', 'id')}") == "43"
    assert delete_ext.findtext(f"{q('ftr', 'filter')}/{q('ftr', 'extId')}/{q('typ', 'ids')}") == "E-9"


def test_an_update_sends_empty_elements_to_clear_fields(codec):
    contact = Contact(ext_id="E-5", name="Jana Nová")
    encoded = codec.encode_import([AddressBookWrite.upsert(contact, version=1)])
    address = etree.fromstring(encoded.body).find(".//" + q("typ", "address"))
    assert address.find(q("typ", "company")) is not None and not address.findtext(q("typ", "company"))
    assert address.findtext(q("typ", "name")) == "Jana Nová"


def test_encoded_item_decodes_back_to_the_same_contact(codec):
    contact = full_contact()
    encoded = codec.encode_import([AddressBookWrite.upsert(contact, version=1)])
    [back] = decoded_items(encoded.body)
    assert back.content() == contact.content() and back.ext_id == contact.ext_id


def test_item_ids_are_stable_per_record_and_version():
    assert item_id("ext:E-1", 3) == item_id("ext:E-1", "3")
    assert item_id("ext:E-1", 3) != item_id("ext:E-1", 4)
    assert item_id("ext:E-1", 3) != item_id("ext:E-2", 3)
    long_key = "ext:" + "x" * 200
    assert len(item_id(long_key, "2024-01-01T00:00:00.123456")) <= 64
    write = AddressBookWrite.upsert(full_contact(), version=7)
    assert write.item_id == item_id("ext:E-1001", 7)
    assert pack_id_of([write.item_id]) == pack_id_of([write.item_id])
    assert len(pack_id_of(["a", "b"])) <= 64


def test_replay_gives_the_same_bytes_and_ids(codec):
    writes = [AddressBookWrite.upsert(full_contact(f"E-{i}"), version=1) for i in range(3)]
    first, second = codec.encode_import(writes), codec.encode_import(writes)
    assert first.body == second.body and first.pack_id == second.pack_id == codec.pack_id(writes)


def test_a_refused_item_is_left_out_and_the_rest_go_on(codec, official):
    good = full_contact("E-good")
    bad = full_contact("E-bad").replace(city="Praha ✓")
    encoded = codec.encode_import([AddressBookWrite.upsert(good, version=1), AddressBookWrite.upsert(bad, version=1)])
    assert encoded.item_count == 1
    [refused] = encoded.refused
    assert refused.record_key == "ext:E-bad" and refused.error.field == "city" and refused.error.record == "ext:E-bad"
    assert [el.get("id") for el in items_of(encoded.body)] == [encoded.reports[0].item_id]
    assert_valid(encoded.body, official["data.xsd"])
    result = ItemResult.refused_locally(refused)
    assert not result.ok and result.error is refused.error


def test_upsert_without_ext_id_and_twice_the_same_version_are_refused(codec):
    contact = full_contact()
    encoded = codec.encode_import(
        [
            AddressBookWrite.upsert(contact.replace(ext_id=None), version=1),
            AddressBookWrite.upsert(contact, version=1),
            AddressBookWrite.upsert(contact, version=1),
        ]
    )
    assert [r.refused for r in encoded.reports] == [True, False, True]
    assert encoded.reports[0].error.field == "ext_id"


def test_nothing_to_send_gives_no_body(codec):
    encoded = codec.encode_import([AddressBookWrite.upsert(Contact(ext_id="E", name="😀"), version=1)])
    assert encoded.body is None and encoded.item_count == 0 and len(encoded.refused) == 1


def test_the_configured_official_schema_dir_is_used(official_xsd_dir):
    codec = PohodaCodec("12345678", "eshop", "connector", schema_dir=str(official_xsd_dir))
    encoded = codec.encode_import([AddressBookWrite.upsert(full_contact(), version=1)])
    assert encoded.item_count == 1


# -- hypothesis: generated contacts -----------------------------------------------------------


def text(max_size: int, alphabet: str = LETTERS + " .-,/0123456789") -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), st.text(alphabet=alphabet, min_size=1, max_size=max_size))


dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)).map(dt.date.isoformat)
countries = st.sampled_from(["CZ", "SK", "PL", "HU", "AT", "DE"])
ship_tos = st.fixed_dictionaries(
    {
        "company": text(80), "name": text(64), "street": text(64), "city": text(45), "zip": text(15),
        "country": st.one_of(st.none(), countries), "phone": text(40, "0123456789 +"),
        "email": text(98, "abcxyz.@-0123456789"), "default": st.booleans(),
    }
)
contacts = st.builds(
    lambda d: Contact.from_dict(d),
    st.fixed_dictionaries(
        {
            "ext_id": st.text(alphabet="ABCDEF0123456789-", min_size=1, max_size=64),
            "company": text(255), "name": text(64), "street": text(64), "city": text(45), "zip": text(15),
            "email": text(98, "abcxyz.@-0123456789"), "phone": text(40, "0123456789 +"),
            "mobile": text(24, "0123456789 +"), "country": st.one_of(st.none(), countries),
            "ico": text(15, "0123456789"), "dic": text(18, "CZSK0123456789"), "ic_dph": text(18, "SK0123456789"),
            "ship_to": st.lists(ship_tos, max_size=3),
            "groups": st.lists(st.text(alphabet=LETTERS, min_size=1, max_size=20), max_size=10, unique=True),
            "note": text(300, LETTERS + " \n.,!?0123456789"),
            "birth_date": st.one_of(st.none(), dates),
            "gdpr": st.lists(
                st.fixed_dictionaries({"purpose": st.text(alphabet=LETTERS, min_size=1, max_size=80),
                                       "date_from": st.one_of(st.none(), dates),
                                       "description": text(100)}),
                max_size=2,
            ),
        }
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(contacts, min_size=1, max_size=4, unique_by=lambda c: c.ext_id))
def test_generated_contacts_conform_and_round_trip(codec, official, project, generated):
    encoded = codec.encode_import([AddressBookWrite.upsert(c, version=1) for c in generated])
    assert not encoded.refused
    assert_valid(encoded.body, official["data.xsd"], project["data.xsd"])
    for contact, back in zip(generated, decoded_items(encoded.body), strict=True):
        assert back.content() == contact.content()
        assert back.ext_id == contact.ext_id


# -- list requests ----------------------------------------------------------------------------


def list_request(data: bytes) -> etree._Element:
    return etree.fromstring(data).find(f"{q('dat', 'dataPackItem')}/{q('lAdb', 'listAddressBookRequest')}")


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"last_changes": dt.datetime(2024, 5, 1, 8, 30, 15)},
        {"pohoda_id": 42},
        {"ext_id": "E-1001"},
        {"id_from": 1001, "count": 1000},
        {"last_changes": dt.datetime(2024, 5, 1, tzinfo=dt.UTC), "id_from": 1, "count": 10_000},
    ],
)
def test_list_requests_validate_against_official_and_project_schemas(codec, official, project, kwargs):
    data = codec.encode_list_request(**kwargs)
    assert_valid(data, official["data.xsd"], project["data.xsd"])
    request = list_request(data)
    assert request.attrib == {"version": "2.0", "addressBookVersion": "2.0", "extSystem": "eshop"}
    flt = request.find(f"{q('lAdb', 'requestAddressBook')}/{q('ftr', 'filter')}")
    if "last_changes" in kwargs:
        assert dt.datetime.fromisoformat(flt.findtext(q("ftr", "lastChanges"))).tzinfo is None
    if "pohoda_id" in kwargs:
        assert flt.findtext(q("ftr", "id")) == "42"
    if "ext_id" in kwargs:
        assert flt.findtext(f"{q('ftr', 'extId')}/{q('typ', 'exSystemName')}") == "eshop"
    if "count" in kwargs:
        limit = request.find(q("lAdb", "limit"))
        assert int(limit.findtext(q("ftr", "count"))) == kwargs["count"]
        assert int(limit.findtext(q("ftr", "idFrom"))) == kwargs["id_from"]
    if not kwargs:
        assert flt is None


def test_list_requests_get_fresh_pack_ids_unless_given(codec):
    first, second = codec.encode_list_request(), codec.encode_list_request()
    assert etree.fromstring(first).get("id") != etree.fromstring(second).get("id")
    assert etree.fromstring(codec.encode_list_request(pack_id="list-run7-1")).get("id") == "list-run7-1"


def test_list_request_arguments_are_checked(codec):
    with pytest.raises(ValueError):
        codec.encode_list_request(count=10_001)
    with pytest.raises(ValueError):
        codec.encode_list_request(pohoda_id="abc")


# -- responsePacks ----------------------------------------------------------------------------


def response_pack(*items: etree._Element, state: str = "ok", note: str | None = None,
                  encoding: str = "Windows-1250") -> bytes:
    attrs = {"version": "2.0", "id": "pack-1", "state": state, "ico": "12345678", "programVersion": "13900.1"}
    if note is not None:
        attrs["note"] = note
    root = etree.Element(q("rsp", "responsePack"), attrs, nsmap=NS)
    root.extend(items)
    return etree.tostring(root, encoding=encoding, xml_declaration=True)


def sub(parent: etree._Element, prefix: str, local: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, q(prefix, local), attrs)
    el.text = text
    return el


def answer_item(iid: str, state: str = "ok", note: str | None = None) -> etree._Element:
    attrs = {"version": "2.0", "id": iid, "state": state}
    if note is not None:
        attrs["note"] = note
    return etree.Element(q("rsp", "responsePackItem"), attrs)


def produced_item(iid: str, pohoda_id: str, ext_id: str | None = None, action: str = "add") -> etree._Element:
    item = answer_item(iid)
    response = sub(item, "adb", "addressbookResponse", version="2.0", state="ok")
    produced = sub(response, "rdc", "producedDetails")
    sub(produced, "rdc", "id", pohoda_id)
    sub(produced, "rdc", "actionType", action)
    if ext_id is not None:
        ext = sub(produced, "rdc", "extId")
        sub(ext, "typ", "ids", ext_id)
        sub(ext, "typ", "exSystemName", "eshop")
    return item


def detail(parent: etree._Element, state: str, errno: int, note: str, xpath: str) -> None:
    d = sub(parent, "rdc", "detail")
    sub(d, "rdc", "state", state)
    sub(d, "rdc", "errno", str(errno))
    sub(d, "rdc", "note", note)
    sub(d, "rdc", "XPath", xpath)


def test_decode_produced_details_errors_warnings_and_duplicity(codec, official, project):
    ok = produced_item("i1", "101", "E-1")
    failed = answer_item("i2", "error", "Chyba při importu adresy")
    response = sub(failed, "adb", "addressbookResponse", version="2.0", state="error")
    details = sub(response, "rdc", "importDetails")
    detail(details, "error", 103, "Pole Název je příliš dlouhé.",
           "/dat:dataPack/dat:dataPackItem[2]/adb:addressbook/adb:addressbookHeader")
    warned = produced_item("i3", "103", action="update")
    details = etree.Element(q("rdc", "importDetails"))
    detail(details, "warning", 501, "Štítek nebyl nalezen.", "/dat:dataPack/dat:dataPackItem[3]")
    warned.find(q("adb", "addressbookResponse")).insert(0, details)
    duplicate = answer_item("i4", "error", "Duplicitní záznam")
    duplicity = sub(sub(duplicate, "rsp", "errorDetail"), "rsp", "recordDuplicity")
    sub(duplicity, "rsp", "agendaType", "adresar")
    sub(duplicity, "rsp", "dateCreate", "2024-05-01")
    sub(duplicity, "rsp", "id", "104")
    data = response_pack(ok, failed, warned, duplicate)
    assert_valid(data, official["response.xsd"], project["response.xsd"])

    answer = codec.decode_response(data)
    assert answer.ok and answer.pack_id == "pack-1" and answer.ico == "12345678"
    r1, r2, r3, r4 = answer.items
    assert (r1.item_id, r1.ok, r1.pohoda_id, r1.ext_id, r1.action) == ("i1", True, "101", "E-1", "add")
    assert not r2.ok and r2.state == "error" and r2.note == "Chyba při importu adresy"
    assert r2.errors[0].errno == 103 and r2.errors[0].note == "Pole Název je příliš dlouhé."
    assert r2.errors[0].xpath.endswith("adb:addressbookHeader")
    assert r3.ok and r3.pohoda_warnings[0].errno == 501 and r3.action == "update"
    assert r4.ok and r4.duplicate and r4.pohoda_id == "104" and r4.state == "error"
    assert answer.by_item_id()["i4"] is r4


def test_decode_pack_error(codec, official):
    data = response_pack(state="error", note="Neplatné IČ účetní jednotky")
    assert_valid(data, official["response.xsd"])
    answer = codec.decode_response(data)
    assert not answer.ok and answer.note == "Neplatné IČ účetní jednotky" and answer.items == ()
    with pytest.raises(PohodaRefused) as caught:
        answer.raise_for_state()
    assert caught.value.note == "Neplatné IČ účetní jednotky"


def test_decode_a_utf8_answer_that_says_so(codec):
    data = response_pack(produced_item("i1", "7"), note="Příliš žluťoučký", encoding="UTF-8")
    assert b"encoding='UTF-8'" in data
    assert codec.decode_response(data).note == "Příliš žluťoučký"


def test_decode_refuses_a_schema_violation_and_other_roots(codec):
    bad = answer_item("i1")
    sub(bad, "adb", "addressbookResponse", version="2.0", state="maybe")
    with pytest.raises(SchemaViolation, match="state"):
        codec.decode_response(response_pack(bad))
    with pytest.raises(SchemaViolation, match="responsePack"):
        codec.decode_response(codec.encode_list_request())


# -- exports ----------------------------------------------------------------------------------


def exported(codec: PohodaCodec, contacts: list[Contact], **kwargs) -> bytes:
    out = io.BytesIO()
    codec.write_export(contacts, out, **kwargs)
    return out.getvalue()


def pohoda_contacts(n: int, start: int = 1) -> list[Contact]:
    base = full_contact()
    return [base.replace(id=str(start + i), ext_id=f"E-{start + i}", name=f"Řehoř Ďásek {i}") for i in range(n)]


@pytest.mark.parametrize("bare", [False, True])
def test_export_streams_contacts_in_order(codec, official, bare):
    contacts = pohoda_contacts(25)
    data = exported(codec, contacts, bare=bare)
    assert_valid(data, official["response.xsd"])
    stream = codec.iter_export(data)
    assert list(stream) == contacts
    assert stream.count == 25 and stream.last_id == 25 and stream.state == "ok"
    assert stream.pack_state == (None if bare else "ok")


def test_export_from_a_file_like_stream(codec):
    contacts = pohoda_contacts(300)
    assert list(codec.iter_export(io.BytesIO(exported(codec, contacts)))) == contacts


def test_export_with_a_bad_record_names_record_and_field(codec):
    contacts = pohoda_contacts(2000)
    data = exported(codec, contacts)
    # Record 1500 gets a name longer than typ:string64 (the writer does not check limits).
    marker = "Řehoř Ďásek 1499</typ:name>".encode("cp1250")
    assert data.count(marker) == 1
    data = data.replace(marker, ("X" * 70 + "</typ:name>").encode("cp1250"))
    seen = []
    with pytest.raises(SchemaViolation) as caught:
        seen.extend(codec.iter_export(data))
    assert caught.value.record == "POHODA 1500" and caught.value.field == "name"
    assert "1500" in str(caught.value) and "name" in str(caught.value)
    assert len(seen) < 1500 and seen == contacts[: len(seen)]


def test_export_with_a_bad_value_for_the_model_names_record_and_field(codec):
    data = exported(codec, pohoda_contacts(3)).replace(b"<typ:ids>CZ</typ:ids>", b"<typ:ids>CZE</typ:ids>", 1)
    with pytest.raises(BadData) as caught:
        list(codec.iter_export(data))
    assert caught.value.field == "country" and "1" in (caught.value.record or "")


def export_answer(list_state: str = "ok", item_state: str = "ok", pack_state: str = "ok",
                  note: str | None = None) -> bytes:
    item = answer_item("list", item_state, note)
    if item_state == "ok":
        lst = sub(item, "lAdb", "listAddressBook", version="2.0", dateTimeStamp="2024-05-01T10:00:00",
                  dateValidFrom="2024-05-01", state=list_state)
        if list_state == "error":
            detail(sub(lst, "rdc", "importDetails"), "error", 601, "Neznámý filtr", "/dat:dataPack/dat:dataPackItem")
    return response_pack(item, state=pack_state, note=note if pack_state == "error" else None)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pack_state": "error", "item_state": "error", "note": "Chybná licence"},
        {"item_state": "error", "note": "Chybný požadavek"},
        {"list_state": "error"},
    ],
)
def test_a_refused_export_raises_pohoda_refused_with_the_note(codec, official, kwargs):
    data = export_answer(**kwargs)
    assert_valid(data, official["response.xsd"])
    with pytest.raises(PohodaRefused) as caught:
        list(codec.iter_export(data))
    assert caught.value.note in ("Chybná licence", "Chybný požadavek", "Neznámý filtr")


def test_an_empty_export_is_fine(codec, official):
    data = export_answer()
    assert_valid(data, official["response.xsd"])
    stream = codec.iter_export(data)
    assert list(stream) == [] and stream.state == "ok" and stream.last_id is None


def test_an_import_answer_is_not_an_export(codec):
    with pytest.raises(SchemaViolation):
        list(codec.iter_export(response_pack(produced_item("i1", "7"))))
