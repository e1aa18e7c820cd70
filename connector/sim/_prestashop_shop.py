"""The PrestaShop simulator's rows and the webservice's write, delete and list semantics.

Pure Python under one lock, no HTTP and no XML: `connector.sim.prestashop` parses requests
into entities and queries, calls this, and renders the rows. Every strict rule says where it
comes from (../shared/eshop-platforms.md §1 and the PrestaShop source it cites).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import hashlib
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from connector.codec.prestashop_validate import is_date
from connector.sim._prestashop_rules import (
    DEFAULT_CUSTOMER_GROUP,
    FieldSpec,
    Resource,
    Version,
    resources,
)

# Configuration defaults of a fresh shop that the add() paths read.
PS_GUEST_GROUP = "2"
PS_PASSWD_TIME_FRONT_MIN = 360
DEFAULT_SHOP = "1"
DEFAULT_LANG = "1"

# Countries of a fresh install that the connector meets, with their real ids.
DEFAULT_COUNTRIES: tuple[tuple[int, str, str, str, str], ...] = (
    # id, iso_code, call_prefix, zip_code_format, name
    (1, "DE", "49", "NNNNN", "Germany"),
    (2, "AT", "43", "NNNN", "Austria"),
    (8, "FR", "33", "NNNNN", "France"),
    (14, "PL", "48", "NN-NNN", "Poland"),
    (16, "CZ", "420", "NNN NN", "Czechia"),
    (17, "GB", "44", "", "United Kingdom"),
    (21, "US", "1", "NNNNN", "United States"),
    (37, "SK", "421", "NNN NN", "Slovakia"),
    # A fresh install has every country; Hungary (the generated customers live there too) is
    # row 143 of ps_country with zip_code_format NNNN (install data as dumped from real shops).
    (143, "HU", "36", "NNNN", "Hungary"),
)


class WsError(Exception):
    """A webservice refusal: the HTTP status and PrestaShop's (code, message) pairs, in order."""

    def __init__(self, status: int, *errors: tuple[int, str]) -> None:
        super().__init__("; ".join(f"[{code}] {message}" for code, message in errors))
        self.status = status
        self.errors = list(errors)


@dataclasses.dataclass
class Row:
    """One stored record: every field as the database returns it (text, '' for empty)."""

    values: dict[str, str]
    groups: list[str] = dataclasses.field(default_factory=list)  # customers: associations/groups
    names: dict[str, str] = dataclasses.field(default_factory=dict)  # countries: name per id_lang
    used: bool = False  # addresses: referenced by an order (Address::isUsed)

    @property
    def id(self) -> int:
        return int(self.values["id"])

    def copy(self) -> Row:
        return Row(dict(self.values), list(self.groups), dict(self.names), self.used)


@dataclasses.dataclass(frozen=True)
class Entity:
    """One record of a write body: the fields present (text as sent, not stripped) and the
    association lists present (None when the body has no <associations>)."""

    fields: Mapping[str, str]
    associations: Mapping[str, list[dict[str, str]]] | None = None


@dataclasses.dataclass(frozen=True)
class ListQuery:
    """The list parameters of a GET, as sent."""

    filters: Mapping[str, str] = dataclasses.field(default_factory=dict)
    display: str | None = None
    sort: str | None = None
    limit: str | None = None
    date: bool = False


Display = str | list[str]  # "full", "minimum", or the fields asked for


def _hash_password(plain: str) -> str:
    """A stand-in for bcrypt: 60 characters like `$2y$10$…`, so isHashedPassword (8.1+) holds."""
    digest = hashlib.sha256(plain.encode("utf-8")).hexdigest()
    return "$2y$10$" + digest[:53]


def _like(pattern: str, value: str) -> bool:
    """SQL LIKE with % and _, case-insensitive as MySQL's default collation compares."""
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL) is not None


def _numeric(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class PrestaShopShop:
    """Customers, addresses and countries of one shop, with the webservice's semantics."""

    def __init__(self, version: Version, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.version: Version = version
        self.resources: dict[str, Resource] = resources(version)
        self.lock = threading.RLock()
        self._clock = clock or dt.datetime.now  # shop-local wall time, no zone (date('Y-m-d H:i:s'))
        self._offset = dt.timedelta(0)
        self.tables: dict[str, dict[int, Row]] = {}
        self._next_id: dict[str, int] = {}
        self.writes: Counter[str] = Counter()
        self.notifications: list[dict[str, Any]] = []
        self.clear()

    # -- time -------------------------------------------------------------------------------

    def now(self) -> str:
        """ObjectModel's date('Y-m-d H:i:s'): server local time, no zone, 1-second resolution."""
        moment = self._clock() + self._offset
        return moment.strftime("%Y-%m-%d %H:%M:%S")

    def advance_clock(self, seconds: float) -> str:
        """Move the shop's clock forward (tests need two writes to differ in date_upd)."""
        with self.lock:
            self._offset += dt.timedelta(seconds=seconds)
            return self.now()

    # -- set-up -----------------------------------------------------------------------------

    def clear(self) -> None:
        with self.lock:
            self.tables = {"customers": {}, "addresses": {}, "countries": {}}
            self._next_id = {"customers": 1, "addresses": 1, "countries": 1}
            self.writes.clear()
            self.notifications.clear()
            for cid, iso, prefix, zip_format, name in DEFAULT_COUNTRIES:
                self.tables["countries"][cid] = Row(
                    {
                        "id": str(cid),
                        "id_zone": "1",
                        "id_currency": "0",
                        "call_prefix": prefix,
                        "iso_code": iso,
                        "active": "1",
                        "contains_states": "1" if iso == "US" else "0",
                        "need_identification_number": "0",
                        "need_zip_code": "1" if zip_format else "0",
                        "zip_code_format": zip_format,
                        "display_tax_label": "1",
                    },
                    names={DEFAULT_LANG: name},
                )
            self._next_id["countries"] = max(self.tables["countries"]) + 1

    def blank(self, resource: Resource) -> Row:
        """A new object before the request's fields are applied (the class's property defaults)."""
        values = {spec.name: spec.wiped() for spec in resource.fields}
        if resource.name == "customers":
            values.update(active="1", id_default_group=DEFAULT_CUSTOMER_GROUP)
        return Row(values)

    # -- reading ----------------------------------------------------------------------------

    def get(self, resource: str, record_id: int) -> Row | None:
        with self.lock:
            row = self.tables[resource].get(record_id)
            return row.copy() if row is not None else None

    def rows(self, resource: str) -> list[Row]:
        with self.lock:
            return [row.copy() for _, row in sorted(self.tables[resource].items())]

    def email_owner(self, email: str, *, include_guests: bool = False) -> int | None:
        """Customer::customerExists: the first customer with this e-mail, guests ignored by
        default; MySQL's collation compares case-insensitively."""
        folded = email.strip().casefold()
        for cid, row in sorted(self.tables["customers"].items()):
            if row.values.get("email", "").strip().casefold() == folded and (
                include_guests or row.values.get("is_guest") != "1"
            ):
                return cid
        return None

    # -- writes (WebserviceRequest::saveEntityFromXml) ------------------------------------

    def save(self, resource_name: str, method: str, entities: list[Entity]) -> list[Row]:
        """Apply a POST, PUT or PATCH body; returns the saved rows.

        As in the source, the entities are saved one after the other: an error stops the
        request, and the entities before it stay saved.
        """
        resource = self.resources[resource_name]
        ids = [e.fields["id"] for e in entities if e.fields.get("id", "") != ""]
        if method in ("PUT", "PATCH"):
            if len(set(ids)) != len(ids):
                raise WsError(400, (89, "id is duplicate in request"))
            if len(entities) != len(ids):
                raise WsError(400, (90, "id is required when modifying a resource"))
        elif method == "POST" and ids:
            raise WsError(400, (91, "id is forbidden when adding a new resource"))
        saved: list[Row] = []
        with self.lock:
            for entity in entities:
                saved.append(self._save_one(resource, method, entity))
        return saved

    def _save_one(self, resource: Resource, method: str, entity: Entity) -> Row:
        if method == "POST":
            row = self.blank(resource)
            stored: Row | None = None
        else:
            stored = self.tables[resource.name].get(_php_int(entity.fields["id"]))
            if stored is None:
                raise WsError(404, (92, "Invalid ID"))
            row = stored.copy()
        nulled: set[str] = set()  # set to NULL by this request: PHP validates them as empty
        for spec in resource.fields:
            if spec.name == "id" or spec.i18n:
                continue
            present = spec.name in entity.fields
            if method == "PATCH" and not present:
                # 8.0+: "only process fields actually in the input XML".
                continue
            if present:
                value = entity.fields[spec.name]
                # Customer::setWsPasswd: hash a new value; a value equal to the stored hash
                # (a GET echoed back) leaves the password as it is.
                if spec.setter == "passwd" and (stored is None or value != stored.values.get("passwd")):
                    value = _hash_password(value)
                row.values[spec.name] = value
            elif spec.required:
                # saveEntityFromXml: a required field missing from a POST or a PUT, in the
                # webservice's field order (so passwd is reported before lastname).
                raise WsError(400, (41, f'parameter "{spec.name}" required'))
            else:
                # "Every non-required field absent from the XML is set to NULL" (§1,
                # PrestaShop/PrestaShop#33783): on PUT, and on POST over the class defaults.
                row.values[spec.name] = spec.wiped()
                nulled.add(spec.name)
        self._validate(resource, row, nulled)
        if resource.name == "addresses":
            self._check_dni(row)
        if resource.name == "customers":
            self._save_customer(row, stored, entity)
        else:
            self._save_plain(resource, row, stored)
        return row.copy()

    def _validate(self, resource: Resource, row: Row, nulled: frozenset[str] | set[str] = frozenset()) -> None:
        """ObjectModel::validateFields($die=false, $error_return=true): the first failing
        field in $definition order; 400 code 85 `Validation error: "…"`. Messages name the
        class and the field, never the value."""
        for name in resource.validation_order:
            spec = resource.field(name)
            if spec is None or spec.i18n:
                continue
            message = self._field_error(resource, spec, "" if name in nulled else row.values.get(name, ""))
            if message is not None:
                raise WsError(400, (85, f'Validation error: "{message}"'))

    def _check_dni(self, row: Row) -> None:
        """Address::validateField: a live address in a country that needs an identification
        number (Address::dniRequired, the country's need_identification_number) needs a dni."""
        country = self.tables["countries"].get(_php_int(row.values.get("id_country", "")))
        needs = country is not None and country.values.get("need_identification_number") == "1"
        if needs and row.values.get("deleted") != "1" and not row.values.get("dni", "").strip():
            raise WsError(400, (85, 'Validation error: "Property Address->dni is empty."'))

    def _field_error(self, resource: Resource, spec: FieldSpec, value: str) -> str | None:
        prop = f"{resource.class_name}->{spec.name}"
        if spec.required and value == "":  # Tools::isEmpty
            return f"Property {prop} is empty."
        if spec.size is not None and len(value) > spec.size:
            return f"Property {prop} length ({len(value)}) must be between 0 and {spec.size}"
        # validateField calls the validator only `if (!empty($value))`; PHP's empty() is
        # also true for "0".
        if spec.validate is not None and value not in ("", "0") and not spec.validate(value):
            return f"Property {prop} is not valid"
        return None

    def _save_customer(self, row: Row, stored: Row | None, entity: Entity) -> None:
        values = row.values
        now = self.now()
        email = values.get("email", "")
        if stored is None:
            # Customer::addWs: a non-guest customer with this e-mail exists -> 500 code 140;
            # saveEntityFromXml then adds 46 "Unable to save resource" (both are answered).
            if self.email_owner(email) is not None:
                raise WsError(
                    500,
                    (140, "The email is already used, please choose another one"),
                    (46, "Unable to save resource"),
                )
            # Customer::add
            values["id_shop"] = values["id_shop"] if values["id_shop"] not in ("", "0") else DEFAULT_SHOP
            values["id_shop_group"] = values["id_shop_group"] if values["id_shop_group"] not in ("", "0") else "1"
            values["id_lang"] = values["id_lang"] if values["id_lang"] not in ("", "0") else DEFAULT_LANG
            values["secure_key"] = secrets.token_hex(16)
            gen = self._clock() + self._offset - dt.timedelta(minutes=PS_PASSWD_TIME_FRONT_MIN)
            values["last_passwd_gen"] = gen.strftime("%Y-%m-%d %H:%M:%S")
            if values["id_default_group"] == DEFAULT_CUSTOMER_GROUP and values.get("is_guest") == "1":
                values["id_default_group"] = PS_GUEST_GROUP
            if values.get("newsletter") == "1" and not is_date(values.get("newsletter_date_add", "")):
                values["newsletter_date_add"] = now
            # ObjectModel::add with $autodate: both dates are the moment of the insert.
            values["date_add"] = values["date_upd"] = now
            # updateGroup(null): the default group only.
            row.groups = [values["id_default_group"]] if values["id_default_group"] not in ("", "0") else []
            values["id"] = str(self._next_id["customers"])
            self._next_id["customers"] += 1
        else:
            # Customer::updateWs: the e-mail belongs to another non-guest customer -> 141.
            owner = self.email_owner(email)
            if owner is not None and owner != stored.id:
                raise WsError(
                    500,
                    (141, "The email is already used, please choose another one"),
                    (46, "Unable to save resource"),
                )
            if values.get("newsletter") == "1" and not is_date(values.get("newsletter_date_add", "")):
                values["newsletter_date_add"] = now
            self._touch(values, now)
            if values.get("deleted") == "1":
                # Customer::update with deleted=1 marks every address of the customer deleted.
                for address in self.tables["addresses"].values():
                    if address.values.get("id_customer") == values["id"] and address.values["deleted"] != "1":
                        address.values["deleted"] = "1"
                        self._touch(address.values, now)
        if entity.associations is not None and "groups" in entity.associations:
            # setWsGroups: the association list replaces the customer's groups. Without an
            # <associations> the groups stay as they are (only fields are wiped by a PUT).
            row.groups = [item["id"] for item in entity.associations["groups"] if item.get("id")]
        self.tables["customers"][row.id] = row.copy()
        self.writes["customers"] += 1

    def _save_plain(self, resource: Resource, row: Row, stored: Row | None) -> None:
        now = self.now()
        if stored is None:
            row.values["date_add"] = row.values["date_upd"] = now
            row.values["id"] = str(self._next_id[resource.name])
            self._next_id[resource.name] += 1
        else:
            self._touch(row.values, now)
        self.tables[resource.name][row.id] = row.copy()
        self.writes[resource.name] += 1

    @staticmethod
    def _touch(values: dict[str, str], now: str) -> None:
        """ObjectModel::update: date_upd is always now; a date_add wiped by the PUT is refilled."""
        values["date_upd"] = now
        if values.get("date_add", "") in ("", *ZERO_DATES):
            values["date_add"] = now

    # -- deletes (WebserviceRequest::executeEntityDelete) ---------------------------------

    def delete(self, resource_name: str, ids: list[int]) -> None:
        """Delete every id, or none when one is unknown (404 code 87)."""
        with self.lock:
            table = self.tables[resource_name]
            missing = [str(i) for i in ids if i not in table]
            if missing or not ids:
                raise WsError(404, (87, "Id(s) not exists: " + ", ".join(missing)))
            for record_id in ids:
                if resource_name == "customers":
                    self._delete_customer(record_id)
                else:
                    self._delete_address(record_id)
                self.writes[resource_name] += 1

    def _delete_customer(self, customer_id: int) -> None:
        # Customer::delete hard-deletes the row; its addresses go only when the customer has no
        # orders (here: none of its addresses is used), each through Address::delete.
        mine = [a for a in self.tables["addresses"].values() if a.values.get("id_customer") == str(customer_id)]
        if not any(address.used for address in mine):
            for address in mine:
                self._delete_address(address.id)
        del self.tables["customers"][customer_id]

    def _delete_address(self, address_id: int) -> None:
        # Address::delete: an address used by an order is kept with deleted=1 (an update, so
        # date_upd moves); otherwise the row is removed.
        address = self.tables["addresses"][address_id]
        if address.used:
            address.values["deleted"] = "1"
            self._touch(address.values, self.now())
        else:
            del self.tables["addresses"][address_id]

    # -- lists (WebserviceRequest::manageFilters, SQLUtils::getSQLRetrieveFilter) ---------

    def select(self, resource_name: str, query: ListQuery) -> tuple[list[Row], Display]:
        """The rows a list GET returns, and what to display of them."""
        resource = self.resources[resource_name]
        plain = [s.name for s in resource.fields if not s.i18n]
        translated = [s.name for s in resource.fields if s.i18n]
        if not query.date:
            # "Date feature : date=1": without it date_add/date_upd are not filters (§1).
            plain = [name for name in plain if name not in ("date_add", "date_upd")]
        with self.lock:
            rows = [row.copy() for row in self.tables[resource_name].values()]
        for field, value in query.filters.items():
            if field not in plain and field not in translated:
                raise WsError(400, (32, _did_you_mean("This filter does not exist", field, plain)))
            if value == "":
                raise WsError(400, (33, f'The filter "{field}" is malformed.'))
            spec = resource.field(field)
            assert spec is not None
            rows = [row for row in rows if _matches(spec, _value_of(row, spec), value)]
        display = parse_display(resource, query.display)
        if query.sort is not None:
            rows = _sorted(resource, rows, query.sort, plain, translated)
        else:
            # No sort means no ORDER BY (ObjectModel::getWebserviceObjectList): the order is
            # the database's. The simulator answers newest first on purpose, so that a client
            # that pages without sorting is caught by its tests.
            rows.sort(key=lambda row: row.id, reverse=True)
        if query.limit is not None:
            parts = query.limit.split(",")
            if len(parts) > 2:
                raise WsError(400, (39, 'The "limit" value has to be formed as this example: "5,25" or "10"'))
            numbers = [_php_int(part) for part in parts]
            offset, count = (0, numbers[0]) if len(numbers) == 1 else (numbers[0], numbers[1])
            rows = rows[offset : offset + count]
        return rows, display

    # -- the back office and the storefront (control API) ---------------------------------

    def back_office_edit(self, resource_name: str, record_id: int, changes: Mapping[str, str]) -> Row:
        """A merchant edits one record: the same validation, date_upd moves on this row only."""
        resource = self.resources[resource_name]
        with self.lock:
            stored = self.tables[resource_name].get(record_id)
            if stored is None:
                raise WsError(404, (87, f"Id(s) not exists: {record_id}"))
            row = stored.copy()
            for name, value in changes.items():
                spec = resource.field(name)
                if spec is None or name in ("id", "date_add", "date_upd"):
                    raise WsError(400, (0, f"the field {name!r} cannot be edited"))
                row.values[name] = _hash_password(value) if spec.setter == "passwd" else value
            self._validate(resource, row, _zero_dates(row, keep=changes))
            if resource_name == "customers":
                owner = self.email_owner(row.values["email"])
                if owner is not None and owner != record_id:
                    raise WsError(409, (141, "The email is already used, please choose another one"))
                # The back office saves through Customer::update too, which dates a new
                # newsletter subscription as the webservice path does.
                if row.values.get("newsletter") == "1" and not is_date(row.values.get("newsletter_date_add", "")):
                    row.values["newsletter_date_add"] = self.now()
            self._touch(row.values, self.now())
            self.tables[resource_name][record_id] = row
            return row.copy()

    def register(self, fields: Mapping[str, str], addresses: Iterable[Mapping[str, str]] = ()) -> Row:
        """A shopper registers in the storefront (CustomerPersister::create): an active customer
        in the default group, the welcome e-mail recorded; then the addresses they enter."""
        resource = self.resources["customers"]
        with self.lock:
            row = self.blank(resource)
            for name, value in fields.items():
                spec = resource.field(name)
                if spec is None or name in ("id", "date_add", "date_upd", "secure_key"):
                    raise WsError(400, (0, f"the field {name!r} cannot be registered"))
                row.values[name] = _hash_password(value) if spec.setter == "passwd" else value
            if not row.values["passwd"]:
                row.values["passwd"] = _hash_password(secrets.token_urlsafe(12))
            self._validate(resource, row, _zero_dates(row, keep=fields))
            if self.email_owner(row.values["email"]) is not None:
                raise WsError(409, (140, "The email is already used, please choose another one"))
            self._save_customer(row, None, Entity({}))
            customer = self.tables["customers"][row.id]
            # The storefront path is the only one that sends the "Welcome!" mail (§1).
            self.notifications.append({"customer_id": row.id, "template": "account", "at": self.now()})
            for address in addresses:
                self.add_address(row.id, address)
            return customer.copy()

    def add_address(self, customer_id: int, fields: Mapping[str, str]) -> Row:
        """A shopper adds an address in the storefront."""
        resource = self.resources["addresses"]
        with self.lock:
            if customer_id not in self.tables["customers"]:
                raise WsError(404, (87, f"Id(s) not exists: {customer_id}"))
            row = self.blank(resource)
            for name, value in fields.items():
                if resource.field(name) is None or name in ("id", "date_add", "date_upd"):
                    raise WsError(400, (0, f"the field {name!r} cannot be entered"))
                row.values[name] = value
            row.values["id_customer"] = str(customer_id)
            self._validate(resource, row, _zero_dates(row, keep=fields))
            self._check_dni(row)
            self._save_plain(resource, row, None)
            return row.copy()

    def mark_used(self, address_id: int) -> None:
        """An order now references this address (so a delete keeps it with deleted=1)."""
        with self.lock:
            self.tables["addresses"][address_id].used = True

    def __len__(self) -> int:
        return len(self.tables["customers"])


ZERO_DATES = frozenset({"0000-00-00", "0000-00-00 00:00:00"})


def _zero_dates(row: Row, *, keep: Mapping[str, str]) -> set[str]:
    """Fields holding the zero date that nobody set now: NULL in PHP, so not validated."""
    return {name for name, value in row.values.items() if value in ZERO_DATES and name not in keep}


def _php_int(text: str) -> int:
    """PHP's (int) cast: the leading digits, else 0."""
    match = re.match(r"\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else 0


def _did_you_mean(label: str, wrong: str, available: list[str]) -> str:
    """WebserviceRequest::setErrorDidYouMean's message."""
    closest = difflib.get_close_matches(wrong, available, n=1, cutoff=0.0)
    message = f'{label}. Did you mean: "{closest[0] if closest else ""}"?'
    if len(available) > 1:
        message += ' The full list is: "' + '", "'.join(available) + '"'
    return message


def _value_of(row: Row, spec: FieldSpec) -> str:
    if spec.i18n:
        return row.names.get(DEFAULT_LANG, "")
    return row.values.get(spec.name, "")


def _compare(spec: FieldSpec, stored: str, wanted: str) -> int:
    """MySQL's comparison of a column with a quoted value: numbers as numbers, dates as
    dates (a date alone is midnight), text case-insensitively."""
    if spec.kind in ("int", "bool", "float"):
        a, b = _numeric(stored or "0"), _numeric(wanted)
        if a is not None and b is not None:
            return (a > b) - (a < b)
    if spec.kind == "datetime" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", wanted):
        wanted += " 00:00:00"
    left, right = stored.casefold().rstrip(" "), wanted.casefold().rstrip(" ")
    return (left > right) - (left < right)


_INTERVAL = re.compile(r"([\d.:\-\s]+),([\d.:\-\s]+)")


def _matches(spec: FieldSpec, stored: str, filter_value: str) -> bool:
    """SQLUtils::getSQLRetrieveFilter, one operator at a time."""
    match = re.fullmatch(r"(.*)\[(.*)\](.*)", filter_value, re.DOTALL)
    if match is None:
        return _compare(spec, stored, filter_value) == 0
    before, inner, after = match.groups()
    if before == "%" or after == "%":
        return _like(before + inner + after, stored)
    if before == "" and after == "":
        if inner.find("|") > 0:
            return any(_compare(spec, stored, v) == 0 for v in inner.split("|"))
        interval = _INTERVAL.fullmatch(inner)
        if interval is not None:
            # BETWEEN, both ends inclusive (the docs' "exclusive last member" is wrong, §1);
            # PHP's sort() puts the smaller end first.
            low, high = sorted(interval.groups(), key=lambda v: (_numeric(v) is None, _numeric(v) or 0, v))
            return _compare(spec, stored, low) >= 0 and _compare(spec, stored, high) <= 0
        return _compare(spec, stored, inner) == 0
    if before == ">":
        return _compare(spec, stored, inner) > 0
    if before == "<":
        return _compare(spec, stored, inner) < 0
    if before == "!":
        return all(_compare(spec, stored, v) != 0 for v in inner.split("|"))
    # Any other prefix adds no SQL condition at all (the function returns '').
    return True


def parse_display(resource: Resource, display: str | None) -> Display:
    """WebserviceRequest::setFieldsToDisplay."""
    if display is None or display in ("full", "minimum"):
        return display or "minimum"
    match = re.fullmatch(r"\[(.*)\]", display, re.DOTALL)
    available = [s.name for s in resource.fields]
    if match is None:
        raise WsError(
            400,
            (
                36,
                "The 'display' syntax is wrong. You can set 'full' or '[field_1,field_2,field_3,...]'. "
                "These are available: " + ", ".join(available),
            ),
        )
    fields = [part.strip() for part in match.group(1).split(",") if part.strip()]
    for name in fields:
        if name not in available:
            raise WsError(
                400,
                (35, f'Unable to display this field "{name}". However, these are available: ' + ", ".join(available)),
            )
    return fields


def _sorted(resource: Resource, rows: list[Row], sort: str, plain: list[str], translated: list[str]) -> list[Row]:
    """`sort=[f_ASC,g_DESC]` or `sort=f_ASC`; 37 for a malformed item, 38 for a field that is
    not a filter (date_add / date_upd without date=1 among them)."""
    match = re.fullmatch(r"\[(.*)\]", sort, re.DOTALL)
    items = match.group(1).split(",") if match else [sort]
    keys: list[tuple[FieldSpec, bool]] = []
    for item in items:
        field, sep, direction = item.rpartition("_")
        if not sep or direction.upper() not in ("ASC", "DESC"):
            raise WsError(
                400,
                (
                    37,
                    'The "sort" value has to be formed as this example: "field_ASC" or '
                    "'[field_1_DESC,field_2_ASC,field_3_ASC,...]' (\"field\" has to be an available field)",
                ),
            )
        if field not in plain and field not in translated:
            raise WsError(
                400,
                (
                    38,
                    "Unable to filter by this field. However, these are available: "
                    + ", ".join(plain)
                    + ", for i18n fields:"
                    + ", ".join(translated),
                ),
            )
        spec = resource.field(field)
        assert spec is not None
        keys.append((spec, direction.upper() == "DESC"))
    ordered = sorted(rows, key=lambda row: row.id)  # a stable base for equal keys
    for spec, descending in reversed(keys):
        ordered.sort(key=lambda row, s=spec: _sort_key(s, _value_of(row, s)), reverse=descending)  # type: ignore[misc]
    return ordered


def _sort_key(spec: FieldSpec, value: str) -> tuple[float, str]:
    if spec.kind in ("int", "bool", "float"):
        number = _numeric(value or "0")
        return (number if number is not None else 0.0, "")
    return (0.0, value.casefold())
