"""`connector check` as data: every configured part tried once, each with ok, what is
wrong and what to do; and the store's "do not create it here" rule for commands that read.

The CLI prints these results; nothing here prints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import socket
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from connector.config import MIN_SECRET_BYTES, Config, load_config
from connector.errors import ConfigError, ConnectorError

__all__ = [
    "CRON_FILE",
    "CheckResult",
    "StoreMissing",
    "interactive",
    "require_existing_store",
    "run_checks",
    "sqlite_path",
]

CRON_FILE = "/etc/cron.d/connector"
# What a person waits for at most, per command, unless told otherwise (--timeout); cron's
# runs keep the configuration's long retry budget ([pohoda] retry_max_s and the like).
INTERACTIVE_TIMEOUT_S = 10.0

State = Literal["ok", "fail", "skip"]


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One part's check: `state` ok/fail/skip, `detail` what was found, `fix` what to do."""

    name: str
    state: State
    detail: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.state != "fail"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class StoreMissing(ConfigError):
    """A command that reads the store found none where the configuration points."""


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None: another database, or in memory)."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _looked_for(config: Config) -> str:
    if config.store.url:
        return f"[store] url of {'the environment' if config.source == '<environment>' else config.source}"
    if config.source == "<environment>":
        return "no configuration file was given (--config or CONNECTOR_CONFIG): the default store is ./connector.db"
    return f"the default store beside the configuration {config.source}"


def require_existing_store(config: Config) -> None:
    """Refuse (StoreMissing) when the store is a SQLite file that does not exist yet: a
    command that only reads would create an empty store and report "all clear" from it."""
    path = sqlite_path(config.store_url)
    if path is None or path.exists():
        return
    raise StoreMissing(
        f"no store at {path} ({_looked_for(config)}): give the configuration the sync runs with "
        "(--config or CONNECTOR_CONFIG, [store] url), or run `connector sync` once to create the store"
    )


def interactive(config: Config, timeout_s: float = INTERACTIVE_TIMEOUT_S) -> Config:
    """The configuration with a person's budget: each exchange with a peer is over within
    `timeout_s` (half for retrying, half for the last attempt's answer)."""
    half = max(timeout_s / 2, 0.1)
    pohoda = dataclasses.replace(
        config.pohoda,
        retry_max_s=min(config.pohoda.retry_max_s, half),
        connect_timeout_s=min(config.pohoda.connect_timeout_s, half),
        read_timeout_s=min(config.pohoda.read_timeout_s, half),
    )
    eshop = dataclasses.replace(
        config.eshop,
        retry_max_s=min(config.eshop.retry_max_s, half),
        connect_timeout_s=min(config.eshop.connect_timeout_s, half),
        read_timeout_s=min(config.eshop.read_timeout_s, half),
    )
    return dataclasses.replace(config, pohoda=pohoda, eshop=eshop)


# -- the checks ----------------------------------------------------------------------------


def check_store(config: Config) -> CheckResult:
    from connector.store import MIGRATIONS, Store, schema_migrations

    url = config.store_url
    path = sqlite_path(url)
    if path is not None:
        directory = path.parent
        if not directory.is_dir():
            return CheckResult(
                "store",
                "fail",
                f"the directory {directory} of the SQLite store does not exist",
                f"create it, writable by the user cron runs as: install -d -o connector -g connector {directory}",
            )
        if not os.access(directory, os.W_OK | os.X_OK):
            # SQLite in WAL mode writes -wal and -shm files beside the database.
            return CheckResult(
                "store", "fail", f"the directory {directory} is not writable by this user",
                f"chown connector:connector {directory} (and run the check as that user)",
            )
        if not path.exists():
            return CheckResult("store", "ok", f"{path} not created yet; the first `connector sync` creates it there")
        if not os.access(path, os.R_OK | os.W_OK):
            return CheckResult("store", "fail", f"{path} is not readable and writable by this user",
                               f"chown connector:connector {path}")
    try:
        store = Store.open(url, migrate=False)
    except ConnectorError as exc:
        return CheckResult("store", "fail", str(exc), "check [store] url")
    try:
        with store.engine.begin() as conn:
            if not sa.inspect(conn).has_table(schema_migrations.name):
                return CheckResult("store", "ok", f"{_safe_db(url)} is empty; the first `connector sync` sets it up")
            done = {row[0] for row in conn.execute(sa.select(schema_migrations.c.version))}
            # A write that is rolled back: proves the user may write, changes nothing.
            conn.execute(
                schema_migrations.update().where(schema_migrations.c.version == -1).values(description="check")
            )
    except sa.exc.SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        return CheckResult("store", "fail", f"{_safe_db(url)}: {type(cause).__name__}: {cause}",
                           "check [store] url and the database's permissions")
    finally:
        store.close()
    missing = [version for version, _d, _s in MIGRATIONS if version not in done]
    newest = MIGRATIONS[-1][0]
    if max(done, default=0) > newest:
        return CheckResult("store", "fail", f"{_safe_db(url)} is of a newer connector", "upgrade the connector")
    if missing:
        return CheckResult(
            "store", "ok", f"{_safe_db(url)} reachable and writable; {len(missing)} migration(s) to apply, "
            "which the next command does"
        )
    return CheckResult("store", "ok", f"{_safe_db(url)} reachable, writable, migrated (schema {newest})")


def _safe_db(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "[store] url"


def check_pohoda(config: Config) -> CheckResult:
    from connector.peers.pohoda import PohodaClient

    try:
        config.require("pohoda.url", "pohoda.user", "pohoda.ico", "pohoda_password")
    except ConfigError as exc:
        return CheckResult("POHODA", "fail", str(exc), "set the key named")
    with PohodaClient.from_config(config) as client:
        found = client.check()
    where = f"mServer at {found.url}: "
    if found.ok:
        return CheckResult("POHODA", "ok", where + found.summary())
    return CheckResult("POHODA", "fail", where + found.summary(), found.fix)


def check_eshop(config: Config) -> CheckResult:
    from connector.peers import shop_peer
    from connector.transport import safe_url

    name = f"e-shop ({config.eshop.platform})"
    try:
        peer = shop_peer(config)
    except ConfigError as exc:
        return CheckResult(name, "fail", str(exc), "set the key named")
    try:
        # One customer that does not exist: an authenticated read that costs the shop nothing.
        peer.get("0")
    except ConnectorError as exc:
        return CheckResult(name, "fail", str(exc), "")
    finally:
        peer.close()
    where = f" at {safe_url(config.eshop.url)}" if config.eshop.url else ""
    return CheckResult(name, "ok", f"reachable{where}, the credentials are taken")


def check_mail(config: Config, timeout_s: float) -> CheckResult:
    url = config.mail.url
    if not url:
        return CheckResult("mail", "skip", "no [mail] url configured (the platform sends its own e-mails)")
    parts = urllib.parse.urlsplit(str(url))
    host = parts.hostname or ""
    port = parts.port or (465 if parts.scheme == "smtps" else 25)
    where = f"{parts.scheme}://{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.settimeout(timeout_s)
            greeting = b"" if parts.scheme == "smtps" else sock.recv(512)
    except OSError as exc:
        return CheckResult("mail", "fail", f"{where}: {exc.strerror or type(exc).__name__}",
                           "check [mail] url and that the mail server runs")
    if greeting and not greeting.startswith(b"220"):
        return CheckResult("mail", "fail", f"{where} did not greet as an SMTP server", "check [mail] url")
    return CheckResult("mail", "ok", f"{where} answers")


_LOG_TARGET = re.compile(r">>?\s*(/\S+)")


def check_cron(config: Config, root: Path) -> CheckResult:
    cron = root / CRON_FILE.lstrip("/")
    fix = f"cp cron.d/connector {CRON_FILE} (see README, Installing)"
    try:
        text = cron.read_text(encoding="utf-8")
    except FileNotFoundError:
        return CheckResult("cron", "fail", f"{cron} is not installed: nobody runs `connector sync`", fix)
    except OSError as exc:
        return CheckResult("cron", "fail", f"{cron}: {exc.strerror}", fix)
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    jobs = [line for line in lines if " sync" in line and "connector" in line and not re.match(r"^\w+=", line)]
    if not jobs:
        return CheckResult("cron", "fail", f"{cron} has no line that runs `connector … sync`", fix)
    named = "--config" in jobs[0] or "CONNECTOR_CONFIG" in jobs[0]
    source = str(config.source)
    if source not in ("<environment>", "<defaults>"):
        # The cron line names the path as the installed system sees it (without --root).
        with contextlib.suppress(ValueError):
            source = "/" + str(Path(source).resolve().relative_to(root.resolve()))
    if named and config.source not in ("<environment>", "<defaults>") and source not in jobs[0]:
        return CheckResult(
            "cron", "fail", f"{cron} runs the sync with another configuration than {config.source}",
            f"make the cron line's --config point at {config.source}",
        )
    for target in _LOG_TARGET.findall(jobs[0]):
        directory = (root / target.lstrip("/")).parent
        if not directory.is_dir():
            return CheckResult("cron", "fail", f"the cron line writes to {target}, whose directory does not exist",
                               f"install -d -o connector -g connector {Path(target).parent}")
    return CheckResult("cron", "ok", f"{cron} runs `connector sync`")


def check_secrets(config: Config) -> CheckResult:
    secrets = config.secrets
    if not secrets.webhook_secrets:
        return CheckResult("webhook secrets", "skip",
                           "CONNECTOR_WEBHOOK_SECRETS not set (only `connector serve` needs it)")
    short = [i for i, s in enumerate(secrets.webhook_secrets, 1) if len(s.encode("utf-8")) < MIN_SECRET_BYTES]
    if short:  # pragma: no cover - load_config refuses these already
        return CheckResult("webhook secrets", "fail", f"secret(s) {short} shorter than {MIN_SECRET_BYTES} bytes",
                           "generate one with `openssl rand -hex 32`")
    return CheckResult("webhook secrets", "ok",
                       f"{len(secrets.webhook_secrets)} secret(s), each at least {MIN_SECRET_BYTES} bytes")


def run_checks(
    config_path: str | None,
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float = INTERACTIVE_TIMEOUT_S,
    root: Path = Path("/"),
    on_result: Callable[[CheckResult], Any] | None = None,
) -> list[CheckResult]:
    """Every configured part, once; a result per part (`on_result` sees each as it comes)."""
    results: list[CheckResult] = []

    def add(result: CheckResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    try:
        config = load_config(config_path, env)
    except ConfigError as exc:
        add(CheckResult("configuration", "fail", str(exc), "fix the key named, then check again"))
        return results
    where = "the environment only" if config.source == "<environment>" else config.source
    add(CheckResult("configuration", "ok", f"{where} is valid"))
    quick = interactive(config, timeout_s)
    add(check_store(config))
    add(check_pohoda(quick))
    add(check_eshop(quick))
    add(check_mail(config, timeout_s))
    add(check_cron(config, root))
    add(check_secrets(config))
    return results
