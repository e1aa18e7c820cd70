"""PrestaShop customer + addresses <-> Contact: round trips through the simulator over loopback
HTTP, schema refusals that name the record and the field, and the merge that keeps a full PUT
from wiping what the connector does not own."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from lxml import etree

from connector.codec import prestashop as codec
from connector.errors import BadData, FieldTooLong, MalformedXML, SchemaViolation
from connector.model import Contact, ShipTo
from connector.sim._server import serve_in_thread
from connector.sim.prestashop import DEFAULT_KEY, PrestaShopSimulator

JANA = Contact(
    name="Jana Nováková",
    email="jana@example.cz",
    company="Lípa s.r.o.",
    phone="+420 601 111 222",
    mobile="+420 777 000 111",
    street="Dlouhá 5",
    city="Praha",
    zip="110 00",
    country="CZ",
    ico="12345678",
    dic="CZ12345678",
    ship_to=(
        ShipTo(name="Petr Novák", street="Krátká 1", city="Brno", zip="602 00", country="CZ", phone="+420 602 000 000"),
        ShipTo(company="Sklad", street="Hlavná 7", city="Bratislava", zip="811 01", country="SK"),
    ),
)
COUNTRIES = codec.CountryTable({"16": "CZ", "37": "SK", "1": "DE"})


@pytest.fixture(scope="module", params=["1.7", "8"])
def shop(request: pytest.FixtureRequest) -> Iterator[tuple[PrestaShopSimulator, httpx.Client]]:
    sim = PrestaShopSimulator(version=request.param)
    with (
        serve_in_thread(sim.app) as server,
        httpx.Client(base_url=server.url, auth=(DEFAULT_KEY, ""), timeout=5) as client,
    ):
        yield sim, client


@pytest.fixture
def http(shop: tuple[PrestaShopSimulator, httpx.Client]) -> httpx.Client:
    shop[0].reset()
    return shop[1]


def countries(http: httpx.Client) -> codec.CountryTable:
    return codec.decode_countries(http.get("/api/countries", params={"display": "[id,iso_code]"}).content)


def apply(http: httpx.Client, write: codec.ContactWrite) -> str:
    """Send a planned write as an adapter would: the customer, then its addresses."""
    if write.customer.id:
        answer = http.put(f"/api/customers/{write.customer.id}", content=codec.encode_customer_put(write.customer))
    else:
        answer = http.post("/api/customers", content=codec.encode_customer_post(write.customer))
    assert answer.status_code in (200, 201), answer.text
    customer_id = codec.decode_customer(answer.content).id
    assert customer_id is not None
    for item in write.for_customer(customer_id).addresses:
        if item.action == "create":
            answer = http.post("/api/addresses", content=codec.encode_address_post(item.address))
        elif item.action == "update":
            answer = http.put(f"/api/addresses/{item.address.id}", content=codec.encode_address_put(item.address))
        else:
            answer = http.delete(f"/api/addresses/{item.address.id}")
        assert answer.status_code in (200, 201), answer.text
    return customer_id


def read(http: httpx.Client, customer_id: str) -> tuple[codec.ShopCustomer, list[codec.ShopAddress]]:
    customer = codec.decode_customer(http.get(f"/api/customers/{customer_id}").content)
    answer = http.get("/api/addresses", params={"display": "full", "filter[id_customer]": f"[{customer_id}]"})
    addresses = codec.decode_addresses(answer.content)
    assert all(isinstance(a, codec.ShopAddress) for a in addresses)
    return customer, [a for a in addresses if isinstance(a, codec.ShopAddress)]


def test_round_trip_contact_to_shop_and_back(http: httpx.Client) -> None:
    table = countries(http)
    customer_id = apply(http, codec.plan_contact_write(JANA, table))
    customer, addresses = read(http, customer_id)
    back = codec.to_contact(customer, addresses, table)
    assert back.id == customer_id
    assert back.content() == JANA.content()
    # The billing address carries IČO in dni and DIČ in vat_number.
    billing = codec.customer_addresses(customer, addresses)[0]
    assert (billing.get("dni"), billing.get("vat_number"), billing.get("id_country")) == (
        "12345678",
        "CZ12345678",
        "16",
    )


def test_an_update_changes_the_shop_and_round_trips(http: httpx.Client) -> None:
    table = countries(http)
    customer_id = apply(http, codec.plan_contact_write(JANA, table))
    customer, addresses = read(http, customer_id)
    changed = JANA.replace(city="Plzeň", zip="301 00", ship_to=JANA.ship_to[:1])
    write = codec.plan_contact_write(changed, table, current=customer, current_addresses=addresses)
    assert [w.action for w in write.addresses] == ["update", "update", "delete"]
    apply(http, write)
    customer, addresses = read(http, customer_id)
    assert codec.to_contact(customer, addresses, table).content() == changed.content()


def test_the_merge_keeps_what_the_connector_does_not_own(
    http: httpx.Client, shop: tuple[PrestaShopSimulator, httpx.Client]
) -> None:
    sim = shop[0]
    table = countries(http)
    customer_id = apply(http, codec.plan_contact_write(JANA, table))
    # The merchant and the shopper set fields the connector does not map.
    sim.edit_customer(int(customer_id), note="Pays late", birthday="1980-02-03", newsletter="1", optin="1")
    customer, addresses = read(http, customer_id)
    first = codec.customer_addresses(customer, addresses)[0]
    sim.edit_address(int(first.id or 0), address2="2. patro", other="Ring twice")
    customer, addresses = read(http, customer_id)

    write = codec.plan_contact_write(
        JANA.replace(email="jana.novakova@example.cz"), table, current=customer, current_addresses=addresses
    )
    apply(http, write)
    after, after_addresses = read(http, customer_id)
    assert after.get("email") == "jana.novakova@example.cz"
    for field in ("note", "birthday", "newsletter", "optin", "passwd", "secure_key", "date_add", "active"):
        assert after.get(field) == customer.get(field), field
    assert after.groups == customer.groups
    billing = codec.customer_addresses(after, after_addresses)[0]
    assert (billing.get("address2"), billing.get("other"), billing.get("alias")) == (
        "2. patro",
        "Ring twice",
        "Billing",
    )


def test_a_put_that_skips_the_merge_would_wipe_the_note(
    http: httpx.Client, shop: tuple[PrestaShopSimulator, httpx.Client]
) -> None:
    # The reason merge_customer exists: a PUT of only the owned fields wipes the rest.
    table = countries(http)
    customer_id = apply(http, codec.plan_contact_write(JANA, table))
    shop[0].edit_customer(int(customer_id), note="Pays late")
    current = codec.decode_customer(http.get(f"/api/customers/{customer_id}").content)
    owned_only = codec.ShopCustomer(
        {"id": customer_id, "passwd": current.get("passwd"), **codec.customer_fields(JANA, record=customer_id)}
    )
    http.put(f"/api/customers/{customer_id}", content=codec.encode_customer_put(owned_only))
    assert codec.decode_customer(http.get(f"/api/customers/{customer_id}").content).get("note") == ""


def test_patch_body_carries_only_the_changed_fields() -> None:
    before = {"id": "5", "firstname": "Jana", "lastname": "Nováková", "email": "jana@example.cz"}
    after = {**before, "lastname": "Dvořáková"}
    body = codec.encode_customer_patch("5", codec.changed_fields(before, after))
    record = etree.fromstring(body).find("customer")
    assert record is not None and [(c.tag, c.text) for c in record] == [("id", "5"), ("lastname", "Dvořáková")]


def test_first_live_address_is_billing_and_deleted_ones_are_skipped() -> None:
    customer = codec.ShopCustomer({"id": "7", "firstname": "Jana", "lastname": "Nováková", "email": "j@example.cz"})

    def address(aid: str, city: str, deleted: str = "0") -> codec.ShopAddress:
        return codec.ShopAddress(
            {"id": aid, "id_customer": "7", "id_country": "16", "firstname": "Jana", "lastname": "Nováková",
             "address1": "Ulice 1", "city": city, "deleted": deleted}
        )  # fmt: skip

    contact = codec.to_contact(
        customer, [address("30", "Brno"), address("10", "Praha", deleted="1"), address("20", "Plzeň")], COUNTRIES
    )
    assert contact.city == "Plzeň"
    assert [s.city for s in contact.ship_to] == ["Brno"]


def test_ico_and_dic_are_configurable() -> None:
    mapping = codec.PrestaShopMapping(ico_field="siret", dic_field=None, ic_dph_field="vat_number")
    write = codec.plan_contact_write(JANA.replace(ic_dph="SK2020123456", dic=None), COUNTRIES, mapping)
    assert write.customer.get("siret") == "12345678"
    assert write.addresses[0].address.get("vat_number") == "SK2020123456"
    assert "dni" not in write.addresses[0].address.fields


# -- refusals before sending ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contact", "field"),
    [
        (JANA.replace(name="Jana2 Nováková"), "name"),
        (JANA.replace(name="Jana"), "name"),
        (JANA.replace(email="not an email"), "email"),
        (JANA.replace(zip="110_00"), "zip"),
        (JANA.replace(phone="call me"), "phone"),
        (JANA.replace(ship_to=(ShipTo(name="R2 D2", street="Ulice 1", city="Brno", country="CZ"),)), "ship_to[0].name"),
        (
            JANA.replace(ship_to=(ShipTo(name="Petr Novák", street="Ulice 1", city="Brno", country="XX"),)),
            "ship_to[0].country",
        ),
        (JANA.replace(street=None, city=None, zip=None), "street"),
        (JANA.replace(ico="123 456 78"), "ico"),
    ],
)
def test_values_prestashop_refuses_are_refused_first_naming_record_and_field(contact: Contact, field: str) -> None:
    with pytest.raises(BadData) as refused:
        codec.plan_contact_write(contact, COUNTRIES, record="hq-17")
    assert (refused.value.record, refused.value.field) == ("hq-17", field)
    assert "hq-17" in str(refused.value) and field in str(refused.value)
    for value in (contact.name, contact.email, contact.zip, contact.phone, contact.ico):
        if value and value not in ("Jana",):
            assert value not in str(refused.value)


def test_a_name_too_long_for_a_1_7_address_is_refused_naming_the_limit() -> None:
    with pytest.raises(FieldTooLong) as refused:
        codec.plan_contact_write(JANA.replace(name="Jana " + "Nováková" * 5), COUNTRIES, record="9")
    assert (refused.value.field, refused.value.limit) == ("name", 32)


# -- the schema, both ways ----------------------------------------------------------------------


def test_a_list_answer_with_one_bad_record_reports_it_and_keeps_the_others() -> None:
    body = (
        b"<prestashop xmlns:xlink='http://www.w3.org/1999/xlink'><customers>"
        b"<customer><id>1</id><email>a@example.cz</email><active>1</active></customer>"
        b"<customer><id>2</id><email>b@example.cz</email><active>yes</active></customer>"
        b"<customer><id>3</id><email>c@example.cz</email></customer>"
        b"</customers></prestashop>"
    )
    first, bad, third = codec.decode_customers(body)
    assert isinstance(first, codec.ShopCustomer) and first.id == "1"
    assert isinstance(third, codec.ShopCustomer) and third.id == "3"
    assert isinstance(bad, SchemaViolation)
    assert (bad.record, bad.field) == ("2", "active")
    assert "yes" not in str(bad)


def test_a_schema_violation_names_the_id_and_the_field_but_not_the_value() -> None:
    long_mail = "x" * 250 + "@example.cz"
    body = f"<prestashop><customer><id>12</id><email>{long_mail}</email></customer></prestashop>".encode()
    with pytest.raises(SchemaViolation) as refused:
        codec.decode_customer(body)
    assert (refused.value.record, refused.value.field) == ("12", "email")
    assert long_mail not in str(refused.value) and "customer 12" in str(refused.value)


def test_an_unknown_field_is_refused_so_a_put_cannot_wipe_it_unseen() -> None:
    body = b"<prestashop><customer><id>4</id><loyalty_points>9</loyalty_points></customer></prestashop>"
    with pytest.raises(SchemaViolation) as refused:
        codec.decode_customer(body)
    assert refused.value.record == "4"


def test_outgoing_documents_are_validated_too() -> None:
    with pytest.raises(SchemaViolation) as refused:
        codec.encode_customer_put(codec.ShopCustomer({"id": "5", "passwd": "h" * 60, "active": "true"}))
    assert (refused.value.record, refused.value.field) == ("5", "active")
    with pytest.raises(BadData) as no_password:
        codec.encode_customer_put(codec.ShopCustomer({"id": "5", "firstname": "Jana"}))
    assert no_password.value.field == "passwd"
    with pytest.raises(BadData):
        codec.encode_customer_post(codec.ShopCustomer({"id": "5"}))


def test_errors_are_decoded_in_order_and_hostile_xml_is_refused() -> None:
    body = (
        b"<prestashop><errors><error><code><![CDATA[140]]></code><message><![CDATA[taken]]></message></error>"
        b"<error><code><![CDATA[46]]></code><message><![CDATA[Unable to save resource]]></message></error>"
        b"</errors></prestashop>"
    )
    assert codec.looks_like_errors(body)
    assert [(e.code, e.message) for e in codec.decode_errors(body)] == [(140, "taken"), (46, "Unable to save resource")]
    bomb = b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaa">]><prestashop><customers/></prestashop>'
    with pytest.raises(MalformedXML):
        codec.decode_customers(bomb)


def test_every_simulator_answer_validates(http: httpx.Client) -> None:
    customer_id = apply(http, codec.plan_contact_write(JANA, countries(http)))
    for path, params in [
        ("/api/customers", {}),
        ("/api/customers", {"display": "full"}),
        (f"/api/customers/{customer_id}", {}),
        ("/api/addresses", {"display": "full"}),
        ("/api/countries", {"display": "full"}),
        ("/api/customers", {"schema": "blank"}),
    ]:
        root = etree.fromstring(http.get(path, params=params).content)
        assert codec.schema().validate(root), (path, params, codec.schema().error_log)
