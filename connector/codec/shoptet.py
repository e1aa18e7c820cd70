"""Shoptet REST customer JSON (schemas/shoptet, after Shoptet's OpenAPI) to and from the contact.

Owns the field mapping (docs/mapping.md, Shoptet) and what Shoptet cannot hold.
Every body is checked against its schema when built and when read; a record that fails is
refused with SchemaViolation/BadData naming the record (the guid) and the field, never the value.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

from connector.codec._jsonschema import RecordResult, check
from connector.errors import BadData, InvalidContact
from connector.model import Contact, ShipTo

PLATFORM = "shoptet"
# openapi.yaml getListOfCustomers: itemsPerPage default 20, max 1000; getLastCustomerChanges:
# default and max 20 (DefaultItemsPerPageParameter). A larger value is clamped, not refused.
MAX_LIST_PAGE = 1000
MAX_CHANGES_PAGE = 20

# A house number is the last word of the street when it starts with a digit ("Dlouhá 12/3a").
_HOUSE_NUMBER = re.compile(r"^(?P<street>.*\S) (?P<number>\d[0-9A-Za-z/\-]*)$")


@dataclasses.dataclass(frozen=True)
class ShoptetCustomer:
    """A customer as Shoptet answers it: the contact (`id` = the guid) plus the main account's
    guid (where e-mail and phone are written) and the change time the sync keeps."""

    contact: Contact
    account_guid: str | None
    change_time: str | None
    creation_time: str | None

    @property
    def guid(self) -> str:
        assert self.contact.id is not None
        return self.contact.id


@dataclasses.dataclass(frozen=True)
class ShoptetChange:
    """One entry of GET /api/customers/changes."""

    guid: str
    change_time: str
    change_type: str  # "edit" (creations too) or "delete"


def split_street(street: str | None) -> tuple[str | None, str | None]:
    """'Dlouhá 12/3' -> ('Dlouhá', '12/3'); no trailing number -> (street, None).

    Cut at one space, so that join_street(*split_street(x)) == x for every x.
    """
    if not street:
        return None, None
    match = _HOUSE_NUMBER.match(street)
    if match is None:
        return street, None
    return match["street"], match["number"]


def join_street(street: str | None, number: str | None) -> str | None:
    parts = [p for p in (street, number) if p]
    return " ".join(parts) or None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def _tax_ids(contact: Contact) -> tuple[str | None, str | None]:
    """(vatId, taxId). Shoptet's vatId is the VAT number (CZ DIČ, SK IČ DPH) and taxId the
    tax number (SK DIČ); "for Czech address, taxId must be the same as vatId, or left empty"
    (openapi.yaml billingAddressCustomer.taxId), so a Czech contact sends no taxId."""
    if contact.ic_dph is not None and contact.ic_dph != contact.dic and contact.country != "CZ":
        return contact.ic_dph, contact.dic
    return contact.dic or contact.ic_dph, None


# -- what Shoptet can hold --------------------------------------------------------------------


def unheld_fields(contact: Contact) -> tuple[str, ...]:
    """The canonical fields of `contact` that Shoptet would not keep (for the audit log)."""
    lost = [f for f in ("ext_id", "mobile") if getattr(contact, f) is not None]
    if contact.groups:
        lost.append("groups")  # customerGroupCode is a code of the shop's groups, not a free label
    if contact.gdpr:
        lost.append("gdpr")
    if contact.ship_to:
        lost.append("ship_to")  # written through /delivery-addresses, not by this codec
    if contact.ic_dph is not None and storable(contact).ic_dph is None and contact.ic_dph != contact.dic:
        lost.append("ic_dph")
    return tuple(lost)


def storable(contact: Contact) -> Contact:
    """`contact` as Shoptet would give it back after create/update by this codec."""
    vat, tax = _tax_ids(contact)
    dic, ic_dph = (tax, vat) if tax is not None else (vat, None)
    return contact.replace(ext_id=None, mobile=None, groups=(), gdpr=(), ship_to=(), dic=dic, ic_dph=ic_dph)


# -- encoding ---------------------------------------------------------------------------------


def _billing(contact: Contact, *, for_create: bool) -> dict[str, Any]:
    street, number = split_street(contact.street)
    vat, tax = _tax_ids(contact)
    values: dict[str, Any] = {
        "company": contact.company,
        "fullName": contact.name,
        "street": street,
        "houseNumber": number,
        "city": contact.city,
        "zip": contact.zip,
        "companyId": contact.ico,
        "vatId": vat,
        "taxId": tax,
    }
    if for_create:
        # Nothing to clear on a new customer: send only what is there.
        values = {k: v for k, v in values.items() if v is not None}
    # countryCode is a non-nullable string in billingAddressCustomer: it can be set, not cleared.
    if contact.country is not None:
        values["countryCode"] = contact.country
    return values


def _account(contact: Contact, *, for_create: bool) -> dict[str, Any]:
    values: dict[str, Any] = {"email": contact.email, "fullName": contact.name, "phone": contact.phone}
    if for_create:
        values = {k: v for k, v in values.items() if v is not None}
    elif values["email"] is None:
        del values["email"]  # an account always has an e-mail: it cannot be cleared
    return values


def encode_create(contact: Contact) -> dict[str, Any]:
    """The body of POST /api/customers (send `sendRegistrationEmail` as a query parameter)."""
    record = contact.id or "new"
    if contact.email is None:
        raise BadData(f"record {record}: Shoptet needs an e-mail to create a customer", record=record, field="email")
    data: dict[str, Any] = {"account": _account(contact, for_create=True)}
    billing = _billing(contact, for_create=True)
    if billing:
        data["billingAddress"] = billing
    if contact.note is not None:
        data["remark"] = contact.note
    if contact.birth_date is not None:
        data["birthDate"] = contact.birth_date
    body = {"data": data}
    check(PLATFORM, "customer-create", body, record=record, what="customer create")
    return body


def encode_customer_patch(contact: Contact) -> dict[str, Any]:
    """The body of PATCH /api/customers/{guid}: billing address, remark, birth date.

    E-mail and phone are not part of it: they go to the account (encode_account_patch).
    """
    record = contact.id or "?"
    body = {
        "data": {
            "billingAddress": _billing(contact, for_create=False),
            "remark": contact.note,
            "birthDate": contact.birth_date,
        }
    }
    check(PLATFORM, "customer-update", body, record=record, what="customer update")
    return body


def encode_account_patch(contact: Contact) -> dict[str, Any]:
    """The body of PATCH /api/customers/{guid}/accounts/{accountGuid}: e-mail, phone, name."""
    record = contact.id or "?"
    body = {"data": _account(contact, for_create=False)}
    check(PLATFORM, "account-update", body, record=record, what="account update")
    return body


# -- decoding ---------------------------------------------------------------------------------


def _record_of(data: Any) -> str | None:
    if isinstance(data, Mapping):
        inner = data.get("data")
        if isinstance(inner, Mapping) and isinstance(inner.get("customer"), Mapping):
            data = inner["customer"]
        guid = data.get("guid")
        if isinstance(guid, str) and guid:
            return guid
    return None


def _country(value: str | None, *, field: str, record: str | None) -> str | None:
    # Alpha-2 per the OpenAPI ("two-character ISO 3166-1 alpha-2"); secondary sources that
    # say alpha-3 are wrong (eshop-platforms.md §3, pitfall 3).
    if value is None:
        return None
    upper = value.upper()
    if len(upper) != 2 or not upper.isascii() or not upper.isalpha():
        raise InvalidContact(
            f"record {record or '?'}: field {field!r} is not an ISO 3166 alpha-2 code", record=record, field=field
        )
    return upper


def _customer_from(customer: Mapping[str, Any], record: str | None) -> ShoptetCustomer:
    billing: Mapping[str, Any] = customer["billingAddress"]
    accounts = customer["accounts"]
    main = next((a for a in accounts if a["mainAccount"]), accounts[0] if accounts else None)
    vat, tax = _text(billing.get("vatId")), _text(billing.get("taxId"))
    dic, ic_dph = (tax, vat) if tax is not None and tax != vat else (vat, None)
    ship_to = []
    for i, address in enumerate(customer["deliveryAddress"]):
        ship_to.append(
            ShipTo(
                company=_text(address.get("company")),
                name=_text(address.get("fullName")),
                street=join_street(_text(address.get("street")), _text(address.get("houseNumber"))),
                city=_text(address.get("city")),
                zip=_text(address.get("zip")),
                country=_country(
                    _text(address.get("countryCode")), field=f"deliveryAddress[{i}].countryCode", record=record
                ),
                default=bool(address.get("isDefault", False)),
            )
        )
    contact = Contact(
        id=record,
        company=_text(billing.get("company")),
        name=_text(billing.get("fullName")) or (_text(main.get("fullName")) if main else None),
        email=_text(main.get("email")) if main else None,
        phone=_text(main.get("phone")) if main else None,
        street=join_street(_text(billing.get("street")), _text(billing.get("houseNumber"))),
        city=_text(billing.get("city")),
        zip=_text(billing.get("zip")),
        country=_country(_text(billing.get("countryCode")), field="billingAddress.countryCode", record=record),
        ico=_text(billing.get("companyId")),
        dic=dic,
        ic_dph=ic_dph,
        note=_text(customer.get("remark")),
        birth_date=_text(customer.get("birthDate")),
        ship_to=tuple(ship_to),
    )
    return ShoptetCustomer(
        contact=contact,
        account_guid=main["guid"] if main else None,
        change_time=customer.get("changeTime"),
        creation_time=customer.get("creationTime"),
    )


def decode_customer(data: Any) -> ShoptetCustomer:
    """One customer from the answer of GET/PATCH /api/customers/{guid} or POST /api/customers
    (the whole envelope); SchemaViolation/InvalidContact naming the guid and the field."""
    record = _record_of(data)
    check(PLATFORM, "customer", data, record=record, what="customer")
    return _customer_from(data["data"]["customer"], record)


def decode_customers(answers: Iterable[Any]) -> list[RecordResult[ShoptetCustomer]]:
    """Many detail answers: one result each, a bad one set aside with its error."""
    results: list[RecordResult[ShoptetCustomer]] = []
    for answer in answers:
        try:
            customer = decode_customer(answer)
        except BadData as exc:
            results.append(RecordResult(exc.record or _record_of(answer), error=exc))
            continue
        results.append(RecordResult(customer.guid, value=customer))
    return results


@dataclasses.dataclass(frozen=True)
class ShoptetPage:
    """One page of a paged answer: the items and the paginator."""

    items: tuple[Any, ...]
    page: int
    page_count: int
    total_count: int


def decode_list(data: Any) -> ShoptetPage:
    """GET /api/customers: short entries {guid, creationTime, changeTime, billCompany,
    billFullName, adminUrl}; the detail needs one GET per guid."""
    check(PLATFORM, "customer-list", data, record=None, what="customer list")
    paginator = data["data"]["paginator"]
    items = tuple(data["data"]["customers"])
    return ShoptetPage(items, paginator["page"], paginator["pageCount"], paginator["totalCount"])


def decode_changes(data: Any) -> ShoptetPage:
    """GET /api/customers/changes: ShoptetChange items (creations appear as "edit")."""
    check(PLATFORM, "customer-changes", data, record=None, what="changes")
    paginator = data["data"]["paginator"]
    items = tuple(ShoptetChange(c["guid"], c["changeTime"], c["changeType"]) for c in data["data"]["changes"])
    return ShoptetPage(items, paginator["page"], paginator["pageCount"], paginator["totalCount"])


@dataclasses.dataclass(frozen=True)
class ShoptetError:
    """One entry of Shoptet's `errors` list."""

    code: str
    message: str
    instance: str


def decode_errors(data: Any) -> tuple[ShoptetError, ...]:
    """The errors of an error envelope (an answer that is not one raises SchemaViolation)."""
    check(PLATFORM, "error", data, record=None, what="error answer")
    return tuple(ShoptetError(e["errorCode"], e["message"], e["instance"]) for e in data["errors"])


__all__ = [
    "MAX_CHANGES_PAGE",
    "MAX_LIST_PAGE",
    "RecordResult",
    "ShoptetChange",
    "ShoptetCustomer",
    "ShoptetError",
    "ShoptetPage",
    "decode_changes",
    "decode_customer",
    "decode_customers",
    "decode_errors",
    "decode_list",
    "encode_account_patch",
    "encode_create",
    "encode_customer_patch",
    "join_street",
    "split_street",
    "storable",
    "unheld_fields",
]
