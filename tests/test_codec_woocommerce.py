"""WooCommerce customer JSON <-> Contact: the mapping, what WooCommerce cannot hold, schema
refusals that name the record and the field (never the value), and a real round trip
through the simulator."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connector.codec import woocommerce as codec
from connector.errors import BadData, SchemaViolation
from connector.model import Consent, Contact, ShipTo
from connector.sim._server import serve_in_thread
from connector.sim.woocommerce import API, WooCommerceSimulator

FULL = Contact(
    id=None,
    ext_id="ADR-17",
    company="Nováková s.r.o.",
    name="Jana Marie Nováková",
    email="jana@example.cz",
    phone="+420 777 888 999",
    mobile="+420 603 111 222",
    street="Dlouhá 12/3",
    city="Praha",
    zip="110 00",
    country="CZ",
    ico="12345678",
    dic="CZ12345678",
    ic_dph="SK2020202020",
    ship_to=(
        ShipTo(
            name="Petr Novák",
            street="Krátká 1",
            city="Brno",
            zip="602 00",
            country="CZ",
            phone="+420 1",
            email="p@x.cz",
            default=True,
        ),
        ShipTo(name="Second", city="Ostrava"),
    ),
    groups=("VIP",),
    note="a note",
    birth_date="1980-02-03",
    gdpr=(Consent(purpose="newsletter"),),
)


def test_split_and_join_name_round_trip() -> None:
    for name in ["Jana Nováková", "Jana Marie Nováková", "Novák", "Jan  Novák"]:
        assert codec.join_name(*codec.split_name(name)) == name
    assert codec.split_name("Jana Marie Nováková") == ("Jana Marie", "Nováková")
    assert codec.split_name("Novák") == ("", "Novák")


def test_encode_maps_billing_shipping_and_meta() -> None:
    body = codec.encode_customer(FULL)
    assert body["email"] == "jana@example.cz"
    assert (body["first_name"], body["last_name"]) == ("Jana Marie", "Nováková")
    assert body["billing"]["address_1"] == "Dlouhá 12/3"
    assert body["billing"]["postcode"] == "110 00"
    assert body["billing"]["country"] == "CZ"
    assert body["billing"]["phone"] == "+420 777 888 999"
    assert body["shipping"]["city"] == "Brno"
    assert "email" not in body["shipping"]
    meta = {m["key"]: m["value"] for m in body["meta_data"]}
    assert meta == {
        "billing_ic": "12345678",
        "billing_dic": "CZ12345678",
        "billing_ic_dph": "SK2020202020",
        "pohoda_id": "ADR-17",
    }


def test_what_woocommerce_cannot_hold_is_listed() -> None:
    lost = codec.unheld_fields(FULL)
    assert set(lost) == {
        "mobile",
        "note",
        "birth_date",
        "groups",
        "gdpr",
        "ship_to[1:]",
        "ship_to[0].email",
        "ship_to[0].default",
    }
    with_mobile = codec.WooCommerceMapping(mobile_key="billing_mobile")
    assert "mobile" not in codec.unheld_fields(FULL, with_mobile)
    no_ids = codec.WooCommerceMapping(ico_key=None, dic_key=None, ic_dph_key=None)
    assert {"ico", "dic", "ic_dph"} <= set(codec.unheld_fields(FULL, no_ids))


def test_internal_meta_keys_are_refused_in_the_mapping() -> None:
    with pytest.raises(ValueError):
        codec.WooCommerceMapping(hq_id_key="_pohoda_id")
    with pytest.raises(ValueError):
        codec.WooCommerceMapping(ico_key="wp_ico")


def test_a_field_too_long_is_refused_naming_record_and_field_not_value() -> None:
    secret = "x" * 95 + "@example.cz"
    with pytest.raises(SchemaViolation) as exc:
        codec.encode_customer(FULL.replace(id="42", email=secret))
    assert exc.value.record == "42"
    assert exc.value.field == "email"
    assert secret not in str(exc.value)


def test_batch_over_100_is_refused_before_sending() -> None:
    with pytest.raises(BadData) as exc:
        codec.encode_batch(create=[FULL] * 60, delete=list(range(1, 42)))
    assert exc.value.field == "batch"
    body = codec.encode_batch(create=[FULL], update=[FULL.replace(id="5")], delete=[7])
    assert body["update"][0]["id"] == 5 and body["delete"] == [7]


def _answer(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 42,
        "date_created": "2026-01-01T10:00:00",
        "date_created_gmt": "2026-01-01T10:00:00",
        "date_modified": "2026-01-02T10:00:00",
        "date_modified_gmt": "2026-01-02T10:00:00",
        "email": "jana@example.cz",
        "first_name": "Jana",
        "last_name": "Nováková",
        "role": "customer",
        "username": "jana",
        "billing": {
            "first_name": "Jana",
            "last_name": "Nováková",
            "company": "",
            "address_1": "Dlouhá 12",
            "address_2": "",
            "city": "Praha",
            "state": "",
            "postcode": "110 00",
            "country": "CZ",
            "email": "jana@example.cz",
            "phone": "",
        },
        "shipping": {
            "first_name": "",
            "last_name": "",
            "company": "",
            "address_1": "",
            "address_2": "",
            "city": "",
            "state": "",
            "postcode": "",
            "country": "",
            "phone": "",
        },
        "is_paying_customer": False,
        "avatar_url": "",
        "meta_data": [{"id": 1, "key": "pohoda_id", "value": "ADR-1"}, {"id": 2, "key": "other", "value": {"x": 1}}],
    }
    base.update(changes)
    return base


def test_decode_reads_the_answer() -> None:
    customer = codec.decode_customer(_answer())
    assert customer.contact.id == "42"
    assert customer.contact.ext_id == "ADR-1"
    assert customer.contact.name == "Jana Nováková"
    assert customer.contact.street == "Dlouhá 12"
    assert customer.contact.ship_to == ()
    assert customer.date_modified_gmt == "2026-01-02T10:00:00"
    assert customer.meta == (("other", {"x": 1}),)


def test_a_bad_record_is_set_aside_and_the_others_decode() -> None:
    bad_type = _answer(id=43)
    bad_type["billing"] = dict(bad_type["billing"], city=17)
    missing = _answer(id=44)
    del missing["email"]
    bad_country = _answer(id=45)
    bad_country["billing"] = dict(bad_country["billing"], country="CZE")
    results = codec.decode_customers([_answer(), bad_type, missing, bad_country])
    assert [r.ok for r in results] == [True, False, False, False]
    assert [(r.record, r.error.field if r.error else None) for r in results[1:]] == [
        ("43", "billing.city"),
        ("44", "email"),
        ("45", "billing.country"),
    ]
    assert all("CZE" not in str(r.error) for r in results[1:])


def test_address_2_is_kept_in_the_street() -> None:
    answer = _answer()
    answer["billing"] = dict(answer["billing"], address_2="2nd floor")
    assert codec.decode_customer(answer).contact.street == "Dlouhá 12, 2nd floor"


@pytest.fixture(scope="module")
def shop() -> Iterator[tuple[WooCommerceSimulator, httpx.Client]]:
    sim = WooCommerceSimulator(consumer_key="ck", consumer_secret="cs")
    with serve_in_thread(sim.app) as server, httpx.Client(base_url=server.url + API, auth=("ck", "cs")) as client:
        yield sim, client


def test_round_trip_through_the_simulator_keeps_every_field_woocommerce_can_hold(
    shop: tuple[WooCommerceSimulator, httpx.Client],
) -> None:
    _, client = shop
    created = client.post("/customers", json=codec.encode_customer(FULL))
    assert created.status_code == 201
    back = codec.decode_customer(created.json())
    expected = codec.storable(FULL).replace(id=back.contact.id)
    assert back.contact == expected
    assert back.contact.ext_id == "ADR-17" and back.contact.ic_dph == "SK2020202020"
    # an update through the codec, read back with GET
    changed = back.contact.replace(city="Brno", phone=None, ship_to=())
    client.put(f"/customers/{back.id}", json=codec.encode_customer(changed)).raise_for_status()
    again = codec.decode_customer(client.get(f"/customers/{back.id}").json())
    assert again.contact == codec.storable(changed)
    # the batch answer decodes item by item, errors included
    answer = client.post(
        "/customers/batch", json=codec.encode_batch(create=[FULL, FULL.replace(email="other@example.cz")])
    )
    results = codec.decode_batch_answer(answer.json())
    assert [r.ok for r in results] == [False, True]
    assert results[0].code == "registration-error-email-exists"
    assert results[1].customer is not None and results[1].customer.contact.email == "other@example.cz"


def test_round_trip_of_a_minimal_contact(shop: tuple[WooCommerceSimulator, httpx.Client]) -> None:
    _, client = shop
    minimal = Contact(email="min@example.cz")
    back = codec.decode_customer(client.post("/customers", json=codec.encode_customer(minimal)).json())
    assert back.contact == minimal.replace(id=back.contact.id)


def test_decoding_does_not_change_its_input() -> None:
    answer = _answer()
    snapshot = copy.deepcopy(answer)
    codec.decode_customer(answer)
    assert answer == snapshot
