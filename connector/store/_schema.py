"""The sync state's tables and their versioned migrations.

A migration is a numbered step run once, in order, inside a transaction; `schema_migrations`
records which have run, so an old store is brought up to date by `migrate(engine)`.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

metadata = sa.MetaData()

schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.String(40), nullable=False),
)

# One row per person known on either side: which e-shop customer is which POHODA contact.
links = sa.Table(
    "links",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("eshop_id", sa.String(64), unique=True),
    sa.Column("pohoda_id", sa.String(32), unique=True),
    # A temporary GUID standing in for the POHODA id while the customer is pending (async).
    sa.Column("temp_hq_id", sa.String(64), unique=True),
    # linked | creating_pohoda | creating_eshop | pending_sync | deleted_eshop | deleted_pohoda
    # | secondary (a person's second e-shop account; its contact is `contact_of`)
    sa.Column("state", sa.String(24), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    # The POHODA contact a second account belongs to (that contact's extId is the first
    # account's id, so pohoda_id stays unique to the first). Migration 4.
    sa.Column("contact_of", sa.String(32)),
)

# The content both sides last agreed on: the base of the three-way merge.
synced_versions = sa.Table(
    "synced_versions",
    metadata,
    sa.Column("link_id", sa.Integer, sa.ForeignKey("links.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("synced_at", sa.String(40), nullable=False),
)

# The last content seen on each side, per record: the echo filter and the dedup index.
mirror = sa.Table(
    "mirror",
    metadata,
    sa.Column("side", sa.String(8), primary_key=True),
    sa.Column("record_id", sa.String(64), primary_key=True),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("version", sa.String(64)),
    sa.Column("ext_id", sa.String(64)),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("seen_at", sa.String(40), nullable=False),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

# Operations planned and not yet confirmed by the other side, delivered in id order.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(40), nullable=False),
    sa.Column("link_id", sa.Integer, sa.ForeignKey("links.id", ondelete="CASCADE"), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),  # pohoda | eshop
    sa.Column("kind", sa.String(16), nullable=False),  # create | update | link | delete
    sa.Column("payload", sa.Text, nullable=False),
    # pending | done | refused | superseded
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("done_at", sa.String(40)),
    # Who delivers it now, and until when (seconds since the epoch, the database's clock):
    # a live worker renews its lease; a dead one's claims are taken over once it expires.
    # Migration 5.
    sa.Column("claimed_by", sa.String(64)),
    sa.Column("lease_until", sa.Float),
)
sa.Index("ix_outbox_state", outbox.c.state, outbox.c.id)
sa.Index("ix_outbox_link", outbox.c.link_id)

# Every operation's outcome, for people: when, who, what, on which side, result, note.
audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("run_id", sa.String(40)),
    sa.Column("link_id", sa.Integer),
    sa.Column("outbox_id", sa.Integer),
    sa.Column("eshop_id", sa.String(64)),
    sa.Column("pohoda_id", sa.String(32)),
    sa.Column("operation", sa.String(24), nullable=False),
    sa.Column("side", sa.String(8)),
    sa.Column("before_hash", sa.String(64)),
    sa.Column("after_hash", sa.String(64)),
    # done | refused | pending | conflict | skipped | review
    sa.Column("result", sa.String(12), nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("detail", sa.Text),
)
sa.Index("ix_audit_link", audit.c.link_id)
sa.Index("ix_audit_eshop", audit.c.eshop_id)

# Likely duplicates a person must decide on: accept = link the two, reject = create.
review_queue = sa.Table(
    "review_queue",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("side", sa.String(8), nullable=False),  # the side the new record is on
    sa.Column("record_id", sa.String(64), nullable=False),
    sa.Column("candidate_side", sa.String(8), nullable=False),
    sa.Column("candidate_id", sa.String(64), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("state", sa.String(12), nullable=False),  # open | accepted | rejected
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("decided_at", sa.String(40)),
)
sa.Index("ix_review_record", review_queue.c.side, review_queue.c.record_id)

run_locks = sa.Table(
    "run_locks",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("acquired_at", sa.String(40), nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40)),
    sa.Column("state", sa.String(12), nullable=False),  # running | done | failed
    sa.Column("summary", sa.Text),
)


# Webhook events, stored before the webhook is answered: the worker processes each once.
webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(128), nullable=False, unique=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("received_at", sa.String(40), nullable=False),
    # Seconds since the epoch at receipt: the start of the event-to-POHODA latency.
    sa.Column("received_ts", sa.Float, nullable=False),
    sa.Column("state", sa.String(12), nullable=False),  # received | processed | failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("processed_at", sa.String(40)),
    sa.Column("run_id", sa.String(40)),
    sa.Column("error", sa.Text),
)
sa.Index("ix_webhook_events_state", webhook_events.c.state, webhook_events.c.id)

# The pricing worker's carts, their addresses and lines, and answered idempotency keys.
carts = sa.Table(
    "pricing_carts",
    metadata,
    sa.Column("cart_id", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("next_line_id", sa.Integer, nullable=False),
    sa.Column("summary", sa.Text, nullable=True),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

cart_addresses = sa.Table(
    "pricing_cart_addresses",
    metadata,
    sa.Column("cart_id", sa.String(64), sa.ForeignKey("pricing_carts.cart_id"), primary_key=True),
    sa.Column("address_id", sa.String(64), primary_key=True),
    sa.Column("country", sa.String(64), nullable=False),
    sa.Column("region", sa.String(64), nullable=False),
)

cart_lines = sa.Table(
    "pricing_cart_lines",
    metadata,
    sa.Column("cart_id", sa.String(64), sa.ForeignKey("pricing_carts.cart_id"), primary_key=True),
    sa.Column("line_id", sa.Integer, primary_key=True),
    sa.Column("part_number", sa.String(64), nullable=False),
    sa.Column("catentry_id", sa.String(64), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("attributes", sa.Text, nullable=False),  # JSON list of [name, value]
    sa.Column("ship_mode", sa.String(64), nullable=False),
    sa.Column("address_id", sa.String(64), nullable=False),
    sa.Column("ffc", sa.String(64), nullable=False),
    # Money as text: SQLite has no exact decimal type and a float would lose cents.
    sa.Column("unit_price", sa.String(40), nullable=True),
    sa.Column("line_total", sa.String(40), nullable=True),
    sa.Column("price_refreshed", sa.Boolean, nullable=False),
    sa.Column("last_priced_ms", sa.BigInteger, nullable=True),
    sa.Column("inventory", sa.String(16), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)

cart_requests = sa.Table(
    "pricing_cart_requests",
    metadata,
    sa.Column("cart_id", sa.String(64), primary_key=True),
    sa.Column("idempotency_key", sa.String(128), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("response", sa.Text, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)


# The dedup index of one side's contacts, kept in step with its mirror rows (`put_mirror`), so
# a registration is compared with the contacts sharing one of its blocking keys, found by key,
# instead of with an index rebuilt from the whole mirror in every run. `settings`: the region,
# e-mail rules and key version the keys were made with (others: the index is built again);
# `model`: the match model fitted over the whole side, and the population it was fitted at.
dedup_index = sa.Table(
    "dedup_index",
    metadata,
    sa.Column("side", sa.String(8), primary_key=True),
    sa.Column("settings", sa.String(200), nullable=False),
    sa.Column("model", sa.Text),
    sa.Column("fitted_population", sa.Integer, nullable=False, default=0),
    sa.Column("built_at", sa.String(40), nullable=False),
)

# The contacts indexed (one row each: the side's population), with their blocking keys'
# hashes and name tokens; `dedup_keys` files them by key and `dedup_tokens` by name token (a
# token's count over the side is its term frequency). Each table is read and written by its
# primary key only: a record's key and token rows are found through its `dedup_records` row.
dedup_records = sa.Table(
    "dedup_records",
    metadata,
    sa.Column("side", sa.String(8), primary_key=True),
    sa.Column("record_id", sa.String(64), primary_key=True),
    sa.Column("key_hashes", sa.Text, nullable=False),
    sa.Column("names", sa.Text, nullable=False),
)

dedup_keys = sa.Table(
    "dedup_keys",
    metadata,
    sa.Column("side", sa.String(8), primary_key=True),
    sa.Column("key_hash", sa.BigInteger, primary_key=True),
    sa.Column("record_id", sa.String(64), primary_key=True),
)

# Mirror rows written since they were last indexed (by `put_mirror`, one row each): indexed
# when the index is next asked, so a run that writes many contacts (an import's echoes) does
# not pay for keys nobody asks for yet.
dedup_dirty = sa.Table(
    "dedup_dirty",
    metadata,
    sa.Column("side", sa.String(8), primary_key=True),
    sa.Column("record_id", sa.String(64), primary_key=True),
    sa.Column("content_hash", sa.String(64), nullable=False),
)

dedup_tokens = sa.Table(
    "dedup_tokens",
    metadata,
    sa.Column("side", sa.String(8), primary_key=True),
    sa.Column("token", sa.String(200), primary_key=True),
    sa.Column("record_id", sa.String(64), primary_key=True),
)


Migration = Callable[[sa.Connection], None]


def _initial(conn: sa.Connection) -> None:
    tables = [links, synced_versions, mirror, cursors, outbox, audit, review_queue, run_locks, runs]
    metadata.create_all(conn, tables=tables)


def _webhook_events(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[webhook_events])


def _pricing(conn: sa.Connection) -> None:
    # checkfirst: a worker of an older connector created these without a migration.
    metadata.create_all(conn, tables=[carts, cart_addresses, cart_lines, cart_requests], checkfirst=True)


def _second_accounts(conn: sa.Connection) -> None:
    if "contact_of" not in {column["name"] for column in sa.inspect(conn).get_columns("links")}:
        conn.execute(sa.text("ALTER TABLE links ADD COLUMN contact_of VARCHAR(32)"))


def _claims(conn: sa.Connection) -> None:
    present = {column["name"] for column in sa.inspect(conn).get_columns("outbox")}
    if "claimed_by" not in present:
        conn.execute(sa.text("ALTER TABLE outbox ADD COLUMN claimed_by VARCHAR(64)"))
    if "lease_until" not in present:
        conn.execute(sa.text("ALTER TABLE outbox ADD COLUMN lease_until FLOAT"))
    # The claim's search: pending operations of one side, oldest first.
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_outbox_side_state ON outbox (side, state, id)"))
    # A worker's renewal and release find its own claims without reading the whole backlog.
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_outbox_claimed_by ON outbox (claimed_by, side, state)"))


def _lookup_indexes(conn: sa.Connection) -> None:
    # A run plans from the changed records only and reads the rest by key: links by either
    # side's id (unique, indexed since migration 1; a missing id is found through the same
    # index), mirror rows and bases by their primary keys, and review items by their state
    # (open, or decided and not yet applied), indexed here.
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_review_state ON review_queue (state, id)"))


def _dedup_index(conn: sa.Connection) -> None:
    tables = [dedup_index, dedup_records, dedup_keys, dedup_tokens, dedup_dirty]
    metadata.create_all(conn, tables=tables, checkfirst=True)


MIGRATIONS: list[tuple[int, str, Migration]] = [
    (1, "links, synced versions, mirror, cursors, outbox, audit, review queue, run locks, runs", _initial),
    (2, "webhook events", _webhook_events),
    (3, "pricing carts, cart addresses, cart lines, answered cart requests", _pricing),
    (4, "links.contact_of: a person's second e-shop account", _second_accounts),
    (5, "outbox claims: claimed_by and lease_until, for several processes sharing the work", _claims),
    (6, "review queue by state, for plans read by key", _lookup_indexes),
    (7, "dedup index: POHODA's contacts by blocking key, kept with the mirror", _dedup_index),
]
