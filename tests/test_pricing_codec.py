"""The pricing XML formats against their schemas: catalog, cart batch, configurator cart."""

from __future__ import annotations

import pytest

from connector.codec._xml import load_schema, parse_bytes, validate
from connector.errors import BadData, MalformedXML, SchemaViolation
from connector.pricing import (
    AddLine,
    Address,
    OrderItemAdd,
    OrderItemUpdate,
    OrderPrepare,
    UpdateLine,
    encode_cart_batch,
    load_catalog,
    parse_cart_batch,
    parse_configurator_cart,
)
from connector.pricing._codec import CART_BATCH_XSD, CATALOG_XSD
from tests.pricing_helpers import EXAMPLE_CART, EXAMPLE_CATALOG, example_catalog


def test_the_examples_match_their_schemas():
    validate(parse_bytes(EXAMPLE_CATALOG.read_bytes(), what="catalog"), load_schema(str(CATALOG_XSD)), what="catalog")
    validate(parse_bytes(EXAMPLE_CART.read_bytes(), what="cart"), load_schema(str(CART_BATCH_XSD)), what="cart")


def test_the_example_catalog_loads_with_its_indexes():
    catalog = example_catalog()
    assert catalog.by_part_number["CHAIR-RED"].parent_id == "100"
    assert catalog.by_part_number["CHAIR-RED"].tax_category == "std"  # inherited from the product
    assert catalog.by_part_number["BOLT"].levels == frozenset({"b2b"})
    assert [t.min_quantity for t in catalog.prices[("retail", "10")]] == [1, 100]
    assert catalog.shipping_index[("STD", "FC1", "PRG")].per_unit == catalog.shipping_rules[0].per_unit
    assert catalog.price_level_of("ACME") == "b2b" and catalog.price_level_of("anyone") == "retail"


def test_a_catalog_price_for_an_unknown_entry_is_named():
    data = EXAMPLE_CATALOG.read_bytes().replace(b'<price catentryId="11"', b'<price catentryId="77"')
    with pytest.raises(BadData, match="unknown catentry id '77'") as caught:
        load_catalog(data)
    assert caught.value.field == "catentryId"


def test_a_catalog_with_a_duplicate_part_number_fails_its_schema():
    data = EXAMPLE_CATALOG.read_bytes().replace(b'partNumber="NUT"', b'partNumber="SCREW"')
    with pytest.raises(SchemaViolation, match="uniquePartNumber"):
        load_catalog(data)


def test_a_batch_survives_encoding_and_parsing():
    commands = [
        OrderItemAdd(
            (
                AddLine(1, 3, part_number="CHAIR", attributes=(("color", "red"),), ship_mode="EXP", address_id="A"),
                AddLine(2, -1, catentry_id="11", ffc="FC2"),
            ),
            addresses=(Address("A", "CZ", "PR"),),
            do_price=True,
            do_inventory=True,
        ),
        OrderItemUpdate((UpdateLine(1, 7, quantity=4), UpdateLine(2, 8, address_id="A"))),
        OrderPrepare(do_price=False),
    ]

    batch = parse_cart_batch(encode_cart_batch("Q1", "ACME", commands))

    assert (batch.cart_id, batch.customer_id) == ("Q1", "ACME")
    assert batch.commands == commands


def test_a_negative_quantity_passes_the_schema_so_that_only_its_line_is_refused():
    cart = parse_configurator_cart(
        b'<cart xmlns="urn:connector:pricing:cart-batch:1" id="X" customer="C">'
        b'<line partNumber="A" quantity="-5"/><line partNumber="B" quantity="1"/></cart>'
    )
    assert [line.quantity for line in cart.lines] == [-5, 1]


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        (b"<cart", MalformedXML, "not well-formed"),
        (b'<cart xmlns="urn:connector:pricing:cart-batch:1" id="X"/>', SchemaViolation, "customer"),
        (
            b'<cart xmlns="urn:connector:pricing:cart-batch:1" id="X" customer="C"><line partNumber="A"/></cart>',
            SchemaViolation,
            "quantity",
        ),
        (
            b'<cartBatch xmlns="urn:connector:pricing:cart-batch:1" cart="X" customer="C"><OrderPrepare/></cartBatch>',
            BadData,
            "expected a cart document",
        ),
    ],
)
def test_bad_configurator_carts_are_refused_with_the_reason(body, error, words):
    with pytest.raises(error, match=words):
        parse_configurator_cart(body)
