"""Configuration: one TOML file, overridden key by key from the environment.

Secrets come only from the environment. Every error names the file (or variable), the key
and what is wrong, so that a cron job's mail says exactly what to fix.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import urllib.parse
import zoneinfo
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints

import phonenumbers

from connector.errors import ConfigError

ENV_PREFIX = "CONNECTOR_"
CONFIG_ENV = "CONNECTOR_CONFIG"

# Secrets: read from these variables only; a secret in the file is refused.
SECRET_ENV = {
    "pohoda_password": "CONNECTOR_POHODA_PASSWORD",
    "eshop_token": "CONNECTOR_ESHOP_TOKEN",
    # WooCommerce's REST API key pair (platform "woocommerce").
    "eshop_key": "CONNECTOR_ESHOP_KEY",
    "eshop_secret": "CONNECTOR_ESHOP_SECRET",
    "webhook_secrets": "CONNECTOR_WEBHOOK_SECRETS",
    "admin_token": "CONNECTOR_ADMIN_TOKEN",
    "mail_password": "CONNECTOR_MAIL_PASSWORD",
}
_SECRET_KEYS_IN_FILE = {
    ("pohoda", "password"),
    ("eshop", "token"),
    ("web", "webhook_secrets"),
    ("web", "admin_token"),
    ("mail", "password"),
}

CreateMode = Literal["sync", "async"]
LogFormat = Literal["auto", "json", "console"]


@dataclasses.dataclass(frozen=True)
class PohodaConfig:
    url: str | None = None
    user: str | None = None
    ico: str | None = None
    ex_system: str = "eshop"
    batch_size: int = 200
    application: str = "connector"
    check_duplicity: bool = True
    gzip: bool = True
    # A directory holding STORMWARE's full XSD set, to validate against instead of schemas/pohoda.
    schema_dir: str | None = None
    # Cut values longer than POHODA's field limits (with a warning) instead of refusing the item.
    truncate_long_values: bool = False
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 120.0
    # The retry policy gives up after this many seconds in all (then: PohodaUnreachable).
    retry_max_s: float = 60.0
    # Largest response accepted, in megabytes.
    max_response_mb: int = 512


@dataclasses.dataclass(frozen=True)
class EshopConfig:
    # Which shop platform the e-shop runs (a name from connector.peers.platforms()).
    platform: str = "connector"
    url: str | None = None
    batch_size: int = 100
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    retry_max_s: float = 60.0
    # The shop's own time zone (PrestaShop writes date_upd as local wall time, no zone).
    timezone: str = "Europe/Prague"
    # WooCommerce: the role whose users are the shop's customers (the API's default role).
    woocommerce_role: str = "customer"
    # WooCommerce: the user meta keys holding POHODA's id and the company ids (checkout
    # plugins' keys; "" = the shop does not keep that field).
    woocommerce_hq_id_key: str = "pohoda_id"
    woocommerce_ico_key: str = "billing_ic"
    woocommerce_dic_key: str = "billing_dic"
    woocommerce_ic_dph_key: str = "billing_ic_dph"


@dataclasses.dataclass(frozen=True)
class StoreConfig:
    # SQLAlchemy URL; default: connector.db beside the configuration file (or in the cwd).
    # PostgreSQL: postgresql+psycopg://user@host/db, the password in CONNECTOR_STORE_PASSWORD.
    url: str | None = None
    # How long an outbox claim lasts unless its worker renews it: a dead worker's operations
    # are taken over by the others after this.
    lease_s: float = 60.0


Winner = Literal["pohoda", "eshop"]


@dataclasses.dataclass(frozen=True)
class SyncConfig:
    create_mode: CreateMode = "sync"
    # Region used to read phone numbers written without a country code.
    default_region: str = "CZ"
    # Create an e-shop account (with its welcome e-mail) for a POHODA contact with a valid e-mail.
    auto_register: bool = True
    # Deleting a customer on the e-shop deletes the contact in POHODA too (default: keep it).
    delete_in_pohoda: bool = False
    # Who wins a field changed on both sides, per field group.
    winner_company_ids: Winner = "pohoda"
    winner_billing_address: Winner = "pohoda"
    winner_contact: Winner = "eshop"
    winner_consents: Winner = "eshop"
    winner_delivery: Winner = "eshop"
    winner_other: Winner = "pohoda"
    # One sync run gives up (the peer treated as unreachable) once it has run this long, so
    # a peer that answers a byte at a time cannot hold the cron slot for ever.
    max_run_s: float = 3600.0

    def winners(self) -> dict[str, str]:
        prefix = "winner_"
        return {
            f.name[len(prefix) :]: getattr(self, f.name) for f in dataclasses.fields(self) if f.name.startswith(prefix)
        }


@dataclasses.dataclass(frozen=True)
class DedupConfig:
    # One score per candidate pair: at or above link_threshold the two are linked, at or
    # above review_threshold a person decides (`connector review`), below they are different.
    link_threshold: float = 0.9
    review_threshold: float = 0.7
    # Provider-specific e-mail rules (gmail.com ignores dots and "+tag" in the local part).
    email_provider_rules: bool = True


@dataclasses.dataclass(frozen=True)
class WebConfig:
    # Where `connector serve` listens (the e-shop's host forwards its webhooks here).
    host: str = "127.0.0.1"
    port: int = 8080
    # Largest webhook body accepted, in bytes.
    max_body_bytes: int = 65536
    # How far a webhook signature's timestamp may be from this clock, either way, in seconds.
    tolerance_s: int = 300
    # Most webhook events synced in one targeted run.
    batch_max: int = 200
    # A webhook body not received in full within this many seconds is answered 408.
    body_timeout_s: float = 10.0


WelcomeBy = Literal["platform", "connector"]


@dataclasses.dataclass(frozen=True)
class MailConfig:
    # Where the welcome e-mail goes out: smtp://host:port or smtps://host:port (password:
    # CONNECTOR_MAIL_PASSWORD). Needed when the platform sends no welcome e-mail itself.
    url: str | None = None
    # From: of the welcome e-mail, e.g. "Obchod <noreply@obchod.cz>".
    sender: str | None = None
    # Who sends the welcome e-mail of an auto-registered account: the shop platform where it
    # can ("platform"), or always the connector ("connector").
    welcome: WelcomeBy = "platform"
    # The shop's name and address for the e-mail's text, and its password-reset page (an
    # account made by the connector has a random password the shopper replaces there).
    shop_name: str = "the shop"
    shop_url: str | None = None
    reset_url: str | None = None
    starttls: bool = False


@dataclasses.dataclass(frozen=True)
class LogConfig:
    level: str = "info"
    format: LogFormat = "auto"


@dataclasses.dataclass(frozen=True)
class Secrets:
    pohoda_password: str | None = None
    eshop_token: str | None = None
    eshop_key: str | None = None
    eshop_secret: str | None = None
    webhook_secrets: tuple[str, ...] = ()
    admin_token: str | None = None
    mail_password: str | None = None

    def __repr__(self) -> str:  # never print a secret, even in a traceback
        present = [f.name for f in dataclasses.fields(self) if getattr(self, f.name)]
        return f"Secrets(set={present})"


@dataclasses.dataclass(frozen=True)
class Config:
    pohoda: PohodaConfig
    eshop: EshopConfig
    store: StoreConfig
    sync: SyncConfig
    dedup: DedupConfig
    web: WebConfig
    log: LogConfig
    secrets: Secrets
    mail: MailConfig = dataclasses.field(default_factory=MailConfig)
    source: str = "<defaults>"

    def require(self, *keys: str) -> None:
        """Fail with a ConfigError naming each required `section.key` that has no value."""
        for key in keys:
            if key in SECRET_ENV:
                if not getattr(self.secrets, key):
                    raise ConfigError(f"{self.source}: the environment variable {SECRET_ENV[key]} is not set")
                continue
            section, _, name = key.partition(".")
            if getattr(getattr(self, section), name) in (None, ""):
                env = f"{ENV_PREFIX}{section.upper()}_{name.upper()}"
                raise ConfigError(f"{self.source}: [{section}] {name} is required (set it in the file or as {env})")

    @property
    def store_url(self) -> str:
        if self.store.url:
            return self.store.url
        base = Path(self.source).parent if self.source not in ("<defaults>", "<environment>") else Path.cwd()
        return f"sqlite:///{(base / 'connector.db').resolve()}"


_SECTIONS: dict[str, type] = {
    "pohoda": PohodaConfig,
    "eshop": EshopConfig,
    "store": StoreConfig,
    "sync": SyncConfig,
    "dedup": DedupConfig,
    "web": WebConfig,
    "log": LogConfig,
    "mail": MailConfig,
}


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# HMAC keys and bearer tokens shorter than this can be guessed or brute-forced offline.
MIN_SECRET_BYTES = 16
# The e-shop protocol takes at most this many customers in one POST /batch
# (connector.codec.eshop.MAX_BATCH_ITEMS; not imported, to keep config free of the codecs).
ESHOP_MAX_BATCH = 1000


def _http_url(value: Any) -> str | None:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an http:// or https:// URL with a host, got {value!r}"
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        return f"the port in {value!r} is not a number from 1 to 65535"
    return None


def _timezone(value: Any) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"must be an IANA time zone name (e.g. 'Europe/Prague'), got {value!r}"
    return None


def _between(low: float, high: float) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"must be from {low:g} to {high:g}, got {value:g}"

    return check


def _log_level(value: Any) -> str | None:
    return None if value.lower() in LOG_LEVELS else f"must be one of {', '.join(LOG_LEVELS)}, got {value!r}"


def _region(value: Any) -> str | None:
    if value in phonenumbers.SUPPORTED_REGIONS:
        return None
    return f"must be a region phone numbers are known for (ISO 3166 alpha-2 in capitals, e.g. 'CZ'), got {value!r}"


# What a value must be beyond its type; the message says what is wrong, the caller where.
_CHECKS: dict[tuple[str, str], Callable[[Any], str | None]] = {
    ("pohoda", "url"): _http_url,
    ("eshop", "url"): _http_url,
    ("pohoda", "batch_size"): _between(1, 10_000),
    ("eshop", "batch_size"): _between(1, ESHOP_MAX_BATCH),
    ("eshop", "timezone"): _timezone,
    ("pohoda", "max_response_mb"): _between(1, 4096),
    ("sync", "default_region"): _region,
    ("sync", "max_run_s"): _between(1, 7 * 24 * 3600),
    ("store", "lease_s"): _between(1, 24 * 3600),
    ("web", "port"): _between(1, 65535),
    # The same bounds as `connector serve`'s options.
    ("web", "max_body_bytes"): _between(256, 16 * 1024 * 1024),
    ("web", "tolerance_s"): _between(1, 3600),
    ("web", "batch_max"): _between(1, 5000),
    ("web", "body_timeout_s"): _between(0.1, 600),
    ("log", "level"): _log_level,
}


def _coerce(value: Any, annotation: Any, *, where: str) -> Any:
    """Turn a TOML or environment value into the field's type, or say what is wrong."""
    origin_args = get_args(annotation)
    if origin_args and all(isinstance(a, str) for a in origin_args):  # a Literal
        if value not in origin_args:
            choices = ", ".join(repr(a) for a in origin_args)
            raise ConfigError(f"{where}: must be one of {choices}, got {value!r}")
        return value
    allow_none = type(None) in origin_args
    base = next((a for a in origin_args if a is not type(None)), annotation) if origin_args else annotation
    if allow_none and (value is None or value == ""):
        return None
    if base is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{where}: must be true or false, got {value!r}")
    if base is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: must be a whole number, got {value!r}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: must be a whole number, got {value!r}") from None
        if number <= 0:
            raise ConfigError(f"{where}: must be greater than 0, got {number}")
        return number
    if base is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: must be a number, got {value!r}")
        try:
            number_f = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: must be a number, got {value!r}") from None
        if number_f <= 0:
            raise ConfigError(f"{where}: must be greater than 0, got {number_f}")
        return number_f
    if base is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: must be a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported value {value!r}")  # pragma: no cover


def _read_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file ({exc.strerror})") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the configuration file is not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read the file (optional), apply CONNECTOR_<SECTION>_<KEY> overrides, read the secrets."""
    environ = os.environ if env is None else env
    if path is None and environ.get(CONFIG_ENV):
        path = environ[CONFIG_ENV]
    data: dict[str, Any] = {}
    source = "<environment>"
    if path is not None:
        source = str(path)
        data = _read_file(Path(path))

    for section in data:
        if section not in _SECTIONS:
            if isinstance(data[section], dict):
                raise ConfigError(f"{source}: unknown section [{section}]")
            raise ConfigError(f"{source}: unknown key {section!r} outside any section")
    sections: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: {section!r} must be a table [{section}]")
        hints = get_type_hints(cls)
        for key in table:
            if (section, key) in _SECRET_KEYS_IN_FILE:
                env_name = {
                    ("pohoda", "password"): SECRET_ENV["pohoda_password"],
                    ("eshop", "token"): SECRET_ENV["eshop_token"],
                    ("eshop", "key"): SECRET_ENV["eshop_key"],
                    ("eshop", "secret"): SECRET_ENV["eshop_secret"],
                    ("web", "webhook_secrets"): SECRET_ENV["webhook_secrets"],
                    ("web", "admin_token"): SECRET_ENV["admin_token"],
                    ("mail", "password"): SECRET_ENV["mail_password"],
                }[(section, key)]
                raise ConfigError(
                    f"{source}: [{section}] {key} is a secret and may not be in a file; set {env_name} instead"
                )
            if key not in hints:
                known = ", ".join(hints)
                raise ConfigError(f"{source}: [{section}] unknown key {key!r} (known keys: {known})")
        values: dict[str, Any] = {}
        for name, annotation in hints.items():
            env_name = f"{ENV_PREFIX}{section.upper()}_{name.upper()}"
            if env_name in environ:
                where = f"environment {env_name}"
                values[name] = _coerce(environ[env_name], annotation, where=where)
            elif name in table:
                where = f"{source}: [{section}] {name}"
                values[name] = _coerce(table[name], annotation, where=where)
            else:
                continue
            check = _CHECKS.get((section, name))
            problem = check(values[name]) if check is not None and values[name] is not None else None
            if problem:
                raise ConfigError(f"{where}: {problem}")
        sections[section] = cls(**values)

    secrets = Secrets(
        pohoda_password=environ.get(SECRET_ENV["pohoda_password"]) or None,
        eshop_token=environ.get(SECRET_ENV["eshop_token"]) or None,
        eshop_key=environ.get(SECRET_ENV["eshop_key"]) or None,
        eshop_secret=environ.get(SECRET_ENV["eshop_secret"]) or None,
        webhook_secrets=tuple(
            s.strip() for s in environ.get(SECRET_ENV["webhook_secrets"], "").split(",") if s.strip()
        ),
        admin_token=environ.get(SECRET_ENV["admin_token"]) or None,
        mail_password=environ.get(SECRET_ENV["mail_password"]) or None,
    )
    for key, value in (
        *((SECRET_ENV["webhook_secrets"], s) for s in secrets.webhook_secrets),
        (SECRET_ENV["admin_token"], secrets.admin_token),
    ):
        if value is not None and len(value.encode("utf-8")) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"{source}: environment {key}: a secret must be at least {MIN_SECRET_BYTES} bytes long "
                f"(got {len(value.encode('utf-8'))}); generate one with `openssl rand -hex 32`"
            )
    dedup = sections["dedup"]
    for name in ("link_threshold", "review_threshold"):
        if not 0.0 < getattr(dedup, name) <= 1.0:
            raise ConfigError(f"{source}: [dedup] {name}: must be between 0 and 1, got {getattr(dedup, name)}")
    if dedup.review_threshold > dedup.link_threshold:
        raise ConfigError(
            f"{source}: [dedup] review_threshold ({dedup.review_threshold}) must not be above "
            f"link_threshold ({dedup.link_threshold})"
        )
    return Config(secrets=secrets, source=source, **sections)
