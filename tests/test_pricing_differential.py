"""Optimized and naive mode give identical carts and results for random carts and commands."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.pricing import (
    AddLine,
    Address,
    Cart,
    OrderCalculate,
    OrderItemAdd,
    OrderItemDisplay,
    OrderItemUpdate,
    OrderPrepare,
    PricingEngine,
    UpdateLine,
)
from tests.pricing_helpers import example_catalog

PARTS = ["SCREW", "SCREW", "NUT", "BOLT", "OLD", "NOPRICE", "CHAIR", "CHAIR-RED", "CHAIR-BLUE", "NOSUCH"]
ADDRESSES = [Address("A", "CZ", "PR"), Address("B", "CZ", "JM"), Address("C", "CZ", "ZZ"), Address("S", "SK", "BA")]

quantities = st.integers(min_value=1, max_value=120) | st.sampled_from([0, -3, 99, 100, 101])


@st.composite
def add_lines(draw: st.DrawFn) -> tuple[AddLine, ...]:
    out = []
    for position in range(1, draw(st.integers(0, 6)) + 1):
        by_id = draw(st.booleans()) and draw(st.booleans())
        part = draw(st.sampled_from(PARTS))
        out.append(
            AddLine(
                position=position,
                quantity=draw(quantities),
                part_number=None if by_id else part,
                catentry_id=draw(st.sampled_from(["10", "11", "100", "101", "999"])) if by_id else None,
                attributes=draw(st.sampled_from([(), (("color", "red"),), (("color", "blue"),), (("color", "x"),)])),
                ship_mode=draw(st.none() | st.sampled_from(["STD", "EXP"])),
                address_id=draw(st.none() | st.sampled_from(["A", "B", "C", "S", "Q"])),
                ffc=draw(st.none() | st.sampled_from(["FC1", "FC2"])),
            )
        )
    return tuple(out)


@st.composite
def update_lines(draw: st.DrawFn) -> tuple[UpdateLine, ...]:
    return tuple(
        UpdateLine(
            position=position,
            line_id=draw(st.integers(1, 12)),
            quantity=draw(st.none() | quantities),
            ship_mode=draw(st.none() | st.sampled_from(["STD", "EXP"])),
            address_id=draw(st.none() | st.sampled_from(["A", "B", "S", "Q"])),
            ffc=draw(st.none() | st.sampled_from(["FC1", "FC2"])),
        )
        for position in range(1, draw(st.integers(0, 4)) + 1)
    )


addresses = st.lists(st.sampled_from(ADDRESSES), max_size=3).map(tuple)
flags = st.booleans()
commands = st.one_of(
    st.builds(OrderItemAdd, add_lines(), addresses, flags, flags),
    st.builds(OrderItemUpdate, update_lines(), addresses, flags, flags),
    st.builds(OrderItemDisplay, flags, flags),
    st.builds(OrderCalculate, flags, flags),
    st.builds(OrderPrepare, flags, flags),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    customer=st.sampled_from(["ACME", "SHOP", "NOBODY"]),
    price_ref_flag=st.sampled_from([0, 8]),
    steps=st.lists(st.tuples(commands, st.integers(0, 90_000)), min_size=1, max_size=8),
)
def test_optimized_and_naive_modes_agree(customer, price_ref_flag, steps):
    catalog = example_catalog(price_ref_flag=price_ref_flag, quote_good_for_s=60)
    optimized = PricingEngine(catalog, mode="optimized")
    naive = PricingEngine(catalog, mode="naive")
    fast_cart, slow_cart = Cart("D", customer), Cart("D", customer)
    now = 0
    for command, elapsed in steps:
        now += elapsed
        fast = optimized.apply(fast_cart, command, now_ms=now)
        slow = naive.apply(slow_cart, command, now_ms=now)
        assert fast.outcome() == slow.outcome()
        assert fast_cart.to_dict() == slow_cart.to_dict()
        # Never more lookups than the line-by-line reference.
        assert fast.stats.distinct_lookups <= slow.stats.distinct_lookups
        assert fast.stats.rule_lookups <= slow.stats.rule_lookups
