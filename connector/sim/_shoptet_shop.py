"""The Shoptet simulator's customers in memory: the records, their accounts, the change log.

Pure Python under one lock, no HTTP: `connector.sim.shoptet` puts it on the wire. "§3" is
../shared/eshop-platforms.md §3; "OpenAPI" is shoptet/developers openapi/openapi.yaml @5498de9.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

# Every key of components.schemas.billingAddress (the answer's form; OpenAPI).
BILLING_KEYS = (
    "company",
    "fullName",
    "street",
    "houseNumber",
    "city",
    "district",
    "additional",
    "zip",
    "countryCode",
    "regionName",
    "regionShortcut",
    "companyId",
    "vatId",
    "vatIdValidationStatus",
    "taxId",
)
# "Guaranteed history is 30 days, the older data are deleted progressively" (OpenAPI
# getLastCustomerChanges; §3).
HISTORY = dt.timedelta(days=30)
CUSTOMER_GROUPS = {"retail": (1, "Retail"), "wholesale": (2, "Wholesale")}


class ShoptetError(Exception):
    """One entry of Shoptet's error envelope, with the HTTP status it comes with."""

    def __init__(self, status: int, code: str, message: str, instance: str = "unknown") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.instance = instance


def shoptet_time(moment: dt.datetime) -> str:
    """`2018-05-29T09:02:27+0200` (components.schemas.typeDateTime: `+` and four digits)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclasses.dataclass
class Account:
    guid: str
    email: str
    full_name: str | None = None
    phone: str | None = None
    main: bool = True
    authorized: bool = True
    email_verified: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "guid": self.guid,
            "fullName": self.full_name,
            "email": self.email,
            "phone": self.phone,
            "mainAccount": self.main,
            "authorized": self.authorized,
            "emailVerified": self.email_verified,
        }


@dataclasses.dataclass
class Customer:
    guid: str
    admin_id: int
    created: dt.datetime
    changed: dt.datetime
    billing: dict[str, Any] = dataclasses.field(default_factory=lambda: dict.fromkeys(BILLING_KEYS))
    delivery: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    accounts: list[Account] = dataclasses.field(default_factory=list)
    remark: str | None = None
    birth_date: str | None = None
    disabled_orders: bool = False
    price_ratio: str = "1.0000"
    group: tuple[int, str] | None = None

    def to_json(self, shop_url: str) -> dict[str, Any]:
        """components.schemas.customer (every required key present)."""
        return {
            "guid": self.guid,
            "billingAddress": dict(self.billing),
            "deliveryAddress": copy.deepcopy(self.delivery),
            "creationTime": shoptet_time(self.created),
            "changeTime": shoptet_time(self.changed),
            "customerGroup": {"id": self.group[0], "name": self.group[1]} if self.group else None,
            "priceList": None,
            "remark": self.remark,
            "priceRatio": self.price_ratio,
            "birthDate": self.birth_date,
            "disabledOrders": self.disabled_orders,
            "accounts": [a.to_json() for a in self.accounts],
            "remarks": [],
            "adminUrl": f"{shop_url}/admin/zakaznici-detail?id={self.admin_id}",
        }

    def summary(self, shop_url: str) -> dict[str, Any]:
        """The short form GET /api/customers lists (getListOfCustomers)."""
        return {
            "guid": self.guid,
            "creationTime": shoptet_time(self.created),
            "changeTime": shoptet_time(self.changed),
            "billCompany": self.billing.get("company"),
            "billFullName": self.billing.get("fullName"),
            "adminUrl": f"{shop_url}/admin/zakaznici-detail?id={self.admin_id}",
        }

    def main_account(self) -> Account | None:
        return next((a for a in self.accounts if a.main), self.accounts[0] if self.accounts else None)


@dataclasses.dataclass(frozen=True)
class Change:
    guid: str
    at: dt.datetime
    kind: str  # "edit" | "delete"


class ShoptetShop:
    """The customers of one shop, the change log (last change per customer, 30 days) and a
    clock that tests can move forward."""

    def __init__(self, *, seed: int = 0, on_event: Callable[[str, str], None] | None = None) -> None:
        self.lock = threading.RLock()
        self._rng = random.Random(seed)
        self._seed = seed
        self.on_event = on_event or (lambda event, guid: None)
        self.customers: dict[str, Customer] = {}
        self.log: dict[str, Change] = {}
        self.counters: Counter[str] = Counter()
        self.clock_offset = dt.timedelta()
        self._next_admin_id = 1

    def clear(self) -> None:
        with self.lock:
            self.customers.clear()
            self.log.clear()
            self.counters.clear()
            self.clock_offset = dt.timedelta()
            self._next_admin_id = 1
            self._rng = random.Random(self._seed)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC).replace(microsecond=0) + self.clock_offset

    def new_guid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    # -- lookups -----------------------------------------------------------------------------

    def get(self, guid: str) -> Customer:
        customer = self.customers.get(guid)
        if customer is None:
            # The 404 example of getCustomerDetail (OpenAPI).
            raise ShoptetError(404, "customer-not-found", f'Customer with guid "{guid}" not found.', guid)
        return customer

    def account(self, guid: str, account_guid: str) -> Account:
        customer = self.get(guid)
        for account in customer.accounts:
            if account.guid == account_guid:
                return account
        raise ShoptetError(404, "customer-account-not-found", f'Account "{account_guid}" not found.', account_guid)

    def email_owner(self, email: str, *, other_than: str | None = None) -> str | None:
        folded = email.casefold()
        for customer in self.customers.values():
            for account in customer.accounts:
                if account.guid != other_than and account.email.casefold() == folded:
                    return account.guid
        return None

    # -- writes ------------------------------------------------------------------------------

    def _logged(self, guid: str, kind: str, event: str) -> None:
        # Only each customer's last change is kept; a creation is logged as `edit` (OpenAPI
        # getLastCustomerChanges; §3).
        self.log[guid] = Change(guid, self.now(), kind)
        self.counters["writes"] += 1
        self.on_event(event, guid)

    def _check_unique(self, email: str, *, other_than: str | None = None) -> None:
        if self.email_owner(email, other_than=other_than) is not None:
            # Status per "Status codes": 409 for duplicate data. The errorCode is not in the
            # OpenAPI for this case; the adapter must decide on the status, not the code.
            raise ShoptetError(
                409, "customer-email-exists", "Customer with this e-mail already exists.", "data.account.email"
            )

    def _apply(self, customer: Customer, data: Mapping[str, Any]) -> None:
        billing = data.get("billingAddress")
        if isinstance(billing, Mapping):
            merged = {**customer.billing, **billing}
            _check_tax_ids(merged)
            customer.billing.update(billing)
            if "vatId" in billing:
                customer.billing["vatIdValidationStatus"] = "unverified" if billing["vatId"] else None
        for key, attr in (("remark", "remark"), ("birthDate", "birth_date"), ("priceRatio", "price_ratio")):
            if key in data:
                setattr(customer, attr, data[key])
        if "disabledOrders" in data:
            customer.disabled_orders = bool(data["disabledOrders"])
        if "customerGroupCode" in data:
            group = CUSTOMER_GROUPS.get(str(data["customerGroupCode"]))
            if group is None:
                raise ShoptetError(
                    404, "customer-group-not-found", "Customer group not found.", "data.customerGroupCode"
                )
            customer.group = group

    def create(self, data: Mapping[str, Any]) -> Customer:
        with self.lock:
            account_data: Mapping[str, Any] = data["account"]
            self._check_unique(str(account_data["email"]))
            now = self.now()
            customer = Customer(guid=self.new_guid(), admin_id=self._next_admin_id, created=now, changed=now)
            customer.group = CUSTOMER_GROUPS["retail"]
            self._apply(customer, data)
            customer.accounts.append(
                Account(
                    guid=self.new_guid(),
                    email=str(account_data["email"]),
                    full_name=account_data.get("fullName"),
                    phone=account_data.get("phone"),
                    authorized=bool(account_data.get("authorized", True)),
                    email_verified=bool(account_data.get("emailVerified", False)),
                )
            )
            self._next_admin_id += 1
            self.customers[customer.guid] = customer
            self.counters["creates"] += 1
            self._logged(customer.guid, "edit", "customer:create")
            return customer

    def update(self, guid: str, data: Mapping[str, Any]) -> Customer:
        with self.lock:
            customer = self.get(guid)
            self._apply(customer, data)
            customer.changed = self.now()
            self.counters["updates"] += 1
            self._logged(guid, "edit", "customer:update")
            return customer

    def update_account(self, guid: str, account_guid: str, data: Mapping[str, Any]) -> Account:
        with self.lock:
            account = self.account(guid, account_guid)
            if "email" in data:
                self._check_unique(str(data["email"]), other_than=account_guid)
                account.email = str(data["email"])
            if "fullName" in data:
                account.full_name = data["fullName"]
            if "phone" in data:
                account.phone = data["phone"]
            for key, attr in (("authorized", "authorized"), ("emailVerified", "email_verified")):
                if key in data:
                    setattr(account, attr, bool(data[key]))
            customer = self.get(guid)
            customer.changed = self.now()
            self.counters["updates"] += 1
            self._logged(guid, "edit", "customer:update")
            return account

    def delete(self, guid: str) -> None:
        with self.lock:
            self.get(guid)
            del self.customers[guid]
            self.counters["deletes"] += 1
            self._logged(guid, "delete", "customer:delete")

    # -- reads -------------------------------------------------------------------------------

    def listing(self, *, email: str | None, phone: str | None) -> list[Customer]:
        with self.lock:
            found = sorted(self.customers.values(), key=lambda c: c.admin_id)
        if email:
            # "An accurate match is searched for, regardless of capitalization" (OpenAPI).
            found = [c for c in found if any(a.email.casefold() == email.casefold() for a in c.accounts)]
        if phone:
            found = [c for c in found if any(a.phone == phone for a in c.accounts)]
        return found

    def changes(self, since: dt.datetime, kind: str | None) -> list[Change]:
        with self.lock:
            horizon = self.now() - HISTORY
            for guid in [g for g, c in self.log.items() if c.at < horizon]:
                del self.log[guid]  # older history is deleted progressively
            entries = [c for c in self.log.values() if c.at >= since and (kind is None or c.kind == kind)]
        return sorted(entries, key=lambda c: (c.at, c.guid))


def _check_tax_ids(billing: Mapping[str, Any]) -> None:
    # "For Czech address, taxId must be the same as vatId, or left empty"
    # (billingAddressCustomer.taxId, OpenAPI).
    tax, vat = billing.get("taxId"), billing.get("vatId")
    if billing.get("countryCode") == "CZ" and tax is not None and tax != vat:
        raise ShoptetError(
            422, "invalid-request-data", "For a Czech address taxId must equal vatId.", "data.billingAddress.taxId"
        )
    country = billing.get("countryCode")
    if country is not None and (len(str(country)) != 2 or not str(country).isalpha() or not str(country).isupper()):
        # The country must exist ("Invalid countryCode value ... Country not found.",
        # api/2021-05-11_error-handling-changes.md): an alpha-2 code, never alpha-3 (§3).
        raise ShoptetError(
            422,
            "invalid-request-data",
            "Invalid countryCode value. Country not found.",
            "data.billingAddress.countryCode",
        )
