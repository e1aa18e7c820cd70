"""Streamed exports: the codec's flat reading of a record against a plain one, and how the
stream validates records in batches (what it hands out before a bad record, what it refuses).

Records are rearranged and filled with fields the connector does not map, in every way
POHODA's schema allows, and must read the same as the plain reading (tests/addressbook_
reference.py) and as the contact they were written from.
"""

from __future__ import annotations

import io
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from connector.codec._addressbook import NS, parse_addressbook, q
from connector.codec.pohoda import ExportStream, PohodaCodec
from connector.errors import InvalidContact, SchemaViolation
from connector.model import Contact
from tests.addressbook_reference import reference_contact
from tests.test_codec_pohoda import contacts, exported, pohoda_contacts

BATCH = ExportStream.RECORD_BATCH


@pytest.fixture(scope="module")
def codec() -> PohodaCodec:
    return PohodaCodec(ico="12345678", ex_system="eshop", application="connector tests")


def el(prefix: str, local: str, text: str | None = None, *children: etree._Element) -> etree._Element:
    out = etree.Element(q(prefix, local), nsmap={"adb": NS["adb"], "typ": NS["typ"]})
    out.text = text
    out.extend(children)
    return out


def maybe(rnd: random.Random) -> bool:
    return rnd.random() < 0.5


def shuffle_children(parent: etree._Element | None, rnd: random.Random) -> None:
    """xs:all: any order is valid."""
    if parent is None:
        return
    children = list(parent)
    rnd.shuffle(children)
    for child in children:
        parent.append(child)


def dress_reference(ref: etree._Element, rnd: random.Random) -> None:
    """A reference (typ:refType) may carry an id before its ids and an extId after it."""
    if maybe(rnd):
        ref.insert(0, el("typ", "id", "42"))
    if maybe(rnd):
        ids = ref.find(q("typ", "ids"))
        ext = el("typ", "extId", None, el("typ", "ids", "ISO-X"), el("typ", "exSystemName", "iso"))
        if ids is None:
            ref.append(ext)
        else:
            ids.addnext(ext)


def scramble(record: etree._Element, rnd: random.Random) -> None:
    """Rearrange a record and add unmapped fields, as POHODA's schema allows."""
    header = record.find(q("adb", "addressbookHeader"))
    assert header is not None
    extras = [
        el("adb", "region", "Jihomoravský"),
        el("adb", "web", "https://example.cz"),
        el("adb", "intNote", "interní poznámka"),
        el("adb", "message", "zpráva"),
        el("adb", "centre", None, el("typ", "ids", "STRED")),
        el("adb", "activity", None, el("typ", "id", "3"), el("typ", "ids", "PRODEJ")),
        # An address of another party: its name and city are not the contact's.
        el("adb", "refAddress", None,
           el("typ", "extId", None, el("typ", "ids", "R-1"), el("typ", "exSystemName", "eshop")),
           el("typ", "address", None, el("typ", "name", "Jiná Osoba"), el("typ", "city", "Opava"),
              el("typ", "country", None, el("typ", "ids", "SK")))),
    ]
    header.extend(e for e in extras if maybe(rnd))
    identity = header.find(q("adb", "identity"))
    if identity is not None:
        if maybe(rnd):
            other = el("typ", "extId", None, el("typ", "ids", "X-9"), el("typ", "exSystemName", "jiny"))
            ext_ids = identity.findall(q("typ", "extId"))
            if ext_ids and maybe(rnd):
                ext_ids[-1].addnext(other)
            else:
                identity.insert(0, other)
        if maybe(rnd):
            identity.insert(0, el("typ", "id", "5"))
        address = identity.find(q("typ", "address"))
        if address is not None:
            for local, text in (("division", "Sklad"), ("phone", "+420 111"), ("email", "jiny@example.cz"),
                                ("mobilPhone", "+420 222"), ("fax", "+420 333")):
                if maybe(rnd):
                    address.append(el("typ", local, text))
            shuffle_children(address, rnd)
        for ship in identity.iterfind(q("typ", "shipToAddress")):
            for extra in (el("typ", "id", "8"), el("typ", "extId", "S-1"), el("typ", "division", "Brána 2"),
                          el("typ", "actionType", None, el("typ", "add", ""))):
                if maybe(rnd):
                    ship.append(extra)
            shuffle_children(ship, rnd)
        for country in identity.iter(q("typ", "country")):
            dress_reference(country, rnd)
    for label in header.iter(q("typ", "label")):
        if maybe(rnd):
            label.append(el("typ", "id", "11"))
        shuffle_children(label, rnd)
    shuffle_children(header, rnd)
    gdpr = record.find(q("adb", "addressbookGDPR"))
    if gdpr is not None:
        for local, text in (("restrictProcessing", "false"), ("dateSale", "2024-02-01")):
            if maybe(rnd):
                gdpr.insert(0, el("adb", local, text))
        for item in gdpr.iter(q("adb", "GDPRItem")):
            extras = [el("adb", "id", "7"), el("adb", "note", "pozn."), el("adb", "revokeGDPR", "2025-01-01T00:00:00"),
                      el("adb", "actionType", None, el("typ", "add", ""))]
            for extra in extras:
                if maybe(rnd):
                    item.append(extra)
            name = item.find(q("adb", "name"))
            if name is not None and maybe(rnd):
                name.insert(0, el("typ", "id", "2"))
            shuffle_children(item, rnd)
        shuffle_children(gdpr, rnd)
    if maybe(rnd):
        account = el("adb", "addressbookAccount", None, el("adb", "accountItem", None, el("adb", "id", "1"),
                                                            el("adb", "accountNumber", "123456789"),
                                                            el("adb", "bankCode", "0100")))
        header.addnext(account)


def outcome(read, record: etree._Element, ex_system: str | None) -> Contact | tuple[str, str | None]:
    try:
        return read(record, ex_system=ex_system)
    except InvalidContact as exc:
        return ("refused", exc.field)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(contacts, min_size=1, max_size=3), st.randoms(use_true_random=False))
def test_a_rearranged_record_reads_as_written(codec, generated, rnd):
    root = etree.fromstring(exported(codec, generated, bare=True))
    records = root.findall(q("lAdb", "addressbook"))
    assert len(records) == len(generated)
    for contact, record in zip(generated, records, strict=True):
        scramble(record, rnd)
        codec.check_export_record(record, what="a rearranged record")  # still valid
        assert parse_addressbook(record, ex_system="eshop") == contact
        for ex_system in ("eshop", "jiny", "iso", None):
            assert outcome(parse_addressbook, record, ex_system) == outcome(reference_contact, record, ex_system)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (b"<typ:ids>CZ</typ:ids>", b"<typ:ids>CZE</typ:ids>", "country"),
        (b"<adb:dateOfBirth>1984-02-29</adb:dateOfBirth>", b"<adb:dateOfBirth>1984-02-29Z</adb:dateOfBirth>",
         "birth_date"),
        (b"<adb:dateFrom>2024-01-01</adb:dateFrom>", b"<adb:dateFrom>2024-01-01+01:00</adb:dateFrom>",
         "gdpr[0].date_from"),
    ],
)
def test_values_the_model_refuses_are_refused_alike(codec, old, new, field):
    """Schema-valid values the model does not hold: both readings refuse them, naming the field."""
    data = exported(codec, pohoda_contacts(1), bare=True)
    assert old in data
    root = etree.fromstring(data.replace(old, new, 1))
    record = root.find(q("lAdb", "addressbook"))
    codec.check_export_record(record, what="test")
    assert outcome(parse_addressbook, record, "eshop") == ("refused", field)
    assert outcome(reference_contact, record, "eshop") == ("refused", field)


# -- the stream: batches, and what it refuses -----------------------------------------------


def named(contacts_: list[Contact], index: int) -> bytes:
    """The marker of one record in an export of pohoda_contacts: its name element."""
    return f"{contacts_[index].name}</typ:name>".encode("cp1250")


@pytest.mark.parametrize(
    ("total", "bad"),
    [
        (3 * BATCH, BATCH + 43),  # in the middle of a full batch
        (BATCH + 50, BATCH + 33),  # in the last batch, checked when the list ends
        (BATCH, 0),  # the very first record
    ],
)
def test_every_record_before_a_bad_one_is_handed_out_and_none_after(codec, total, bad):
    written = pohoda_contacts(total)
    data = exported(codec, written)
    marker = named(written, bad)
    assert data.count(marker) == 1
    data = data.replace(marker, ("X" * 70 + "</typ:name>").encode("cp1250"))  # over typ:string64
    seen = []
    with pytest.raises(SchemaViolation) as caught:
        seen.extend(codec.iter_export(data))
    assert seen == written[:bad]
    assert caught.value.record == f"POHODA {bad + 1}" and caught.value.field == "name"


def with_parts(data: bytes, *, after_records: bool) -> bytes:
    parts = f'<rdc:parts xmlns:rdc="{NS["rdc"]}"><rdc:part>1/1</rdc:part></rdc:parts>'.encode()
    if after_records:
        return data.replace(b"</lAdb:listAddressBook>", parts + b"</lAdb:listAddressBook>")
    start = data.index(b"<lAdb:listAddressBook ")
    end = data.index(b">", start) + 1
    return data[:end] + parts + data[end:]


def test_list_parts_are_read_before_the_records(codec):
    written = pohoda_contacts(BATCH + 5)
    stream = codec.iter_export(with_parts(exported(codec, written), after_records=False))
    assert list(stream) == written and stream.parts == ("1/1",)


def test_list_parts_after_the_records_break_the_schema_and_the_stream_says_so(codec, official_xsd_dir):
    data = with_parts(exported(codec, pohoda_contacts(BATCH + 5)), after_records=True)
    official = etree.XMLSchema(etree.parse(str(official_xsd_dir / "response.xsd")))
    assert not official.validate(etree.fromstring(data))
    with pytest.raises(SchemaViolation) as caught:
        list(codec.iter_export(data))
    assert caught.value.field == "parts"


def test_a_record_outside_a_list_is_refused(codec, official_xsd_dir):
    root = etree.fromstring(exported(codec, pohoda_contacts(5)))
    listing = root.find(f"{q('rsp', 'responsePackItem')}/{q('lAdb', 'listAddressBook')}")
    listing.addnext(listing[-1])  # the last record moves up beside its list
    data = etree.tostring(root, encoding="Windows-1250", xml_declaration=True)
    official = etree.XMLSchema(etree.parse(str(official_xsd_dir / "response.xsd")))
    assert not official.validate(etree.fromstring(data))
    with pytest.raises(SchemaViolation, match="not inside a lAdb:listAddressBook"):
        list(codec.iter_export(data))


def test_a_bad_envelope_is_refused_once_the_document_ends(codec):
    written = pohoda_contacts(BATCH + 5)
    data = exported(codec, written)
    start = data.index(b"<lAdb:listAddressBook ")
    head, rest = data[:start], data[start:]
    data = head + rest.replace(b'dateValidFrom="', b'dateValidFrom="X', 1)
    seen = []
    with pytest.raises(SchemaViolation, match="dateValidFrom"):
        seen.extend(codec.iter_export(data))
    assert seen == written  # handed out, but the stream did not end well: no cursor moves on it


def validator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("pohoda-validate")]


def test_a_stream_left_half_read_stops_its_validator(codec):
    assert validator_threads() == []
    # A file-like export is streamed (a page held as bytes is read whole: see below).
    contacts_ = iter(codec.iter_export(io.BytesIO(exported(codec, pohoda_contacts(3 * BATCH)))))
    assert next(contacts_).id == "1"
    assert len(validator_threads()) == 1
    contacts_.close()
    assert validator_threads() == []


def test_a_page_held_as_bytes_is_read_whole_and_leaves_no_validator(codec):
    written = pohoda_contacts(3 * BATCH)
    stream = codec.iter_export(exported(codec, written))
    contacts_ = iter(stream)
    assert next(contacts_) == written[0]
    assert stream.read_as == "whole" and validator_threads() == []
    assert [written[0], *contacts_] == written
    assert (stream.count, stream.last_id, stream.state, stream.pack_state) == (3 * BATCH, 3 * BATCH, "ok", "ok")


@pytest.mark.parametrize("bare", [False, True])
def test_a_page_read_whole_reads_as_the_stream_does(codec, bare):
    """Everything the whole read leaves to the stream, and everything it reads itself, ends
    alike: the same contacts, the same attributes, the same refusal naming the same record."""
    written = pohoda_contacts(2 * BATCH + 7)
    good = exported(codec, written, bare=bare)
    too_long = good.replace(named(written, BATCH + 3), ("X" * 70 + "</typ:name>").encode())
    bad_model = good.replace(b"<typ:ids>CZ</typ:ids>", b"<typ:ids>CZE</typ:ids>", 1)
    for data in (good, too_long, bad_model):
        for aside in (False, True):
            results = []
            for source in (data, io.BytesIO(data)):
                refused: list[tuple[str | None, str | None]] = []
                stream = codec.iter_export(
                    source, on_bad_record=(lambda e, r=refused: r.append((e.record, e.field))) if aside else None
                )
                try:
                    got: object = [c.id for c in stream]
                except (SchemaViolation, InvalidContact) as exc:
                    got = (type(exc).__name__, exc.record, exc.field)
                attributes = (stream.count, stream.last_id, stream.state, stream.pack_state, stream.version)
                results.append((got, refused, attributes, stream.read_as))
            (whole, whole_refused, whole_attrs, how), (streamed, s_refused, s_attrs, _) = results
            assert (whole, whole_refused, whole_attrs) == (streamed, s_refused, s_attrs)
            assert how == ("whole" if data is good else "stream")


def test_a_stream_that_fails_stops_its_validator(codec):
    written = pohoda_contacts(3 * BATCH)
    data = exported(codec, written).replace(named(written, 2 * BATCH + 9), ("X" * 70 + "</typ:name>").encode())
    with pytest.raises(SchemaViolation):
        list(codec.iter_export(data))
    assert validator_threads() == []


PEAK = """
import sys
from connector.codec.pohoda import PohodaCodec
codec = PohodaCodec("12345678", "eshop", "tests", max_export_bytes=1 << 30)
with open(sys.argv[1], "rb") as f:
    count = sum(1 for _ in codec.iter_export(f))
with open("/proc/self/status") as status:
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(count, peak_kb // 1024)
"""


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="peak memory is read from /proc (Linux)")
def test_memory_does_not_grow_with_the_export(codec, tmp_path):
    """Records leave the stream's tree as they are read: 20 times the records, not the memory.
    (bench/ measures the peak over 100,000; here the growth alone is checked, and a tree of
    10,000 records held whole would exceed the bound five times over.)"""
    peaks = {}
    for n in (500, 10_000):
        path = tmp_path / f"export-{n}.xml"
        path.write_bytes(exported(codec, pohoda_contacts(n)))
        done = subprocess.run([sys.executable, "-c", PEAK, str(path)], capture_output=True, text=True, check=True)
        count, peaks[n] = (int(x) for x in done.stdout.split())
        assert count == n
    # A tree of 10,000 such records alone takes some 140 MB (lxml, measured: 24 -> 168 MB peak).
    assert peaks[10_000] - peaks[500] < 25, peaks
