"""Windows-1250 on the wire and POHODA's field limits: exact round trips, reported
transliteration, clear refusals naming the field, never a silent "?"."""

from __future__ import annotations

import io

import pytest
from lxml import etree

from connector.codec._addressbook import (
    FIELD_LIMITS,
    GDPR_NAME_LIMIT,
    GROUP_LIMIT,
    SHIP_TO_LIMITS,
    parse_addressbook,
    q,
)
from connector.codec._cp1250 import CP1250_CHARACTERS, to_cp1250
from connector.codec.pohoda import AddressBookWrite, PohodaCodec
from connector.errors import FieldTooLong, UnencodableCharacters
from connector.model import Consent, Contact, ShipTo


@pytest.fixture(scope="module")
def codec() -> PohodaCodec:
    return PohodaCodec(ico="12345678", ex_system="eshop", application="connector tests")


@pytest.fixture(scope="module")
def cutting_codec() -> PohodaCodec:
    return PohodaCodec(ico="12345678", ex_system="eshop", application="connector tests", truncate_long_values=True)


def encode_one(codec: PohodaCodec, contact: Contact):
    encoded = codec.encode_import([AddressBookWrite.upsert(contact, version=1)])
    [report] = encoded.reports
    return encoded, report


def decode_one(body: bytes) -> Contact:
    [book] = etree.fromstring(body).iter(q("adb", "addressbook"))
    return parse_addressbook(book, ex_system="eshop")


PRINTABLE = sorted(c for c in CP1250_CHARACTERS if c not in "\t\n\r")


def test_the_character_set_is_windows_1250():
    assert len(CP1250_CHARACTERS) == 256 - 5 - 29  # minus undefined bytes and C0 controls but tab/LF/CR
    for char in CP1250_CHARACTERS:
        assert char.encode("cp1250").decode("cp1250") == char


def test_every_windows_1250_character_round_trips_exactly_in_a_free_text_field(codec):
    text = "x" + "".join(PRINTABLE) + "\tline\r\nnext\nx"
    encoded, report = encode_one(codec, Contact(ext_id="E-1", note=text))
    assert report.error is None and report.warnings == ()
    assert decode_one(encoded.body).note == text
    # Carried as Windows-1250 bytes, not as character references (only CR must be escaped).
    assert encoded.body.replace(b"&#13;", b"").count(b"&#") == 0


@pytest.mark.parametrize("field", ["company", "name", "street", "city"])
def test_every_windows_1250_character_round_trips_exactly_in_limited_fields(codec, field):
    limit = FIELD_LIMITS[field]
    chunk = limit - 2
    for start in range(0, len(PRINTABLE), chunk):
        value = "a" + "".join(PRINTABLE[start : start + chunk]) + "z"
        encoded, report = encode_one(codec, Contact(ext_id="E-1", **{field: value}))
        assert report.error is None and report.warnings == (), report
        assert getattr(decode_one(encoded.body), field) == value


def test_zoe_stays_zoe(codec):
    encoded, report = encode_one(codec, Contact(ext_id="E-1", name="Zoë Šťastná"))
    assert report.warnings == () and decode_one(encoded.body).name == "Zoë Šťastná"


def test_characters_without_equivalent_refuse_the_item_naming_the_field(codec):
    encoded, report = encode_one(codec, Contact(ext_id="E-1", company="ACME", name="Zoë ✓ 😀"))
    assert encoded.body is None
    error = report.error
    assert isinstance(error, UnencodableCharacters)
    assert error.field == "name" and error.record == "ext:E-1"
    assert "'name'" in str(error) and "U+2713" in str(error) and "U+1F600" in str(error)


@pytest.mark.parametrize(
    ("contact", "field"),
    [
        (Contact(ext_id="E-1", city="Praha ✓"), "city"),
        (Contact(ext_id="E-1", ship_to=(ShipTo(), ShipTo(street="Ulice 😀"))), "ship_to[1].street"),
        (Contact(ext_id="E-1", groups=("VIP", "Ωmega")), "groups[1]"),
        (Contact(ext_id="E-1", gdpr=(Consent(purpose="Newsletter", description="👍"),)), "gdpr[0].description"),
        (Contact(ext_id="E-1", note="bell \x07"), "note"),
        (Contact(ext_id="Ж-1"), "ext_id"),
    ],
)
def test_refusals_name_the_field_wherever_it_is(codec, contact, field):
    encoded, report = encode_one(codec, contact)
    assert isinstance(report.error, UnencodableCharacters) and report.error.field == field
    assert encoded.body is None


def test_never_a_silent_question_mark(codec):
    values = ["Ștefan ✓", "Zoë 😀", "Ωmega", "Ǆemal", "Œuvre", "中文"]
    for value in values:
        encoded, report = encode_one(codec, Contact(ext_id="E-1", name=value))
        if report.error is None:
            name = decode_one(encoded.body).name
            assert "?" not in name and report.warnings
        else:
            assert isinstance(report.error, UnencodableCharacters)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ștefan Țepeș", "Stefan Tepes"),
        ("Œuvre Ørsted", "OEuvre Orsted"),
        ("Ａｎｎａ", "Anna"),
        ("Ǆemal", "DŽemal"),
        ("Rene\u0301e", "Renée"),
        ("a\u2011b", "a-b"),
    ],
)
def test_transliteration_is_applied_and_reported(codec, value, expected):
    encoded, report = encode_one(codec, Contact(ext_id="E-1", name=value))
    assert report.error is None
    assert decode_one(encoded.body).name == expected
    [warning] = report.warnings
    assert warning.field == "name" and warning.kind == "transliterated"
    assert value not in warning.message  # the value itself is personal data: not in reports


def test_transliteration_in_ship_to_and_groups_is_reported_per_field(codec):
    contact = Contact(ext_id="E-1", ship_to=(ShipTo(city="Timișoara"),), groups=("Țară",))
    encoded, report = encode_one(codec, contact)
    assert {w.field for w in report.warnings} == {"ship_to[0].city", "groups[0]"}
    back = decode_one(encoded.body)
    assert back.ship_to[0].city == "Timisoara" and back.groups == ("Tară",)


def test_to_cp1250_leaves_carried_text_untouched():
    text = "".join(PRINTABLE)
    assert to_cp1250(text) == (text, [])


# -- field limits -----------------------------------------------------------------------------


@pytest.mark.parametrize("field", sorted(FIELD_LIMITS))
def test_a_value_at_the_limit_passes_and_one_over_is_refused(codec, field):
    limit = FIELD_LIMITS[field]
    if field == "country":
        pytest.skip("the model only holds ISO alpha-2 codes")

    def with_value(length: int) -> Contact:
        if field == "ext_id":
            return Contact(ext_id="7" * length)
        return Contact(ext_id="E-1", **{field: "7" * length})

    assert encode_one(codec, with_value(limit))[1].error is None
    error = encode_one(codec, with_value(limit + 1))[1].error
    assert isinstance(error, FieldTooLong) and error.field == field
    assert (error.limit, error.length) == (limit, limit + 1)
    assert f"'{field}'" in str(error) and str(limit) in str(error)


@pytest.mark.parametrize("field", sorted(f for f in SHIP_TO_LIMITS if f != "country"))
def test_ship_to_limits(codec, field):
    limit = SHIP_TO_LIMITS[field]
    contact = Contact(ext_id="E-1", ship_to=(ShipTo(name="ok"), ShipTo(**{field: "x" * (limit + 1)})))
    error = encode_one(codec, contact)[1].error
    assert isinstance(error, FieldTooLong) and error.field == f"ship_to[1].{field}"


def test_more_than_ten_groups_is_too_many(codec):
    contact = Contact(ext_id="E-1", groups=tuple(f"G{i}" for i in range(GROUP_LIMIT + 1)))
    error = encode_one(codec, contact)[1].error
    assert isinstance(error, FieldTooLong) and error.field == "groups" and error.limit == GROUP_LIMIT


def test_gdpr_purpose_limit(codec):
    contact = Contact(ext_id="E-1", gdpr=(Consent(purpose="p" * (GDPR_NAME_LIMIT + 1)),))
    error = encode_one(codec, contact)[1].error
    assert isinstance(error, FieldTooLong) and error.field == "gdpr[0].purpose"


def test_truncation_when_configured_cuts_and_warns(cutting_codec):
    contact = Contact(
        ext_id="E-1",
        name="Ň" * 70,
        ship_to=(ShipTo(street="s" * 80),),
        groups=tuple(f"G{i}" for i in range(12)),
    )
    encoded, report = encode_one(cutting_codec, contact)
    assert report.error is None
    back = decode_one(encoded.body)
    assert back.name == "Ň" * 64 and back.ship_to[0].street == "s" * 64 and len(back.groups) == 10
    kinds = {(w.field, w.kind) for w in report.warnings}
    assert kinds == {("name", "truncated"), ("ship_to[0].street", "truncated"), ("groups", "truncated")}


@pytest.mark.parametrize("field", ["ext_id", "ico", "dic", "ic_dph"])
def test_ids_are_never_cut(cutting_codec, field):
    value = "9" * (FIELD_LIMITS[field] + 1)
    contact = Contact(ext_id=value) if field == "ext_id" else Contact(ext_id="E-1", **{field: value})
    assert isinstance(encode_one(cutting_codec, contact)[1].error, FieldTooLong)


def test_transliteration_happens_before_the_limit_check(codec):
    # "Œ" becomes two letters: 32 of them make 64 characters, within the limit; 33 do not.
    assert encode_one(codec, Contact(ext_id="E-1", name="Œ" * 32))[1].error is None
    assert isinstance(encode_one(codec, Contact(ext_id="E-1", name="Œ" * 33))[1].error, FieldTooLong)


# -- both encodings coming in ---------------------------------------------------------------


def test_exports_in_windows_1250_and_in_utf8_decode_the_same(codec):
    contacts = [Contact(id="1", ext_id="E-1", name="Řehoř Žďárský", city="Győr",
                        note="x" + "".join(PRINTABLE) + "x")]
    out = io.BytesIO()
    codec.write_export(contacts, out)
    cp1250 = out.getvalue()
    assert b"encoding='Windows-1250'" in cp1250
    utf8 = cp1250.decode("cp1250").replace("encoding='Windows-1250'", "encoding='UTF-8'").encode("utf-8")
    assert list(codec.iter_export(cp1250)) == contacts == list(codec.iter_export(utf8))
