"""Synthetic catalogs and configurator carts of any size, for the benchmark and the tests.

Seeded, so the same arguments always give the same documents.
"""

from __future__ import annotations

import dataclasses
import random

from lxml import etree

from connector.pricing._codec import CATALOG_NS, ConfiguratorCart, encode_configurator_cart
from connector.pricing._model import AddLine, Address, Catalog

_C = f"{{{CATALOG_NS}}}"


def generate_catalog(
    *,
    items: int = 600,
    products: int = 20,
    ffcs: int = 10,
    ship_modes: int = 10,
    jurisdictions: int = 100,
    jurisdiction_groups: int = 50,
    tax_codes: int = 2,
    tax_categories: int = 10,
    customers: int = 3,
    price_ref_flag: int = 0,
    quote_good_for_s: int = 3600,
    seed: int = 1,
) -> bytes:
    """A catalog document; the rule counts are ship_modes*ffcs*jurisdictions and
    tax_codes*ffcs*jurisdiction_groups*tax_categories (10 * 10 * 100 and 2 * 10 * 50 * 10 by default)."""
    rng = random.Random(seed)
    ffc_names = [f"FC{i}" for i in range(1, ffcs + 1)]
    modes = [f"SM{i}" for i in range(1, ship_modes + 1)]
    categories = [f"TC{i}" for i in range(1, tax_categories + 1)]
    codes = [f"TAX{i}" for i in range(1, tax_codes + 1)]
    groups = [f"G{i}" for i in range(1, jurisdiction_groups + 1)]

    root = etree.Element(f"{_C}catalog", nsmap={None: CATALOG_NS})
    etree.SubElement(
        root,
        f"{_C}store",
        {
            "currency": "CZK",
            "decimals": "2",
            "quoteGoodFor": str(quote_good_for_s),
            "priceRefFlag": str(price_ref_flag),
            "defaultShipMode": modes[0],
            "defaultFulfillmentCenter": ffc_names[0],
            "defaultPriceLevel": "retail",
            "taxCodes": " ".join(codes),
        },
    )
    places = etree.SubElement(root, f"{_C}jurisdictions")
    for i in range(1, jurisdictions + 1):
        etree.SubElement(
            places,
            f"{_C}jurisdiction",
            {"code": f"J{i}", "country": "CZ", "region": f"R{i}", "group": groups[(i - 1) % len(groups)]},
        )
    people = etree.SubElement(root, f"{_C}customers")
    for i in range(1, customers + 1):
        customer = etree.SubElement(
            people, f"{_C}customer", {"id": f"C{i}", "priceLevel": "b2b" if i % 2 else "retail"}
        )
        etree.SubElement(customer, f"{_C}address", {"country": "CZ", "region": f"R{rng.randint(1, jurisdictions)}"})

    entries = etree.SubElement(root, f"{_C}entries")
    priced: list[str] = []
    for i in range(1, items + 1):
        catentry_id = str(10_000 + i)
        etree.SubElement(
            entries,
            f"{_C}item",
            {
                "catentryId": catentry_id,
                "partNumber": f"P{i:05d}",
                "taxCategory": rng.choice(categories),
                "weight": f"{rng.uniform(0.1, 20):.2f}",
            },
        )
        priced.append(catentry_id)
    for i in range(1, products + 1):
        product_id = str(50_000 + i * 10)
        product = etree.SubElement(
            entries,
            f"{_C}product",
            {"catentryId": product_id, "partNumber": f"PROD{i:03d}", "taxCategory": rng.choice(categories)},
        )
        for j, color in enumerate(("red", "green", "blue"), start=1):
            sku = etree.SubElement(
                product, f"{_C}sku", {"catentryId": str(int(product_id) + j), "partNumber": f"PROD{i:03d}-{color}"}
            )
            etree.SubElement(sku, f"{_C}attribute", {"name": "color", "value": color})
        priced.append(product_id)

    lists = etree.SubElement(root, f"{_C}priceLists")
    retail = etree.SubElement(lists, f"{_C}priceList", {"level": "retail"})
    b2b = etree.SubElement(lists, f"{_C}priceList", {"level": "b2b"})
    for catentry_id in priced:
        base = rng.uniform(1, 500)
        for min_quantity, factor in ((1, 1.0), (10, 0.95), (100, 0.9)):
            etree.SubElement(
                retail,
                f"{_C}price",
                {"catentryId": catentry_id, "minQuantity": str(min_quantity), "amount": f"{base * factor:.4f}"},
            )
        if rng.random() < 0.5:
            etree.SubElement(b2b, f"{_C}price", {"catentryId": catentry_id, "amount": f"{base * 0.8:.3f}"})

    stock = etree.SubElement(root, f"{_C}inventory")
    for i in range(1, items + 1):
        for ffc in ffc_names:
            etree.SubElement(
                stock,
                f"{_C}stock",
                {"catentryId": str(10_000 + i), "fulfillmentCenter": ffc, "quantity": str(rng.randint(0, 400))},
            )

    shipping = etree.SubElement(root, f"{_C}shippingRules")
    for mode in modes:
        for ffc in ffc_names:
            for i in range(1, jurisdictions + 1):
                etree.SubElement(
                    shipping,
                    f"{_C}rule",
                    {
                        "shipMode": mode,
                        "fulfillmentCenter": ffc,
                        "jurisdiction": f"J{i}",
                        "base": f"{rng.uniform(50, 300):.2f}",
                        "perUnit": f"{rng.uniform(0, 5):.3f}",
                    },
                )
    tax = etree.SubElement(root, f"{_C}taxRules")
    for code in codes:
        for ffc in ffc_names:
            for group in groups:
                for category in categories:
                    etree.SubElement(
                        tax,
                        f"{_C}rule",
                        {
                            "taxCode": code,
                            "fulfillmentCenter": ffc,
                            "jurisdictionGroup": group,
                            "taxCategory": category,
                            "rate": rng.choice(("0.21", "0.12", "0.10", "0.05", "0")),
                        },
                    )
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def generate_cart(
    catalog: Catalog,
    *,
    lines: int,
    distinct: int,
    cart_id: str = "CART-1",
    customer_id: str = "C2",
    seed: int = 1,
) -> ConfiguratorCart:
    """A configurator cart of `lines` lines naming exactly `distinct` part numbers (items only)."""
    rng = random.Random(seed)
    items = [e.part_number for e in catalog.entries if e.kind == "item" and e.parent_id is None]
    if distinct > len(items) or distinct > lines:
        raise ValueError(f"cannot name {distinct} distinct part numbers in {lines} lines of {len(items)} items")
    chosen = rng.sample(items, distinct)
    modes = sorted({r.ship_mode for r in catalog.shipping_rules}) or [catalog.settings.default_ship_mode]
    ffcs = sorted({r.ffc for r in catalog.shipping_rules}) or [catalog.settings.default_ffc]
    regions = [j for j in catalog.jurisdictions if j.region]
    addresses = tuple(
        Address(f"A{i}", j.country, j.region) for i, j in enumerate(rng.sample(regions, min(3, len(regions))), 1)
    )
    cart_lines = []
    for position in range(1, lines + 1):
        # Every chosen part number appears at least once, then at random.
        part = chosen[position - 1] if position <= distinct else rng.choice(chosen)
        cart_lines.append(
            AddLine(
                position=position,
                quantity=rng.randint(1, 20),
                part_number=part,
                ship_mode=rng.choice(modes),
                address_id=rng.choice(addresses).address_id if addresses else None,
                ffc=rng.choice(ffcs),
            )
        )
    rng.shuffle(cart_lines)
    numbered = tuple(dataclasses.replace(line, position=i) for i, line in enumerate(cart_lines, start=1))
    return ConfiguratorCart(cart_id, customer_id, addresses, numbered)


def generate_cart_xml(catalog: Catalog, **kwargs: int | str) -> bytes:
    return encode_configurator_cart(generate_cart(catalog, **kwargs))  # type: ignore[arg-type]
