"""PrestaShop's field definitions and validators for customers, addresses and countries.

The facts the simulator enforces, each with its source: the classes' `$definition` and
`$webserviceParameters` and `classes/Validate.php` (PrestaShop/PrestaShop), as summarised in
../shared/eshop-platforms.md §1. Pure data and functions; `_prestashop_shop` applies them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

from connector.codec.prestashop_validate import (
    is_address,
    is_ape,
    is_birth_date,
    is_bool,
    is_city_name,
    is_clean_html,
    is_customer_name,
    is_date,
    is_date_or_null,
    is_dni_lite,
    is_email,
    is_float,
    is_generic_name,
    is_language_iso_code,
    is_md5,
    is_message,
    is_name,
    is_passwd_or_hash,
    is_phone_number,
    is_post_code,
    is_sha1,
    is_unsigned_int,
    is_url,
)

Version = Literal["1.7", "8"]
Kind = Literal["string", "int", "bool", "date", "datetime", "float", "html"]

# What `PSWS-Version` says (WebserviceRequest::returnOutput sets it to _PS_VERSION_, and only
# once the key is authenticated).
PSWS_VERSIONS: dict[str, str] = {"1.7": "1.7.8.11", "8": "8.1.7"}

# WebserviceRequest::checkHTTPMethod: the methods a request may use at all. PATCH was added in
# 8.0 (PrestaShop/PrestaShop#27952); on 1.7 it is "Method PATCH is not valid", 405 code 23.
HTTP_METHODS: dict[str, frozenset[str]] = {
    "1.7": frozenset({"GET", "PUT", "POST", "DELETE", "HEAD"}),
    "8": frozenset({"GET", "PUT", "POST", "PATCH", "DELETE", "HEAD"}),
}

# PS_CUSTOMER_GROUP of a fresh install: the "Customer" group, the default of new accounts
# (Customer::__construct, Customer::updateGroup).
DEFAULT_CUSTOMER_GROUP = "3"


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """One field of a resource, as `$definition` declares it and the webservice exposes it."""

    name: str
    kind: Kind = "string"
    required: bool = False
    size: int | None = None
    validate: Callable[[str], bool] | None = None
    xlink: str | None = None  # the resource an id field links to (xlink:href on output)
    setter: str | None = None  # "passwd": written through setWsPasswd
    i18n: bool = False

    def wiped(self) -> str:
        """What the row holds after a PUT left the field out (saveEntityFromXml sets it to
        null; ObjectModel::formatValue stores 0 for ints and bools, a zero date for dates,
        '' for strings: answers show `0000-00-00` for a birthday never set)."""
        if self.kind in ("int", "bool"):
            return "0"
        if self.kind == "float":
            return "0.000000"
        if self.kind == "date":
            return "0000-00-00"
        if self.kind == "datetime":
            return "0000-00-00 00:00:00"
        return ""


def _customer_fields(version: Version) -> tuple[FieldSpec, ...]:
    # Webservice order: `id`, then $webserviceParameters['fields'], then the rest of
    # $definition (ObjectModel::getWebserviceParameters); it is also the order in which
    # saveEntityFromXml reports the first missing required field.
    note = (
        FieldSpec("note", "html", size=65000, validate=is_clean_html)
        if version == "1.7"
        # 8.1+: 4194303 characters and no validator (adorade/prestashop-php-stubs, per §1).
        else FieldSpec("note", "html", size=4194303)
    )
    return (
        FieldSpec("id", "int"),
        FieldSpec("id_default_group", "int", xlink="groups"),
        FieldSpec("id_lang", "int", validate=is_unsigned_int, xlink="languages"),
        FieldSpec("newsletter_date_add", "datetime"),
        FieldSpec("ip_registration_newsletter"),
        # 'setter' => null: the code's isset() is false for null, so the value is written back
        # when sent and wiped when left out (§1, "My reading of the 1.7.8 code").
        FieldSpec("last_passwd_gen", "datetime"),
        FieldSpec("secure_key", validate=is_md5),
        FieldSpec("deleted", "bool", validate=is_bool),
        FieldSpec("passwd", required=True, size=255, validate=is_passwd_or_hash, setter="passwd"),
        FieldSpec("lastname", required=True, size=255, validate=is_customer_name),
        FieldSpec("firstname", required=True, size=255, validate=is_customer_name),
        FieldSpec("email", required=True, size=255, validate=is_email),
        FieldSpec("id_gender", "int", validate=is_unsigned_int),
        FieldSpec("birthday", "date", validate=is_birth_date),
        FieldSpec("newsletter", "bool", validate=is_bool),
        FieldSpec("optin", "bool", validate=is_bool),
        FieldSpec("website", validate=is_url),
        FieldSpec("company", validate=is_generic_name),
        FieldSpec("siret", validate=is_generic_name),
        FieldSpec("ape", validate=is_ape),
        FieldSpec("outstanding_allow_amount", "float", validate=is_float),
        FieldSpec("show_public_prices", "bool", validate=is_bool),
        FieldSpec("id_risk", "int", validate=is_unsigned_int),
        FieldSpec("max_payment_days", "int", validate=is_unsigned_int),
        FieldSpec("active", "bool", validate=is_bool),
        note,
        FieldSpec("is_guest", "bool", validate=is_bool),
        FieldSpec("id_shop", "int", validate=is_unsigned_int),
        FieldSpec("id_shop_group", "int", validate=is_unsigned_int),
        FieldSpec("date_add", "datetime", validate=is_date),
        FieldSpec("date_upd", "datetime", validate=is_date),
        FieldSpec("reset_password_token", size=40, validate=is_sha1),
        FieldSpec("reset_password_validity", "datetime", validate=is_date_or_null),
    )


# Address.php $definition. Names and company keep the 1.6/1.7.0 sizes (32 and 64); 9.0 raised
# them to 255 (§1): the simulator holds the stricter limits so that nothing passes it that an
# older shop would refuse.
ADDRESS_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("id", "int"),
    FieldSpec("id_customer", "int", validate=is_unsigned_int, xlink="customers"),
    FieldSpec("id_manufacturer", "int", validate=is_unsigned_int, xlink="manufacturers"),
    FieldSpec("id_supplier", "int", validate=is_unsigned_int, xlink="suppliers"),
    FieldSpec("id_warehouse", "int", validate=is_unsigned_int, xlink="warehouses"),
    FieldSpec("id_country", "int", required=True, validate=is_unsigned_int, xlink="countries"),
    FieldSpec("id_state", "int", validate=is_unsigned_int, xlink="states"),
    FieldSpec("alias", required=True, size=32, validate=is_generic_name),
    FieldSpec("company", size=64, validate=is_generic_name),
    FieldSpec("lastname", required=True, size=32, validate=is_name),
    FieldSpec("firstname", required=True, size=32, validate=is_name),
    FieldSpec("vat_number", size=32, validate=is_generic_name),
    FieldSpec("address1", required=True, size=128, validate=is_address),
    FieldSpec("address2", size=128, validate=is_address),
    FieldSpec("postcode", size=12, validate=is_post_code),
    FieldSpec("city", required=True, size=64, validate=is_city_name),
    FieldSpec("other", size=300, validate=is_message),
    FieldSpec("phone", size=32, validate=is_phone_number),
    FieldSpec("phone_mobile", size=32, validate=is_phone_number),
    FieldSpec("dni", size=16, validate=is_dni_lite),
    FieldSpec("deleted", "bool", validate=is_bool),
    FieldSpec("date_add", "datetime", validate=is_date),
    FieldSpec("date_upd", "datetime", validate=is_date),
)

# Country.php, the fields an integration reads (webservice/resources/countries.md); `name` is
# translated (one <language> per shop language).
COUNTRY_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("id", "int"),
    FieldSpec("id_zone", "int", required=True, xlink="zones"),
    FieldSpec("id_currency", "int", xlink="currencies"),
    FieldSpec("call_prefix", "int"),
    FieldSpec("iso_code", required=True, size=3, validate=is_language_iso_code),
    FieldSpec("active", "bool"),
    FieldSpec("contains_states", "bool", required=True),
    FieldSpec("need_identification_number", "bool", required=True),
    FieldSpec("need_zip_code", "bool"),
    FieldSpec("zip_code_format"),
    FieldSpec("display_tax_label", "bool", required=True),
    FieldSpec("name", required=True, size=64, i18n=True),
)


@dataclasses.dataclass(frozen=True)
class Resource:
    """One webservice resource: its node names, its fields and what the simulator's key may do."""

    name: str  # "customers": the URL segment and the list's node
    node: str  # "customer": one record's node
    class_name: str  # "Customer": what validation messages call it
    fields: tuple[FieldSpec, ...]
    methods: frozenset[str]  # the key's permissions on this resource (webservice_permission)
    validation_order: tuple[str, ...] = ()  # $definition order (ObjectModel::validateFields)

    def field(self, name: str) -> FieldSpec | None:
        for spec in self.fields:
            if spec.name == name:
                return spec
        return None

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.fields)


_CUSTOMER_DEFINITION_ORDER = (
    "secure_key", "lastname", "firstname", "email", "passwd", "last_passwd_gen", "id_gender", "birthday",
    "newsletter", "newsletter_date_add", "ip_registration_newsletter", "optin", "website", "company", "siret",
    "ape", "outstanding_allow_amount", "show_public_prices", "id_risk", "max_payment_days", "active", "deleted",
    "note", "is_guest", "id_shop", "id_shop_group", "id_default_group", "id_lang", "date_add", "date_upd",
    "reset_password_token", "reset_password_validity",
)  # fmt: skip


def resources(version: Version) -> dict[str, Resource]:
    """The three resources the simulator serves, for one PrestaShop version."""
    writes = HTTP_METHODS[version]
    return {
        "customers": Resource(
            "customers",
            "customer",
            "Customer",
            _customer_fields(version),
            writes,
            _CUSTOMER_DEFINITION_ORDER,
        ),
        "addresses": Resource(
            "addresses",
            "address",
            "Address",
            ADDRESS_FIELDS,
            writes,
            tuple(spec.name for spec in ADDRESS_FIELDS if spec.name != "id"),
        ),
        # The simulator's key may only read countries: a write is 405 code 25 (checkHTTPMethod).
        "countries": Resource(
            "countries",
            "country",
            "Country",
            COUNTRY_FIELDS,
            frozenset({"GET", "HEAD"}),
            tuple(spec.name for spec in COUNTRY_FIELDS if spec.name != "id"),
        ),
    }
