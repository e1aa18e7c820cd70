"""The e-shop protocol's XML: round trips, field limits named, one bad batch item alone refused."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from connector.codec import eshop as codec
from connector.errors import BadData, FieldTooLong, MalformedXML, SchemaViolation
from connector.model import Consent, Contact, ShipTo

NOW = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
JANA = Contact(
    id="5",
    company="Nováková s.r.o.",
    name="Jana Nováková",
    email="jana@example.cz",
    phone="+420 601 123 456",
    street="Husova 12",
    city="Brno",
    zip="602 00",
    country="CZ",
    ico="12345678",
    dic="CZ12345678",
    groups=("VIP",),
    ship_to=(ShipTo(name="Sklad", city="Ostrava", country="CZ", default=True),),
    gdpr=(Consent(purpose="newsletter", date_from="2024-01-01"),),
    birth_date="1990-02-03",
    note="Žluťoučký kůň",
)


def customer(contact: Contact = JANA, version: str = "7") -> codec.EshopCustomer:
    return codec.EshopCustomer(contact, version, NOW, hq_id="42", sync_state="synced")


def test_customer_round_trip_keeps_every_field() -> None:
    body = codec.encode_customer(customer())
    assert codec.schema().validate(etree.fromstring(body))
    assert codec.decode_customer(body) == customer()


def test_change_page_round_trip_with_a_tombstone() -> None:
    page = codec.ChangePage(
        (codec.EshopChange("5", "7", NOW, customer()), codec.EshopChange("6", "9", NOW, None)), "9", True
    )
    assert codec.decode_changes(codec.encode_changes(page)) == page


def test_batch_round_trip() -> None:
    writes = [
        codec.EshopWrite.create(
            JANA.replace(id=None), "key-1", send_welcome=True, hq_id="g-1", sync_state="pending_sync"
        ),
        codec.EshopWrite.update("5", JANA, "7"),
        codec.EshopWrite.link("5", "42", "synced"),
    ]
    items = codec.decode_batch(codec.encode_batch(writes, ["a", "b", "c"]))
    assert [item.write for item in items] == writes
    assert [item.ref for item in items] == ["a", "b", "c"]


def test_a_value_too_long_is_refused_naming_the_field() -> None:
    with pytest.raises(FieldTooLong) as caught:
        codec.check_contact(JANA.replace(ship_to=(ShipTo(city="x" * 65),)), record="5")
    assert caught.value.field == "ship_to[0].city"
    assert caught.value.limit == 64
    assert "ship_to[0].city" in str(caught.value)


def test_a_control_character_is_refused_naming_the_field() -> None:
    with pytest.raises(BadData) as caught:
        codec.check_write(codec.EshopWrite.update("5", JANA.replace(note="a\x01b"), "7"))
    assert caught.value.field == "note"


def test_one_invalid_batch_item_fails_alone() -> None:
    writes = [codec.EshopWrite.update("5", JANA, "7"), codec.EshopWrite.update("6", JANA.replace(id="6"), "8")]
    body = codec.encode_batch(writes, ["0", "1"])
    body = body.replace(b"<street>Husova 12</street>", b"<street>" + b"s" * 129 + b"</street>", 1)
    items = codec.decode_batch(body)
    assert items[0].write is None
    assert isinstance(items[0].error, SchemaViolation)
    assert items[0].error.field == "street"
    assert "item 1: update/street" in str(items[0].error)
    assert items[1].write == writes[1]


def test_wrong_root_and_broken_xml_are_named() -> None:
    with pytest.raises(SchemaViolation, match="expected a <changes>"):
        codec.decode_changes(codec.encode_customer(customer()))
    with pytest.raises(MalformedXML):
        codec.decode_customer(b"<customer")
    with pytest.raises(MalformedXML, match="DOCTYPE"):
        codec.decode_customer(b'<!DOCTYPE x [<!ENTITY a "b">]><customer/>')


def test_an_unknown_element_names_the_element() -> None:
    body = codec.encode_customer(customer()).replace(b"<city>Brno</city>", b"<town>Brno</town>")
    with pytest.raises(SchemaViolation) as caught:
        codec.decode_customer(body)
    assert "customer/town" in str(caught.value)
