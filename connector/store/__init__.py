"""The store: SQLAlchemy Core over SQLite (embedded default) or PostgreSQL.

`open_engine` is the one place that opens a database; `Store` maps the sync state (links,
synced versions, mirror, cursors, outbox, audit, review queue, run locks; the model's
values) to rows, and `WriteBatch` gathers one chunk's writes into a few statements.
"""

from connector.store import _pricing_tables as pricing_tables
from connector.store._engine import open_engine
from connector.store._schema import MIGRATIONS, schema_migrations
from connector.store._store import DedupView, Store, WriteBatch, now_iso

__all__ = [
    "MIGRATIONS",
    "DedupView",
    "Store",
    "WriteBatch",
    "now_iso",
    "open_engine",
    "pricing_tables",
    "schema_migrations",
]
