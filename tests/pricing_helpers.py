"""Shared pieces of the pricing tests: the example catalog, carts built line by line, a clock."""

from __future__ import annotations

from pathlib import Path

from connector.pricing import AddLine, Cart, Catalog, load_catalog_file

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "schemas" / "pricing" / "examples"
EXAMPLE_CATALOG = EXAMPLES / "catalog.xml"
EXAMPLE_CART = EXAMPLES / "cart.xml"

_catalog: Catalog | None = None


def example_catalog(**settings: object) -> Catalog:
    """The example catalog, loaded once; keyword arguments override its store settings."""
    global _catalog
    if _catalog is None:
        _catalog = load_catalog_file(EXAMPLE_CATALOG)
    return _catalog.with_settings(**settings) if settings else _catalog


def lines(*specs: tuple[str, int] | AddLine, **common: object) -> tuple[AddLine, ...]:
    """AddLines from (part number, quantity) pairs, numbered in order."""
    out = []
    for position, spec in enumerate(specs, start=1):
        if isinstance(spec, AddLine):
            out.append(spec)
        else:
            part, quantity = spec
            out.append(AddLine(position=position, quantity=quantity, part_number=part, **common))  # type: ignore[arg-type]
    return tuple(out)


def empty_cart(customer: str = "ACME", cart_id: str = "T-1") -> Cart:
    return Cart(cart_id, customer)
