"""The batch pricing engine: resolution once per distinct value, repricing rules, totals, errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connector.pricing import (
    AddLine,
    Address,
    OrderCalculate,
    OrderItemAdd,
    OrderItemDisplay,
    OrderItemUpdate,
    OrderPrepare,
    PricingEngine,
    UpdateLine,
)
from connector.pricing._codec import load_catalog
from connector.pricing._generate import generate_cart, generate_catalog
from tests.pricing_helpers import empty_cart, example_catalog, lines

MINUTE = 60_000


@pytest.fixture(scope="module")
def big_catalog():
    return load_catalog(generate_catalog(items=150, products=0, jurisdictions=20, jurisdiction_groups=5))


@pytest.mark.parametrize("mode", ["optimized", "naive"])
def test_a_1000_line_cart_with_100_part_numbers_resolves_each_once_when_optimized(big_catalog, mode):
    wanted = generate_cart(big_catalog, lines=1000, distinct=100)
    engine = PricingEngine(big_catalog, mode=mode)
    cart = empty_cart("C2")

    result = engine.apply(cart, OrderItemAdd(wanted.lines, wanted.addresses), now_ms=0)

    assert len(cart.lines) == 1000 and not result.errors
    expected = 100 if mode == "optimized" else 1000
    assert result.stats.part_number_resolutions == expected
    assert result.stats.buyable_checks == expected
    assert result.stats.entitlement_checks == expected
    assert result.stats.lines_priced == 1000
    if mode == "optimized":
        assert result.stats.default_resolutions == 0  # every line names its ship mode, address and FFC
        # Part number, buyable and entitlement: 900 repeats each; prices: one per (catentry, quantity).
        assert result.stats.cache_hits == 3 * 900 + (1000 - result.stats.price_lookups)


def test_optimized_prepare_makes_one_rule_lookup_per_group(big_catalog):
    wanted = generate_cart(big_catalog, lines=1000, distinct=100)
    engine = PricingEngine(big_catalog)
    cart = empty_cart("C2")
    engine.apply(cart, OrderItemAdd(wanted.lines, wanted.addresses), now_ms=0)

    result = engine.apply(cart, OrderPrepare(), now_ms=1)

    summary = cart.summary
    assert summary is not None and not result.errors
    assert result.stats.shipping_rule_lookups == len(summary["shippingGroups"])
    assert result.stats.tax_rule_lookups == len(summary["taxGroups"])
    assert result.stats.rules_compared == result.stats.rule_lookups
    assert result.stats.jurisdiction_resolutions == len(wanted.addresses)
    assert result.stats.inventory_lookups == len({(line.catentry_id, line.ffc) for line in cart.lines.values()})
    assert result.stats.lines_priced == 0  # priced a moment ago by the add


def test_naive_prepare_scans_the_rules_for_every_line(big_catalog):
    wanted = generate_cart(big_catalog, lines=50, distinct=10)
    engine = PricingEngine(big_catalog, mode="naive")
    cart = empty_cart("C2")
    engine.apply(cart, OrderItemAdd(wanted.lines, wanted.addresses), now_ms=0)

    result = engine.apply(cart, OrderPrepare(), now_ms=1)

    tax_codes = len(big_catalog.settings.tax_codes)
    assert result.stats.shipping_rule_lookups == 50
    assert result.stats.tax_rule_lookups == 50 * tax_codes
    assert result.stats.rules_compared > 50 * len(big_catalog.shipping_rules) // 10


def test_missing_ship_mode_and_address_are_resolved_once_for_every_line():
    engine = PricingEngine(example_catalog())
    cart = empty_cart("ACME")

    result = engine.apply(cart, OrderItemAdd(lines(("SCREW", 1), ("NUT", 2), ("SCREW", 3))), now_ms=0)

    assert result.stats.default_resolutions == 3  # ship mode, fulfillment center, address: once each
    assert {(line.ship_mode, line.ffc, line.address_id) for line in cart.lines.values()} == {("STD", "FC1", "default")}
    assert cart.addresses["default"] == Address("default", "CZ", "PR")


def test_an_address_only_update_reprices_nothing_and_checks_no_inventory():
    engine = PricingEngine(example_catalog())
    cart = empty_cart("ACME")
    engine.apply(cart, OrderItemAdd(lines(("SCREW", 5), ("NUT", 2)), do_inventory=True), now_ms=0)
    before = {line.line_id: (line.unit_price, line.last_priced_ms, line.inventory) for line in cart.lines.values()}

    result = engine.apply(
        cart,
        OrderItemUpdate(
            (UpdateLine(1, 1, quantity=5, address_id="BR", ship_mode="EXP"), UpdateLine(2, 2, quantity=2)),
            addresses=(Address("BR", "CZ", "JM"),),
            do_price=True,
            do_inventory=True,
        ),
        now_ms=10 * MINUTE,  # long expired: still nothing is repriced by an update that changes no quantity
    )

    assert result.updated == [1, 2]
    assert result.stats.lines_priced == 0 and result.stats.price_lookups == 0
    assert result.stats.inventory_lookups == 0
    after = {line.line_id: (line.unit_price, line.last_priced_ms, line.inventory) for line in cart.lines.values()}
    assert after == before
    assert cart.lines[1].address_id == "BR" and cart.lines[1].ship_mode == "EXP"


def test_a_quantity_update_without_pricing_marks_the_line_for_repricing():
    engine = PricingEngine(example_catalog())
    cart = empty_cart("SHOP")
    engine.apply(
        cart,
        OrderItemAdd(
            lines(("SCREW", 5), ("SCREW", 7), ("NUT", 1), address_id="A"), addresses=(Address("A", "CZ", "PR"),)
        ),
        now_ms=0,
    )

    update = engine.apply(cart, OrderItemUpdate((UpdateLine(1, 1, quantity=150),)), now_ms=1)
    assert update.stats.lines_priced == 0
    assert cart.lines[1].unit_price == Decimal("0.345") and not cart.lines[1].price_refreshed

    prepare = engine.apply(cart, OrderPrepare(), now_ms=2)
    assert prepare.repriced == [1]
    assert cart.lines[1].unit_price == Decimal("0.3")  # the 100+ tier
    assert cart.lines[1].line_total == Decimal("45.00")


def test_expired_lines_are_repriced_and_fresh_ones_are_not():
    engine = PricingEngine(example_catalog(quote_good_for_s=60))
    cart = empty_cart("ACME")
    engine.apply(cart, OrderItemAdd(lines(("SCREW", 1))), now_ms=0)
    engine.apply(cart, OrderItemAdd(lines(("NUT", 1))), now_ms=30_000)

    # quoteGoodFor <= (now - lastPriced) / 1000: the screw turns expired at exactly 60 s.
    assert engine.apply(cart, OrderCalculate(), now_ms=59_999).repriced == []
    assert engine.apply(cart, OrderCalculate(), now_ms=60_000).repriced == [1]
    assert cart.lines[1].last_priced_ms == 60_000 and cart.lines[2].last_priced_ms == 30_000


def test_price_ref_flag_8_reprices_whole_catentry_groups():
    catalog = example_catalog(price_ref_flag=8, quote_good_for_s=60)
    engine = PricingEngine(catalog)
    cart = empty_cart("ACME")
    engine.apply(cart, OrderItemAdd(lines(("SCREW", 1), ("NUT", 1), ("SCREW", 2))), now_ms=0)
    engine.apply(cart, OrderItemAdd(lines(("SCREW", 3))), now_ms=30_000)  # the group is repriced: all 3 screws
    assert [cart.lines[i].last_priced_ms for i in (1, 2, 3, 4)] == [30_000, 0, 30_000, 30_000]

    # At 70 s the nut (priced at 0) is expired, the screws (priced at 30 s) are not.
    result = engine.apply(cart, OrderPrepare(), now_ms=70_000)
    assert result.repriced == [2]

    # One unflagged screw drags its whole group along.
    engine.apply(cart, OrderItemUpdate((UpdateLine(1, 3, quantity=9),)), now_ms=71_000)
    result = engine.apply(cart, OrderPrepare(), now_ms=72_000)
    assert result.repriced == [1, 3, 4]
    assert result.stats.lines_priced == 3

    plain = PricingEngine(catalog.with_settings(price_ref_flag=0))
    plain_cart = empty_cart("ACME")
    plain.apply(plain_cart, OrderItemAdd(lines(("SCREW", 1), ("SCREW", 2))), now_ms=0)
    plain.apply(plain_cart, OrderItemUpdate((UpdateLine(1, 2, quantity=9),)), now_ms=1)
    assert plain.apply(plain_cart, OrderPrepare(), now_ms=2).repriced == [2]


@pytest.mark.parametrize(
    "command",
    [
        OrderItemAdd(lines(("SCREW", 4)), do_price=False),
        OrderItemUpdate((UpdateLine(1, 1, quantity=400),), do_price=False),
        OrderItemDisplay(do_price=False, do_inventory=True),
        OrderCalculate(do_price=False),
        OrderPrepare(do_price=False),
    ],
    ids=lambda c: c.name,
)
def test_do_price_false_leaves_every_price_untouched(command):
    engine = PricingEngine(example_catalog(quote_good_for_s=60))
    cart = empty_cart("SHOP")
    engine.apply(
        cart,
        OrderItemAdd(
            lines(("SCREW", 3), ("CHAIR-BLUE", 1), ("NUT", 2), address_id="A"), addresses=(Address("A", "CZ", "PR"),)
        ),
        now_ms=0,
    )
    prices = {line.line_id: (line.unit_price, line.line_total, line.last_priced_ms) for line in cart.lines.values()}

    result = engine.apply(cart, command, now_ms=10 * MINUTE)  # every line expired

    assert result.stats.lines_priced == 0 and result.stats.price_lookups == 0 and result.repriced == []
    for line_id, (unit, total, when) in prices.items():
        line = cart.lines[line_id]
        assert (line.unit_price, line.line_total, line.last_priced_ms) == (unit, total, when)
    for line_id in result.added:
        assert cart.lines[line_id].unit_price is None and not cart.lines[line_id].price_refreshed


def test_bad_lines_are_refused_by_name_and_field_and_the_others_go_on():
    engine = PricingEngine(example_catalog())
    cart = empty_cart("SHOP")
    wanted = (
        AddLine(1, 2, part_number="SCREW", address_id="A"),
        AddLine(2, 1, part_number="NOSUCH", address_id="A"),
        AddLine(3, -4, part_number="NUT", address_id="A"),
        AddLine(4, 1, part_number="OLD", address_id="A"),
        AddLine(5, 1, part_number="BOLT", address_id="A"),  # b2b only
        AddLine(6, 1, part_number="CHAIR", attributes=(("color", "green"),), address_id="A"),
        AddLine(7, 1, part_number="NUT"),  # SHOP has no default address
        AddLine(8, 1, part_number="NUT", address_id="NOWHERE"),
        AddLine(9, 1, part_number="CHAIR", attributes=(("color", "red"),), address_id="A"),
        AddLine(10, 1, catentry_id="999", address_id="A"),
        AddLine(11, 3, part_number="NOPRICE", address_id="A"),
    )

    result = engine.apply(cart, OrderItemAdd(wanted, addresses=(Address("A", "CZ", "PR"),)), now_ms=0)

    refused = {(e.position, e.field): e for e in result.errors if e.position}
    assert set(refused) == {
        (2, "partNumber"),
        (3, "quantity"),
        (4, "partNumber"),
        (5, "partNumber"),
        (6, "attribute"),
        (7, "address"),
        (8, "address"),
        (10, "catentryId"),
    }
    assert "'NOSUCH'" in refused[(2, "partNumber")].message and refused[(2, "partNumber")].part_number == "NOSUCH"
    assert "-4" in refused[(3, "quantity")].message and refused[(3, "quantity")].part_number == "NUT"
    assert "not buyable" in refused[(4, "partNumber")].message
    assert "not entitled" in refused[(5, "partNumber")].message
    assert "color=green" in refused[(6, "attribute")].message
    assert [line.part_number for line in cart.lines.values()] == ["SCREW", "CHAIR-RED", "NOPRICE"]
    no_price = [e for e in result.errors if e.field == "price"]
    assert len(no_price) == 1 and no_price[0].part_number == "NOPRICE" and no_price[0].line_id == 3
    assert cart.lines[3].unit_price is None and "no price" in (cart.lines[3].error or "")


def test_prepare_totals_round_half_up_per_group():
    engine = PricingEngine(example_catalog())
    cart = empty_cart("SHOP")
    address = (Address("A", "CZ", "PR"), Address("C", "CZ", "XX"))
    # 0.125 * 1 = 0.125 -> 0.13 per line; the tax group's base is the sum of rounded lines.
    wanted = (
        *lines(("NUT", 1), ("NUT", 1), ("SCREW", 1), address_id="A"),
        AddLine(4, 2, part_number="SCREW", address_id="C"),
    )
    engine.apply(cart, OrderItemAdd(wanted, addresses=address), now_ms=0)

    engine.apply(cart, OrderPrepare(), now_ms=1)

    summary = cart.summary
    assert [cart.lines[i].line_total for i in (1, 2, 3, 4)] == [
        Decimal("0.13"),
        Decimal("0.13"),
        Decimal("0.35"),
        Decimal("0.69"),
    ]
    assert summary["subtotal"] == "1.30"
    groups = {g["jurisdiction"]: g for g in summary["shippingGroups"]}
    assert groups["PRG"]["charge"] == "100.50"  # 99 + 0.5 * 3
    assert groups["CZ"]["charge"] == "151.01"  # 149 + 1.005 * 2 = 151.010 (region XX falls back to the country)
    (vat,) = summary["taxGroups"]
    assert vat["base"] == "1.30" and vat["amount"] == "0.27"  # 0.273 -> 0.27
    assert summary["total"] == str(Decimal("1.30") + Decimal("251.51") + Decimal("0.27"))


def test_prepare_names_lines_without_a_shipping_or_tax_rule():
    engine = PricingEngine(example_catalog())
    cart = empty_cart("ACME")
    engine.apply(
        cart,
        OrderItemAdd(
            (
                AddLine(1, 1, part_number="SCREW", address_id="SK"),
                AddLine(2, 1, part_number="BOLT", ffc="FC2"),
                AddLine(3, 1, part_number="SCREW"),
            ),
            addresses=(Address("SK", "SK", "BA"),),
        ),
        now_ms=0,
    )

    result = engine.apply(cart, OrderPrepare(), now_ms=1)

    problems = {(e.line_id, e.field) for e in result.errors}
    assert problems == {(1, "shipMode"), (1, "taxCategory"), (2, "taxCategory")}
    assert "'SK'" in next(e.message for e in result.errors if e.line_id == 1 and e.field == "taxCategory")


def test_inventory_is_allocated_in_line_order_per_fulfillment_center():
    engine = PricingEngine(example_catalog())
    cart = empty_cart("ACME")
    engine.apply(cart, OrderItemAdd(lines(("NUT", 6), ("NUT", 5), ("NUT", 4), ("SCREW", 10))), now_ms=0)

    result = engine.apply(cart, OrderPrepare(), now_ms=1)

    assert [line.inventory for line in cart.lines.values()] == ["allocated", "backordered", "allocated", "allocated"]
    assert result.stats.inventory_lookups == 2
