"""Opening the database: one engine per URL, with SQLite tuned for one writer and crash safety,
and PostgreSQL (psycopg 3) with its password taken from the environment, never the file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connector.errors import ConfigError


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (status, the web app) work while a sync run writes; FULL sync makes a
    # committed transaction survive a power cut, which the outbox relies on.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# The store's password, merged into a server URL that has none: the configuration file
# names the server, the user and the database; the secret stays in the environment.
PASSWORD_ENV = "CONNECTOR_STORE_PASSWORD"  # noqa: S105 - the variable's name, not a password


def with_password(url: sa.URL, env: Mapping[str, str] | None = None) -> sa.URL:
    """`url` with the password from CONNECTOR_STORE_PASSWORD when it carries none."""
    password = (os.environ if env is None else env).get(PASSWORD_ENV)
    if url.get_backend_name() == "sqlite" or url.password is not None or not password:
        return url
    return url.set(password=password)


def open_engine(url: str) -> sa.Engine:
    """An engine for `url`; a SQLite file's directory must exist (the file is created)."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        # Never echo the URL: it may carry a password.
        raise ConfigError("[store] url: not a database URL (expected sqlite:///… or postgresql+psycopg://…)") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        # Not created here: a directory made silently (as root, by a first run by hand) is
        # one cron's user cannot write. Say what to create instead.
        if database and database != ":memory:" and not Path(database).parent.is_dir():
            raise ConfigError(
                f"[store] url: the directory {Path(database).parent} of the SQLite file does not exist; "
                f"create it for the user the connector runs as (install -d -o connector {Path(database).parent})"
            )
        engine = sa.create_engine(parsed, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        # Open it once now: a path that is a directory, or a file or directory the process
        # may not write, fails here with the key to fix instead of deep inside a migration.
        try:
            with engine.connect():
                pass
        except sa.exc.OperationalError as exc:
            engine.dispose()
            raise ConfigError(f"[store] url: cannot open the SQLite database {database}: {exc.orig}") from None
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        raise ConfigError("[store] url: PostgreSQL is reached through psycopg 3: postgresql+psycopg://user@host/db")
    try:
        # pre_ping: after a server restart the pool's dead connections are replaced on checkout,
        # so every process recovers by itself.
        return sa.create_engine(with_password(parsed), pool_pre_ping=True, pool_size=5, max_overflow=5)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"[store] url: the database driver is not installed ({exc.name})") from None
