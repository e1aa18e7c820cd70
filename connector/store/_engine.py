"""Opening the database: one engine per URL, with SQLite tuned for one writer and crash safety."""

from __future__ import annotations

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


def open_engine(url: str) -> sa.Engine:
    """An engine for `url`; a SQLite file's directory is created when missing."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(f"[store] url: not a database URL: {url!r}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return sa.create_engine(parsed, pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"[store] url: the database driver is not installed ({exc.name})") from None
