"""The pricing XML formats: the catalog, the cart batch (commands) and the configurator cart.

Every document is parsed by the one safe parser and checked against schemas/pricing before use.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from lxml import etree

from connector._paths import schemas_dir
from connector.codec import load_schema, parse_bytes, validate
from connector.errors import BadData
from connector.pricing._model import (
    AddLine,
    Address,
    Catalog,
    CatalogEntry,
    Command,
    Customer,
    Jurisdiction,
    OrderCalculate,
    OrderItemAdd,
    OrderItemDisplay,
    OrderItemUpdate,
    OrderPrepare,
    PriceTier,
    ShippingRule,
    StoreSettings,
    TaxRule,
    UpdateLine,
)

SCHEMA_DIR = schemas_dir() / "pricing"
CATALOG_XSD = SCHEMA_DIR / "catalog.xsd"
CART_BATCH_XSD = SCHEMA_DIR / "cart-batch.xsd"
CATALOG_NS = "urn:connector:pricing:catalog:1"
CART_NS = "urn:connector:pricing:cart-batch:1"
_C = f"{{{CATALOG_NS}}}"
_B = f"{{{CART_NS}}}"
# A catalog of tens of thousands of rules is a few megabytes; a cart of 10,000 lines about one.
MAX_CATALOG_BYTES = 256 * 1024 * 1024
MAX_CART_BYTES = 64 * 1024 * 1024


def _bool(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.strip() in ("true", "1")


# The catalog ------------------------------------------------------------------------------


def load_catalog(data: bytes, *, what: str = "catalog") -> Catalog:
    """Parse and validate a catalog document and build its indexes."""
    document = parse_bytes(data, what=what, max_bytes=MAX_CATALOG_BYTES)
    validate(document, load_schema(str(CATALOG_XSD)), what=what)
    root = document.getroot()
    store = root.find(f"{_C}store")
    assert store is not None  # the schema requires it
    settings = StoreSettings(
        currency=store.get("currency", "CZK"),
        decimals=int(store.get("decimals", "2")),
        quote_good_for_s=int(store.get("quoteGoodFor", "3600")),
        price_ref_flag=int(store.get("priceRefFlag", "0")),
        default_ship_mode=store.get("defaultShipMode", "STD"),
        default_ffc=store.get("defaultFulfillmentCenter", "FC1"),
        default_price_level=store.get("defaultPriceLevel", "retail"),
        tax_codes=tuple(store.get("taxCodes", "VAT").split()),
    )
    entries: list[CatalogEntry] = []
    for element in root.iterfind(f"{_C}entries/*"):
        if element.tag == f"{_C}product":
            product = _entry(element, "product", None)
            entries.append(product)
            for sku in element.iterfind(f"{_C}sku"):
                entries.append(_entry(sku, "item", product))
        else:
            entries.append(_entry(element, "item", None))
    known = {e.catentry_id for e in entries}

    prices: dict[tuple[str, str], list[PriceTier]] = {}
    for price_list in root.iterfind(f"{_C}priceLists/{_C}priceList"):
        level = price_list.get("level", "")
        for price in price_list.iterfind(f"{_C}price"):
            catentry_id = price.get("catentryId", "")
            _require_known(known, catentry_id, price, what)
            tiers = prices.setdefault((level, catentry_id), [])
            tier = PriceTier(int(price.get("minQuantity", "1")), Decimal(price.get("amount", "0")))
            if any(t.min_quantity == tier.min_quantity for t in tiers):
                raise BadData(
                    f"{what}: line {price.sourceline}: price list {level!r} has two prices for "
                    f"{catentry_id!r} from quantity {tier.min_quantity}",
                    record=catentry_id,
                    field="minQuantity",
                )
            tiers.append(tier)

    inventory: dict[tuple[str, str], int] = {}
    for stock in root.iterfind(f"{_C}inventory/{_C}stock"):
        catentry_id = stock.get("catentryId", "")
        _require_known(known, catentry_id, stock, what)
        inventory[(catentry_id, stock.get("fulfillmentCenter", ""))] = int(stock.get("quantity", "0"))

    jurisdictions = [
        Jurisdiction(j.get("code", ""), j.get("country", ""), j.get("region", ""), j.get("group", ""))
        for j in root.iterfind(f"{_C}jurisdictions/{_C}jurisdiction")
    ]
    customers = []
    for c in root.iterfind(f"{_C}customers/{_C}customer"):
        address = c.find(f"{_C}address")
        default = None
        if address is not None:
            default = Address("default", address.get("country", ""), address.get("region", ""))
        customers.append(Customer(c.get("id", ""), c.get("priceLevel", ""), default))
    shipping = [
        ShippingRule(
            r.get("shipMode", ""),
            r.get("fulfillmentCenter", ""),
            r.get("jurisdiction", ""),
            Decimal(r.get("base", "0")),
            Decimal(r.get("perUnit", "0")),
        )
        for r in root.iterfind(f"{_C}shippingRules/{_C}rule")
    ]
    tax = [
        TaxRule(
            r.get("taxCode", ""),
            r.get("fulfillmentCenter", ""),
            r.get("jurisdictionGroup", ""),
            r.get("taxCategory", ""),
            Decimal(r.get("rate", "0")),
        )
        for r in root.iterfind(f"{_C}taxRules/{_C}rule")
    ]
    return Catalog.build(
        settings=settings,
        entries=entries,
        prices=prices,
        inventory=inventory,
        jurisdictions=jurisdictions,
        customers=customers,
        shipping_rules=shipping,
        tax_rules=tax,
    )


def load_catalog_file(path: str | Path) -> Catalog:
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise BadData(f"{file}: cannot read the catalog ({exc.strerror})", record=str(file)) from None
    return load_catalog(data, what=str(file))


def _entry(element: etree._Element, kind: str, parent: CatalogEntry | None) -> CatalogEntry:
    levels = element.get("levels")
    return CatalogEntry(
        catentry_id=element.get("catentryId", ""),
        part_number=element.get("partNumber", ""),
        kind="product" if kind == "product" else "item",
        buyable=_bool(element.get("buyable"), True),
        tax_category=element.get("taxCategory") or (parent.tax_category if parent else ""),
        weight=Decimal(element.get("weight", "0")),
        parent_id=parent.catentry_id if parent else None,
        attributes=tuple((a.get("name", ""), a.get("value", "")) for a in element.iterfind(f"{_C}attribute")),
        levels=frozenset(levels.split()) if levels is not None else None,
    )


def _require_known(known: set[str], catentry_id: str, element: etree._Element, what: str) -> None:
    if catentry_id not in known:
        raise BadData(
            f"{what}: line {element.sourceline}: unknown catentry id {catentry_id!r}",
            record=catentry_id,
            field="catentryId",
        )


# Cart batches -----------------------------------------------------------------------------


def _attributes(element: etree._Element) -> tuple[tuple[str, str], ...]:
    return tuple((a.get("name", ""), a.get("value", "")) for a in element.iterfind(f"{_B}attribute"))


def _addresses(element: etree._Element) -> tuple[Address, ...]:
    return tuple(
        Address(a.get("id", ""), a.get("country", ""), a.get("region", "")) for a in element.iterfind(f"{_B}address")
    )


def _add_lines(element: etree._Element) -> tuple[AddLine, ...]:
    return tuple(
        AddLine(
            position=position,
            quantity=int(line.get("quantity", "0")),
            part_number=line.get("partNumber"),
            catentry_id=line.get("catentryId"),
            attributes=_attributes(line),
            ship_mode=line.get("shipMode"),
            address_id=line.get("address"),
            ffc=line.get("fulfillmentCenter"),
        )
        for position, line in enumerate(element.iterfind(f"{_B}line"), start=1)
    )


def _parse_cart_document(data: bytes, *, what: str, root_name: str) -> etree._Element:
    document = parse_bytes(data, what=what, max_bytes=MAX_CART_BYTES)
    validate(document, load_schema(str(CART_BATCH_XSD)), what=what)
    root = document.getroot()
    if root.tag != f"{_B}{root_name}":
        raise BadData(f"{what}: expected a {root_name} document, got {etree.QName(root).localname}", field=root_name)
    return root


class CartBatch:
    """A parsed cart batch: which cart, whose, and the commands in order."""

    def __init__(self, cart_id: str, customer_id: str, commands: list[Command]) -> None:
        self.cart_id = cart_id
        self.customer_id = customer_id
        self.commands = commands


def parse_cart_batch(data: bytes, *, what: str = "cart batch") -> CartBatch:
    root = _parse_cart_document(data, what=what, root_name="cartBatch")
    commands: list[Command] = []
    for element in root:
        if not isinstance(element.tag, str):
            continue  # comments, processing instructions
        name = etree.QName(element).localname
        do_price = element.get("doPrice")
        do_inventory = element.get("doInventory")
        if name == "OrderItemAdd":
            commands.append(
                OrderItemAdd(
                    _add_lines(element), _addresses(element), _bool(do_price, True), _bool(do_inventory, False)
                )
            )
        elif name == "OrderItemUpdate":
            lines = tuple(
                _update_line(position, line) for position, line in enumerate(element.iterfind(f"{_B}line"), start=1)
            )
            commands.append(
                OrderItemUpdate(lines, _addresses(element), _bool(do_price, False), _bool(do_inventory, False))
            )
        elif name == "OrderItemDisplay":
            commands.append(OrderItemDisplay(_bool(do_price, False), _bool(do_inventory, False)))
        elif name == "OrderCalculate":
            commands.append(OrderCalculate(_bool(do_price, True), _bool(do_inventory, False)))
        elif name == "OrderPrepare":
            commands.append(OrderPrepare(_bool(do_price, True), _bool(do_inventory, True)))
    return CartBatch(root.get("cart", ""), root.get("customer", ""), commands)


def _update_line(position: int, line: etree._Element) -> UpdateLine:
    quantity = line.get("quantity")
    return UpdateLine(
        position=position,
        line_id=int(line.get("lineId", "0")),
        quantity=int(quantity) if quantity is not None else None,
        ship_mode=line.get("shipMode"),
        address_id=line.get("address"),
        ffc=line.get("fulfillmentCenter"),
    )


def _text_bool(value: bool) -> str:
    return "true" if value else "false"


def _put_addresses(parent: etree._Element, addresses: tuple[Address, ...]) -> None:
    for address in addresses:
        etree.SubElement(
            parent, f"{_B}address", {"id": address.address_id, "country": address.country, "region": address.region}
        )


def _put_add_line(parent: etree._Element, line: AddLine) -> None:
    attrs = {"quantity": str(line.quantity)}
    for key, value in (
        ("partNumber", line.part_number),
        ("catentryId", line.catentry_id),
        ("shipMode", line.ship_mode),
        ("address", line.address_id),
        ("fulfillmentCenter", line.ffc),
    ):
        if value is not None:
            attrs[key] = value
    element = etree.SubElement(parent, f"{_B}line", attrs)
    for name, value in line.attributes:
        etree.SubElement(element, f"{_B}attribute", {"name": name, "value": value})


def encode_cart_batch(cart_id: str, customer_id: str, commands: list[Command]) -> bytes:
    """A cartBatch document for `commands`, checked against its schema before it leaves."""
    root = etree.Element(f"{_B}cartBatch", {"cart": cart_id, "customer": customer_id}, nsmap={None: CART_NS})
    for command in commands:
        attrs = {"doPrice": _text_bool(command.do_price), "doInventory": _text_bool(command.do_inventory)}
        element = etree.SubElement(root, f"{_B}{command.name}", attrs)
        if isinstance(command, OrderItemAdd):
            _put_addresses(element, command.addresses)
            for line in command.lines:
                _put_add_line(element, line)
        elif isinstance(command, OrderItemUpdate):
            _put_addresses(element, command.addresses)
            for update in command.lines:
                update_attrs = {"lineId": str(update.line_id)}
                for key, value in (
                    ("quantity", None if update.quantity is None else str(update.quantity)),
                    ("shipMode", update.ship_mode),
                    ("address", update.address_id),
                    ("fulfillmentCenter", update.ffc),
                ):
                    if value is not None:
                        update_attrs[key] = value
                etree.SubElement(element, f"{_B}line", update_attrs)
    validate(root, load_schema(str(CART_BATCH_XSD)), what=f"cart batch for {cart_id}")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


# The configurator's cart ------------------------------------------------------------------


class ConfiguratorCart:
    """A configurator's export: the cart's id and customer, its addresses and lines."""

    def __init__(
        self, cart_id: str, customer_id: str, addresses: tuple[Address, ...], lines: tuple[AddLine, ...]
    ) -> None:
        self.cart_id = cart_id
        self.customer_id = customer_id
        self.addresses = addresses
        self.lines = lines


def parse_configurator_cart(data: bytes, *, what: str = "cart") -> ConfiguratorCart:
    root = _parse_cart_document(data, what=what, root_name="cart")
    return ConfiguratorCart(root.get("id", ""), root.get("customer", ""), _addresses(root), _add_lines(root))


def encode_configurator_cart(cart: ConfiguratorCart) -> bytes:
    root = etree.Element(f"{_B}cart", {"id": cart.cart_id, "customer": cart.customer_id}, nsmap={None: CART_NS})
    _put_addresses(root, cart.addresses)
    for line in cart.lines:
        _put_add_line(root, line)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
