"""WooCommerce REST v3 customer JSON (schemas/woocommerce) to and from the canonical contact.

Owns the field mapping (docs/mapping.md, WooCommerce) and what WooCommerce cannot
hold. Every body is checked against its schema when built and when read; a record that fails
is refused with SchemaViolation/BadData naming the record and the field, never the value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from connector.codec._jsonschema import RecordResult, check
from connector.errors import BadData, InvalidContact
from connector.model import Contact, ShipTo

PLATFORM = "woocommerce"
# WC_REST_Controller::check_batch_limit: at most 100 items across create+update+delete
# (woocommerce_rest_batch_items_limit; eshop-platforms.md §2).
MAX_BATCH_ITEMS = 100
# WP_REST_Controller::get_collection_params: per_page is 1..100 (eshop-platforms.md §2).
MAX_PER_PAGE = 100

_ADDRESS_KEYS = ("first_name", "last_name", "company", "address_1", "address_2", "city", "state", "postcode", "country")


@dataclasses.dataclass(frozen=True)
class WooCommerceMapping:
    """Which `meta_data` keys carry what WooCommerce has no field for.

    WooCommerce has no company ids: Czech/Slovak checkout plugins keep them in user meta
    (`billing_ic`, `billing_dic`, `billing_ic_dph` are the common keys); a key set to None
    means the shop cannot hold that field. `hq_id_key` keeps POHODA's id (the contact's
    `ext_id`) with the customer; keys starting with `wp_` or `_` are hidden by the API
    (`exclude_internal_meta_keys`), so they are refused here.
    """

    ico_key: str | None = "billing_ic"
    dic_key: str | None = "billing_dic"
    ic_dph_key: str | None = "billing_ic_dph"
    hq_id_key: str | None = "pohoda_id"
    mobile_key: str | None = None

    def __post_init__(self) -> None:
        for name in ("ico_key", "dic_key", "ic_dph_key", "hq_id_key", "mobile_key"):
            key = getattr(self, name)
            if key is not None and (not key or key.startswith(("wp_", "_"))):
                raise ValueError(f"{name}: a meta key must be non-empty and not start with 'wp_' or '_'")

    def meta_fields(self) -> dict[str, str]:
        """Canonical field -> meta key, for the keys that are configured."""
        pairs = {
            "ico": self.ico_key,
            "dic": self.dic_key,
            "ic_dph": self.ic_dph_key,
            "ext_id": self.hq_id_key,
            "mobile": self.mobile_key,
        }
        return {field: key for field, key in pairs.items() if key is not None}


DEFAULT_MAPPING = WooCommerceMapping()


@dataclasses.dataclass(frozen=True)
class WooCustomer:
    """A customer as WooCommerce answers it: the contact (`id` = WooCommerce's id, `ext_id` =
    POHODA's id from meta_data) plus what the sync keeps per customer."""

    contact: Contact
    role: str
    username: str
    date_modified_gmt: str | None
    meta: tuple[tuple[str, Any], ...] = ()

    @property
    def id(self) -> int:
        assert self.contact.id is not None
        return int(self.contact.id)


# -- names and addresses ----------------------------------------------------------------------


def split_name(name: str | None) -> tuple[str, str]:
    """'Jan Karel Novák' -> ('Jan Karel', 'Novák'); a single word is a last name.

    Cut at the last single space, so that join_name(split_name(x)) == x for every x.
    """
    if not name:
        return "", ""
    first, sep, last = name.rpartition(" ")
    if not sep:
        return "", name
    return first, last


def join_name(first: str | None, last: str | None) -> str | None:
    parts = [p for p in (first, last) if p]
    return " ".join(parts) or None


def _text(value: Any) -> str | None:
    """A WooCommerce string: empty means absent (WooCommerce answers "" for unset fields)."""
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


# -- what WooCommerce can hold ----------------------------------------------------------------


def unheld_fields(contact: Contact, mapping: WooCommerceMapping = DEFAULT_MAPPING) -> tuple[str, ...]:
    """The canonical fields of `contact` that WooCommerce would not keep (for the audit log)."""
    meta = mapping.meta_fields()
    lost: list[str] = []
    for field in ("ico", "dic", "ic_dph", "ext_id", "mobile"):
        if getattr(contact, field) is not None and field not in meta:
            lost.append(field)
    for field in ("note", "birth_date"):
        if getattr(contact, field) is not None:
            lost.append(field)
    if contact.groups:
        lost.append("groups")
    if contact.gdpr:
        lost.append("gdpr")
    if len(contact.ship_to) > 1:
        lost.append("ship_to[1:]")
    if contact.ship_to:
        first = contact.ship_to[0]
        if first.email is not None:
            lost.append("ship_to[0].email")
        if first.default:
            lost.append("ship_to[0].default")
    return tuple(lost)


def storable(contact: Contact, mapping: WooCommerceMapping = DEFAULT_MAPPING) -> Contact:
    """`contact` as WooCommerce would give it back: the fields it cannot hold cleared."""
    meta = mapping.meta_fields()
    cleared: dict[str, Any] = {f: None for f in ("ico", "dic", "ic_dph", "ext_id", "mobile") if f not in meta}
    ship_to: tuple[ShipTo, ...] = ()
    if contact.ship_to:
        ship_to = (dataclasses.replace(contact.ship_to[0], email=None, default=False),)
        if ship_to[0] == ShipTo():
            ship_to = ()
    return contact.replace(**cleared, note=None, birth_date=None, groups=(), gdpr=(), ship_to=ship_to)


# -- encoding ---------------------------------------------------------------------------------


def _billing(contact: Contact) -> dict[str, str]:
    first, last = split_name(contact.name)
    billing = {
        "first_name": first,
        "last_name": last,
        "company": contact.company or "",
        "address_1": contact.street or "",
        "address_2": "",
        "city": contact.city or "",
        "postcode": contact.zip or "",
        "country": contact.country or "",
        "phone": contact.phone or "",
    }
    if contact.email is not None:
        # WordPress validates format=email on billing.email and refuses "" (is_email), so
        # an absent address is left out rather than sent empty.
        billing["email"] = contact.email
    return billing


def _shipping(contact: Contact) -> dict[str, str]:
    ship = contact.ship_to[0] if contact.ship_to else ShipTo()
    first, last = split_name(ship.name)
    return {
        "first_name": first,
        "last_name": last,
        "company": ship.company or "",
        "address_1": ship.street or "",
        "address_2": "",
        "city": ship.city or "",
        "postcode": ship.zip or "",
        "country": ship.country or "",
        "phone": ship.phone or "",
    }


def _meta(contact: Contact, mapping: WooCommerceMapping) -> list[dict[str, Any]]:
    # Upserted by key (WC_REST_Customers_V2_Controller::update_customer_meta_fields), so an
    # absent value is written as "" to clear a value set before.
    return [{"key": key, "value": getattr(contact, field) or ""} for field, key in mapping.meta_fields().items()]


def encode_customer(
    contact: Contact,
    *,
    mapping: WooCommerceMapping = DEFAULT_MAPPING,
    username: str | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """The body of `POST /customers` or `PUT /customers/{id}` (a full set of mapped fields).

    Raises SchemaViolation naming the record (`contact.id`, else "new") and the field.
    """
    record = contact.id or "new"
    first, last = split_name(contact.name)
    body: dict[str, Any] = {"first_name": first, "last_name": last}
    if contact.email is not None:
        body["email"] = contact.email
    if username is not None:
        body["username"] = username
    if password is not None:
        body["password"] = password
    body["billing"] = _billing(contact)
    body["shipping"] = _shipping(contact)
    meta = _meta(contact, mapping)
    if meta:
        body["meta_data"] = meta
    check(PLATFORM, "customer-write", body, record=record, what="customer write")
    return body


def encode_batch(
    create: Sequence[Contact] = (),
    update: Sequence[Contact] = (),
    delete: Sequence[int | str] = (),
    *,
    mapping: WooCommerceMapping = DEFAULT_MAPPING,
) -> dict[str, Any]:
    """The body of `POST /customers/batch`; each contact to update carries its WooCommerce id.

    More than MAX_BATCH_ITEMS items in all is refused (BadData, field "batch") before
    anything is sent: WooCommerce would answer 413 for the whole request.
    """
    total = len(create) + len(update) + len(delete)
    if total > MAX_BATCH_ITEMS:
        raise BadData(f"a batch holds at most {MAX_BATCH_ITEMS} items, not {total}", field="batch")
    body: dict[str, Any] = {}
    if create:
        body["create"] = [encode_customer(c, mapping=mapping) for c in create]
    if update:
        items = []
        for contact in update:
            if contact.id is None or not str(contact.id).isdigit():
                raise BadData("an update needs the customer's WooCommerce id", record=contact.id, field="id")
            items.append({"id": int(contact.id), **encode_customer(contact, mapping=mapping)})
        body["update"] = items
    if delete:
        ids = []
        for value in delete:
            if not str(value).isdigit():
                raise BadData("a delete needs a WooCommerce id", record=str(value), field="id")
            ids.append(int(value))
        body["delete"] = ids
    check(PLATFORM, "customer-batch", body, record=None, what="batch")
    return body


# -- decoding ---------------------------------------------------------------------------------


def _record_of(data: Any) -> str | None:
    if isinstance(data, Mapping) and isinstance(data.get("id"), int) and not isinstance(data.get("id"), bool):
        return str(data["id"])
    return None


def _country(value: str | None, *, field: str, record: str | None) -> str | None:
    if value is None:
        return None
    upper = value.upper()
    if len(upper) != 2 or not upper.isascii() or not upper.isalpha():
        raise InvalidContact(
            f"record {record or '?'}: field {field!r} is not an ISO 3166 alpha-2 code", record=record, field=field
        )
    return upper


def _street(address: Mapping[str, Any]) -> str | None:
    # The canonical contact has one street line: a second line is kept after a comma.
    return ", ".join(p for p in (_text(address.get("address_1")), _text(address.get("address_2"))) if p) or None


def decode_customer(data: Any, *, mapping: WooCommerceMapping = DEFAULT_MAPPING) -> WooCustomer:
    """One customer from its JSON (as GET returns it); SchemaViolation/InvalidContact naming
    the record (the WooCommerce id) and the field when it does not fit."""
    record = _record_of(data)
    check(PLATFORM, "customer", data, record=record, what="customer")
    billing: Mapping[str, Any] = data["billing"]
    shipping: Mapping[str, Any] = data["shipping"]
    meta_values: dict[str, Any] = {}
    for item in data["meta_data"]:
        meta_values.setdefault(item["key"], item["value"])
    fields: dict[str, Any] = {}
    for field, key in mapping.meta_fields().items():
        value = meta_values.get(key)
        if value is not None and not isinstance(value, (str, int)):
            raise InvalidContact(
                f"record {record}: meta_data {key!r} must be a string", record=record, field=f"meta_data.{key}"
            )
        fields[field] = _text(value)
    name = join_name(_text(billing.get("first_name")), _text(billing.get("last_name"))) or join_name(
        _text(data.get("first_name")), _text(data.get("last_name"))
    )
    ship = ShipTo(
        company=_text(shipping.get("company")),
        name=join_name(_text(shipping.get("first_name")), _text(shipping.get("last_name"))),
        street=_street(shipping),
        city=_text(shipping.get("city")),
        zip=_text(shipping.get("postcode")),
        country=_country(_text(shipping.get("country")), field="shipping.country", record=record),
        phone=_text(shipping.get("phone")),
    )
    contact = Contact(
        id=record,
        company=_text(billing.get("company")),
        name=name,
        email=_text(data.get("email")) or _text(billing.get("email")),
        phone=_text(billing.get("phone")),
        street=_street(billing),
        city=_text(billing.get("city")),
        zip=_text(billing.get("postcode")),
        country=_country(_text(billing.get("country")), field="billing.country", record=record),
        ship_to=(ship,) if ship != ShipTo() else (),
        **fields,
    )
    known = set(mapping.meta_fields().values())
    others = tuple((item["key"], item["value"]) for item in data["meta_data"] if item["key"] not in known)
    return WooCustomer(
        contact=contact,
        role=data["role"],
        username=data["username"],
        date_modified_gmt=data.get("date_modified_gmt"),
        meta=others,
    )


def decode_customers(
    items: Iterable[Any], *, mapping: WooCommerceMapping = DEFAULT_MAPPING
) -> list[RecordResult[WooCustomer]]:
    """A page of customers (GET /customers): one result per item, a bad one set aside with its
    error while the others decode."""
    results: list[RecordResult[WooCustomer]] = []
    for item in items:
        try:
            customer = decode_customer(item, mapping=mapping)
        except BadData as exc:
            results.append(RecordResult(exc.record or _record_of(item), error=exc))
            continue
        results.append(RecordResult(str(customer.id), value=customer))
    return results


@dataclasses.dataclass(frozen=True)
class WooBatchResult:
    """One item of a batch answer: the customer, or WooCommerce's error code and message."""

    kind: str  # "create" | "update" | "delete"
    index: int
    id: int | None
    customer: WooCustomer | None = None
    code: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.code is None


def decode_batch_answer(data: Any, *, mapping: WooCommerceMapping = DEFAULT_MAPPING) -> list[WooBatchResult]:
    """The answer of POST /customers/batch, one result per item in the order sent."""
    check(PLATFORM, "customer-batch-answer", data, record=None, what="batch answer")
    results: list[WooBatchResult] = []
    for kind in ("create", "update", "delete"):
        for index, item in enumerate(data.get(kind, [])):
            if "error" in item:
                error = item["error"]
                results.append(
                    WooBatchResult(kind, index, item["id"] or None, code=error["code"], message=error["message"])
                )
                continue
            customer = decode_customer(item, mapping=mapping)
            results.append(WooBatchResult(kind, index, customer.id, customer=customer))
    return results


__all__ = [
    "DEFAULT_MAPPING",
    "MAX_BATCH_ITEMS",
    "MAX_PER_PAGE",
    "RecordResult",
    "WooBatchResult",
    "WooCommerceMapping",
    "WooCustomer",
    "decode_batch_answer",
    "decode_customer",
    "decode_customers",
    "encode_batch",
    "encode_customer",
    "join_name",
    "split_name",
    "storable",
    "unheld_fields",
]
