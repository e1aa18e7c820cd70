"""The WooCommerce simulator's users in memory: create, partial update, delete, list, as the
REST v3 customers controller does them. Pure Python under one lock, no HTTP.

Facts cited as "§2" are from ../shared/eshop-platforms.md §2 and the WooCommerce sources it
names (plugins/woocommerce/includes/rest-api/Controllers/Version1..3).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

BILLING_KEYS = (
    "first_name",
    "last_name",
    "company",
    "address_1",
    "address_2",
    "city",
    "postcode",
    "country",
    "state",
    "email",
    "phone",
)
SHIPPING_KEYS = tuple(k for k in BILLING_KEYS if k != "email")  # shipping has phone, no email (§2)
# Since 9.5.2 only these roles may have e-mail/password changed or be deleted through the
# API (V1 controller allowed_roles(); §2).
ALLOWED_ROLES = ("customer", "subscriber")
ROLES = ("administrator", "editor", "author", "contributor", "subscriber", "customer", "shop_manager")


class WooError(Exception):
    """A WP_Error as the REST server renders it: {code, message, data:{status, ...}}."""

    def __init__(self, status: int, code: str, message: str, **data: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.data = data

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "data": {"status": self.status, **self.data}}


def _now() -> dt.datetime:
    # WooCommerce keeps dates at one-second resolution (last_update = gmdate('U'); §2).
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _wc_date(moment: dt.datetime) -> str:
    # wc_rest_prepare_date_response: ISO 8601 without an offset; the site runs on UTC here,
    # so the local and the _gmt values are equal.
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


@dataclasses.dataclass
class WooUser:
    id: int
    email: str
    username: str
    role: str = "customer"
    first_name: str = ""
    last_name: str = ""
    billing: dict[str, str] = dataclasses.field(default_factory=lambda: dict.fromkeys(BILLING_KEYS, ""))
    shipping: dict[str, str] = dataclasses.field(default_factory=lambda: dict.fromkeys(SHIPPING_KEYS, ""))
    meta: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    created: dt.datetime = dataclasses.field(default_factory=_now)
    modified: dt.datetime = dataclasses.field(default_factory=_now)

    def to_json(self, site_url: str) -> dict[str, Any]:
        """The answer of GET /customers/{id} (get_formatted_item_data, V3) with its _links."""
        return {
            "id": self.id,
            "date_created": _wc_date(self.created),
            "date_created_gmt": _wc_date(self.created),
            "date_modified": _wc_date(self.modified),
            "date_modified_gmt": _wc_date(self.modified),
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "role": self.role,
            "username": self.username,
            "billing": dict(self.billing),
            "shipping": dict(self.shipping),
            "is_paying_customer": False,
            "avatar_url": "https://secure.gravatar.com/avatar/?s=96&d=mm&r=g",
            "meta_data": copy.deepcopy(self.meta),
            "_links": {
                "self": [{"href": f"{site_url}/wp-json/wc/v3/customers/{self.id}"}],
                "collection": [{"href": f"{site_url}/wp-json/wc/v3/customers"}],
            },
        }

    @property
    def display_name(self) -> str:
        return self.username


class WooStore:
    """The site's users. Every write bumps `modified` and calls `on_event(topic, user)`;
    e-mail addresses are unique case-insensitively (email_exists; MySQL's collation)."""

    def __init__(
        self,
        *,
        generate_username: bool = True,
        generate_password: bool = True,
        on_event: Callable[[str, WooUser], None] | None = None,
        on_new_account: Callable[[WooUser], None] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.generate_username = generate_username
        self.generate_password = generate_password
        self.on_event = on_event or (lambda topic, user: None)
        self.on_new_account = on_new_account or (lambda user: None)
        self.users: dict[int, WooUser] = {}
        self.counters: Counter[str] = Counter()
        self._next_id = 1
        self._next_meta_id = 1

    def clear(self) -> None:
        with self.lock:
            self.users.clear()
            self.counters.clear()
            self._next_id = 1
            self._next_meta_id = 1

    # -- lookups -----------------------------------------------------------------------------

    def get(self, user_id: int) -> WooUser:
        with self.lock:
            user = self.users.get(user_id)
            if user is None:
                # Users::get_user_in_current_site fails, and the controller adds status 404.
                raise WooError(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")
            return user

    def owner_of_email(self, email: str, *, other_than: int | None = None) -> int | None:
        folded = email.casefold()
        for user in self.users.values():
            if user.id != other_than and user.email.casefold() == folded:
                return user.id
        return None

    def _username_taken(self, username: str) -> bool:
        folded = username.casefold()
        return any(u.username.casefold() == folded for u in self.users.values())

    def _new_username(self, email: str) -> str:
        # wc_create_new_customer_username: from the e-mail's local part, made unique.
        base = "".join(ch for ch in email.split("@", 1)[0] if ch.isalnum() or ch in "._-") or "customer"
        candidate, n = base, 1
        while self._username_taken(candidate):
            n += 1
            candidate = f"{base}{n}"
        return candidate

    # -- writes ------------------------------------------------------------------------------

    def _set_fields(self, user: WooUser, body: Mapping[str, Any]) -> None:
        """update_customer_meta_fields (V1/V2): only the keys present are set (isset checks)."""
        for key in ("first_name", "last_name"):
            if body.get(key) is not None:
                setattr(user, key, str(body[key]))
        for part, keys in (("billing", BILLING_KEYS), ("shipping", SHIPPING_KEYS)):
            values = body.get(part)
            if isinstance(values, Mapping):
                target = getattr(user, part)
                for key in keys:
                    if values.get(key) is not None:
                        value = str(values[key])
                        # WC_Customer::set_billing_country etc. keep what they are given;
                        # the country is stored upper-case by the checkout, and so here.
                        target[key] = value.upper() if key == "country" else value
        for item in body.get("meta_data") or ():
            self._upsert_meta(user, item)

    def _upsert_meta(self, user: WooUser, item: Mapping[str, Any]) -> None:
        # V2 update_customer_meta_fields -> update_meta_data(key, value, id): by id when it
        # names an existing entry, else the first entry with that key, else a new entry (§2).
        meta_id = item.get("id")
        for entry in user.meta:
            if (meta_id is not None and entry["id"] == meta_id) or (meta_id is None and entry["key"] == item["key"]):
                entry["key"] = item["key"]
                entry["value"] = copy.deepcopy(item.get("value"))
                return
        user.meta.append({"id": self._next_meta_id, "key": item["key"], "value": copy.deepcopy(item.get("value"))})
        self._next_meta_id += 1

    def create(self, body: Mapping[str, Any], *, role: str = "customer", notify: bool = True) -> WooUser:
        """POST /customers after the argument checks: V1 create_item + wc_create_new_customer."""
        with self.lock:
            if body.get("id"):
                raise WooError(400, "woocommerce_rest_customer_exists", "Cannot create existing resource.")
            email = str(body.get("email") or "")
            if self.owner_of_email(email) is not None:
                # wc_create_new_customer refuses a registered address (§2; the data store turns
                # the WP_Error into a 400 with its code).
                raise WooError(
                    400,
                    "registration-error-email-exists",
                    "An account is already registered with your email address. Please log in.",
                )
            username = str(body.get("username") or "")
            if username:
                if self._username_taken(username):
                    raise WooError(
                        400,
                        "registration-error-username-exists",
                        "An account is already registered with that username. Please choose another.",
                    )
            elif self.generate_username:
                username = self._new_username(email)
            else:
                raise WooError(400, "registration-error-invalid-username", "Please enter a valid account username.")
            if not body.get("password") and not self.generate_password:
                raise WooError(400, "registration-error-missing-password", "Please enter an account password.")
            user = WooUser(id=self._next_id, email=email, username=username, role=role)
            self._next_id += 1
            self._set_fields(user, body)
            self.users[user.id] = user
            self.counters["creates"] += 1
            self.counters["writes"] += 1
            # woocommerce_created_customer drives the "new account" e-mail, with no request
            # flag to suppress it (§2, woocommerce#14890), and the customer.created webhook.
            if notify:
                self.on_new_account(user)
            self.on_event("customer.created", user)
            return user

    def update(self, user_id: int, body: Mapping[str, Any]) -> WooUser:
        """PUT /customers/{id}: V1 update_item + update_item_permissions_check."""
        with self.lock:
            user = self.get(user_id)
            email = body.get("email")
            if user.role not in ALLOWED_ROLES:
                for prop in ("email", "password"):
                    if prop in body and body[prop] is not None and (prop == "password" or body[prop] != user.email):
                        raise WooError(
                            401,
                            "woocommerce_rest_cannot_edit",
                            f"Sorry, {prop} cannot be updated via this endpoint for a user with role {user.role}.",
                        )
            if email and self.owner_of_email(str(email), other_than=user.id) is not None:
                raise WooError(400, "woocommerce_rest_customer_invalid_email", "Email address is invalid.")
            if body.get("username") and body["username"] != user.username:
                raise WooError(400, "woocommerce_rest_customer_invalid_argument", "Username isn't editable.")
            if email is not None:
                user.email = str(email)
            self._set_fields(user, body)
            # save() runs profile_update, which bumps last_update even when nothing changed,
            # and fires customer.updated: the connector's own writes come back as echoes (§2).
            user.modified = _now()
            self.counters["updates"] += 1
            self.counters["writes"] += 1
            self.on_event("customer.updated", user)
            return user

    def delete(self, user_id: int, *, force: bool, check_role: bool = True) -> WooUser:
        """DELETE /customers/{id}: no trash, a hard wp_delete_user (§2)."""
        with self.lock:
            if not force:
                raise WooError(501, "woocommerce_rest_trash_not_supported", "Customers do not support trashing.")
            user = self.get(user_id)
            if check_role and user.role not in ALLOWED_ROLES:
                raise WooError(
                    401,
                    "woocommerce_rest_cannot_delete",
                    f"Sorry, users with {user.role} role cannot be deleted via this endpoint. "
                    f"Allowed roles: {', '.join(ALLOWED_ROLES)}",
                )
            del self.users[user_id]
            self.counters["deletes"] += 1
            self.counters["writes"] += 1
            # customer.deleted hangs on delete_user and fires only for role customer (§2).
            if user.role == "customer":
                self.on_event("customer.deleted", user)
            return user

    def seed(self, data: Mapping[str, Any]) -> WooUser:
        """Load one user as it is (no checks, no e-mail, no webhook): a shop's existing data."""
        with self.lock:
            user_id = int(data.get("id") or self._next_id)
            user = WooUser(
                id=user_id,
                email=str(data.get("email") or ""),
                username=str(data.get("username") or self._new_username(str(data.get("email") or ""))),
                role=str(data.get("role") or "customer"),
            )
            self._set_fields(user, data)
            self.users[user_id] = user
            self._next_id = max(self._next_id, user_id + 1)
            return user

    # -- the collection ----------------------------------------------------------------------

    def listing(
        self,
        *,
        role: str,
        orderby: str,
        order: str,
        email: str | None,
        search: str | None,
        include: Iterable[int],
        exclude: Iterable[int],
    ) -> list[WooUser]:
        """WP_User_Query as V1 get_items builds it (role default customer, `all` = any)."""
        include_ids, exclude_ids = set(include), set(exclude)
        with self.lock:
            users = list(self.users.values())
        if role != "all":
            users = [u for u in users if u.role == role]
        if include_ids:
            users = [u for u in users if u.id in include_ids]
        if exclude_ids:
            users = [u for u in users if u.id not in exclude_ids]
        if email:
            users = [u for u in users if u.email.casefold() == email.casefold()]
        elif search:
            needle = search.casefold()
            users = [
                u
                for u in users
                if needle in u.email.casefold()
                or needle in u.username.casefold()
                or needle in u.display_name.casefold()
            ]
        keys: dict[str, Callable[[WooUser], Any]] = {
            "id": lambda u: u.id,
            "include": lambda u: u.id,
            "name": lambda u: (u.display_name.casefold(), u.id),
            "registered_date": lambda u: (u.created, u.id),
        }
        users.sort(key=keys[orderby], reverse=order == "desc")
        return users
