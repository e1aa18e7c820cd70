"""The batch pricing engine: applies one cart command to a cart, in optimized or naive mode.

Both modes share every rule of the business; they differ only in how often they look things up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal, TypeVar

from connector.pricing._model import (
    AddLine,
    Address,
    Cart,
    CartLine,
    Catalog,
    CatalogEntry,
    Command,
    CommandResult,
    Jurisdiction,
    LineError,
    OrderCalculate,
    OrderItemAdd,
    OrderItemDisplay,
    OrderItemUpdate,
    OrderPrepare,
    PriceTier,
    ShippingRule,
    Stats,
    TaxRule,
    money,
)

Mode = Literal["optimized", "naive"]
T = TypeVar("T")
_K = TypeVar("_K")
_R = TypeVar("_R")
_MISSING = object()
DEFAULT_ADDRESS_ID = "default"


class _Lookups:
    """Counts every lookup; in optimized mode each distinct key is looked up once per command.

    The naive mode goes through the same calls without the memo, so both modes run the same
    business code and differ only in how often they ask the catalog.
    """

    def __init__(self, stats: Stats, *, memoize: bool) -> None:
        self.stats = stats
        self.memo: dict[tuple[str, Any], Any] | None = {} if memoize else None

    def get(self, counter: str, key: Any, compute: Callable[[], T]) -> T:
        memo = self.memo
        if memo is not None:
            found = memo.get((counter, key), _MISSING)
            if found is not _MISSING:
                self.stats.cache_hits += 1
                return found  # type: ignore[no-any-return]
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        value = compute()
        if memo is not None:
            memo[(counter, key)] = value
        return value


class PricingEngine:
    """Applies cart commands; `mode="naive"` is the line-by-line reference and baseline."""

    def __init__(self, catalog: Catalog, *, mode: Mode = "optimized") -> None:
        if mode not in ("optimized", "naive"):
            raise ValueError(f"unknown pricing mode {mode!r}")
        self.catalog = catalog
        self.mode = mode

    @property
    def optimized(self) -> bool:
        return self.mode == "optimized"

    def apply(self, cart: Cart, command: Command, *, now_ms: int) -> CommandResult:
        """Change `cart` in place by `command`; the result says what happened and what it cost."""
        result = CommandResult(command.name)
        run = _Run(self, cart, result, now_ms)
        if isinstance(command, OrderItemAdd):
            run.add(command)
        elif isinstance(command, OrderItemUpdate):
            run.update(command)
        elif isinstance(command, OrderItemDisplay):
            run.refresh(command.do_price, command.do_inventory)
        elif isinstance(command, OrderCalculate):
            run.refresh(command.do_price, command.do_inventory)
            run.cart.summary = run.summary(with_fulfillment=False)
        elif isinstance(command, OrderPrepare):
            run.refresh(command.do_price, command.do_inventory)
            run.cart.summary = run.summary(with_fulfillment=True)
        else:  # pragma: no cover - the Command union is closed
            raise TypeError(f"not a cart command: {command!r}")
        result.errors.sort(key=lambda e: (e.position or 0, e.line_id or 0, e.field, e.message))
        return result


class _Run:
    """One command on one cart: the lookups memo, the stats and the steps."""

    def __init__(self, engine: PricingEngine, cart: Cart, result: CommandResult, now_ms: int) -> None:
        self.catalog = engine.catalog
        self.settings = engine.catalog.settings
        self.optimized = engine.optimized
        self.cart = cart
        self.result = result
        self.stats = result.stats
        self.now_ms = now_ms
        self.lookups = _Lookups(result.stats, memoize=engine.optimized)
        self.level = engine.catalog.price_level_of(cart.customer_id)

    # Commands -----------------------------------------------------------------------------

    def add(self, command: OrderItemAdd) -> None:
        self._take_addresses(command.addresses)
        new_lines: list[CartLine] = []
        for wanted in command.lines:
            line = self._resolve(wanted)
            if line is None:
                continue
            self.cart.lines[line.line_id] = line
            self.cart.next_line_id += 1
            new_lines.append(line)
            self.result.added.append(line.line_id)
        fresh = {line.line_id for line in new_lines}
        if command.do_price and new_lines:
            self._price(new_lines, fresh)
        if command.do_inventory and new_lines:
            self._check_inventory({(line.catentry_id, line.ffc) for line in new_lines})

    def update(self, command: OrderItemUpdate) -> None:
        self._take_addresses(command.addresses)
        changed: list[CartLine] = []
        for wanted in command.lines:
            line = self.cart.lines.get(wanted.line_id)
            if line is None:
                self._error("lineId", f"the cart has no line {wanted.line_id}", position=wanted.position)
                continue
            if wanted.quantity is not None and wanted.quantity <= 0:
                self._error(
                    "quantity",
                    f"quantity must be greater than 0, got {wanted.quantity}",
                    position=wanted.position,
                    line=line,
                )
                continue
            if wanted.address_id is not None and wanted.address_id not in self.cart.addresses:
                self._error("address", f"unknown address {wanted.address_id!r}", position=wanted.position, line=line)
                continue
            line.ship_mode = wanted.ship_mode or line.ship_mode
            line.address_id = wanted.address_id or line.address_id
            line.ffc = wanted.ffc or line.ffc
            if wanted.quantity is not None and wanted.quantity != line.quantity:
                line.quantity = wanted.quantity
                changed.append(line)
            self.result.updated.append(line.line_id)
        # Only a quantity change makes a stored price or allocation wrong; an update of the
        # address or the ship mode alone touches neither.
        if not changed:
            return
        if command.do_price:
            self._price(changed, {line.line_id for line in changed})
        else:
            for line in changed:
                line.price_refreshed = False
        if command.do_inventory:
            self._check_inventory({(line.catentry_id, line.ffc) for line in changed})

    def refresh(self, do_price: bool, do_inventory: bool) -> None:
        lines = list(self.cart.lines.values())
        if do_price and lines:
            self._price(lines, set())
        if do_inventory and lines:
            self._check_inventory(None)

    # Resolution ---------------------------------------------------------------------------

    def _take_addresses(self, addresses: Iterable[Address]) -> None:
        for address in addresses:
            self.cart.addresses[address.address_id] = address

    def _resolve(self, wanted: AddLine) -> CartLine | None:
        """A new cart line for `wanted`, or None after recording why it cannot be added."""
        catalog = self.catalog
        get = self.lookups.get
        if wanted.quantity <= 0:
            self._error(
                "quantity",
                f"quantity must be greater than 0, got {wanted.quantity}",
                position=wanted.position,
                part_number=wanted.part_number,
            )
            return None
        named = wanted.part_number or wanted.catentry_id or ""
        entry: CatalogEntry | None
        if wanted.part_number is not None:
            pn = wanted.part_number
            entry = get("part_number_resolutions", pn, lambda: catalog.by_part_number.get(pn))
            if entry is None:
                self._error("partNumber", f"unknown part number {pn!r}", position=wanted.position, part_number=pn)
                return None
        elif wanted.catentry_id is not None:
            cid = wanted.catentry_id
            entry = get("catentry_resolutions", cid, lambda: catalog.by_catentry_id.get(cid))
            if entry is None:
                self._error("catentryId", f"unknown catentry id {cid!r}", position=wanted.position)
                return None
        else:
            self._error(
                "partNumber", "the line names neither a part number nor a catentry id", position=wanted.position
            )
            return None
        sku = entry
        if entry.kind == "product":
            product = entry
            sku_or_reason = get(
                "sku_resolutions", (product.catentry_id, wanted.attributes), lambda: self._sku_of(product, wanted)
            )
            if isinstance(sku_or_reason, str):
                self._error("attribute", sku_or_reason, position=wanted.position, part_number=named)
                return None
            sku = sku_or_reason
        sku_entry = sku
        if not get("buyable_checks", sku.catentry_id, lambda: self._buyable(sku_entry)):
            self._error("partNumber", f"{named!r} is not buyable", position=wanted.position, part_number=named)
            return None
        level = self.level
        if not get("entitlement_checks", (sku.catentry_id, level), lambda: self._entitled(sku_entry, level)):
            self._error(
                "partNumber",
                f"{named!r} is not entitled at price level {level!r}",
                position=wanted.position,
                part_number=named,
            )
            return None
        ship_mode = wanted.ship_mode or get("default_resolutions", "shipMode", lambda: self.settings.default_ship_mode)
        ffc = wanted.ffc or get("default_resolutions", "ffc", lambda: self.settings.default_ffc)
        address_id = wanted.address_id
        if address_id is None:
            address_id = get("default_resolutions", "address", self._default_address)
            if address_id is None:
                self._error(
                    "address",
                    "the line has no address and the customer has no default address",
                    position=wanted.position,
                    part_number=named,
                )
                return None
        elif address_id not in self.cart.addresses:
            self._error("address", f"unknown address {address_id!r}", position=wanted.position, part_number=named)
            return None
        return CartLine(
            line_id=self.cart.next_line_id,
            part_number=sku.part_number,
            catentry_id=sku.catentry_id,
            quantity=wanted.quantity,
            attributes=wanted.attributes,
            ship_mode=ship_mode,
            address_id=address_id,
            ffc=ffc,
        )

    def _sku_of(self, product: CatalogEntry, wanted: AddLine) -> CatalogEntry | str:
        given = dict(wanted.attributes)
        matches = [
            sku
            for sku in self.catalog.skus_of.get(product.catentry_id, ())
            if all(given.get(name) == value for name, value in sku.attributes)
        ]
        if len(matches) == 1:
            return matches[0]
        shown = ", ".join(f"{k}={v}" for k, v in wanted.attributes) or "no attributes"
        if not matches:
            return f"no SKU of {product.part_number!r} matches {shown}"
        return f"{len(matches)} SKUs of {product.part_number!r} match {shown}; give every defining attribute"

    def _parent(self, entry: CatalogEntry) -> CatalogEntry | None:
        return self.catalog.by_catentry_id.get(entry.parent_id) if entry.parent_id else None

    def _buyable(self, sku: CatalogEntry) -> bool:
        parent = self._parent(sku)
        return sku.buyable and (parent is None or parent.buyable)

    def _entitled(self, sku: CatalogEntry, level: str) -> bool:
        parent = self._parent(sku)
        levels = sku.levels if sku.levels is not None else (parent.levels if parent else None)
        return levels is None or level in levels

    def _default_address(self) -> str | None:
        customer = self.catalog.customers.get(self.cart.customer_id)
        if customer is None or customer.default_address is None:
            return None
        address = customer.default_address
        self.cart.addresses.setdefault(DEFAULT_ADDRESS_ID, Address(DEFAULT_ADDRESS_ID, address.country, address.region))
        return DEFAULT_ADDRESS_ID

    # Pricing ------------------------------------------------------------------------------

    def _expired(self, line: CartLine) -> bool:
        # quoteGoodFor <= (now - lastPriced) / 1000, kept in whole milliseconds to stay exact.
        last = line.last_priced_ms
        return last is None or self.settings.quote_good_for_s * 1000 <= self.now_ms - last

    def _needs_price(self, line: CartLine, fresh: set[int]) -> bool:
        return line.line_id in fresh or not line.price_refreshed or self._expired(line)

    def _price(self, candidates: list[CartLine], fresh: set[int]) -> None:
        """Reprice the candidates that need it (whole catentry groups when priceRefFlag = 8)."""
        if self.settings.price_ref_flag == 8:
            to_price = self._group_repricing(candidates, fresh)
        else:
            to_price = [line for line in candidates if self._needs_price(line, fresh)]
        get = self.lookups.get
        level = self.level
        decimals = self.settings.decimals
        now = self.now_ms
        for line in to_price:
            key = (line.catentry_id, line.quantity)
            unit = get("price_lookups", key, lambda line=line: self._unit_price(line, level))  # type: ignore[misc]
            self.stats.lines_priced += 1
            self.result.repriced.append(line.line_id)
            if unit is None:
                line.unit_price = None
                line.line_total = None
                line.price_refreshed = False
                line.error = f"no price for {line.part_number!r} at price level {level!r}"
                self._error("price", line.error, line=line)
                continue
            line.unit_price = unit
            line.line_total = money(unit * line.quantity, decimals)
            line.price_refreshed = True
            line.last_priced_ms = now
            line.error = None

    def _group_repricing(self, candidates: list[CartLine], fresh: set[int]) -> list[CartLine]:
        all_lines = list(self.cart.lines.values())
        wanted_groups = {line.catentry_id for line in candidates}
        if self.optimized:
            groups: dict[str, list[CartLine]] = {}
            for line in all_lines:
                if line.catentry_id in wanted_groups:
                    groups.setdefault(line.catentry_id, []).append(line)
            dirty = {cid for cid, members in groups.items() if any(self._needs_price(m, fresh) for m in members)}
            return [line for line in all_lines if line.catentry_id in dirty]
        # Before the optimization: each line looks at its whole group on its own.
        return [
            line
            for line in all_lines
            if line.catentry_id in wanted_groups
            and any(self._needs_price(m, fresh) for m in all_lines if m.catentry_id == line.catentry_id)
        ]

    def _unit_price(self, line: CartLine, level: str) -> Decimal | None:
        tiers = self._tiers(line.catentry_id, level)
        if tiers is None:
            return None
        unit: Decimal | None = None
        for tier in tiers:  # ascending by minimum quantity
            if tier.min_quantity <= line.quantity:
                unit = tier.amount
        return unit

    def _tiers(self, catentry_id: str, level: str) -> tuple[PriceTier, ...] | None:
        prices = self.catalog.prices
        entry = self.catalog.by_catentry_id.get(catentry_id)
        parent_id = entry.parent_id if entry else None
        # The customer's level first, then the store's default list; a SKU without its own
        # price takes its product's.
        for lvl in dict.fromkeys((level, self.settings.default_price_level)):
            for cid in (catentry_id, parent_id):
                if cid is not None and (lvl, cid) in prices:
                    return prices[(lvl, cid)]
        return None

    # Inventory ----------------------------------------------------------------------------

    def _check_inventory(self, keys: set[tuple[str, str]] | None) -> None:
        """Allocate stock in line order per (catentry, fulfillment center); None means all lines."""
        inventory = self.catalog.inventory
        get = self.lookups.get
        lines = [line for line in self.cart.lines.values() if keys is None or (line.catentry_id, line.ffc) in keys]
        if self.optimized:
            groups: dict[tuple[str, str], list[CartLine]] = {}
            for line in lines:
                groups.setdefault((line.catentry_id, line.ffc), []).append(line)
            for key, members in groups.items():
                left = get("inventory_lookups", key, lambda key=key: inventory.get(key, 0))  # type: ignore[misc]
                for line in members:
                    if line.quantity <= left:
                        left -= line.quantity
                        line.inventory = "allocated"
                    else:
                        line.inventory = "backordered"
            return
        used: dict[tuple[str, str], int] = {}
        for line in lines:
            key = (line.catentry_id, line.ffc)
            on_hand = get("inventory_lookups", key, lambda key=key: inventory.get(key, 0))  # type: ignore[misc]
            taken = used.get(key, 0)
            if line.quantity <= on_hand - taken:
                used[key] = taken + line.quantity
                line.inventory = "allocated"
            else:
                line.inventory = "backordered"

    # Shipping, tax and totals -------------------------------------------------------------

    def _jurisdiction(self, address_id: str) -> Jurisdiction | None:
        address = self.cart.addresses.get(address_id)
        if address is None:
            return None
        if self.optimized:
            index = self.catalog.jurisdiction_index
            return index.get((address.country, address.region)) or index.get((address.country, ""))
        exact = [j for j in self.catalog.jurisdictions if (j.country, j.region) == (address.country, address.region)]
        if exact:
            return exact[0]
        country = [j for j in self.catalog.jurisdictions if (j.country, j.region) == (address.country, "")]
        return country[0] if country else None

    def _tax_category(self, catentry_id: str) -> str:
        entry = self.catalog.by_catentry_id[catentry_id]
        parent = self._parent(entry)
        return entry.tax_category or (parent.tax_category if parent else "")

    def _scan_shipping(self, key: tuple[str, str, str]) -> ShippingRule | None:
        found = None
        for rule in self.catalog.shipping_rules:
            self.stats.rules_compared += 1
            if rule.ship_mode == key[0] and rule.ffc == key[1] and rule.jurisdiction == key[2]:
                found = rule
                break
        return found

    def _scan_tax(self, key: tuple[str, str, str, str]) -> TaxRule | None:
        found = None
        for rule in self.catalog.tax_rules:
            self.stats.rules_compared += 1
            if (
                rule.tax_code == key[0]
                and rule.ffc == key[1]
                and rule.jurisdiction_group == key[2]
                and rule.tax_category == key[3]
            ):
                found = rule
                break
        return found

    def summary(self, *, with_fulfillment: bool) -> dict[str, Any]:
        decimals = self.settings.decimals
        lines = list(self.cart.lines.values())
        priced = [line for line in lines if line.line_total is not None and line.error is None]
        subtotal = sum((line.line_total or Decimal(0) for line in priced), Decimal(0))
        out: dict[str, Any] = {
            "currency": self.settings.currency,
            "lines": len(lines),
            "pricedLines": len(priced),
            "unpricedLines": [line.line_id for line in lines if line.line_total is None or line.error is not None],
            "subtotal": str(money(subtotal, decimals)),
        }
        if not with_fulfillment:
            out.update(shipping=None, tax=None, total=str(money(subtotal, decimals)))
            return out
        get = self.lookups.get
        placed: list[tuple[CartLine, Jurisdiction]] = []
        for line in priced:
            jurisdiction = get(
                "jurisdiction_resolutions",
                line.address_id,
                lambda line=line: self._jurisdiction(line.address_id),  # type: ignore[misc]
            )
            if jurisdiction is None:
                self._error("address", f"no jurisdiction for address {line.address_id!r}", line=line)
                continue
            placed.append((line, jurisdiction))
        shipping_groups = self._shipping(placed)
        tax_groups = self._tax(placed)
        shipping = sum((Decimal(g["charge"]) for g in shipping_groups), Decimal(0))
        tax = sum((Decimal(g["amount"]) for g in tax_groups), Decimal(0))
        out.update(
            shipping=str(money(shipping, decimals)),
            tax=str(money(tax, decimals)),
            total=str(money(subtotal + shipping + tax, decimals)),
            shippingGroups=shipping_groups,
            taxGroups=tax_groups,
        )
        return out

    def _from_index(self, members: Mapping[_K, object], rules: dict[_K, _R | None], index: Mapping[_K, _R]) -> int:
        """One indexed rule lookup per group (not per line); returns how many were made."""
        for key in members:
            self.stats.rules_compared += 1
            rules[key] = index.get(key)
        return len(members)

    def _shipping(self, placed: list[tuple[CartLine, Jurisdiction]]) -> list[dict[str, Any]]:
        """One rule per (ship mode, jurisdiction, fulfillment center); charge rounded per group."""
        members: dict[tuple[str, str, str], list[CartLine]] = {}
        rules: dict[tuple[str, str, str], ShippingRule | None] = {}
        for line, jurisdiction in placed:
            key = (line.ship_mode, line.ffc, jurisdiction.code)
            members.setdefault(key, []).append(line)
            if not self.optimized:
                # Before the optimization: every line scans the rule list on its own.
                self.stats.shipping_rule_lookups += 1
                rules[key] = self._scan_shipping(key)
        if self.optimized:
            self.stats.shipping_rule_lookups += self._from_index(members, rules, self.catalog.shipping_index)
        groups = []
        for key in sorted(members):
            rule = rules[key]
            group_lines = members[key]
            if rule is None:
                for line in group_lines:
                    self._error(
                        "shipMode",
                        f"no shipping rule for ship mode {key[0]!r} from {key[1]!r} to {key[2]!r}",
                        line=line,
                    )
                continue
            quantity = sum(line.quantity for line in group_lines)
            charge = money(rule.base + rule.per_unit * quantity, self.settings.decimals)
            groups.append(
                {
                    "shipMode": key[0],
                    "fulfillmentCenter": key[1],
                    "jurisdiction": key[2],
                    "lines": len(group_lines),
                    "quantity": quantity,
                    "charge": str(charge),
                }
            )
        return groups

    def _tax(self, placed: list[tuple[CartLine, Jurisdiction]]) -> list[dict[str, Any]]:
        """One rule per (tax code, fulfillment center, jurisdiction group, tax category)."""
        get = self.lookups.get
        members: dict[tuple[str, str, str, str], list[CartLine]] = {}
        rules: dict[tuple[str, str, str, str], TaxRule | None] = {}
        for line, jurisdiction in placed:
            category = get(
                "tax_category_lookups",
                line.catentry_id,
                lambda line=line: self._tax_category(line.catentry_id),  # type: ignore[misc]
            )
            for code in self.settings.tax_codes:
                key = (code, line.ffc, jurisdiction.group, category)
                members.setdefault(key, []).append(line)
                if not self.optimized:
                    self.stats.tax_rule_lookups += 1
                    rules[key] = self._scan_tax(key)
        if self.optimized:
            self.stats.tax_rule_lookups += self._from_index(members, rules, self.catalog.tax_index)
        groups = []
        for key in sorted(members):
            rule = rules[key]
            group_lines = members[key]
            if rule is None:
                for line in group_lines:
                    self._error(
                        "taxCategory",
                        f"no {key[0]} rule from {key[1]!r} for jurisdiction group {key[2]!r}, category {key[3]!r}",
                        line=line,
                    )
                continue
            base = sum((line.line_total or Decimal(0) for line in group_lines), Decimal(0))
            groups.append(
                {
                    "taxCode": key[0],
                    "fulfillmentCenter": key[1],
                    "jurisdictionGroup": key[2],
                    "taxCategory": key[3],
                    "lines": len(group_lines),
                    "base": str(base),
                    "rate": str(rule.rate),
                    "amount": str(money(base * rule.rate, self.settings.decimals)),
                }
            )
        return groups

    # Errors -------------------------------------------------------------------------------

    def _error(
        self,
        field: str,
        message: str,
        *,
        position: int | None = None,
        line: CartLine | None = None,
        part_number: str | None = None,
    ) -> None:
        self.result.errors.append(
            LineError(
                field=field,
                message=message,
                position=position,
                line_id=line.line_id if line else None,
                part_number=line.part_number if line else part_number,
            )
        )
