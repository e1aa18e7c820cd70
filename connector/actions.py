"""The operator's actions, as library calls: one sync run, the status report, review
decisions, an operation's history, sending a refused operation again.

The CLI and `connector serve` both call these; they parse arguments and print, nothing more.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

from connector.codec.pohoda import AddressBookWrite, EncodedImport, PohodaCodec, ResponsePack
from connector.config import Config
from connector.errors import BadData, ConfigError, InvalidContact, RunLockHeld, StoreUnavailable
from connector.log import get_logger
from connector.model import AuditEntry, Contact, OutboxEntry, ReviewItem, hash_content
from connector.runtime import Runtime
from connector.store import Store
from connector.sync import LOCK_NAME, Progress, RunSummary, SyncRun

__all__ = [
    "DeliverySummary",
    "OperationHistory",
    "OperationNotFound",
    "RetryOutcome",
    "ReviewNotOpen",
    "ReviewView",
    "answer_items",
    "audit_rows",
    "decide_review",
    "deliver_outbox",
    "encode_contacts",
    "open_reviews",
    "operation_history",
    "parse_customer",
    "pohoda_codec",
    "retry_operation",
    "run_sync",
    "status_report",
]


def run_sync(config: Config, *, progress: Progress | None = None, convert_only: bool = False) -> RunSummary:
    """One full `connector sync` run with the configured store and peers.

    With `convert_only` (`connector convert`), only POHODA is read: pending customers are
    created there and their temporary ids replaced on the e-shop.
    """
    with Runtime(config) as runtime:
        run = runtime.sync_run(
            progress=progress,
            read_eshop=not convert_only,
            kind="convert" if convert_only else "sync",
        )
        return run.run()


log = get_logger(__name__)


@dataclasses.dataclass
class DeliverySummary:
    """What `connector deliver` did: operations delivered, rounds, store outages lived through."""

    delivered: dict[str, int] = dataclasses.field(default_factory=dict)
    rounds: int = 0
    store_outages: int = 0
    peer_errors: dict[str, str] = dataclasses.field(default_factory=dict)
    pending: int = 0
    seconds: float = 0.0
    state: str = "done"  # done | timed_out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def deliver_outbox(
    config: Config, *, until_empty: bool = False, max_s: float | None = None, retry_s: float = 1.0
) -> DeliverySummary:
    """Send what the outbox holds, without pulling or planning: the worker that several
    processes on several hosts run at once over one PostgreSQL store (claims keep each
    operation with one of them; the mServer lock keeps one request in flight to POHODA).

    With `until_empty` it goes on until nothing is pending (what others hold included: a dead
    worker's claims come free after their lease and are taken over), living through store
    outages (a PostgreSQL restart) and peer faults by waiting `retry_s` and trying again; it
    stops after `max_s` seconds at the latest.
    """
    started = time.monotonic()
    summary = DeliverySummary()
    delivered: Counter[str] = Counter()
    runtime: Runtime | None = None
    # Runs whose claims an outage may have left leased: given back once the store answers.
    unreleased: list[str] = []
    try:
        while True:
            if max_s is not None and time.monotonic() - started > max_s:
                summary.state = "timed_out"
                break
            run: SyncRun | None = None
            try:
                # Inside the outage handling: a fresh runtime (after a peer fault) opens the
                # store again, and the store may be down at that instant.
                runtime = runtime or Runtime(config)
                run = runtime.sync_run(kind="deliver")
                summary.rounds += 1
                for run_id in list(unreleased):
                    for side in (runtime.hq.side, runtime.shop.side):
                        runtime.store.release_claims(run_id, side)
                    unreleased.remove(run_id)
                run.deliver()
                pending = runtime.store.outbox_counts().get("pending", 0)
            except StoreUnavailable as exc:
                if not until_empty:
                    raise
                summary.store_outages += 1
                if run is not None:
                    unreleased.append(run.run_id)
                log.warning("deliver.store_unavailable", run_id=run.run_id if run else None, error=str(exc))
                time.sleep(retry_s)
                continue
            finally:
                if run is not None:
                    delivered.update(run.summary.delivered)
            assert run is not None and runtime is not None
            summary.pending = pending
            if run.summary.peer_errors:
                summary.peer_errors.update(run.summary.peer_errors)
                # A peer that failed is not called again by these clients (their breaker):
                # the next round starts with fresh ones.
                runtime.close()
                runtime = None
            if not until_empty or pending == 0:
                break
            if not run.summary.delivered:
                time.sleep(retry_s if run.summary.peer_errors else 0.1)  # others hold what is left
    finally:
        if runtime is not None:
            with contextlib.suppress(StoreUnavailable):
                runtime.close()
    summary.delivered = dict(delivered)
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


def status_report(store: Store) -> dict[str, Any]:
    """What `connector status` (and `GET /status` of `connector serve`) shows, as data."""
    outbox = store.outbox_counts()
    audit = store.audit_counts()
    waiting, oldest = store.pending_customers()
    age = None
    if oldest is not None:
        age = round((dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(oldest)).total_seconds())
    return {
        "last_run": store.last_run("sync"),
        "pending_customers": waiting,
        "oldest_pending_age_s": age,
        "pending": outbox.get("pending", 0),
        "refused": outbox.get("refused", 0),
        "in_review": len(store.reviews()),
        "conflicts_recorded": audit.get("conflict", 0),
        "cursors": store.all_cursors(),
    }


@dataclasses.dataclass(frozen=True)
class ReviewView:
    """An open review item with the two records' content, for a person to decide on."""

    item: ReviewItem
    record: dict[str, Any]
    candidate: dict[str, Any]


def open_reviews(store: Store, *, include_decided: bool = False) -> list[ReviewView]:
    """The review items waiting for a person (with `include_decided`, all of them)."""
    items = store.reviews(state=None if include_decided else "open")
    wanted: dict[str, set[str]] = {"eshop": set(), "pohoda": set()}
    for item in items:
        wanted[item.side].add(item.record_id)
        wanted[item.candidate_side].add(item.candidate_id)
    mirror = {side: store.mirror_records(side, ids) for side, ids in wanted.items()}
    views = []
    for item in items:
        new = mirror[item.side].get(item.record_id)
        old = mirror[item.candidate_side].get(item.candidate_id)
        views.append(ReviewView(item, new.content if new else {}, old.content if old else {}))
    return views


class ReviewNotOpen(BadData):
    """The review item does not exist or was decided already."""


def decide_review(store: Store, review_id: int, state: str) -> ReviewItem:
    """Record a person's decision ("accepted": the same customer; "rejected": two)."""
    item = store.review(review_id)
    if item is None:
        raise ReviewNotOpen(f"no review item {review_id}", record=str(review_id))
    if item.state != "open":
        raise ReviewNotOpen(f"review item {review_id} is already {item.state}", record=str(review_id))
    with store.transaction() as conn:
        Store.decide_review(conn, review_id, state)
        Store.add_audit(
            conn,
            operation="review_decision",
            result="done",
            eshop_id=item.record_id,
            pohoda_id=item.candidate_id,
            note=f"{state} by a person; applied by the next sync run",
        )
    return item


class OperationNotFound(BadData):
    """No audit row or operation with that id."""


@dataclasses.dataclass(frozen=True)
class OperationHistory:
    """One audit row, the operation it belongs to, and everything logged for that customer."""

    row: AuditEntry
    operation: OutboxEntry | None
    history: list[AuditEntry]


def operation_history(store: Store, audit_id: int) -> OperationHistory:
    row = store.audit_entry(audit_id)
    if row is None:
        raise OperationNotFound(f"no audit row {audit_id} (see `connector audit list`)", record=str(audit_id))
    operation = store.outbox_entry(row.outbox_id) if row.outbox_id is not None else None
    if row.eshop_id:
        history = store.audit_entries(eshop_id=row.eshop_id, limit=50)
    elif row.pohoda_id:
        history = store.audit_entries(pohoda_id=row.pohoda_id, limit=50)
    else:
        history = [row]
    return OperationHistory(row=row, operation=operation, history=sorted(history, key=lambda a: a.id))


@dataclasses.dataclass(frozen=True)
class RetryOutcome:
    """Audit row `audit_id` was about operation `refused_operation`; it went out again as
    `new_operation`."""

    new_operation: OutboxEntry
    delivered: bool
    note: str
    audit_id: int = 0
    refused_operation: int = 0

    def describe(self) -> str:
        """One line for people that names the audit row and both operations."""
        state = "delivered" if self.delivered else self.note
        return (
            f"audit row {self.audit_id} (operation {self.refused_operation}, refused): sent again as "
            f"operation {self.new_operation.id}: {state}"
        )


def parse_customer(value: str) -> tuple[str, str]:
    """`eshop:5` or `pohoda:5` as (side, id): a bare 5 could be either side's customer."""
    side, sep, record_id = value.partition(":")
    if not sep or side not in ("eshop", "pohoda") or not record_id:
        raise BadData(
            f"--customer {value!r}: say which side the id is of: eshop:{value} or pohoda:{value}", field="customer"
        )
    return side, record_id


def audit_rows(
    store: Store,
    *,
    customer: str | None = None,
    result: str | None = None,
    since: str | None = None,
    limit: int = 200,
) -> list[AuditEntry]:
    """Audit rows, newest first; `customer` is `eshop:ID` or `pohoda:ID`."""
    sides: dict[str, str] = {}
    if customer is not None:
        side, record_id = parse_customer(customer)
        sides[f"{side}_id"] = record_id
    return store.audit_entries(result=result, since=since, limit=limit, **sides)


def retry_operation(config: Config, audit_id: int) -> RetryOutcome:
    """Send a refused operation again with the customer's current data, now.

    The data is read afresh from the side it came from (the e-shop for a write to POHODA),
    so a correction made there is what goes out; the refused operation is marked superseded.
    """
    with Runtime(config) as runtime:
        store = runtime.store
        found = operation_history(store, audit_id)
        entry = found.operation
        if entry is None:
            raise OperationNotFound(f"audit row {audit_id} is not about an operation that can be sent again")
        if entry.state != "refused":
            raise BadData(f"operation {entry.id} is {entry.state}; only a refused operation is sent again")
        link = store.link(entry.link_id)
        assert link is not None
        if entry.side == "pohoda":
            if link.eshop_id is None:
                raise BadData(f"operation {entry.id}: the customer has no e-shop account to read from")
            customer = runtime.shop.get(link.eshop_id)
            if customer is None or customer.contact is None:
                raise BadData(f"operation {entry.id}: e-shop customer {link.eshop_id} no longer exists")
            content = customer.contact.content()
            kind = "update" if link.pohoda_id is not None else "create"
            payload: dict[str, object] = {"contact": content}
        else:
            source = runtime.hq.get(link.pohoda_id) if link.pohoda_id else None
            if source is None or source.contact is None:
                raise BadData(f"operation {entry.id}: POHODA contact {link.pohoda_id} cannot be read")
            content = source.contact.content()
            kind = entry.kind
            payload = {**entry.payload, "contact": content}
            if kind == "update" and link.eshop_id is not None:
                current = runtime.shop.get(link.eshop_id)
                payload["expected_version"] = current.version if current else None
        with store.transaction() as conn:
            Store.supersede(conn, [entry.id], f"sent again by an operator (audit row {audit_id})")
            new_id = Store.enqueue(
                conn, run_id=f"retry-{audit_id}", link_id=link.id, side=entry.side, kind=kind, payload=payload
            )
            Store.set_base(conn, link.id, content, hash_content(content))
            Store.add_audit(
                conn,
                operation="retry",
                result="pending",
                run_id=f"retry-{audit_id}",
                link_id=link.id,
                outbox_id=new_id,
                eshop_id=link.eshop_id,
                pohoda_id=link.pohoda_id,
                side=entry.side,
                after_hash=hash_content(content),
                note=f"operation {entry.id} sent again as {new_id}",
            )
        run = runtime.sync_run(run_id=f"retry-{uuid.uuid4().hex[:8]}")
        try:
            store.acquire_lock(LOCK_NAME, run.run_id)
        except RunLockHeld as exc:
            new = store.outbox_entry(new_id)
            assert new is not None
            return RetryOutcome(new, False, f"queued; a running sync delivers it ({exc})", audit_id, entry.id)
        try:
            run.deliver()
        finally:
            store.release_lock(LOCK_NAME, run.run_id)
        new = store.outbox_entry(new_id)
        assert new is not None
        return RetryOutcome(new, new.state == "done", new.last_error or new.state, audit_id, entry.id)


# -- POHODA's XML by hand (`connector pohoda encode|decode`) ------------------------------


def pohoda_codec(config: Config | None, *, ex_system: str | None = None, ico: str | None = None) -> PohodaCodec:
    """The codec for the configured POHODA; `ex_system` and `ico` override the [pohoda]
    keys, and with both given no configuration is needed (`config` None)."""
    pohoda = config.pohoda if config else None
    ico = ico or (pohoda.ico if pohoda else None)
    if not ico:
        raise ConfigError("give --ico, or set [pohoda] ico in the configuration (or CONNECTOR_POHODA_ICO)")
    return PohodaCodec(
        ico=ico,
        ex_system=ex_system or (pohoda.ex_system if pohoda else "eshop"),
        application=pohoda.application if pohoda else "connector",
        schema_dir=pohoda.schema_dir if pohoda else None,
        truncate_long_values=pohoda.truncate_long_values if pohoda else False,
    )


def encode_contacts(codec: PohodaCodec, contacts: Sequence[Contact]) -> EncodedImport:
    """An address-book import of `contacts`: one with `ext_id` is an upsert keyed by it, one
    with only a POHODA `id` an update of that record. A contact with neither is refused
    (InvalidContact naming its line); one the codec cannot encode is reported in the result."""
    # A one-shot encode has no sync history: the moment of encoding is every record's
    # version, so an A -> B -> A sequence of encodes is never refused as a duplicate.
    version = f"{time.time_ns() // 1_000_000}"
    writes: list[AddressBookWrite] = []
    for number, contact in enumerate(contacts, start=1):
        if contact.ext_id:
            writes.append(AddressBookWrite.upsert(contact, version=version))
        elif contact.id:
            writes.append(AddressBookWrite.update(contact, version=version, pohoda_id=contact.id))
        else:
            raise InvalidContact(f"line {number}: a contact needs ext_id (upsert) or id (update of a POHODA record)")
    return codec.encode_import(writes)


def answer_items(answer: ResponsePack) -> list[dict[str, Any]]:
    """An import answer's items as plain objects, one per item, in the pack's order."""
    return [
        {
            "item_id": item.item_id,
            "state": item.state,
            "ok": item.ok,
            "duplicate": item.duplicate,
            "pohoda_id": item.pohoda_id,
            "ext_id": item.ext_id,
            "action": item.action,
            "note": item.note,
            "details": [{"state": d.state, "errno": d.errno, "note": d.note, "xpath": d.xpath} for d in item.details],
        }
        for item in answer.items
    ]
