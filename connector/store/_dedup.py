"""The stored dedup index: a side's contacts by blocking key, kept in step with its mirror.

A registration is compared with the contacts that share one of its blocking keys. Those are
found here by key (an index lookup per key), so a run with a few registrations reads a few
dozen contacts, not the whole mirror, and no process rebuilds an index to answer it.

- `mark` runs inside every `Store.put_mirror`: each written record is marked in the same
  transaction (one small row; no keys are made there), and `refresh` indexes the marked
  records when the index is next asked. An import's echoes thus cost one row each, and the
  index is right, in every process that reads the store, whenever it is read.
- `build` starts the index of a side whose index is missing or was made with other settings
  (a store of an older connector, another region or e-mail rule, another `KEY_VERSION`): it
  marks every live mirror row, holding off the mirror's writers meanwhile, so no write slips
  between the marks and the index.
- `lookup` answers with the candidates of some queries' keys, a key shared by `block_cap`
  records or more left out as the engine leaves it out (not telling on its own).
- `population`, `tokens_of` and `token_counts` give what scoring needs of the whole side: how
  many contacts it has, and how many of them carry each name token asked about (the term
  frequencies).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from connector.dedup import KEY_VERSION, blocking_keys, prepare
from connector.errors import BadData
from connector.log import get_logger
from connector.model import Contact, MirrorRecord
from connector.store._schema import dedup_dirty, dedup_index, dedup_keys, dedup_records, dedup_tokens, mirror
from connector.store._slices import SLICE as _SLICE
from connector.store._slices import slices

log = get_logger(__name__)


def _contact(side: str, record_id: str, content: Any) -> Contact | None:
    """A mirror row's content as a contact; None (logged by id and field, never by value)
    for a row the model does not read any more (an older connector's, a hand edit): that
    contact is left out of the index, and nothing else stops."""
    try:
        return Contact.from_dict(json.loads(content) if isinstance(content, str) else content)
    except (BadData, ValueError, TypeError) as error:
        field = getattr(error, "field", None)
        log.warning("dedup index: a mirror row is not a contact, left out", side=side, record=record_id, field=field)
        return None


def settings_of(region: str, email_provider_rules: bool) -> str:
    """What the keys depend on besides the contact: stored with the index, compared on use."""
    return json.dumps({"region": region, "email_provider_rules": email_provider_rules, "keys": KEY_VERSION})


def key_hash(key: str) -> int:
    """A blocking key as a signed 64-bit integer, the same in every process and database."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def query_entries(contacts: Iterable[Contact], settings: str) -> tuple[set[int], set[str]]:
    """The key hashes and name tokens of some contacts, under `settings` (all of them together)."""
    entries_of = _entries_under(settings)
    hashes: set[int] = set()
    tokens: set[str] = set()
    for contact in contacts:
        contact_hashes, names = entries_of(contact)
        hashes |= contact_hashes
        tokens |= names
    return hashes, tokens


def _entries_under(settings: str) -> Callable[[Contact], tuple[set[int], set[str]]]:
    """One contact's key hashes and name tokens, under `settings` (read once, not per contact)."""
    options = json.loads(settings)
    region, rules = options["region"], options["email_provider_rules"]

    def entries_of(contact: Contact) -> tuple[set[int], set[str]]:
        features = prepare(contact, region=region, email_provider_rules=rules)
        return {key_hash(key) for key in blocking_keys(features)}, set(features.name)

    return entries_of


def settings_stored(conn: sa.Connection, side: str) -> str | None:
    return conn.execute(sa.select(dedup_index.c.settings).where(dedup_index.c.side == side)).scalar()


def index_row(conn: sa.Connection, side: str) -> sa.Row[Any] | None:
    return conn.execute(sa.select(dedup_index).where(dedup_index.c.side == side)).first()


def mark(conn: sa.Connection, records: Sequence[MirrorRecord]) -> None:
    """Mark these freshly written mirror rows for indexing (a side not indexed yet: nothing)."""
    for side in sorted({record.side for record in records}):
        if settings_stored(conn, side) is None:
            continue  # not indexed yet: `build` marks the whole mirror when the index is first needed
        written = {record.record_id: record.content_hash for record in records if record.side == side}
        for part in slices(sorted(written)):
            conn.execute(dedup_dirty.delete().where(dedup_dirty.c.side == side, dedup_dirty.c.record_id.in_(part)))
            conn.execute(
                dedup_dirty.insert(),
                [{"side": side, "record_id": record_id, "content_hash": written[record_id]} for record_id in part],
            )


def build(conn: sa.Connection, side: str, settings: str, *, stamp: str) -> None:
    """Start `side`'s index afresh: every live mirror row is marked, for `refresh` to index.

    The mirror's writers wait meanwhile: on PostgreSQL a SHARE lock on the mirror (a writer
    that began before is waited for and its rows are marked here; one that begins after waits
    for this transaction, then finds the index and marks its rows itself); on SQLite the first
    write below takes the database's one write lock before the mirror is read.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("LOCK TABLE mirror IN SHARE MODE"))
    for table in (dedup_keys, dedup_tokens, dedup_records, dedup_dirty, dedup_index):
        conn.execute(table.delete().where(table.c.side == side))
    conn.execute(dedup_index.insert().values(side=side, settings=settings, fitted_population=0, built_at=stamp))
    live = sa.select(mirror.c.side, mirror.c.record_id, mirror.c.content_hash).where(
        mirror.c.side == side, mirror.c.deleted.is_(False)
    )
    conn.execute(dedup_dirty.insert().from_select(["side", "record_id", "content_hash"], live))


def marked(conn: sa.Connection, side: str, limit: int, *, claim: bool = False) -> list[tuple[str, str]]:
    """Up to `limit` marked records of `side`: (record id, the content hash marked).

    `claim` (for `refresh`, in its transaction): on PostgreSQL the marks are locked, and
    those a writer holds are skipped (FOR UPDATE SKIP LOCKED) for the next refresh, so a
    refresh never waits for a writer and the two can never wait for each other; on SQLite
    the refresh takes the write lock, so no writer commits until it is done.
    """
    query = (
        sa.select(dedup_dirty.c.record_id, dedup_dirty.c.content_hash)
        .where(dedup_dirty.c.side == side)
        .order_by(dedup_dirty.c.record_id)
        .limit(limit)
    )
    if claim and conn.dialect.name == "sqlite":
        # The database's one write lock first: SQLite reads outside a transaction until its
        # first write, so a writer could otherwise commit between the marks read here and the
        # mirror rows `refresh` reads, and a record written X, Y, then X again meanwhile would
        # keep Y's entries with X's mark taken away.
        conn.execute(dedup_index.update().where(dedup_index.c.side == side).values(side=side))
    elif claim:
        query = query.with_for_update(skip_locked=True)
    return [(row.record_id, row.content_hash) for row in conn.execute(query)]


def refresh(conn: sa.Connection, side: str, settings: str, marks: Sequence[tuple[str, str]]) -> int:
    """Index these marked records as their mirror rows are now (a deleted or missing row: its
    entries go); unmark each, unless it was marked again for another content meanwhile."""
    record_ids = [record_id for record_id, _hash in marks]
    live: list[tuple[str, str]] = []
    for part in slices(record_ids):
        query = sa.select(mirror.c.record_id, mirror.c.content).where(
            mirror.c.side == side, mirror.c.record_id.in_(part), mirror.c.deleted.is_(False)
        )
        live.extend((row.record_id, row.content) for row in conn.execute(query))
    _forget(conn, side, record_ids)
    indexed = _insert(conn, side, live, settings)
    conn.execute(
        dedup_dirty.delete().where(
            dedup_dirty.c.side == side,
            dedup_dirty.c.record_id == sa.bindparam("record_id_"),
            dedup_dirty.c.content_hash == sa.bindparam("hash_"),
        ),
        [{"record_id_": record_id, "hash_": digest} for record_id, digest in marks],
    )
    return indexed


def _forget(conn: sa.Connection, side: str, record_ids: Sequence[str]) -> None:
    """Remove these records' entries, found through their `dedup_records` rows."""
    for part in slices(record_ids):
        query = sa.select(dedup_records).where(dedup_records.c.side == side, dedup_records.c.record_id.in_(part))
        rows = conn.execute(query).all()
        if not rows:
            continue
        keys = [{"h": int(value), "r": row.record_id} for row in rows for value in row.key_hashes.split()]
        tokens = [{"t": token, "r": row.record_id} for row in rows for token in row.names.split()]
        for table, column, values in ((dedup_keys, "key_hash", keys), (dedup_tokens, "token", tokens)):
            if values:
                conn.execute(
                    table.delete().where(
                        table.c.side == side,
                        table.c[column] == sa.bindparam("h" if column == "key_hash" else "t"),
                        table.c.record_id == sa.bindparam("r"),
                    ),
                    values,
                )
        conn.execute(
            dedup_records.delete().where(
                dedup_records.c.side == side, dedup_records.c.record_id.in_([row.record_id for row in rows])
            )
        )


def _insert(conn: sa.Connection, side: str, contents: Iterable[tuple[str, Any]], settings: str) -> int:
    """Index these (record id, content: a dict, or its JSON text); returns how many."""
    count = 0
    records: list[dict[str, Any]] = []
    keys: list[dict[str, Any]] = []
    tokens: list[dict[str, Any]] = []

    def flush() -> None:
        for table, rows in ((dedup_records, records), (dedup_keys, keys), (dedup_tokens, tokens)):
            if rows:
                conn.execute(table.insert(), rows)
                rows.clear()

    entries_of = _entries_under(settings)
    for record_id, content in contents:
        contact = _contact(side, record_id, content)
        if contact is None:
            continue
        hashes, names = entries_of(contact)
        records.append(
            {
                "side": side,
                "record_id": record_id,
                "key_hashes": " ".join(map(str, sorted(hashes))),
                "names": " ".join(sorted(names)),
            }
        )
        keys.extend({"side": side, "key_hash": value, "record_id": record_id} for value in hashes)
        tokens.extend({"side": side, "token": token, "record_id": record_id} for token in names)
        count += 1
        if len(records) >= _SLICE:
            flush()
    flush()
    return count


def population(conn: sa.Connection, side: str) -> int:
    count = sa.select(sa.func.count()).select_from(dedup_records).where(dedup_records.c.side == side)
    return int(conn.execute(count).scalar() or 0)


def lookup(conn: sa.Connection, side: str, hashes: Iterable[int], block_cap: int) -> set[str]:
    """Records filed under any of `hashes` whose block holds fewer than `block_cap` records."""
    small: list[int] = []
    for part in slices(sorted(set(hashes))):
        sizes = conn.execute(
            sa.select(dedup_keys.c.key_hash, sa.func.count())
            .where(dedup_keys.c.side == side, dedup_keys.c.key_hash.in_(part))
            .group_by(dedup_keys.c.key_hash)
        )
        small.extend(value for value, size in sizes if size < block_cap)
    found: set[str] = set()
    for part in slices(small):
        query = sa.select(dedup_keys.c.record_id).where(dedup_keys.c.side == side, dedup_keys.c.key_hash.in_(part))
        found.update(conn.execute(query).scalars())
    return found


def token_counts(conn: sa.Connection, side: str, tokens: Iterable[str]) -> dict[str, int]:
    """How many indexed records of `side` carry each of `tokens` (absent: none)."""
    counts: dict[str, int] = {}
    for part in slices(sorted(set(tokens))):
        rows = conn.execute(
            sa.select(dedup_tokens.c.token, sa.func.count())
            .where(dedup_tokens.c.side == side, dedup_tokens.c.token.in_(part))
            .group_by(dedup_tokens.c.token)
        )
        counts.update((token, int(count)) for token, count in rows)
    return counts


def tokens_of(conn: sa.Connection, side: str, record_ids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for part in slices(sorted(set(record_ids))):
        query = sa.select(dedup_records.c.names).where(
            dedup_records.c.side == side, dedup_records.c.record_id.in_(part)
        )
        for names in conn.execute(query).scalars():
            found.update(names.split())
    return found


def live_contents(conn: sa.Connection, side: str) -> Iterator[tuple[str, Contact]]:
    """Every live mirror row of `side` as a contact, streamed: what a model is fitted over."""
    rows = conn.execute(
        sa.select(mirror.c.record_id, mirror.c.content)
        .where(mirror.c.side == side, mirror.c.deleted.is_(False))
        .order_by(mirror.c.record_id)
    )
    for row in rows.yield_per(_SLICE):
        contact = _contact(side, row.record_id, row.content)
        if contact is not None:
            yield row.record_id, contact


def store_model(conn: sa.Connection, side: str, model: dict[str, Any] | None, fitted_population: int) -> None:
    conn.execute(
        dedup_index.update()
        .where(dedup_index.c.side == side)
        .values(model=None if model is None else json.dumps(model), fitted_population=fitted_population)
    )
