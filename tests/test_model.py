"""The canonical contact: its JSON-lines form, validation and content hash."""

from __future__ import annotations

import io

import pytest

from connector.errors import InvalidContact
from connector.model import Contact, read_jsonl, write_jsonl

FULL = {
    "id": "42",
    "ext_id": "E-42",
    "company": "Kováč a syn s.r.o.",
    "name": "Ján Kováč",
    "email": "jan@example.sk",
    "phone": "+421 900 123 456",
    "mobile": "0900123456",
    "street": "Hlavná 1",
    "city": "Žilina",
    "zip": "010 01",
    "country": "SK",
    "ico": "12345678",
    "dic": "2020123456",
    "ic_dph": "SK2020123456",
    "ship_to": [
        {"company": None, "name": "Ján", "street": "Nová 2", "city": "Brno", "zip": "60200", "country": "CZ",
         "phone": None, "email": None, "default": True},
    ],
    "groups": ["VIP"],
    "note": "Pozor",
    "birth_date": "1980-02-29",
    "gdpr": [{"purpose": "newsletter", "date_from": "2024-01-01", "date_till": None, "description": None}],
}


def test_json_round_trip_keeps_every_field() -> None:
    contact = Contact.from_dict(FULL)
    assert contact.to_dict() == FULL
    out = io.StringIO()
    assert write_jsonl([contact, contact], out) == 2
    assert list(read_jsonl(io.StringIO(out.getvalue()))) == [contact, contact]


def test_unknown_key_is_an_error_naming_the_key() -> None:
    with pytest.raises(InvalidContact, match="unknown key 'e_mail'") as info:
        Contact.from_dict({"id": "7", "e_mail": "x@y.cz"})
    assert info.value.field == "e_mail"
    assert info.value.record == "7"


def test_unknown_key_in_ship_to_names_its_place() -> None:
    with pytest.raises(InvalidContact, match=r"unknown key 'town' in ship_to\[0\]"):
        Contact.from_dict({"ship_to": [{"town": "Brno"}]})


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"birth_date": "29.2.1980"}, "birth_date"),
        ({"country": "Slovakia"}, "country"),
        ({"email": ["a@b"]}, "email"),
        ({"groups": "VIP"}, "groups"),
        ({"gdpr": [{"date_from": "2024-01-01"}]}, "gdpr[0].purpose"),
        ({"ship_to": [{"default": "yes"}]}, "ship_to[0].default"),
    ],
)
def test_bad_values_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidContact) as info:
        Contact.from_dict(data)
    assert info.value.field == field


def test_bad_json_line_names_the_line() -> None:
    stream = io.StringIO('{"name": "A"}\n{"name": \n')
    with pytest.raises(InvalidContact, match="line 2: not valid JSON"):
        list(read_jsonl(stream))


def test_blank_strings_are_absent_and_text_is_trimmed() -> None:
    contact = Contact.from_dict({"name": "  Eva  ", "email": "   ", "country": "cz"})
    assert contact.name == "Eva"
    assert contact.email is None
    assert contact.country == "CZ"


def test_content_hash_ignores_side_ids_and_sees_content() -> None:
    a = Contact.from_dict(FULL)
    b = a.replace(id="999", ext_id="other")
    assert a.content_hash() == b.content_hash()
    assert a.content_hash() != a.replace(city="Košice").content_hash()
