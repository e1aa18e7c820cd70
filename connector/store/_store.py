"""Reading and writing the sync state: one `Store` over one engine, transactions explicit.

Every method that writes takes the connection of the caller's transaction, so that a sync
run persists its operations and advances its cursors in one commit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import functools
import json
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from connector.dedup import DEFAULT_BLOCK_CAP, MIN_FIT_RECORDS, DedupEngine, name_tokens
from connector.errors import ConfigError, RunLockHeld, StoreUnavailable
from connector.log import get_logger
from connector.model import AuditEntry, Contact, Link, MirrorRecord, OutboxEntry, ReviewItem, WebhookEvent
from connector.store import _dedup
from connector.store._engine import open_engine
from connector.store._schema import (
    MIGRATIONS,
    audit,
    cursors,
    links,
    mirror,
    outbox,
    review_queue,
    run_locks,
    runs,
    schema_migrations,
    synced_versions,
    webhook_events,
)
from connector.store._slices import slices as _slices

log = get_logger(__name__)

# The dedup model is fitted again over the whole side when its population has doubled or
# halved since the last fit; below the engine's MIN_FIT_RECORDS it keeps its prior model.
DEDUP_REFIT_FACTOR = 2
# Marked contacts indexed per transaction.
DEDUP_REFRESH_SLICE = 5000


@dataclasses.dataclass(frozen=True)
class DedupView:
    """What the stored dedup index answers for some registrations: the contacts sharing one of
    their blocking keys, and the whole side's population, name-token counts and fitted model."""

    candidates: frozenset[str]
    population: int
    token_counts: dict[str, int]
    model: dict[str, Any] | None


# A lock whose holder has not beaten its heart for this long is taken over.
LOCK_STALE_S = 600.0
# How long an outbox claim lasts unless its worker renews it ([store] lease_s).
LEASE_S = 60.0


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class WriteBatch:
    """Writes gathered while handling one delivery chunk, flushed as a few executemany calls.

    A chunk's results (hundreds of items) then cost a handful of statements, not thousands.
    """

    def __init__(self) -> None:
        self._finished: list[dict[str, Any]] = []
        self._audits: list[dict[str, Any]] = []
        self._enqueued: list[dict[str, Any]] = []
        self._links: list[tuple[int, dict[str, Any]]] = []
        self._settled: list[dict[str, Any]] = []

    def finish_outbox(self, entry_id: int, state: str, *, error: str | None = None) -> None:
        done_at = now_iso() if state in ("done", "superseded") else None
        self._finished.append({"entry_id": entry_id, "new_state": state, "error": error, "finished_at": done_at})

    def settle_refused(self, link_id: int, side: str, *, by: int | None = None) -> None:
        """The link's refused operations to `side` (older than entry `by`) no longer stand:
        a later one was delivered, or the record turned up linked."""
        self._settled.append({"link_id_": link_id, "side_": side, "before_": by if by is not None else 2**31 - 1})

    def add_audit(self, *, operation: str, result: str, **fields: Any) -> None:
        detail = fields.pop("detail", None)
        row: dict[str, Any] = dict.fromkeys(_AUDIT_FIELDS)
        row.update(fields)
        row.update(
            at=now_iso(),
            operation=operation,
            result=result,
            detail=json.dumps(detail, ensure_ascii=False) if detail is not None else None,
        )
        self._audits.append(row)

    def enqueue(self, *, run_id: str, link_id: int, side: str, kind: str, payload: dict[str, Any]) -> None:
        self._enqueued.append(_outbox_row(run_id, link_id, side, kind, payload))

    def update_link(self, link_id: int, **values: Any) -> None:
        self._links.append((link_id, values))

    def flush(self, conn: sa.Connection) -> None:
        if self._finished:
            conn.execute(_FINISH_ATTEMPTED, self._finished)
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        stamp = now_iso()
        for link_id, values in self._links:
            row = {"link_id_": link_id, "updated_at": stamp, **values}
            by_columns.setdefault(tuple(sorted(values)), []).append(row)
        for columns, rows in by_columns.items():
            conn.execute(_link_update(columns), rows)
        if self._enqueued:
            conn.execute(outbox.insert(), self._enqueued)
        if self._audits:
            conn.execute(audit.insert(), self._audits)
        if self._settled:
            conn.execute(_SETTLE_REFUSED, self._settled)
        self.__init__()  # type: ignore[misc]


class Store:
    """The sync state in SQLite or PostgreSQL."""

    def __init__(self, engine: sa.Engine, *, lease_s: float = LEASE_S) -> None:
        self.engine = engine
        self.lease_s = lease_s
        # (owner, side) of the claims this process holds: the renewer keeps their leases.
        self._claimants: set[tuple[str, str]] = set()
        self._claims_lock = threading.Lock()
        self._renewer: threading.Thread | None = None
        self._closed = threading.Event()
        # Run locks held as PostgreSQL advisory locks: the connection that holds each.
        self._held: dict[tuple[str, str], sa.Connection] = {}
        self._local_gates: dict[str, threading.Lock] = {}
        self._dead_checked_at = -float("inf")
        # In a forked child: the parent's pool, kept referenced so that none of its
        # connections is finalized (closed) here.
        self._parents_pool: object | None = None

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, lease_s: float = LEASE_S) -> Store:
        store = cls(open_engine(url), lease_s=lease_s)
        if migrate:
            store.migrate()
        return store

    def for_child(self) -> Store:
        """This store for a forked child of its process (call it in the child): the same
        database through connections of the child's own. The parent's pooled connections
        are neither used nor closed here (closing one would end the parent's session), as
        SQLAlchemy advises after a fork (`Engine.dispose(close=False)`)."""
        parents_pool = self.engine.pool
        self.engine.dispose(close=False)
        child = Store(self.engine, lease_s=self.lease_s)
        child._parents_pool = parents_pool
        return child

    @property
    def shares_work(self) -> bool:
        """True on PostgreSQL: several processes on several hosts may use this store at once."""
        return self.engine.dialect.name == "postgresql"

    def close(self) -> None:
        self._closed.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=5)
        for conn in self._held.values():
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                conn.close()
        self._held.clear()
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Run the migrations this store has not had yet; returns their numbers."""
        applied: list[int] = []
        with self.engine.begin() as conn:
            schema_migrations.create(conn, checkfirst=True)
            done = {row[0] for row in conn.execute(sa.select(schema_migrations.c.version))}
            for version, description, step in MIGRATIONS:
                if version in done:
                    continue
                step(conn)
                conn.execute(
                    schema_migrations.insert().values(version=version, description=description, applied_at=now_iso())
                )
                applied.append(version)
            newest = max(done | set(applied), default=0)
            if newest > MIGRATIONS[-1][0]:
                raise ConfigError(
                    f"[store] url: the store was written by a newer connector (schema {newest}); upgrade the connector"
                )
        return applied

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.SQLAlchemyError as exc:
            raise _unavailable(exc) from exc

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    # -- run lock -----------------------------------------------------------------------

    def acquire_lock(self, name: str, owner: str) -> None:
        """Take the named lock or raise RunLockHeld; a dead or silent holder is replaced.

        On PostgreSQL the lock is a session advisory lock: a holder that dies (SIGKILL, a lost
        host) loses it with its connection, on any host, without waiting for staleness. The
        row in run_locks is kept too, for `connector status`.
        """
        host, pid = socket.gethostname(), os.getpid()
        if self.shares_work:
            self._acquire_advisory(name, owner)
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(run_locks).where(run_locks.c.name == name)).mappings().first()
            if row is not None:
                stale = time.time() - row["heartbeat_at"] > LOCK_STALE_S
                dead = row["host"] == host and not _pid_alive(row["pid"])
                if not (stale or dead):
                    raise RunLockHeld(f"{row['owner']} (pid {row['pid']} on {row['host']}, since {row['acquired_at']})")
                conn.execute(run_locks.delete().where(run_locks.c.name == name, run_locks.c.owner == row["owner"]))
            try:
                conn.execute(
                    run_locks.insert().values(
                        name=name, owner=owner, host=host, pid=pid, acquired_at=now_iso(), heartbeat_at=time.time()
                    )
                )
            except sa.exc.IntegrityError:
                self._release_advisory(name, owner)
                raise RunLockHeld("another run took the lock at the same moment") from None

    def _acquire_advisory(self, name: str, owner: str) -> None:
        conn = self.engine.connect()
        try:
            taken = conn.execute(sa.text(f"SELECT pg_try_advisory_lock({_RUN_LOCK_KEY})"), {"name": f"run:{name}"})
            if not taken.scalar():
                holder = conn.execute(sa.select(run_locks).where(run_locks.c.name == name)).mappings().first()
                conn.rollback()
                where = f"{holder['owner']} (pid {holder['pid']} on {holder['host']})" if holder else "another process"
                raise RunLockHeld(where)
            conn.commit()
        except BaseException:
            conn.close()
            raise
        self._held[(name, owner)] = conn
        # The advisory lock is what counts: a row left by a holder that died goes.
        with self.engine.begin() as tx:
            tx.execute(run_locks.delete().where(run_locks.c.name == name))

    def _release_advisory(self, name: str, owner: str) -> None:
        conn = self._held.pop((name, owner), None)
        if conn is None:
            return
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            conn.execute(sa.text(f"SELECT pg_advisory_unlock({_RUN_LOCK_KEY})"), {"name": f"run:{name}"})
            conn.commit()
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            conn.close()

    def heartbeat(self, name: str, owner: str) -> None:
        held = self._held.get((name, owner))
        if held is not None:
            # The advisory lock's connection is asked too: it must stay open to keep the lock.
            held.execute(sa.text("SELECT 1"))
            held.rollback()
        with self.engine.begin() as conn:
            conn.execute(
                run_locks.update()
                .where(run_locks.c.name == name, run_locks.c.owner == owner)
                .values(heartbeat_at=time.time())
            )

    def release_lock(self, name: str, owner: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(run_locks.delete().where(run_locks.c.name == name, run_locks.c.owner == owner))
        finally:
            self._release_advisory(name, owner)

    # -- one at a time across processes ------------------------------------------------

    @contextlib.contextmanager
    def one_at_a_time(self, name: str, *, poll_s: float = 0.01) -> Iterator[None]:
        """Hold `name` exclusively across every process that uses this store (and threads
        of this one) while the block runs: what must stay single, such as the one request in
        flight to a POHODA mServer (it serves one at a time).

        PostgreSQL: a session advisory lock (pg_try_advisory_lock, polled, so a deadline or a
        dead server ends the wait); it goes with its connection if the holder dies. SQLite:
        an flock on a file beside the database (one machine). The name is the whole key: two
        stores in one database that name the same mServer share its lock.
        """
        local = self._local_gates.setdefault(name, threading.Lock())
        with local:
            if self.shares_work:
                with self._advisory(name, poll_s):
                    yield
            else:
                with self._flock(name):
                    yield

    @contextlib.contextmanager
    def _advisory(self, name: str, poll_s: float) -> Iterator[None]:
        key = zlib.crc32(name.encode()) - 2**31  # database-wide: not namespaced by schema
        try:
            conn = self.engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            raise _unavailable(exc) from exc
        try:
            while not conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
                conn.rollback()
                time.sleep(poll_s)
            conn.commit()
        except sa.exc.SQLAlchemyError as exc:
            conn.close()
            raise _unavailable(exc) from exc
        with conn:
            try:
                yield
            finally:
                with contextlib.suppress(sa.exc.SQLAlchemyError):
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    conn.commit()

    @contextlib.contextmanager
    def _flock(self, name: str) -> Iterator[None]:
        database = self.engine.url.database
        if not database or database == ":memory:":
            yield  # one process: the thread lock is enough
            return
        digest = zlib.crc32(name.encode())
        with open(f"{database}.lock-{digest:08x}", "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # -- runs ---------------------------------------------------------------------------

    def start_run(self, run_id: str, kind: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(runs.insert().values(id=run_id, kind=kind, started_at=now_iso(), state="running"))

    def finish_run(self, run_id: str, state: str, summary: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(finished_at=now_iso(), state=state, summary=json.dumps(summary))
            )

    def last_run(self, kind: str | None = None) -> dict[str, Any] | None:
        query = sa.select(runs).order_by(runs.c.started_at.desc()).limit(1)
        if kind:
            query = query.where(runs.c.kind == kind)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        out = dict(row)
        out["summary"] = json.loads(out["summary"]) if out["summary"] else None
        return out

    # -- cursors ------------------------------------------------------------------------

    def cursor(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(cursors.c.value).where(cursors.c.name == name)).scalar()

    def all_cursors(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {r.name: r.value for r in conn.execute(sa.select(cursors.c.name, cursors.c.value))}

    @staticmethod
    def set_cursor(conn: sa.Connection, name: str, value: str) -> None:
        updated = conn.execute(cursors.update().where(cursors.c.name == name).values(value=value, updated_at=now_iso()))
        if updated.rowcount == 0:
            conn.execute(cursors.insert().values(name=name, value=value, updated_at=now_iso()))

    # -- links --------------------------------------------------------------------------

    def all_links(self) -> list[Link]:
        with self.engine.connect() as conn:
            return [_link(r) for r in conn.execute(sa.select(links)).mappings()]

    def links_by_id(self, link_ids: Iterable[int]) -> dict[int, Link]:
        """The links with these ids (the ones a delivery chunk needs, not the whole table)."""
        wanted = sorted(set(link_ids))
        found: dict[int, Link] = {}
        with self.engine.connect() as conn:
            for part in _slices(wanted):
                query = sa.select(links).where(links.c.id.in_(part))
                found.update((row["id"], _link(row)) for row in conn.execute(query).mappings())
        return found

    def iter_links_with_base_hash(self, *, page_size: int = 5000) -> Iterator[tuple[Link, str | None]]:
        """Every link with the hash of its last synced version (None: none yet), in id order,
        a page at a time (keyset paging: no read stays open while the caller works)."""
        after = 0
        query = (
            sa.select(links, synced_versions.c.content_hash)
            .select_from(links.outerjoin(synced_versions, synced_versions.c.link_id == links.c.id))
            .order_by(links.c.id)
            .limit(page_size)
        )
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(query.where(links.c.id > after)).mappings().all()
            for row in rows:
                yield _link(row), row["content_hash"]
            if len(rows) < page_size:
                return
            after = rows[-1]["id"]

    def links_of(self, *, eshop_ids: Iterable[str], pohoda_ids: Iterable[str]) -> list[Link]:
        """The links of these e-shop customers and POHODA contacts (a targeted run's share)."""
        found: dict[int, Link] = {}
        with self.engine.connect() as conn:
            for column, values in (
                (links.c.eshop_id, sorted(set(eshop_ids))),
                (links.c.pohoda_id, sorted(set(pohoda_ids))),
            ):
                for part in _slices(values):
                    query = sa.select(links).where(column.in_(part))
                    found.update((row["id"], _link(row)) for row in conn.execute(query).mappings())
        return list(found.values())

    def links_missing(self, side: str) -> list[Link]:
        """The links that know no record on `side` yet (a creation there waits, a second
        account, a record deleted before it was created): read through the unique index on
        the side's id, never the whole table."""
        column = links.c.eshop_id if side == "eshop" else links.c.pohoda_id
        with self.engine.connect() as conn:
            return [_link(r) for r in conn.execute(sa.select(links).where(column.is_(None))).mappings()]

    def link(self, link_id: int) -> Link | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(links).where(links.c.id == link_id)).mappings().first()
        return _link(row) if row else None

    def find_link(self, *, eshop_id: str | None = None, pohoda_id: str | None = None) -> Link | None:
        query = sa.select(links)
        if eshop_id is not None:
            query = query.where(links.c.eshop_id == eshop_id)
        elif pohoda_id is not None:
            query = query.where(links.c.pohoda_id == pohoda_id)
        else:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return _link(row) if row else None

    @staticmethod
    def insert_link(
        conn: sa.Connection,
        *,
        state: str,
        eshop_id: str | None = None,
        pohoda_id: str | None = None,
        temp_hq_id: str | None = None,
    ) -> int:
        return Store.insert_links(
            conn, [{"state": state, "eshop_id": eshop_id, "pohoda_id": pohoda_id, "temp_hq_id": temp_hq_id}]
        )[0]

    @staticmethod
    def insert_links(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Insert many links in one statement; their ids come back in the order of `rows`."""
        if not rows:
            return []
        stamp = now_iso()
        params = [
            {
                "eshop_id": row.get("eshop_id"),
                "pohoda_id": row.get("pohoda_id"),
                "temp_hq_id": row.get("temp_hq_id"),
                "contact_of": row.get("contact_of"),
                "state": row["state"],
                "created_at": stamp,
                "updated_at": stamp,
            }
            for row in rows
        ]
        result = conn.execute(links.insert().returning(links.c.id, sort_by_parameter_order=True), params)
        return [int(row[0]) for row in result]

    @staticmethod
    def update_link(conn: sa.Connection, link_id: int, **values: Any) -> None:
        # One compiled statement per set of columns (cached by SQLAlchemy), values as parameters.
        statement = _link_update(tuple(sorted(values)))
        conn.execute(statement, {"link_id_": link_id, "updated_at": now_iso(), **values})

    # -- synced versions ----------------------------------------------------------------

    def all_bases(self) -> dict[int, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(synced_versions.c.link_id, synced_versions.c.content))
            return {r.link_id: json.loads(r.content) for r in rows}

    def bases_of(
        self, link_ids: Iterable[int], *, known: Mapping[int, tuple[str, dict[str, Any]]] | None = None
    ) -> dict[int, dict[str, Any]]:
        """The last synced versions of these links. `known`: link id -> (content hash, content)
        the caller holds already (a record read back): a base with that hash is that content,
        taken without decoding the row."""
        wanted = sorted(set(link_ids))
        known = known or {}
        found: dict[int, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for part in _slices(wanted):
                query = sa.select(
                    synced_versions.c.link_id, synced_versions.c.content_hash, synced_versions.c.content
                ).where(synced_versions.c.link_id.in_(part))
                for row in conn.execute(query):
                    held = known.get(row.link_id)
                    found[row.link_id] = held[1] if held and held[0] == row.content_hash else json.loads(row.content)
        return found

    def base_hashes(self, link_ids: Iterable[int]) -> dict[int, str]:
        """Link id -> content hash of its last synced version, the content left unread."""
        wanted = sorted(set(link_ids))
        found: dict[int, str] = {}
        with self.engine.connect() as conn:
            for part in _slices(wanted):
                query = sa.select(synced_versions.c.link_id, synced_versions.c.content_hash).where(
                    synced_versions.c.link_id.in_(part)
                )
                found.update((row.link_id, row.content_hash) for row in conn.execute(query))
        return found

    @staticmethod
    def set_base(conn: sa.Connection, link_id: int, content: dict[str, Any], content_hash: str) -> None:
        Store.set_bases(conn, [(link_id, content, content_hash)])

    @staticmethod
    def set_bases(conn: sa.Connection, bases: Sequence[tuple[int, dict[str, Any], str]]) -> None:
        """Replace the last synced version of many links."""
        if not bases:
            return
        stamp = now_iso()
        ids = [link_id for link_id, _c, _h in bases]
        for part in _slices(ids):
            conn.execute(synced_versions.delete().where(synced_versions.c.link_id.in_(part)))
        conn.execute(
            synced_versions.insert(),
            [
                {
                    "link_id": link_id,
                    "content": json.dumps(content, ensure_ascii=False, sort_keys=True),
                    "content_hash": content_hash,
                    "synced_at": stamp,
                }
                for link_id, content, content_hash in bases
            ],
        )

    # -- mirror -------------------------------------------------------------------------

    def mirror_of(self, side: str) -> dict[str, MirrorRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(mirror).where(mirror.c.side == side)).mappings()
            return {r["record_id"]: _mirror(r) for r in rows}

    def mirror_records(
        self, side: str, record_ids: Iterable[str], *, known: Mapping[str, tuple[str, dict[str, Any]]] | None = None
    ) -> dict[str, MirrorRecord]:
        """The mirror rows of these records of `side`. `known`: record id -> (content hash,
        content) the caller holds already: a row with that hash (an echo) is not decoded."""
        wanted = sorted(set(record_ids))
        known = known or {}
        found: dict[str, MirrorRecord] = {}
        with self.engine.connect() as conn:
            for part in _slices(wanted):
                query = sa.select(mirror).where(mirror.c.side == side, mirror.c.record_id.in_(part))
                for row in conn.execute(query).mappings():
                    held = known.get(row["record_id"])
                    if held is not None and held[0] == row["content_hash"] and not row["deleted"]:
                        values = {name: row[name] for name in _field_names(MirrorRecord)}
                        found[row["record_id"]] = MirrorRecord(**{**values, "content": held[1]})
                    else:
                        found[row["record_id"]] = _mirror(row)
        return found

    def mirror_keys(self, side: str, record_ids: Iterable[str]) -> dict[str, tuple[str, str | None, str | None, bool]]:
        """Record id -> (content hash, version, ext_id, deleted) of these records' mirror rows,
        their contents left unread: what telling an echo from a change needs."""
        wanted = sorted(set(record_ids))
        found: dict[str, tuple[str, str | None, str | None, bool]] = {}
        columns = (mirror.c.record_id, mirror.c.content_hash, mirror.c.version, mirror.c.ext_id, mirror.c.deleted)
        with self.engine.connect() as conn:
            for part in _slices(wanted):
                query = sa.select(*columns).where(mirror.c.side == side, mirror.c.record_id.in_(part))
                for row in conn.execute(query):
                    found[row.record_id] = (row.content_hash, row.version, row.ext_id, bool(row.deleted))
        return found

    @staticmethod
    def refresh_mirror(conn: sa.Connection, side: str, rows: Sequence[tuple[str, str | None, str | None]]) -> None:
        """Record (record id, version, ext_id) on mirror rows whose content is unchanged (an
        echo whose version moved): the content is not written again."""
        if not rows:
            return
        conn.execute(
            mirror.update()
            .where(mirror.c.side == side, mirror.c.record_id == sa.bindparam("record_id_"))
            .values(version=sa.bindparam("version_"), ext_id=sa.bindparam("ext_id_"), seen_at=now_iso()),
            [{"record_id_": record_id, "version_": version, "ext_id_": ext_id} for record_id, version, ext_id in rows],
        )

    def unlinked_mirror(self, side: str) -> dict[str, MirrorRecord]:
        """Records of `side` that no link points at and that are not deleted."""
        column = links.c.eshop_id if side == "eshop" else links.c.pohoda_id
        linked = sa.select(column).where(column.is_not(None))
        query = sa.select(mirror).where(
            mirror.c.side == side, mirror.c.deleted.is_(False), mirror.c.record_id.not_in(linked)
        )
        with self.engine.connect() as conn:
            return {r["record_id"]: _mirror(r) for r in conn.execute(query).mappings()}

    @staticmethod
    def put_mirror(conn: sa.Connection, records: Sequence[MirrorRecord]) -> None:
        """Write these mirror rows (replacing the records' old ones), marked for the dedup index."""
        if not records:
            return
        stamp = now_iso()
        for chunk in _slices(records):
            for side in {r.side for r in chunk}:
                conn.execute(
                    mirror.delete().where(
                        mirror.c.side == side, mirror.c.record_id.in_([r.record_id for r in chunk if r.side == side])
                    )
                )
            conn.execute(
                mirror.insert(),
                [
                    {
                        "side": r.side,
                        "record_id": r.record_id,
                        "content": json.dumps(r.content, ensure_ascii=False, sort_keys=True),
                        "content_hash": r.content_hash,
                        "version": r.version,
                        "ext_id": r.ext_id,
                        "deleted": r.deleted,
                        "seen_at": stamp,
                    }
                    for r in chunk
                ],
            )
        _dedup.mark(conn, records)

    # -- dedup index ----------------------------------------------------------------------

    def dedup_view(
        self,
        side: str,
        queries: Sequence[Contact],
        *,
        region: str,
        email_provider_rules: bool,
        block_cap: int = DEFAULT_BLOCK_CAP,
        also: Iterable[Contact] = (),
    ) -> DedupView:
        """The candidates of `queries` (new registrations) among `side`'s contacts, by key.

        The index is started on first use (and again when the region, the e-mail rules or the
        key version changed), the contacts written since it was last asked are indexed, and
        its model is fitted again when the side has doubled or halved since the last fit: each
        under a lock all processes share, and each once, not in every run.

        `also`: other contacts the caller compares the registrations with (POHODA records it
        holds in a newer version than the store's): their name tokens are counted too, so
        every token a comparison asks about has its count over the side.
        """
        settings = _dedup.settings_of(region, email_provider_rules)
        row, population = self._ready_dedup_index(side, settings)
        with self.engine.connect() as conn:
            if not population:
                # An empty side (a first import into a new POHODA) has no candidates: the
                # registrations are not even keyed.
                return DedupView(frozenset(), 0, {}, None)
            hashes, tokens = _dedup.query_entries(queries, settings)
            found = _dedup.lookup(conn, side, hashes, block_cap)
            tokens |= _dedup.tokens_of(conn, side, found)
            tokens.update(token for contact in also for token in name_tokens(contact.name))
            counts = _dedup.token_counts(conn, side, tokens)
        model = json.loads(row.model) if row is not None and row.model else None
        return DedupView(frozenset(found), population, counts, model)

    def _namespace(self) -> str:
        """What tells this store from another in the same database: its schema on PostgreSQL."""
        if not self.shares_work:
            return ""
        with self.engine.connect() as conn:
            return str(conn.execute(sa.text("SELECT current_schema()")).scalar() or "")

    def _ready_dedup_index(self, side: str, settings: str) -> tuple[Any, int]:
        """Bring `side`'s index up to date (see `dedup_view`); its row and population then."""
        with self.engine.connect() as conn:
            row = _dedup.index_row(conn, side)
            fresh = row is not None and row.settings == settings and not _dedup.marked(conn, side, 1)
            population = _dedup.population(conn, side) if fresh else 0
            if fresh and not _model_stale(row, population):
                return row, population
        # One store's index: its schema's on PostgreSQL (advisory locks are database-wide).
        with self.one_at_a_time(f"dedup-index-{side}:{self._namespace()}"):
            started = time.monotonic()
            with self.engine.connect() as conn:
                row = _dedup.index_row(conn, side)
            if row is None or row.settings != settings:
                with self.transaction() as conn:
                    _dedup.build(conn, side, settings, stamp=now_iso())
                log.info("dedup index started", side=side)
            indexed = 0
            while True:
                with self.transaction() as conn:
                    marks = _dedup.marked(conn, side, DEDUP_REFRESH_SLICE, claim=True)
                    indexed += _dedup.refresh(conn, side, settings, marks) if marks else 0
                if len(marks) < DEDUP_REFRESH_SLICE:
                    break
            with self.engine.connect() as conn:
                row = _dedup.index_row(conn, side)
                population = _dedup.population(conn, side)
            if indexed:
                log.info("dedup index brought up to date", side=side, records=indexed,
                         seconds=round(time.monotonic() - started, 1))  # fmt: skip
            if row is None or not _model_stale(row, population):
                return row, population
            started = time.monotonic()
            options = json.loads(settings)
            with self.engine.connect() as conn:
                engine = DedupEngine(
                    _dedup.live_contents(conn, side),
                    region=options["region"],
                    email_provider_rules=options["email_provider_rules"],
                )
            fitted = engine.model.to_dict() if len(engine) >= MIN_FIT_RECORDS else None
            with self.transaction() as conn:
                _dedup.store_model(conn, side, fitted, len(engine))
                row = _dedup.index_row(conn, side)
            log.info("dedup model fitted", side=side, records=len(engine), seconds=round(time.monotonic() - started, 1))
            return row, population

    # -- outbox -------------------------------------------------------------------------

    @staticmethod
    def enqueue(
        conn: sa.Connection, *, run_id: str, link_id: int, side: str, kind: str, payload: dict[str, Any]
    ) -> int:
        result = conn.execute(outbox.insert(), _outbox_row(run_id, link_id, side, kind, payload))
        return _new_id(result)

    def pending(self, side: str | None = None) -> list[OutboxEntry]:
        query = sa.select(outbox).where(outbox.c.state == "pending").order_by(outbox.c.id)
        if side is not None:
            query = query.where(outbox.c.side == side)
        with self.engine.connect() as conn:
            return [_outbox(r) for r in conn.execute(query).mappings()]

    def claim(self, side: str, owner: str, lease_s: float | None = None, limit: int = 1000) -> list[OutboxEntry]:
        """Take up to `limit` pending operations of `side` for `owner`, oldest first, with a
        lease of `lease_s` (the store's [store] lease_s by default) that this process renews
        until `release_claims`.

        Only a customer's oldest pending operation to a side is claimable: its next one waits
        until that one is settled, so one customer's operations go out in order even with many
        workers. An operation claimed by a worker whose lease ran out (it died) is taken over.
        On PostgreSQL the candidates are locked FOR UPDATE SKIP LOCKED, so concurrent claims
        never block on, nor take, each other's rows; on SQLite the one UPDATE is atomic.
        """
        lease = self.lease_s if lease_s is None else lease_s
        self._free_claims_of_dead_processes()
        claimant = self._claimant(owner)
        now = self._clock()
        earlier = outbox.alias("earlier")
        candidates = (
            sa.select(outbox.c.id)
            .where(
                outbox.c.state == "pending",
                outbox.c.side == side,
                sa.or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
                ~sa.exists().where(
                    earlier.c.link_id == outbox.c.link_id,
                    earlier.c.side == side,
                    earlier.c.state == "pending",
                    earlier.c.id < outbox.c.id,
                ),
            )
            .order_by(outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            outbox.update()
            .where(outbox.c.id.in_(candidates.scalar_subquery()))
            .values(claimed_by=claimant, lease_until=now + lease)
            .returning(*(outbox.c[name] for name in _field_names(OutboxEntry)))
        )
        with self._claims_lock:
            self._claimants.add((owner, side))
        self._start_renewer()
        with self.engine.begin() as conn:
            rows = conn.execute(statement).mappings().all()
        return sorted((_outbox(r) for r in rows), key=lambda entry: entry.id)

    def renew_claims(self, owner: str, side: str, lease_s: float | None = None) -> int:
        """Extend the lease of `owner`'s pending claims on `side`; returns how many."""
        lease = self.lease_s if lease_s is None else lease_s
        owner = self._claimant(owner)
        # Rows the delivery is finishing right now are skipped, not waited for: an UPDATE
        # takes its rows' locks in whatever order it scans them, and the delivery's
        # transaction takes them in id order, so the two could deadlock (PostgreSQL then
        # aborts one of them, maybe the delivery's). Skipped rows are being settled anyway.
        mine = (
            sa.select(outbox.c.id)
            .where(
                outbox.c.claimed_by == owner,
                outbox.c.side == side,
                outbox.c.state == "pending",
                outbox.c.lease_until.is_not(None),
            )
            .order_by(outbox.c.id)
            .with_for_update(skip_locked=True)
        )
        with self.engine.begin() as conn:
            result = conn.execute(
                outbox.update().where(outbox.c.id.in_(mine.scalar_subquery())).values(lease_until=self._clock() + lease)
            )
        return int(result.rowcount)

    def release_claims(self, owner: str, side: str) -> None:
        """`owner` is done with `side`: what it claimed and did not settle is free at once."""
        with self._claims_lock:
            self._claimants.discard((owner, side))
        owner = self._claimant(owner)
        with self.engine.begin() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.claimed_by == owner, outbox.c.side == side, outbox.c.state == "pending")
                .values(lease_until=None)
            )

    @staticmethod
    def _claimant(owner: str) -> str:
        """The claim's mark: the owner, and the process that holds it (pid and host), so that
        a process on the same host can tell a dead claimant at once, as with the run lock."""
        return f"{owner}|{os.getpid()}@{socket.gethostname()}"[:64]

    def _free_claims_of_dead_processes(self) -> None:
        """SQLite (one machine): claims of a process that is gone are free at once, as its run
        lock is (a killed `connector sync`, then the next one). PostgreSQL: the lease decides,
        the same for every host. Checked at most every third of a lease."""
        if self.shares_work or time.monotonic() < self._dead_checked_at + self.lease_s / 3:
            return
        self._dead_checked_at = time.monotonic()
        host = socket.gethostname()
        live = (
            sa.select(outbox.c.claimed_by)
            .distinct()
            .where(
                outbox.c.state == "pending", outbox.c.lease_until.is_not(None), outbox.c.lease_until >= self._clock()
            )
        )
        with self.engine.begin() as conn:
            for (claimant,) in conn.execute(live).all():
                process = str(claimant).rpartition("|")[2]
                pid, _, where = process.partition("@")
                if where != host[: len(where)] or not pid.isdigit() or int(pid) == os.getpid():
                    continue
                if not _pid_alive(int(pid)):
                    conn.execute(
                        outbox.update()
                        .where(outbox.c.claimed_by == claimant, outbox.c.state == "pending")
                        .values(lease_until=None)
                    )

    def _clock(self) -> sa.ColumnElement[float]:
        # PostgreSQL's clock, not the host's: workers on several hosts judge leases alike.
        if self.shares_work:
            return sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)
        return sa.literal(time.time(), sa.Float)

    def _start_renewer(self) -> None:
        with self._claims_lock:
            if self._renewer is not None and self._renewer.is_alive():
                return
            self._renewer = threading.Thread(target=self._renew, name="outbox-lease", daemon=True)
            self._renewer.start()

    def _renew(self) -> None:
        """The heartbeat of this process's claims: renewed at a third of the lease, so that
        only a dead process (or one cut off from the database) loses them."""
        while not self._closed.wait(self.lease_s / 3):
            with self._claims_lock:
                claimants = sorted(self._claimants)
            for owner, side in claimants:
                try:
                    self.renew_claims(owner, side)
                except (StoreUnavailable, sa.exc.SQLAlchemyError):  # the next beat tries again
                    continue

    def outbox_entry(self, entry_id: int) -> OutboxEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(outbox).where(outbox.c.id == entry_id)).mappings().first()
        return _outbox(row) if row else None

    def outbox_for_link(self, link_id: int) -> list[OutboxEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(outbox).where(outbox.c.link_id == link_id).order_by(outbox.c.id)).mappings()
            return [_outbox(r) for r in rows]

    @staticmethod
    def finish_outbox(
        conn: sa.Connection, entry_id: int, state: str, *, error: str | None = None, attempted: bool = True
    ) -> None:
        done_at = now_iso() if state in ("done", "superseded") else None
        conn.execute(
            _FINISH_ATTEMPTED if attempted else _FINISH,
            {"entry_id": entry_id, "new_state": state, "error": error, "finished_at": done_at},
        )

    @staticmethod
    def update_payload(conn: sa.Connection, entry_id: int, payload: dict[str, Any]) -> None:
        conn.execute(
            outbox.update()
            .where(outbox.c.id == entry_id)
            .values(payload=json.dumps(payload, ensure_ascii=False, sort_keys=True))
        )

    def pending_by_link(
        self, side: str, kinds: tuple[str, ...], *, link_ids: Iterable[int] | None = None
    ) -> dict[int, tuple[tuple[int, str], ...]]:
        """Pending outbox entries of `side` and `kinds`, by link, oldest first; with
        `link_ids`, only those links' (read through the outbox's index on the link)."""
        query = (
            sa.select(outbox.c.link_id, outbox.c.id, outbox.c.kind)
            .where(outbox.c.state == "pending", outbox.c.side == side, outbox.c.kind.in_(kinds))
            .order_by(outbox.c.id)
        )
        if link_ids is None:
            queries = [query]
        else:
            wanted = sorted(set(link_ids))
            queries = [query.where(outbox.c.link_id.in_(part)) for part in _slices(wanted)]
        found: dict[int, list[tuple[int, str]]] = {}
        with self.engine.connect() as conn:
            for each in queries:
                for link_id, entry_id, kind in conn.execute(each):
                    found.setdefault(link_id, []).append((entry_id, kind))
        return {link_id: tuple(sorted(entries)) for link_id, entries in found.items()}

    def pending_customers(self) -> tuple[int, str | None]:
        """How many customers wait for POHODA to create them, and since when the oldest."""
        waiting = links.c.state.in_(("pending_sync", "creating_pohoda"))
        query = sa.select(sa.func.count(), sa.func.min(links.c.created_at)).where(waiting)
        with self.engine.connect() as conn:
            count, oldest = conn.execute(query).one()
        return int(count), oldest

    @staticmethod
    def supersede(conn: sa.Connection, entry_ids: Sequence[int], reason: str) -> None:
        if entry_ids:
            conn.execute(
                _FINISH,
                [
                    {"entry_id": i, "new_state": "superseded", "error": reason, "finished_at": now_iso()}
                    for i in entry_ids
                ],
            )

    def outbox_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(outbox.c.state, sa.func.count()).group_by(outbox.c.state))
            return {r[0]: int(r[1]) for r in rows}

    # -- audit --------------------------------------------------------------------------

    @staticmethod
    def add_audit(
        conn: sa.Connection,
        *,
        operation: str,
        result: str,
        run_id: str | None = None,
        link_id: int | None = None,
        outbox_id: int | None = None,
        eshop_id: str | None = None,
        pohoda_id: str | None = None,
        side: str | None = None,
        before_hash: str | None = None,
        after_hash: str | None = None,
        note: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        row = conn.execute(
            audit.insert(),
            {
                "at": now_iso(),
                "run_id": run_id,
                "link_id": link_id,
                "outbox_id": outbox_id,
                "eshop_id": eshop_id,
                "pohoda_id": pohoda_id,
                "operation": operation,
                "side": side,
                "before_hash": before_hash,
                "after_hash": after_hash,
                "result": result,
                "note": note,
                "detail": json.dumps(detail, ensure_ascii=False) if detail is not None else None,
            },
        )
        return _new_id(row)

    def audit_entries(
        self,
        *,
        customer: str | None = None,
        result: str | None = None,
        since: str | None = None,
        operation: str | None = None,
        limit: int = 200,
        eshop_id: str | None = None,
        pohoda_id: str | None = None,
    ) -> list[AuditEntry]:
        query = sa.select(audit).order_by(audit.c.id.desc()).limit(limit)
        if customer is not None:
            query = query.where(sa.or_(audit.c.eshop_id == customer, audit.c.pohoda_id == customer))
        # One side's id: e-shop 5 and POHODA 5 are different customers.
        if eshop_id is not None:
            query = query.where(audit.c.eshop_id == eshop_id)
        if pohoda_id is not None:
            query = query.where(audit.c.pohoda_id == pohoda_id)
        if result is not None:
            query = query.where(audit.c.result == result)
        if since is not None:
            query = query.where(audit.c.at >= since)
        if operation is not None:
            query = query.where(audit.c.operation == operation)
        with self.engine.connect() as conn:
            return [_audit(r) for r in conn.execute(query).mappings()]

    def audit_entry(self, entry_id: int) -> AuditEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(audit).where(audit.c.id == entry_id)).mappings().first()
        return _audit(row) if row else None

    def audit_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(audit.c.result, sa.func.count()).group_by(audit.c.result))
            return {r[0]: int(r[1]) for r in rows}

    # -- webhook events -----------------------------------------------------------------

    def record_event(self, event_id: str, event_type: str, customer_id: str) -> bool:
        """Store a webhook event (committed on return); False when its id was seen before."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    webhook_events.insert(),
                    {
                        "event_id": event_id,
                        "type": event_type,
                        "customer_id": customer_id,
                        "received_at": now_iso(),
                        "received_ts": time.time(),
                        "state": "received",
                        "attempts": 0,
                    },
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def events_to_process(self, limit: int = 500, *, max_attempts: int = 5) -> list[WebhookEvent]:
        """Received events, oldest first; an event that failed too often is left for a person."""
        query = (
            sa.select(webhook_events)
            .where(webhook_events.c.state == "received", webhook_events.c.attempts < max_attempts)
            .order_by(webhook_events.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_event(row) for row in conn.execute(query).mappings()]

    def finish_events(self, ids: Sequence[int], state: str, *, run_id: str | None, error: str | None = None) -> None:
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                webhook_events.update()
                .where(webhook_events.c.id.in_(list(ids)))
                .values(
                    state=state,
                    run_id=run_id,
                    error=error,
                    attempts=webhook_events.c.attempts + 1,
                    processed_at=now_iso() if state != "received" else None,
                )
            )

    def event_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(webhook_events.c.state, sa.func.count()).group_by(webhook_events.c.state))
            return {r[0]: int(r[1]) for r in rows}

    # -- review queue -------------------------------------------------------------------

    @staticmethod
    def add_review(
        conn: sa.Connection,
        *,
        side: str,
        record_id: str,
        candidate_side: str,
        candidate_id: str,
        score: float,
        reasons: Iterable[str],
    ) -> int | None:
        """Queue a likely duplicate once; an open item for the same pair is not repeated."""
        existing = conn.execute(
            sa.select(review_queue.c.id).where(
                review_queue.c.side == side,
                review_queue.c.record_id == record_id,
                review_queue.c.candidate_id == candidate_id,
            )
        ).first()
        if existing is not None:
            return None
        result = conn.execute(
            review_queue.insert().values(
                side=side,
                record_id=record_id,
                candidate_side=candidate_side,
                candidate_id=candidate_id,
                score=score,
                reasons=json.dumps(list(reasons)),
                state="open",
                created_at=now_iso(),
            )
        )
        return _new_id(result)

    def reviews(self, state: str | None = "open") -> list[ReviewItem]:
        query = sa.select(review_queue).order_by(review_queue.c.id)
        if state is not None:
            query = query.where(review_queue.c.state == state)
        with self.engine.connect() as conn:
            return [_review(r) for r in conn.execute(query).mappings()]

    def reviews_in(self, states: Sequence[str]) -> list[ReviewItem]:
        """The review items in any of `states`, oldest first (through the index on state)."""
        query = sa.select(review_queue).where(review_queue.c.state.in_(list(states))).order_by(review_queue.c.id)
        with self.engine.connect() as conn:
            return [_review(r) for r in conn.execute(query).mappings()]

    def review(self, review_id: int) -> ReviewItem | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(review_queue).where(review_queue.c.id == review_id)).mappings().first()
        return _review(row) if row else None

    @staticmethod
    def decide_review(conn: sa.Connection, review_id: int, state: str) -> None:
        conn.execute(
            review_queue.update().where(review_queue.c.id == review_id).values(state=state, decided_at=now_iso())
        )


_AUDIT_FIELDS = (
    "run_id",
    "link_id",
    "outbox_id",
    "eshop_id",
    "pohoda_id",
    "side",
    "before_hash",
    "after_hash",
    "note",
)


def _outbox_row(run_id: str, link_id: int, side: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "link_id": link_id,
        "side": side,
        "kind": kind,
        "payload": json.dumps(payload, ensure_ascii=False, sort_keys=True),
        "state": "pending",
        "attempts": 0,
        "created_at": now_iso(),
    }


_FINISH = (
    outbox.update()
    .where(outbox.c.id == sa.bindparam("entry_id"))
    .values(
        state=sa.bindparam("new_state"),
        last_error=sa.bindparam("error"),
        done_at=sa.func.coalesce(sa.bindparam("finished_at"), outbox.c.done_at),
        # Settled (or given back, when it stays pending): the claim ends with it.
        lease_until=None,
    )
)
_FINISH_ATTEMPTED = _FINISH.values(attempts=outbox.c.attempts + 1)
# Refused operations that a later delivery or a link made moot: `connector status` counts
# only what is still refused.
_SETTLE_REFUSED = (
    outbox.update()
    .where(
        outbox.c.link_id == sa.bindparam("link_id_"),
        outbox.c.side == sa.bindparam("side_"),
        outbox.c.state == "refused",
        outbox.c.id < sa.bindparam("before_"),
    )
    .values(state="superseded", last_error="settled: a later operation of this customer went through")
)


@functools.lru_cache(maxsize=32)
def _link_update(columns: tuple[str, ...]) -> sa.Update:
    return (
        links.update()
        .where(links.c.id == sa.bindparam("link_id_"))
        .values({links.c[name]: sa.bindparam(name) for name in (*columns, "updated_at")})
    )


def _new_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


# A run lock's advisory key: its name within this database and schema, so that stores in
# several schemas of one database (one per merchant, one per test) do not share a run lock.
_RUN_LOCK_KEY = "hashtextextended(current_schema() || ':' || :name, 0)"


def _model_stale(row: Any, population: int) -> bool:
    """Whether the stored model was fitted over a side of a very different size (or none was,
    and the side is now big enough to fit one)."""
    fitted = int(row.fitted_population or 0)
    if population < MIN_FIT_RECORDS:
        return row.model is not None
    return row.model is None or population >= DEDUP_REFIT_FACTOR * fitted or population * DEDUP_REFIT_FACTOR <= fitted


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_Row = TypeVar("_Row")


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _from_row(cls: type[_Row], row: Any, *, json_fields: tuple[str, ...] = ()) -> _Row:
    """A dataclass from a result row with the same column names; JSON columns decoded."""
    values = {name: row[name] for name in _field_names(cls)}  # type: ignore[arg-type]
    for name in json_fields:
        values[name] = json.loads(values[name]) if values[name] else None
    return cls(**values)


def _link(row: Any) -> Link:
    return _from_row(Link, row)


def _mirror(row: Any) -> MirrorRecord:
    return _from_row(MirrorRecord, row, json_fields=("content",))


def _outbox(row: Any) -> OutboxEntry:
    return _from_row(OutboxEntry, row, json_fields=("payload",))


def _audit(row: Any) -> AuditEntry:
    return _from_row(AuditEntry, row, json_fields=("detail",))


def _event(row: Any) -> WebhookEvent:
    return _from_row(WebhookEvent, row)


def _review(row: Any) -> ReviewItem:
    return _from_row(ReviewItem, row, json_fields=("reasons",))


def _unavailable(exc: sa.exc.SQLAlchemyError) -> StoreUnavailable:
    # The driver's own message ("database is locked", "unable to open database file"), never
    # SQLAlchemy's, which quotes the statement and its parameters (personal data).
    cause = exc.orig if isinstance(exc, sa.exc.DBAPIError) else None
    reason = str(cause).splitlines()[0] if cause is not None and str(cause) else type(exc).__name__
    return StoreUnavailable(f"[store] url: the store cannot be used: {reason}")


_Func = TypeVar("_Func", bound=Callable[..., Any])


def _mapping_store_errors(func: _Func) -> _Func:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except sa.exc.SQLAlchemyError as exc:
            raise _unavailable(exc) from exc

    return wrapper  # type: ignore[return-value]


def _map_errors_at_the_edge(cls: type) -> None:
    """Every public method of `cls` raises StoreUnavailable where SQLAlchemy raised: no
    caller of the store sees a SQLAlchemy error."""
    for name, member in list(vars(cls).items()):
        if name.startswith("_") or name == "transaction":
            continue
        if isinstance(member, staticmethod):
            setattr(cls, name, staticmethod(_mapping_store_errors(member.__func__)))
        elif isinstance(member, classmethod):
            setattr(cls, name, classmethod(_mapping_store_errors(member.__func__)))
        elif callable(member):
            setattr(cls, name, _mapping_store_errors(member))


_map_errors_at_the_edge(Store)
_map_errors_at_the_edge(WriteBatch)
