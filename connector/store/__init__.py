"""The store: SQLAlchemy Core over SQLite (embedded default) or PostgreSQL.

`open_engine` is the one place that opens a database; `Store` reads and writes the sync
state (links, synced versions, mirror, cursors, outbox, audit, review queue, run locks).
"""

from connector.store._engine import open_engine
from connector.store._store import (
    AuditEntry,
    Link,
    MirrorRecord,
    OutboxEntry,
    ReviewItem,
    RunLockHeld,
    Store,
    WebhookEvent,
    WriteBatch,
    now_iso,
)

__all__ = [
    "AuditEntry",
    "Link",
    "MirrorRecord",
    "OutboxEntry",
    "ReviewItem",
    "RunLockHeld",
    "Store",
    "WebhookEvent",
    "WriteBatch",
    "now_iso",
    "open_engine",
]
