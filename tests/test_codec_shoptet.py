"""Shoptet customer JSON <-> Contact: street and house number, VAT/tax ids, the account's
e-mail and phone, what Shoptet cannot hold, schema refusals naming guid and field, and a
real round trip through the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connector.codec import shoptet as codec
from connector.errors import BadData, SchemaViolation
from connector.model import Consent, Contact, ShipTo
from connector.sim._server import serve_in_thread
from connector.sim.shoptet import ShoptetSimulator

TOKEN = "tok-codec"
FULL = Contact(
    ext_id="ADR-17",
    company="Nováková s.r.o.",
    name="Jana Nováková",
    email="jana@example.cz",
    phone="+420777888999",
    mobile="+420603111222",
    street="Dlouhá 12/3a",
    city="Praha",
    zip="110 00",
    country="CZ",
    ico="12345678",
    dic="CZ12345678",
    note="customer is very nice",
    birth_date="1980-02-03",
    groups=("VIP",),
    ship_to=(ShipTo(name="Petr", city="Brno"),),
    gdpr=(Consent(purpose="newsletter"),),
)
SLOVAK = Contact(
    name="Ján Kováč",
    email="jan@example.sk",
    street="Hlavná 5",
    country="SK",
    ico="87654321",
    dic="2020202020",
    ic_dph="SK2020202020",
)


@pytest.mark.parametrize(
    ("street", "parts"),
    [
        ("Dlouhá 12/3a", ("Dlouhá", "12/3a")),
        ("Náměstí Míru 1", ("Náměstí Míru", "1")),
        ("Na Příkopě", ("Na Příkopě", None)),
        ("28. října 5", ("28. října", "5")),
        ("12", ("12", None)),
    ],
)
def test_street_and_house_number(street: str, parts: tuple[str, str | None]) -> None:
    assert codec.split_street(street) == parts
    assert codec.join_street(*codec.split_street(street)) == street


def test_create_body_maps_billing_and_account() -> None:
    body = codec.encode_create(FULL)["data"]
    assert body["account"] == {"email": "jana@example.cz", "fullName": "Jana Nováková", "phone": "+420777888999"}
    billing = body["billingAddress"]
    assert (billing["street"], billing["houseNumber"]) == ("Dlouhá", "12/3a")
    assert billing["countryCode"] == "CZ"
    assert billing["companyId"] == "12345678" and billing["vatId"] == "CZ12345678"
    assert "taxId" not in billing  # Czech: taxId equals vatId or is left empty
    assert body["remark"] == "customer is very nice" and body["birthDate"] == "1980-02-03"


def test_slovak_ids_use_vat_id_and_tax_id() -> None:
    billing = codec.encode_create(SLOVAK)["data"]["billingAddress"]
    assert billing["vatId"] == "SK2020202020" and billing["taxId"] == "2020202020"


def test_patches_split_customer_and_account() -> None:
    customer = codec.encode_customer_patch(FULL.replace(id="g-1", phone=None))
    assert "email" not in customer["data"] and "phone" not in customer["data"]
    assert customer["data"]["billingAddress"]["city"] == "Praha"
    account = codec.encode_account_patch(FULL.replace(id="g-1", phone=None))
    assert account == {"data": {"email": "jana@example.cz", "fullName": "Jana Nováková", "phone": None}}


def test_what_shoptet_cannot_hold_is_listed() -> None:
    assert set(codec.unheld_fields(FULL)) == {"ext_id", "mobile", "groups", "gdpr", "ship_to"}
    czech_with_ic_dph = FULL.replace(ic_dph="CZ699999999")
    assert "ic_dph" in codec.unheld_fields(czech_with_ic_dph)
    assert "ic_dph" not in codec.unheld_fields(SLOVAK)


def test_create_needs_an_email() -> None:
    with pytest.raises(BadData) as exc:
        codec.encode_create(FULL.replace(email=None))
    assert exc.value.field == "email"


def test_too_long_a_company_id_is_refused_naming_record_and_field_not_value() -> None:
    secret = "9" * 19
    with pytest.raises(SchemaViolation) as exc:
        codec.encode_create(FULL.replace(id="new-7", ico=secret))
    assert exc.value.record == "new-7"
    assert exc.value.field == "data.billingAddress.companyId"
    assert secret not in str(exc.value)


def _answer(guid: str = "0a1b2c3d-0000-4000-8000-000000000001", **changes: Any) -> dict[str, Any]:
    customer: dict[str, Any] = {
        "guid": guid,
        "billingAddress": {
            "company": None,
            "fullName": "Jana Nováková",
            "street": "Dlouhá",
            "houseNumber": "12",
            "city": "Praha",
            "district": None,
            "additional": None,
            "zip": "110 00",
            "countryCode": "CZ",
            "regionName": None,
            "regionShortcut": None,
            "companyId": None,
            "vatId": None,
            "vatIdValidationStatus": None,
            "taxId": None,
        },
        "deliveryAddress": [],
        "creationTime": "2026-01-01T10:00:00+0100",
        "changeTime": "2026-01-02T10:00:00+0100",
        "customerGroup": None,
        "priceList": None,
        "remark": None,
        "priceRatio": "1.0000",
        "birthDate": None,
        "disabledOrders": False,
        "accounts": [
            {
                "guid": "acc-1",
                "fullName": None,
                "email": "jana@example.cz",
                "phone": None,
                "mainAccount": True,
                "authorized": True,
                "emailVerified": False,
            }
        ],
        "remarks": [],
        "adminUrl": "https://shop.example/admin/zakaznici-detail?id=1",
    }
    customer.update(changes)
    return {"data": {"customer": customer}, "errors": None, "metadata": {"requestId": "r"}}


def test_decode_reads_the_answer() -> None:
    decoded = codec.decode_customer(_answer())
    assert decoded.contact.street == "Dlouhá 12"
    assert decoded.contact.email == "jana@example.cz"
    assert decoded.account_guid == "acc-1"
    assert decoded.change_time == "2026-01-02T10:00:00+0100"


def test_a_bad_record_is_set_aside_and_the_others_decode() -> None:
    wrong_time = _answer("g-2", changeTime="2026-01-02 10:00:00")
    alpha3 = _answer("g-3")
    alpha3["data"]["customer"]["billingAddress"]["countryCode"] = "CZE"
    missing = _answer("g-4")
    del missing["data"]["customer"]["accounts"]
    results = codec.decode_customers([_answer(), wrong_time, alpha3, missing])
    assert [r.ok for r in results] == [True, False, False, False]
    assert [(r.record, r.error.field if r.error else None) for r in results[1:]] == [
        ("g-2", "data.customer.changeTime"),
        ("g-3", "billingAddress.countryCode"),
        ("g-4", "data.customer.accounts"),
    ]
    assert all("CZE" not in str(r.error) for r in results[1:])


def test_an_error_envelope_decodes() -> None:
    errors = codec.decode_errors(
        {
            "data": None,
            "errors": [{"errorCode": "customer-not-found", "message": "m", "instance": "g"}],
            "metadata": {"requestId": "r"},
        }
    )
    assert errors[0].code == "customer-not-found"


@pytest.fixture(scope="module")
def shop() -> Iterator[httpx.Client]:
    sim = ShoptetSimulator(token=TOKEN)
    with serve_in_thread(sim.app) as server:
        headers = {"Shoptet-Private-API-Token": TOKEN, "Content-Type": "application/json"}
        with httpx.Client(base_url=server.url, headers=headers) as client:
            yield client


@pytest.mark.parametrize("contact", [FULL, SLOVAK, Contact(email="min@example.cz")], ids=["full", "slovak", "minimal"])
def test_round_trip_through_the_simulator_keeps_every_field_shoptet_can_hold(
    shop: httpx.Client, contact: Contact
) -> None:
    created = shop.post("/api/customers", json=codec.encode_create(contact))
    assert created.status_code == 201, created.text
    back = codec.decode_customer(created.json())
    assert back.contact == codec.storable(contact).replace(id=back.guid)
    # an edit through both patches, read back with GET
    changed = back.contact.replace(city="Olomouc", email="moved-" + (contact.email or ""), phone="+420111", note=None)
    patched = shop.patch(f"/api/customers/{back.guid}", json=codec.encode_customer_patch(changed))
    assert patched.status_code == 200, patched.text
    account = shop.patch(
        f"/api/customers/{back.guid}/accounts/{back.account_guid}", json=codec.encode_account_patch(changed)
    )
    assert account.status_code == 200, account.text
    again = codec.decode_customer(shop.get(f"/api/customers/{back.guid}").json())
    assert again.contact == codec.storable(changed)
