"""The pricing wing's data: catalog, cart and its lines, the cart commands, and their results.

Plain dataclasses with no XML, HTTP or database in them; the engine works on these only.
"""

from __future__ import annotations

import dataclasses
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

Attributes = tuple[tuple[str, str], ...]


def money(amount: Decimal, decimals: int) -> Decimal:
    """Round half-up to the currency's smallest unit (cents for decimals=2)."""
    return amount.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


# The catalog ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CatalogEntry:
    """A product (resolved to one of its SKUs by defining attributes) or an item (a SKU)."""

    catentry_id: str
    part_number: str
    kind: Literal["product", "item"]
    buyable: bool
    tax_category: str
    weight: Decimal
    parent_id: str | None = None
    # Defining attributes of a SKU; empty for products and stand-alone items.
    attributes: Attributes = ()
    # Price levels entitled to buy it; None means every level.
    levels: frozenset[str] | None = None


@dataclasses.dataclass(frozen=True)
class PriceTier:
    min_quantity: int
    amount: Decimal


@dataclasses.dataclass(frozen=True)
class Jurisdiction:
    code: str
    country: str
    region: str
    group: str


@dataclasses.dataclass(frozen=True)
class ShippingRule:
    ship_mode: str
    ffc: str
    jurisdiction: str
    base: Decimal
    per_unit: Decimal


@dataclasses.dataclass(frozen=True)
class TaxRule:
    tax_code: str
    ffc: str
    jurisdiction_group: str
    tax_category: str
    rate: Decimal


@dataclasses.dataclass(frozen=True)
class Address:
    address_id: str
    country: str
    region: str = ""


@dataclasses.dataclass(frozen=True)
class Customer:
    customer_id: str
    price_level: str
    default_address: Address | None = None


@dataclasses.dataclass(frozen=True)
class StoreSettings:
    currency: str = "CZK"
    decimals: int = 2
    quote_good_for_s: int = 3600
    # 8: lines are repriced per catentry group (WebSphere's priceRefFlag bit).
    price_ref_flag: int = 0
    default_ship_mode: str = "STD"
    default_ffc: str = "FC1"
    default_price_level: str = "retail"
    tax_codes: tuple[str, ...] = ("VAT",)


@dataclasses.dataclass(frozen=True)
class Catalog:
    """The whole catalog as lists (what the naive mode scans) plus the indexes built once."""

    settings: StoreSettings
    entries: tuple[CatalogEntry, ...]
    prices: dict[tuple[str, str], tuple[PriceTier, ...]]  # (price level, catentry id) -> tiers, ascending
    inventory: dict[tuple[str, str], int]  # (catentry id, ffc) -> units on hand
    jurisdictions: tuple[Jurisdiction, ...]
    customers: dict[str, Customer]
    shipping_rules: tuple[ShippingRule, ...]
    tax_rules: tuple[TaxRule, ...]
    by_part_number: dict[str, CatalogEntry] = dataclasses.field(default_factory=dict)
    by_catentry_id: dict[str, CatalogEntry] = dataclasses.field(default_factory=dict)
    skus_of: dict[str, tuple[CatalogEntry, ...]] = dataclasses.field(default_factory=dict)
    jurisdiction_index: dict[tuple[str, str], Jurisdiction] = dataclasses.field(default_factory=dict)
    shipping_index: dict[tuple[str, str, str], ShippingRule] = dataclasses.field(default_factory=dict)
    tax_index: dict[tuple[str, str, str, str], TaxRule] = dataclasses.field(default_factory=dict)

    @classmethod
    def build(
        cls,
        *,
        settings: StoreSettings,
        entries: list[CatalogEntry],
        prices: dict[tuple[str, str], list[PriceTier]],
        inventory: dict[tuple[str, str], int],
        jurisdictions: list[Jurisdiction],
        customers: list[Customer],
        shipping_rules: list[ShippingRule],
        tax_rules: list[TaxRule],
    ) -> Catalog:
        skus: dict[str, list[CatalogEntry]] = {}
        for entry in entries:
            if entry.parent_id is not None:
                skus.setdefault(entry.parent_id, []).append(entry)
        return cls(
            settings=settings,
            entries=tuple(entries),
            prices={key: tuple(sorted(tiers, key=lambda t: t.min_quantity)) for key, tiers in prices.items()},
            inventory=dict(inventory),
            jurisdictions=tuple(jurisdictions),
            customers={c.customer_id: c for c in customers},
            shipping_rules=tuple(shipping_rules),
            tax_rules=tuple(tax_rules),
            by_part_number={e.part_number: e for e in entries},
            by_catentry_id={e.catentry_id: e for e in entries},
            skus_of={k: tuple(v) for k, v in skus.items()},
            jurisdiction_index={(j.country, j.region): j for j in jurisdictions},
            shipping_index={(r.ship_mode, r.ffc, r.jurisdiction): r for r in shipping_rules},
            tax_index={(r.tax_code, r.ffc, r.jurisdiction_group, r.tax_category): r for r in tax_rules},
        )

    def with_settings(self, **changes: Any) -> Catalog:
        return dataclasses.replace(self, settings=dataclasses.replace(self.settings, **changes))

    def price_level_of(self, customer_id: str) -> str:
        customer = self.customers.get(customer_id)
        return customer.price_level if customer else self.settings.default_price_level


# The cart ---------------------------------------------------------------------------------


@dataclasses.dataclass
class CartLine:
    line_id: int
    part_number: str
    catentry_id: str
    quantity: int
    attributes: Attributes
    ship_mode: str
    address_id: str
    ffc: str
    unit_price: Decimal | None = None
    line_total: Decimal | None = None
    # PRICE_REFRESHED: 1 once priced, 0 when the stored price no longer fits the line.
    price_refreshed: bool = False
    last_priced_ms: int | None = None
    inventory: Literal["allocated", "backordered"] | None = None
    # Why the last pricing failed (no price at the customer's level), None when priced.
    error: str | None = None

    def state(self) -> tuple[Any, ...]:
        """Every stored field, to tell which lines a command changed."""
        return (
            self.part_number,
            self.catentry_id,
            self.quantity,
            self.attributes,
            self.ship_mode,
            self.address_id,
            self.ffc,
            self.unit_price,
            self.line_total,
            self.price_refreshed,
            self.last_priced_ms,
            self.inventory,
            self.error,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "lineId": self.line_id,
            "partNumber": self.part_number,
            "catentryId": self.catentry_id,
            "quantity": self.quantity,
            "attributes": dict(self.attributes),
            "shipMode": self.ship_mode,
            "address": self.address_id,
            "fulfillmentCenter": self.ffc,
            "unitPrice": None if self.unit_price is None else str(self.unit_price),
            "lineTotal": None if self.line_total is None else str(self.line_total),
            "priceRefreshed": self.price_refreshed,
            "lastPricedMs": self.last_priced_ms,
            "inventory": self.inventory,
            "error": self.error,
        }


@dataclasses.dataclass
class Cart:
    cart_id: str
    customer_id: str
    lines: dict[int, CartLine] = dataclasses.field(default_factory=dict)  # by line id, in line order
    addresses: dict[str, Address] = dataclasses.field(default_factory=dict)
    next_line_id: int = 1
    # Totals of the last OrderCalculate / OrderPrepare.
    summary: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "cart": self.cart_id,
            "customer": self.customer_id,
            "addresses": {a.address_id: {"country": a.country, "region": a.region} for a in self.addresses.values()},
            "lines": [line.to_dict() for line in self.lines.values()],
            "summary": self.summary,
        }


# Commands ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AddLine:
    """One line of OrderItemAdd; `position` is its 1-based place in the command, for errors."""

    position: int
    quantity: int
    part_number: str | None = None
    catentry_id: str | None = None
    attributes: Attributes = ()
    ship_mode: str | None = None
    address_id: str | None = None
    ffc: str | None = None


@dataclasses.dataclass(frozen=True)
class UpdateLine:
    position: int
    line_id: int
    quantity: int | None = None
    ship_mode: str | None = None
    address_id: str | None = None
    ffc: str | None = None


@dataclasses.dataclass(frozen=True)
class OrderItemAdd:
    lines: tuple[AddLine, ...]
    addresses: tuple[Address, ...] = ()
    do_price: bool = True
    do_inventory: bool = False
    name: str = "OrderItemAdd"


@dataclasses.dataclass(frozen=True)
class OrderItemUpdate:
    lines: tuple[UpdateLine, ...]
    addresses: tuple[Address, ...] = ()
    do_price: bool = False
    do_inventory: bool = False
    name: str = "OrderItemUpdate"


@dataclasses.dataclass(frozen=True)
class OrderItemDisplay:
    do_price: bool = False
    do_inventory: bool = False
    name: str = "OrderItemDisplay"


@dataclasses.dataclass(frozen=True)
class OrderCalculate:
    do_price: bool = True
    do_inventory: bool = False
    name: str = "OrderCalculate"


@dataclasses.dataclass(frozen=True)
class OrderPrepare:
    do_price: bool = True
    do_inventory: bool = True
    name: str = "OrderPrepare"


Command = OrderItemAdd | OrderItemUpdate | OrderItemDisplay | OrderCalculate | OrderPrepare


# Results ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Stats:
    """What a command cost, in counts that do not depend on the machine."""

    part_number_resolutions: int = 0
    catentry_resolutions: int = 0
    sku_resolutions: int = 0
    buyable_checks: int = 0
    entitlement_checks: int = 0
    default_resolutions: int = 0
    jurisdiction_resolutions: int = 0
    tax_category_lookups: int = 0
    price_lookups: int = 0
    inventory_lookups: int = 0
    shipping_rule_lookups: int = 0
    tax_rule_lookups: int = 0
    # Rules compared while looking (1 per lookup with an index; the whole list with a scan).
    rules_compared: int = 0
    lines_priced: int = 0
    cache_hits: int = 0

    @property
    def distinct_lookups(self) -> int:
        return (
            self.part_number_resolutions
            + self.catentry_resolutions
            + self.sku_resolutions
            + self.buyable_checks
            + self.entitlement_checks
            + self.default_resolutions
            + self.jurisdiction_resolutions
            + self.tax_category_lookups
            + self.price_lookups
            + self.inventory_lookups
        )

    @property
    def rule_lookups(self) -> int:
        return self.shipping_rule_lookups + self.tax_rule_lookups

    def to_dict(self) -> dict[str, int]:
        out = dataclasses.asdict(self)
        out["distinct_lookups"] = self.distinct_lookups
        out["rule_lookups"] = self.rule_lookups
        return out


@dataclasses.dataclass(frozen=True)
class LineError:
    """A line the command could not handle; the others went on."""

    field: str
    message: str
    position: int | None = None  # place in the command (adds, updates)
    line_id: int | None = None  # line in the cart (updates, prepare)
    part_number: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "lineId": self.line_id,
            "partNumber": self.part_number,
            "field": self.field,
            "message": self.message,
        }


@dataclasses.dataclass
class CommandResult:
    command: str
    added: list[int] = dataclasses.field(default_factory=list)
    updated: list[int] = dataclasses.field(default_factory=list)
    repriced: list[int] = dataclasses.field(default_factory=list)
    errors: list[LineError] = dataclasses.field(default_factory=list)
    stats: Stats = dataclasses.field(default_factory=Stats)

    def outcome(self) -> dict[str, Any]:
        """Everything but the stats: what must be equal in the optimized and the naive mode."""
        return {
            "command": self.command,
            "added": list(self.added),
            "updated": list(self.updated),
            "repriced": sorted(self.repriced),
            "errors": [e.to_dict() for e in self.errors],
        }

    def to_dict(self) -> dict[str, Any]:
        out = self.outcome()
        out["stats"] = self.stats.to_dict()
        return out
