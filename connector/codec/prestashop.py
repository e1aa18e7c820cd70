"""PrestaShop webservice XML (schemas/prestashop) to and from the canonical contact.

Owns the mapping of a PrestaShop customer and its addresses to a `Contact` and back, the
documents for POST / PUT / PATCH, and the merge that keeps a full PUT from wiping fields the
connector does not own. Every document is checked against the schema when read and when
built; a value PrestaShop's validators would refuse is refused here first, naming the
record and the field, never the value.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from lxml import etree

from connector._paths import schemas_dir
from connector.codec import prestashop_validate as rules
from connector.codec._xml import load_schema, parse_bytes, validate
from connector.errors import BadData, FieldTooLong, InvalidContact, MalformedXML, SchemaViolation
from connector.model import Contact, ShipTo

XLINK = "http://www.w3.org/1999/xlink"
CONTENT_TYPE = "text/xml; charset=utf-8"
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
DEFAULT_CUSTOMER_GROUP = "3"  # PS_CUSTOMER_GROUP of a fresh install

# Fields the shop fills itself on a create; sending them in a POST is pointless (add() sets
# secure_key, last_passwd_gen and both dates) and `id` is refused outright (400 code 91).
_SHOP_SET_ON_CREATE = frozenset({"id", "secure_key", "last_passwd_gen", "date_add", "date_upd"})

# Customer fields the connector owns (the rest, e.g. note, birthday, newsletter, optin,
# groups, passwd, secure_key, are the merchant's or the shopper's and survive a full PUT).
CUSTOMER_OWNED: tuple[str, ...] = ("firstname", "lastname", "email", "company")
# Address fields the connector owns; alias, address2, other, id_state stay as they are.
ADDRESS_OWNED: tuple[str, ...] = (
    "company", "firstname", "lastname", "address1", "postcode", "city", "id_country", "phone", "phone_mobile",
)  # fmt: skip

# The stricter of the supported versions' limits (1.7 address names 32, company 64; §1).
CUSTOMER_LIMITS: dict[str, int] = {"firstname": 255, "lastname": 255, "email": 255, "company": 255, "siret": 255}
ADDRESS_LIMITS: dict[str, int] = {
    "alias": 32, "company": 64, "firstname": 32, "lastname": 32, "vat_number": 32, "address1": 128,
    "postcode": 12, "city": 64, "phone": 32, "phone_mobile": 32, "dni": 16,
}  # fmt: skip

# Characters XML 1.0 cannot carry at all.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class UnacceptableValue(BadData):
    """A value PrestaShop's own validators would refuse (isName, isCustomerName, isEmail, …);
    the message names the record and the field and the validator, never the value."""


def schema() -> etree.XMLSchema:
    """The compiled PrestaShop schema (compiled once per process)."""
    return load_schema(str(schemas_dir() / "prestashop" / "prestashop.xsd"))


# -- the shop's records -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ShopCustomer:
    """A customer as the shop holds it: every field's text as read (in the shop's order) and
    its groups (`associations/groups`; None when the answer did not carry them)."""

    fields: Mapping[str, str]
    groups: tuple[str, ...] | None = None

    @property
    def id(self) -> str | None:
        return self.fields.get("id") or None

    @property
    def date_upd(self) -> str | None:
        return self.fields.get("date_upd") or None

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


@dataclasses.dataclass(frozen=True)
class ShopAddress:
    """An address as the shop holds it (every field's text as read)."""

    fields: Mapping[str, str]

    @property
    def id(self) -> str | None:
        return self.fields.get("id") or None

    @property
    def customer_id(self) -> str | None:
        return self.fields.get("id_customer") or None

    @property
    def deleted(self) -> bool:
        return self.fields.get("deleted") == "1"

    @property
    def date_upd(self) -> str | None:
        return self.fields.get("date_upd") or None

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


@dataclasses.dataclass(frozen=True)
class ShopError:
    """One `<error>` of an answer: PrestaShop's numeric code (None when absent) and message."""

    code: int | None
    message: str


@dataclasses.dataclass(frozen=True)
class CountryTable:
    """The shop's countries: numeric `id_country` <-> ISO 3166 alpha-2 `iso_code`."""

    iso_by_id: Mapping[str, str]

    def iso(self, country_id: str) -> str | None:
        return self.iso_by_id.get(country_id)

    def id_for(self, iso_code: str) -> str | None:
        wanted = iso_code.upper()
        for country_id, iso in self.iso_by_id.items():
            if iso.upper() == wanted:
                return country_id
        return None


@dataclasses.dataclass(frozen=True)
class PrestaShopMapping:
    """Where the Czech and Slovak company ids live, and the aliases of new addresses.

    `ico_field`: the billing address's `dni` (default) or the customer's `siret`; `dic_field`:
    the billing address's `vat_number` (default) or None (not mapped). `ic_dph_field`: the
    Slovak IČ DPH, the billing address's `vat_number` instead of DIČ when set so.
    """

    ico_field: Literal["dni", "siret"] | None = "dni"
    dic_field: Literal["vat_number"] | None = "vat_number"
    ic_dph_field: Literal["vat_number"] | None = None
    billing_alias: str = "Billing"
    ship_to_alias: str = "Delivery"
    default_group: str = DEFAULT_CUSTOMER_GROUP

    def __post_init__(self) -> None:
        if self.dic_field is not None and self.ic_dph_field is not None:
            raise ValueError("DIČ and IČ DPH cannot both be kept in the address's vat_number")


DEFAULT_MAPPING = PrestaShopMapping()


@dataclasses.dataclass(frozen=True)
class AddressWrite:
    """One address write of a contact: create (no id), update (full record), or delete."""

    action: Literal["create", "update", "delete"]
    address: ShopAddress
    role: str  # "billing" or "ship_to[i]": which part of the contact it carries


@dataclasses.dataclass(frozen=True)
class ContactWrite:
    """What to send for one contact: the full customer record (POST when it has no id, else PUT)
    and its address writes, billing first. Address creates need the customer's id: send the
    customer first and set `id_customer` with `ContactWrite.for_customer`."""

    customer: ShopCustomer
    addresses: tuple[AddressWrite, ...]

    def for_customer(self, customer_id: str) -> ContactWrite:
        """The same writes with every address attached to `customer_id`."""
        return ContactWrite(
            self.customer,
            tuple(
                AddressWrite(w.action, ShopAddress({**w.address.fields, "id_customer": customer_id}), w.role)
                for w in self.addresses
            ),
        )


# -- reading ------------------------------------------------------------------------------------


_SAFE_QUOTED = re.compile(r"'([^']*)'")
_KEEP_QUOTED = frozenset({"maxLength", "minLength", "pattern", "enumeration", "length"})


def _safe_reason(message: str) -> str:
    """libxml2's message without the offending value (it quotes values, which may be personal
    data): element names and facet names stay, every other quoted text becomes '…'."""
    head, sep, rest = message.partition(":")
    if not sep:
        return _SAFE_QUOTED.sub(lambda m: m.group(0) if m.group(1) in _KEEP_QUOTED else "'…'", message)
    return head + sep + _SAFE_QUOTED.sub(lambda m: m.group(0) if m.group(1) in _KEEP_QUOTED else "'…'", rest)


_RECORD_NODES = frozenset({"customer", "address", "country"})


def _record_element(element: etree._Element) -> etree._Element | None:
    node: etree._Element | None = element
    while node is not None:
        if etree.QName(node).localname in _RECORD_NODES:
            return node
        node = node.getparent()
    return None


def _record_id(record: etree._Element | None) -> str | None:
    if record is None:
        return None
    child = record.find("id")
    text = (child.text or "").strip() if child is not None else ""
    return text or record.get("id") or None


def _field_of(element: etree._Element, record: etree._Element | None) -> str | None:
    """The record's field an element belongs to: 'email', 'associations/groups/group/id'."""
    if record is None or element is record:
        return None
    parts: list[str] = []
    node: etree._Element | None = element
    while node is not None and node is not record:
        parts.append(etree.QName(node).localname)
        node = node.getparent()
    return "/".join(reversed(parts))


def _strict_validate(root: etree._Element, *, what: str) -> None:
    """Validate; a violation names the record's id and the field, without the value."""
    compiled = schema()
    try:
        validate(root, compiled, what=what)
    except SchemaViolation:
        first = compiled.error_log[0] if compiled.error_log else None
        if first is None:
            raise SchemaViolation(f"{what}: does not match the PrestaShop schema") from None
        located = root.getroottree().xpath(first.path) if first.path else []
        element = located[0] if located and isinstance(located[0], etree._Element) else None
        record = _record_element(element) if element is not None else None
        record_id = _record_id(record)
        field = _field_of(element, record) if element is not None else None
        kind = etree.QName(record).localname if record is not None else "document"
        where = f"{kind} {record_id or '(new)'}" + (f", field {field!r}" if field else "")
        raise SchemaViolation(
            f"{what}: {where}: {_safe_reason(first.message)}", record=record_id, field=field
        ) from None


def _parse(data: bytes, *, what: str) -> etree._Element:
    root = parse_bytes(data, what=what, max_bytes=MAX_DOCUMENT_BYTES).getroot()
    if root.tag != "prestashop":
        raise SchemaViolation(f"{what}: expected a <prestashop> document, got <{etree.QName(root).localname}>")
    return root


def _fields(element: etree._Element) -> dict[str, str]:
    """A record's plain fields, in document order (associations and translations apart)."""
    out: dict[str, str] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = etree.QName(child).localname
        if name == "associations" or len(child):
            continue
        out[name] = child.text or ""
    return out


def _customer(element: etree._Element) -> ShopCustomer:
    groups: tuple[str, ...] | None = None
    node = element.find("associations/groups")
    if node is not None:
        groups = tuple((g.findtext("id") or "").strip() for g in node.findall("group"))
    fields = _fields(element)
    if "id" not in fields and element.get("id"):
        fields["id"] = element.get("id") or ""
    return ShopCustomer(fields, groups)


def _address(element: etree._Element) -> ShopAddress:
    fields = _fields(element)
    if "id" not in fields and element.get("id"):
        fields["id"] = element.get("id") or ""
    return ShopAddress(fields)


def _records(
    data: bytes, *, container: str, node: str, what: str
) -> list[tuple[etree._Element | None, BadData | None]]:
    """Each record of a list answer with its own schema verdict: one bad record is reported as
    a BadData naming its id and field, and stops nothing else."""
    root = _parse(data, what=what)
    try:
        _strict_validate(root, what=what)
    except SchemaViolation as whole:
        box = root.find(container)
        if box is None or len(root) != 1:
            raise whole from None
        results: list[tuple[etree._Element | None, BadData | None]] = []
        for element in box:
            if not isinstance(element.tag, str):
                continue
            single = etree.Element("prestashop", nsmap={"xlink": XLINK})
            wrapper = etree.SubElement(single, container)
            wrapper.append(_copy(element))
            try:
                _strict_validate(single, what=what)
            except SchemaViolation as exc:
                results.append((None, exc))
                continue
            results.append((element, None))
        return results
    box = root.find(container)
    if box is None:
        raise SchemaViolation(f"{what}: expected <{container}>, got <{etree.QName(root[0]).localname}>")
    return [(element, None) for element in box if isinstance(element.tag, str) and element.tag == node]


def _copy(element: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(element))


def decode_customers(data: bytes) -> list[ShopCustomer | BadData]:
    """A `GET /api/customers?display=full|[…]` answer: each customer, or the BadData of one
    that fails the schema (naming its id and field)."""
    out: list[ShopCustomer | BadData] = []
    for element, error in _records(data, container="customers", node="customer", what="customers"):
        out.append(error if error is not None else _customer(element))
    return out


def decode_addresses(data: bytes) -> list[ShopAddress | BadData]:
    """A `GET /api/addresses?display=full|[…]` answer, record by record like decode_customers."""
    out: list[ShopAddress | BadData] = []
    for element, error in _records(data, container="addresses", node="address", what="addresses"):
        out.append(error if error is not None else _address(element))
    return out


def decode_ids(data: bytes) -> list[str]:
    """The ids of a `display=minimum` list (customers, addresses or countries)."""
    root = _parse(data, what="id list")
    _strict_validate(root, what="id list")
    if len(root) != 1 or root[0].tag not in ("customers", "addresses", "countries"):
        raise SchemaViolation("id list: expected <customers>, <addresses> or <countries>")
    return [element.get("id") or (element.findtext("id") or "") for element in root[0]]


def decode_customer(data: bytes) -> ShopCustomer:
    """One customer: `GET /api/customers/{id}`, or the answer to a POST / PUT / PATCH."""
    root = _parse(data, what="customer")
    _strict_validate(root, what="customer")
    element = root.find("customer")
    if element is None or len(root) != 1:
        raise SchemaViolation("customer: expected one <customer>")
    return _customer(element)


def decode_address(data: bytes) -> ShopAddress:
    """One address: `GET /api/addresses/{id}`, or the answer to a write."""
    root = _parse(data, what="address")
    _strict_validate(root, what="address")
    element = root.find("address")
    if element is None or len(root) != 1:
        raise SchemaViolation("address: expected one <address>")
    return _address(element)


def decode_countries(data: bytes) -> CountryTable:
    """`GET /api/countries?display=[id,iso_code]` (or full) as an id <-> ISO table."""
    root = _parse(data, what="countries")
    _strict_validate(root, what="countries")
    box = root.find("countries")
    if box is None:
        raise SchemaViolation("countries: expected <countries>")
    table: dict[str, str] = {}
    for element in box:
        country_id = (element.findtext("id") or element.get("id") or "").strip()
        iso = (element.findtext("iso_code") or "").strip().upper()
        if not country_id or not iso:
            raise SchemaViolation(
                "countries: every country needs id and iso_code (ask for display=[id,iso_code])",
                record=country_id or None,
                field="iso_code" if country_id else "id",
            )
        table[country_id] = iso
    return CountryTable(table)


def decode_errors(data: bytes) -> list[ShopError]:
    """The `<errors>` of a refusal, in order (e.g. [140, 46] for an e-mail already used)."""
    root = _parse(data, what="error answer")
    _strict_validate(root, what="error answer")
    box = root.find("errors")
    if box is None:
        raise SchemaViolation("error answer: expected <errors>")
    out = []
    for element in box.findall("error"):
        code = (element.findtext("code") or "").strip()
        out.append(ShopError(int(code) if code else None, element.findtext("message") or ""))
    return out


def looks_like_errors(data: bytes) -> bool:
    """Whether a body is PrestaShop's `<errors>` answer (so a caller can decode it as such)."""
    try:
        root = _parse(data, what="answer")
    except (MalformedXML, SchemaViolation):
        return False
    return len(root) == 1 and root[0].tag == "errors"


# -- shop records -> Contact ------------------------------------------------------------------


def _blank_to_none(value: str) -> str | None:
    value = value.strip()
    return value or None


def _person(firstname: str, lastname: str) -> str | None:
    return " ".join(part for part in (firstname.strip(), lastname.strip()) if part) or None


def customer_addresses(customer: ShopCustomer, addresses: Iterable[ShopAddress]) -> list[ShopAddress]:
    """The customer's live addresses, oldest first: the first is billing, the others ship-to."""
    mine = [a for a in addresses if a.customer_id == customer.id and not a.deleted]
    return sorted(mine, key=lambda a: int(a.id or 0))


def to_contact(
    customer: ShopCustomer,
    addresses: Iterable[ShopAddress],
    countries: CountryTable,
    mapping: PrestaShopMapping = DEFAULT_MAPPING,
) -> Contact:
    """The canonical contact of one customer (`id` = PrestaShop's id). The first address not
    deleted is the billing address, the others are ship-to; countries by `iso_code`.
    Raises BadData naming the customer and the field when a value cannot be mapped."""
    record = customer.id
    live = customer_addresses(customer, addresses)
    billing = live[0] if live else None

    def country_of(address: ShopAddress, field: str) -> str | None:
        country_id = address.get("id_country").strip()
        if country_id in ("", "0"):
            return None
        iso = countries.iso(country_id)
        if iso is None:
            raise BadData(
                f"customer {record}: {field}: id_country {country_id} is not among the shop's countries",
                record=record,
                field=field,
            )
        return iso

    data: dict[str, object] = {
        "id": record,
        "name": _person(customer.get("firstname"), customer.get("lastname")),
        "email": _blank_to_none(customer.get("email")),
        "company": _blank_to_none(billing.get("company") if billing else "") or _blank_to_none(customer.get("company")),
    }
    if billing is not None:
        data.update(
            phone=_blank_to_none(billing.get("phone")),
            mobile=_blank_to_none(billing.get("phone_mobile")),
            street=_blank_to_none(billing.get("address1")),
            city=_blank_to_none(billing.get("city")),
            zip=_blank_to_none(billing.get("postcode")),
            country=country_of(billing, "country"),
        )
        if mapping.dic_field == "vat_number":
            data["dic"] = _blank_to_none(billing.get("vat_number"))
        if mapping.ic_dph_field == "vat_number":
            data["ic_dph"] = _blank_to_none(billing.get("vat_number"))
        if mapping.ico_field == "dni":
            data["ico"] = _blank_to_none(billing.get("dni"))
    if mapping.ico_field == "siret":
        data["ico"] = _blank_to_none(customer.get("siret"))
    ship_to = []
    for i, address in enumerate(live[1:]):
        person = _person(address.get("firstname"), address.get("lastname"))
        ship_to.append(
            {
                "company": _blank_to_none(address.get("company")),
                # PrestaShop needs a name on every address; a ship-to without one of its own is
                # written with the customer's, and read back as "no name of its own" so that
                # the round trip converges.
                "name": None if person == data["name"] else person,
                "street": _blank_to_none(address.get("address1")),
                "city": _blank_to_none(address.get("city")),
                "zip": _blank_to_none(address.get("postcode")),
                "country": country_of(address, f"ship_to[{i}].country"),
                "phone": _blank_to_none(address.get("phone")) or _blank_to_none(address.get("phone_mobile")),
            }
        )
    data["ship_to"] = ship_to
    try:
        return Contact.from_dict(data, record=record)
    except InvalidContact as exc:
        raise InvalidContact(f"customer {record}: {exc}", record=record, field=exc.field) from None


def storable(content: Mapping[str, Any], mapping: PrestaShopMapping = DEFAULT_MAPPING) -> dict[str, Any]:
    """The content as the shop gives it back once written (`to_contact` of what
    `plan_contact_write` sends): no note, birth date, groups or consents (the customer's own
    fields are the merchant's, §1), the company ids only where the mapping keeps them, and
    delivery addresses without e-mail, default flag, or a name equal to the customer's."""
    contact = Contact.from_dict(dict(content))
    ship_to = tuple(
        ShipTo(
            company=s.company,
            name=None if (s.name or contact.name) == contact.name else s.name,
            street=s.street,
            city=s.city,
            zip=s.zip,
            country=s.country,
            phone=s.phone,
        )
        for s in contact.ship_to
    )
    vat_is_dic, vat_is_ic_dph = mapping.dic_field == "vat_number", mapping.ic_dph_field == "vat_number"
    return contact.replace(
        note=None,
        birth_date=None,
        groups=(),
        gdpr=(),
        ship_to=ship_to,
        ico=contact.ico if mapping.ico_field else None,
        dic=contact.dic if vat_is_dic else None,
        ic_dph=contact.ic_dph if vat_is_ic_dph else None,
    ).content()


# -- Contact -> shop records ------------------------------------------------------------------


def split_name(name: str | None, *, record: str | None, field: str) -> tuple[str, str]:
    """'Jana Nováková' -> ('Jana', 'Nováková'); PrestaShop needs both parts (firstname and
    lastname are required), so a one-word or missing name is refused naming the field."""
    parts = (name or "").split(None, 1)
    if len(parts) < 2:
        raise UnacceptableValue(
            f"record {record or '?'}: field {field!r}: PrestaShop needs a first and a last name",
            record=record,
            field=field,
        )
    return parts[0], parts[1].strip()


def _check(
    value: str,
    *,
    record: str | None,
    field: str,
    limit: int | None = None,
    validator: str | None = None,
) -> None:
    """Refuse what the shop would refuse: control characters, a length over the limit, a
    failing validator. The message names the field and the validator, never the value."""
    if _NOT_XML.search(value):
        raise UnacceptableValue(
            f"record {record or '?'}: field {field!r} holds a control character XML cannot carry",
            record=record,
            field=field,
        )
    if limit is not None and len(value) > limit:
        raise FieldTooLong(
            f"record {record or '?'}: field {field!r} is {len(value)} characters long; PrestaShop's limit is {limit}",
            record=record,
            field=field,
            limit=limit,
            length=len(value),
        )
    if validator is not None and value and value != "0" and not getattr(rules, validator)(value):
        label = validator.replace("_", " ")
        raise UnacceptableValue(
            f"record {record or '?'}: field {field!r} is refused by PrestaShop's {_php_name(validator)} ({label})",
            record=record,
            field=field,
        )


def _php_name(validator: str) -> str:
    words = validator.split("_")
    return words[0] + "".join(w.capitalize() for w in words[1:])


def customer_fields(
    contact: Contact, mapping: PrestaShopMapping = DEFAULT_MAPPING, *, record: str | None
) -> dict[str, str]:
    """The customer fields the connector owns, checked as PrestaShop would check them."""
    firstname, lastname = split_name(contact.name, record=record, field="name")
    if not contact.email:
        raise UnacceptableValue(
            f"record {record or '?'}: field 'email' is required by PrestaShop", record=record, field="email"
        )
    for value in (firstname, lastname):
        _check(value, record=record, field="name", limit=CUSTOMER_LIMITS["firstname"], validator="is_customer_name")
    _check(contact.email, record=record, field="email", limit=CUSTOMER_LIMITS["email"], validator="is_email")
    company = contact.company or ""
    _check(company, record=record, field="company", limit=CUSTOMER_LIMITS["company"], validator="is_generic_name")
    fields = {"firstname": firstname, "lastname": lastname, "email": contact.email, "company": company}
    if mapping.ico_field == "siret":
        _check(
            contact.ico or "", record=record, field="ico", limit=CUSTOMER_LIMITS["siret"], validator="is_generic_name"
        )
        fields["siret"] = contact.ico or ""
    return fields


def _address_fields(
    *,
    company: str | None,
    name: str | None,
    street: str | None,
    city: str | None,
    zip: str | None,
    country: str | None,
    phone: str | None,
    mobile: str | None,
    countries: CountryTable,
    record: str | None,
    prefix: str,
) -> dict[str, str]:
    def f(name_: str) -> str:
        return f"{prefix}{name_}"

    firstname, lastname = split_name(name, record=record, field=f("name"))
    for value in (firstname, lastname):
        # Address names use isName, which refuses digits (§1, classes/Address.php).
        _check(value, record=record, field=f("name"), limit=ADDRESS_LIMITS["firstname"], validator="is_name")
    for present, field in ((street, "street"), (city, "city"), (country, "country")):
        if not present:
            raise UnacceptableValue(
                f"record {record or '?'}: field {f(field)!r} is required for a PrestaShop address "
                "(address1, city and id_country are required)",
                record=record,
                field=f(field),
            )
    assert street is not None and city is not None and country is not None
    country_id = countries.id_for(country)
    if country_id is None:
        raise UnacceptableValue(
            f"record {record or '?'}: field {f('country')!r}: the shop has no country with this iso_code",
            record=record,
            field=f("country"),
        )
    _check(
        company or "", record=record, field=f("company"), limit=ADDRESS_LIMITS["company"], validator="is_generic_name"
    )
    _check(street, record=record, field=f("street"), limit=ADDRESS_LIMITS["address1"], validator="is_address")
    _check(city, record=record, field=f("city"), limit=ADDRESS_LIMITS["city"], validator="is_city_name")
    _check(zip or "", record=record, field=f("zip"), limit=ADDRESS_LIMITS["postcode"], validator="is_post_code")
    _check(phone or "", record=record, field=f("phone"), limit=ADDRESS_LIMITS["phone"], validator="is_phone_number")
    _check(
        mobile or "",
        record=record,
        field=f("mobile"),
        limit=ADDRESS_LIMITS["phone_mobile"],
        validator="is_phone_number",
    )
    return {
        "company": company or "",
        "firstname": firstname,
        "lastname": lastname,
        "address1": street,
        "postcode": zip or "",
        "city": city,
        "id_country": country_id,
        "phone": phone or "",
        "phone_mobile": mobile or "",
    }


def billing_fields(
    contact: Contact,
    countries: CountryTable,
    mapping: PrestaShopMapping = DEFAULT_MAPPING,
    *,
    record: str | None,
) -> dict[str, str] | None:
    """The billing address fields the connector owns, or None when the contact has no address.

    PrestaShop keeps phone numbers and the company ids on an address, so a contact that has
    them but no street, city and country is refused naming the missing field.
    """
    has_address = any((contact.street, contact.city, contact.zip))
    carried = [
        f for f in ("phone", "mobile", "ico", "dic", "ic_dph") if getattr(contact, f) and _on_address(f, mapping)
    ]
    if not has_address and not carried:
        return None
    fields = _address_fields(
        company=contact.company,
        name=contact.name,
        street=contact.street,
        city=contact.city,
        zip=contact.zip,
        country=contact.country,
        phone=contact.phone,
        mobile=contact.mobile,
        countries=countries,
        record=record,
        prefix="",
    )
    if mapping.ico_field == "dni":
        _check(contact.ico or "", record=record, field="ico", limit=ADDRESS_LIMITS["dni"], validator="is_dni_lite")
        fields["dni"] = contact.ico or ""
    vat = contact.dic if mapping.dic_field == "vat_number" else contact.ic_dph if mapping.ic_dph_field else None
    if mapping.dic_field or mapping.ic_dph_field:
        field = "dic" if mapping.dic_field else "ic_dph"
        _check(vat or "", record=record, field=field, limit=ADDRESS_LIMITS["vat_number"], validator="is_generic_name")
        fields["vat_number"] = vat or ""
    return fields


def _on_address(field: str, mapping: PrestaShopMapping) -> bool:
    if field in ("phone", "mobile"):
        return True
    if field == "ico":
        return mapping.ico_field == "dni"
    if field == "dic":
        return mapping.dic_field == "vat_number"
    return mapping.ic_dph_field == "vat_number"


def ship_to_fields(
    ship: ShipTo, contact: Contact, countries: CountryTable, *, record: str | None, index: int
) -> dict[str, str]:
    """A ship-to address's owned fields; without a name of its own it carries the contact's."""
    return _address_fields(
        company=ship.company,
        name=ship.name or contact.name,
        street=ship.street,
        city=ship.city,
        zip=ship.zip,
        country=ship.country,
        phone=ship.phone,
        mobile=None,
        countries=countries,
        record=record,
        prefix=f"ship_to[{index}].",
    )


def merge_customer(base: ShopCustomer, owned: Mapping[str, str]) -> ShopCustomer:
    """`base` (a full record read from the shop) with the connector's fields replaced.

    Everything else is echoed as read, so a full PUT changes nothing the connector does not
    own: note, birthday, newsletter, optin, groups, secure_key, and passwd (the stored hash
    sent back is left as it is by setWsPasswd, §1).
    """
    return ShopCustomer({**base.fields, **owned}, base.groups)


def merge_address(base: ShopAddress, owned: Mapping[str, str]) -> ShopAddress:
    """`base` (a full address read from the shop) with the connector's fields replaced."""
    return ShopAddress({**base.fields, **owned})


def new_customer(
    owned: Mapping[str, str], mapping: PrestaShopMapping = DEFAULT_MAPPING, *, password: str | None = None
) -> ShopCustomer:
    """A customer record for a POST. A POST sets every field it leaves out to NULL (0 for
    `active`, §1 / saveEntityFromXml), so `active` and the default group are sent; `passwd`
    is required: a random one unless given (the shopper uses "forgot password")."""
    fields = {
        "passwd": password or secrets.token_urlsafe(24),
        **owned,
        "active": "1",
        "newsletter": "0",
        "optin": "0",
        "id_default_group": mapping.default_group,
    }
    return ShopCustomer(fields, (mapping.default_group,))


def plan_contact_write(
    contact: Contact,
    countries: CountryTable,
    mapping: PrestaShopMapping = DEFAULT_MAPPING,
    *,
    current: ShopCustomer | None = None,
    current_addresses: Sequence[ShopAddress] = (),
    password: str | None = None,
    record: str | None = None,
) -> ContactWrite:
    """The writes that make the shop hold `contact`: the full customer (merged into `current`
    when it exists, new otherwise) and one write per address: the billing address first,
    then the ship-to addresses, paired with the customer's live addresses in id order;
    live addresses left over are deleted. Raises BadData / FieldTooLong naming the record
    and the field before anything is sent."""
    record = record or (current.id if current is not None else None) or contact.id
    owned = customer_fields(contact, mapping, record=record)
    customer = (
        merge_customer(current, owned) if current is not None else new_customer(owned, mapping, password=password)
    )
    wanted: list[tuple[str, dict[str, str]]] = []
    billing = billing_fields(contact, countries, mapping, record=record)
    if billing is not None:
        wanted.append(("billing", billing))
    elif contact.ship_to:
        raise UnacceptableValue(
            f"record {record or '?'}: field 'street': ship-to addresses need a billing address first "
            "(PrestaShop's first address is the billing one)",
            record=record,
            field="street",
        )
    for i, ship in enumerate(contact.ship_to):
        wanted.append((f"ship_to[{i}]", ship_to_fields(ship, contact, countries, record=record, index=i)))
    live = customer_addresses(current, current_addresses) if current is not None else []
    writes: list[AddressWrite] = []
    for i, (role, fields) in enumerate(wanted):
        if i < len(live):
            writes.append(AddressWrite("update", merge_address(live[i], fields), role))
        else:
            alias = mapping.billing_alias if role == "billing" else f"{mapping.ship_to_alias} {i}"
            _check(alias, record=record, field="alias", limit=ADDRESS_LIMITS["alias"], validator="is_generic_name")
            new = {"alias": alias, **fields, "id_customer": customer.id or ""}
            writes.append(AddressWrite("create", ShopAddress(new), role))
    for address in live[len(wanted) :]:
        writes.append(AddressWrite("delete", address, "extra"))
    return ContactWrite(customer, tuple(writes))


# -- writing ----------------------------------------------------------------------------------


def _value(element: etree._Element, value: str) -> None:
    # No whitespace around values: PrestaShop stores a value tag's text as sent (§1,
    # getting-started.md's warning), so the document is never pretty-printed.
    element.text = value or None


def _serialize(root: etree._Element, *, what: str) -> bytes:
    _strict_validate(root, what=what)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _customer_element(customer: ShopCustomer, *, skip: frozenset[str] = frozenset()) -> etree._Element:
    element = etree.Element("customer")
    for name, value in customer.fields.items():
        if name not in skip:
            _value(etree.SubElement(element, name), value)
    if customer.groups is not None:
        groups = etree.SubElement(etree.SubElement(element, "associations"), "groups")
        for group in customer.groups:
            _value(etree.SubElement(etree.SubElement(groups, "group"), "id"), group)
    return element


def _address_element(address: ShopAddress, *, skip: frozenset[str] = frozenset()) -> etree._Element:
    element = etree.Element("address")
    for name, value in address.fields.items():
        if name not in skip:
            _value(etree.SubElement(element, name), value)
    return element


def _envelope(*records: etree._Element) -> etree._Element:
    root = etree.Element("prestashop", nsmap={"xlink": XLINK})
    root.extend(records)
    return root


def encode_customer_post(*customers: ShopCustomer) -> bytes:
    """The body of `POST /api/customers` (one or more new customers; `id` is never sent)."""
    if any(c.id for c in customers):
        raise BadData("a POST must not carry an id (PrestaShop answers 400 code 91)", field="id")
    return _serialize(
        _envelope(*(_customer_element(c, skip=_SHOP_SET_ON_CREATE) for c in customers)), what="customer POST"
    )


def encode_customer_put(customer: ShopCustomer) -> bytes:
    """The body of `PUT /api/customers/{id}`: the whole record, as PUT replaces it (a field
    left out is wiped, `passwd` is required every time, §1)."""
    if not customer.id:
        raise BadData("a PUT needs the customer's id (PrestaShop answers 400 code 90)", field="id")
    if not customer.get("passwd"):
        raise BadData(
            f"customer {customer.id}: a PUT needs passwd (send the stored hash back)",
            record=customer.id,
            field="passwd",
        )
    return _serialize(_envelope(_customer_element(customer)), what="customer PUT")


def encode_customer_patch(customer_id: str, fields: Mapping[str, str]) -> bytes:
    """The body of `PATCH /api/customers/{id}` (PrestaShop 8+): the id and the changed fields."""
    return _serialize(_envelope(_customer_element(ShopCustomer({"id": customer_id, **fields}))), what="customer PATCH")


def encode_address_post(*addresses: ShopAddress) -> bytes:
    """The body of `POST /api/addresses`."""
    if any(a.id for a in addresses):
        raise BadData("a POST must not carry an id (PrestaShop answers 400 code 91)", field="id")
    return _serialize(
        _envelope(*(_address_element(a, skip=_SHOP_SET_ON_CREATE) for a in addresses)), what="address POST"
    )


def encode_address_put(address: ShopAddress) -> bytes:
    """The body of `PUT /api/addresses/{id}`: the whole address."""
    if not address.id:
        raise BadData("a PUT needs the address's id (PrestaShop answers 400 code 90)", field="id")
    return _serialize(_envelope(_address_element(address)), what="address PUT")


def encode_address_patch(address_id: str, fields: Mapping[str, str]) -> bytes:
    """The body of `PATCH /api/addresses/{id}` (PrestaShop 8+)."""
    return _serialize(_envelope(_address_element(ShopAddress({"id": address_id, **fields}))), what="address PATCH")


def changed_fields(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, str]:
    """The fields whose text differs: what a PATCH needs to carry."""
    return {name: value for name, value in after.items() if before.get(name, "") != value and name != "id"}
