"""The sync run: lock, pull both sides, plan, persist in one transaction, deliver in batches.

Nothing is acknowledged before the commit that holds the planned operations and the new
cursors; delivery is at least once, and every write is idempotent on the other side.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from connector.codec.eshop import EshopWrite
from connector.codec.pohoda import AddressBookWrite, ItemResult
from connector.errors import EshopUnreachable, PeerRefused, PohodaRefused, PohodaUnreachable
from connector.log import get_logger
from connector.model import Contact, hash_content
from connector.peers.eshop import EshopClient
from connector.peers.pohoda import PohodaClient
from connector.store import Link, OutboxEntry, RunLockHeld, Store, WriteBatch
from connector.sync._plan import Plan, PlanSettings, PlanState, SideRecord, plan_operations, temporary_hq_id

log = get_logger(__name__)

LOCK_NAME = "sync"
# Re-read this much of POHODA's history on each poll: its lastChanges has one-second
# resolution and the two clocks may differ a little. What is seen twice is an echo.
POHODA_OVERLAP = dt.timedelta(seconds=2)
MAX_DELIVERY_ROUNDS = 4


@dataclasses.dataclass
class RunSummary:
    """What one run did, in counts (for people, for `--json`, and for the runs table)."""

    run_id: str
    state: str = "running"  # done | failed | skipped
    pulled_eshop: int = 0
    pulled_pohoda: int = 0
    planned: dict[str, int] = dataclasses.field(default_factory=dict)
    delivered: dict[str, int] = dataclasses.field(default_factory=dict)
    refused: int = 0
    conflicts: int = 0
    linked: int = 0
    reviews: int = 0
    pending: int = 0
    pohoda_unreachable: bool = False
    eshop_unreachable: bool = False
    message: str = ""
    seconds: float = 0.0
    # Where the time went: reading both sides, planning and persisting, delivering.
    phases: dict[str, float] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


Progress = Callable[[str, int, int], None]


class SyncRun:
    """One run of the mirror, over one store and two peers."""

    def __init__(
        self,
        store: Store,
        pohoda: PohodaClient,
        eshop: EshopClient,
        settings: PlanSettings,
        *,
        run_id: str | None = None,
        progress: Progress | None = None,
        read_eshop: bool = True,
        kind: str = "sync",
    ) -> None:
        self.store = store
        self.pohoda = pohoda
        self.eshop = eshop
        self.settings = settings
        self.run_id = run_id or f"sync-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        self.summary = RunSummary(self.run_id)
        self.progress = progress or (lambda _stage, _done, _total: None)
        self.batch_size = pohoda.config.batch_size
        # `connector convert` reads POHODA only: pending customers are created (deduplicated
        # against what POHODA has now) and their GUIDs replaced, the e-shop's feed waits.
        self.read_eshop = read_eshop
        self.kind = kind
        self._counter_lock = threading.Lock()

    # -- the run ------------------------------------------------------------------------

    def run(self) -> RunSummary:
        """One full run: both sides' changes since their cursors."""
        return self._locked(self._full, wait_s=0.0)

    def run_targeted(self, eshop_ids: Sequence[str], *, wait_s: float = 30.0) -> RunSummary:
        """Sync these e-shop customers now (the webhook path).

        Each is read from the e-shop and planned against what the store knows of POHODA;
        the cursors do not move (the feed shows these changes again later, as echoes). The
        run lock is the cron run's: a targeted run waits for it up to `wait_s` seconds, so the
        two never plan the same customer at once.
        """
        return self._locked(lambda: self._targeted(eshop_ids), wait_s=wait_s)

    def _locked(self, body: Callable[[], None], *, wait_s: float) -> RunSummary:
        started = time.monotonic()
        while True:
            try:
                self.store.acquire_lock(LOCK_NAME, self.run_id)
                break
            except RunLockHeld as exc:
                if time.monotonic() - started >= wait_s:
                    self.summary.state = "skipped"
                    self.summary.message = f"another run is active: {exc}"
                    return self.summary
                time.sleep(0.05)
        self.store.start_run(self.run_id, self.kind)
        try:
            body()
            self.deliver()
            self.summary.state = "done"
        except Exception as exc:
            self.summary.state = "failed"
            self.summary.message = str(exc)
            raise
        finally:
            self.summary.pending = self.store.outbox_counts().get("pending", 0)
            self.summary.seconds = round(time.monotonic() - started, 3)
            self.store.finish_run(self.run_id, self.summary.state, self.summary.to_dict())
            self.store.release_lock(LOCK_NAME, self.run_id)
        return self.summary

    def _targeted(self, eshop_ids: Sequence[str]) -> None:
        mark = time.monotonic()
        records = []
        for eshop_id in dict.fromkeys(eshop_ids):
            customer = self.eshop.get(eshop_id)
            if customer is None:
                records.append(SideRecord("eshop", eshop_id, None))
                continue
            hq_id = customer.hq_id if customer.sync_state == "synced" else None
            contact = customer.contact.replace(id=None, ext_id=None)
            records.append(SideRecord("eshop", eshop_id, contact, version=customer.version, hq_id=hq_id))
        self.summary.pulled_eshop = len(records)
        mark = self._phase("pull", mark)
        available = not self.pohoda.breaker.is_open
        self.summary.pohoda_unreachable = not available
        plan = plan_operations(records, [], self._targeted_state(records, pohoda_available=available), self.settings)
        mark = self._phase("plan", mark)
        self._persist(plan, {})
        self._phase("persist", mark)

    def _targeted_state(self, records: Sequence[SideRecord], *, pohoda_available: bool) -> PlanState:
        """Only what planning these customers needs: their links, bases and mirror rows, and
        the unlinked POHODA contacts a registration may duplicate. A webhook batch then costs
        the same in a shop of 100 customers as in one of 100,000."""
        eshop_ids = [r.record_id for r in records]
        links = self.store.links_of(eshop_ids=eshop_ids, pohoda_ids=[r.hq_id for r in records if r.hq_id])
        pohoda_ids = [link.pohoda_id for link in links if link.pohoda_id is not None]
        mirror_pohoda = self.store.unlinked_pohoda()
        mirror_pohoda.update(self.store.mirror_records("pohoda", pohoda_ids))
        return PlanState(
            links=tuple(links),
            bases=self.store.bases_of(link.id for link in links),
            mirror_eshop=self.store.mirror_records("eshop", eshop_ids),
            mirror_pohoda=mirror_pohoda,
            # Decisions on reviews are applied by full runs, which see every record involved.
            decided_reviews=(),
            pending_pohoda=self.store.pending_by_link("pohoda", ("create", "update")),
            pohoda_available=pohoda_available,
        )

    def _plan_state(self, *, pohoda_available: bool) -> PlanState:
        return PlanState(
            links=tuple(self.store.all_links()),
            bases=self.store.all_bases(),
            mirror_eshop=self.store.mirror_of("eshop"),
            mirror_pohoda=self.store.mirror_of("pohoda"),
            decided_reviews=tuple(r for r in self.store.reviews(state=None) if r.state in ("accepted", "rejected")),
            pending_pohoda=self.store.pending_by_link("pohoda", ("create", "update")),
            pohoda_available=pohoda_available,
        )

    def _phase(self, name: str, since: float) -> float:
        now = time.monotonic()
        self.summary.phases[name] = round(self.summary.phases.get(name, 0.0) + now - since, 3)
        return now

    def _full(self) -> None:
        mark = time.monotonic()
        poll_started = dt.datetime.now(dt.UTC)
        pohoda_cursor = self.store.cursor("pohoda")
        try:
            if not self.pohoda.probe():
                raise PohodaUnreachable(self.pohoda.breaker.reason)
            pohoda_records = self._pull_pohoda(pohoda_cursor)
        except PohodaUnreachable as exc:
            # The e-shop's side still moves on; POHODA's changes are read next time.
            log.warning("sync.pohoda_unreachable", run_id=self.run_id, error=str(exc))
            self.summary.pohoda_unreachable = True
            pohoda_records = None
        eshop_records: list[SideRecord] = []
        eshop_cursor = self.store.cursor("eshop")
        if self.read_eshop:
            try:
                eshop_records, eshop_cursor = self._pull_eshop(eshop_cursor)
            except PeerRefused as exc:
                if exc.status_code != 410:
                    raise
                # The e-shop no longer keeps history that old: read it whole; what did not
                # change since the last run is recognised as an echo and costs no write.
                log.warning("sync.eshop_cursor_expired", run_id=self.run_id)
                eshop_records, eshop_cursor = self._pull_eshop(None)
        mark = self._phase("pull", mark)
        self.summary.pulled_eshop = len(eshop_records)
        self.summary.pulled_pohoda = len(pohoda_records or [])
        state = self._plan_state(pohoda_available=pohoda_records is not None)
        plan = plan_operations(eshop_records, pohoda_records or [], state, self.settings)
        cursors = {"eshop": eshop_cursor} if eshop_cursor is not None else {}
        if pohoda_records is not None:
            cursors["pohoda"] = (poll_started - POHODA_OVERLAP).isoformat()
        mark = self._phase("plan", mark)
        self._persist(plan, cursors)
        self._phase("persist", mark)

    def _pull_pohoda(self, cursor: str | None) -> list[SideRecord]:
        if cursor:
            contacts = self.pohoda.changes_since(dt.datetime.fromisoformat(cursor))
        else:
            contacts = self.pohoda.snapshot()
        records = []
        for contact in contacts:
            assert contact.id is not None
            records.append(
                SideRecord("pohoda", contact.id, contact.replace(id=None, ext_id=None), ext_id=contact.ext_id)
            )
            if len(records) % 1000 == 0:
                self.progress("pull POHODA", len(records), 0)
        return records

    def _pull_eshop(self, cursor: str | None) -> tuple[list[SideRecord], str]:
        records: list[SideRecord] = []
        next_cursor = cursor or ""
        for page in self.eshop.changes(cursor):
            for change in page.changes:
                customer = change.customer
                contact = customer.contact.replace(id=None, ext_id=None) if customer is not None else None
                hq_id = customer.hq_id if customer is not None and customer.sync_state == "synced" else None
                records.append(SideRecord("eshop", change.id, contact, version=change.version, hq_id=hq_id))
            next_cursor = page.next_cursor
            self.progress("pull e-shop", len(records), 0)
        return records, next_cursor

    def _persist(self, plan: Plan, cursors: dict[str, str]) -> None:
        """The plan's operations and the new cursors, in one transaction."""
        with self.store.transaction() as conn:
            ids = Store.insert_links(
                conn, [{"state": n.state, "eshop_id": n.eshop_id, "pohoda_id": n.pohoda_id} for n in plan.new_links]
            )
            refs = {new.ref: link_id for new, link_id in zip(plan.new_links, ids, strict=True)}

            def real(ref: int | None) -> int | None:
                return None if ref is None else refs.get(ref, ref)

            for link_id, values in plan.link_updates.items():
                Store.update_link(conn, real(link_id) or link_id, **values)
            Store.put_mirror(conn, plan.mirror)
            Store.set_bases(
                conn,
                [(real(link_id) or link_id, content, hash_content(content)) for link_id, content in plan.bases.items()],
            )
            batch = WriteBatch()
            for op in plan.ops:
                batch.enqueue(
                    run_id=self.run_id,
                    link_id=real(op.link_ref) or op.link_ref,
                    side=op.side,
                    kind=op.kind,
                    payload=op.payload,
                )
            for entry in plan.audits:
                batch.add_audit(
                    run_id=self.run_id,
                    link_id=real(entry.link_ref),
                    operation=entry.operation,
                    result=entry.result,
                    side=entry.side,
                    eshop_id=entry.eshop_id,
                    pohoda_id=entry.pohoda_id,
                    note=entry.note,
                    detail=entry.detail,
                )
            batch.flush(conn)
            for review in plan.reviews:
                Store.add_review(
                    conn,
                    side=review.side,
                    record_id=review.record_id,
                    candidate_side=review.candidate_side,
                    candidate_id=review.candidate_id,
                    score=review.score,
                    reasons=review.reasons,
                )
            Store.supersede(conn, plan.superseded, "replaced by a newer write of the same customer")
            for review_id in plan.applied_reviews:
                Store.decide_review(conn, review_id, "applied")
            for name, value in cursors.items():
                Store.set_cursor(conn, name, value)
        self.summary.planned = dict(Counter(f"{op.side}.{op.kind}" for op in plan.ops))
        self.summary.conflicts += sum(1 for a in plan.audits if a.result == "conflict")
        self.summary.linked += sum(1 for a in plan.audits if a.operation == "match")
        self.summary.reviews += len(plan.reviews)

    # -- delivery -----------------------------------------------------------------------

    def deliver(self) -> None:
        """Send what the outbox holds until a round queues nothing new.

        POHODA and the e-shop are delivered to at the same time, each by its own thread: the
        e-shop's link writes (POHODA's ids) follow POHODA's answers while POHODA, which
        serves one request at a time, works through the next dataPack.
        """
        mark = time.monotonic()
        counters = [Counter[str](), Counter[str]()]
        for _round in range(MAX_DELIVERY_ROUNDS):
            pohoda_done = threading.Event()
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="deliver") as pool:
                to_pohoda = pool.submit(self._drain_pohoda, pohoda_done, counters[0])
                to_eshop = pool.submit(self._drain_eshop, pohoda_done, counters[1])
                sent = to_pohoda.result() + to_eshop.result()
            if sent == 0:
                break
        delivered = Counter(self.summary.delivered)
        for counter in counters:
            delivered.update(counter)
        self.summary.delivered = dict(delivered)
        self._phase("deliver", mark)

    def _drain_pohoda(self, done: threading.Event, delivered: Counter[str]) -> int:
        total = 0
        try:
            while not self.summary.pohoda_unreachable:
                sent = self._deliver_pohoda(delivered)
                total += sent
                if sent == 0:
                    break
            if self.summary.pohoda_unreachable:
                total += self._fall_back_to_async()
        finally:
            done.set()
        return total

    def _fall_back_to_async(self) -> int:
        """POHODA failed: every registration still waiting for it gets its temporary GUID and
        `pending_sync` on the e-shop now, instead of waiting with no account at all."""
        waiting = [
            link
            for link in self.store.all_links()
            if link.state == "creating_pohoda" and link.temp_hq_id is None and link.eshop_id is not None
        ]
        if not waiting:
            return 0
        batch = WriteBatch()
        for link in waiting:
            self._mark_pending(batch, link, "POHODA could not be reached")
        with self.store.transaction() as conn:
            batch.flush(conn)
        return len(waiting)

    def _mark_pending(self, batch: WriteBatch, link: Link, why: str) -> None:
        assert link.eshop_id is not None
        guid = temporary_hq_id(self.settings.ico, link.eshop_id)
        batch.update_link(link.id, temp_hq_id=guid, state="pending_sync")
        self._enqueue(batch, link, "eshop", "link", {"hq_id": guid, "sync_state": "pending_sync"})
        batch.add_audit(
            operation="pending",
            result="pending",
            run_id=self.run_id,
            link_id=link.id,
            eshop_id=link.eshop_id,
            side="eshop",
            note=f"temporary account id {guid} until POHODA creates the customer ({why})",
        )

    def _drain_eshop(self, pohoda_done: threading.Event, delivered: Counter[str]) -> int:
        total = 0
        while not self.summary.eshop_unreachable:
            finished = pohoda_done.is_set()
            sent = self._deliver_eshop(delivered)
            total += sent
            if sent == 0:
                if finished:
                    break
                pohoda_done.wait(0.05)
        return total

    def _enqueue(self, batch: WriteBatch, link: Link, side: str, kind: str, payload: dict[str, Any]) -> None:
        batch.enqueue(run_id=self.run_id, link_id=link.id, side=side, kind=kind, payload=payload)

    def _audit(self, batch: WriteBatch, link: Link, entry: OutboxEntry, **fields: Any) -> None:
        """An audit row about one delivered operation."""
        fields.setdefault("eshop_id", link.eshop_id)
        fields.setdefault("pohoda_id", link.pohoda_id)
        batch.add_audit(run_id=self.run_id, link_id=link.id, outbox_id=entry.id, **fields)

    def _count(self, field: str) -> None:
        with self._counter_lock:
            setattr(self.summary, field, getattr(self.summary, field) + 1)

    def _linked_eshop_ids(self) -> set[str]:
        return {link.eshop_id for link in self.store.all_links() if link.eshop_id is not None}

    def _deliver_pohoda(self, delivered: Counter[str]) -> int:
        entries = self.store.pending("pohoda")
        if not entries:
            return 0
        links = self.store.links_by_id(entry.link_id for entry in entries)
        sent = 0
        for start in range(0, len(entries), self.batch_size):
            chunk = entries[start : start + self.batch_size]
            writes = [self._pohoda_write(entry, links[entry.link_id]) for entry in chunk]
            try:
                results = self.pohoda.apply(writes)
            except PohodaUnreachable as exc:
                # The breaker: no more POHODA calls in this run; the outbox keeps the rest.
                log.warning("sync.pohoda_unreachable", run_id=self.run_id, error=str(exc))
                self.summary.pohoda_unreachable = True
                break
            except PohodaRefused as exc:
                with self.store.transaction() as conn:
                    for entry in chunk:
                        Store.finish_outbox(conn, entry.id, "pending", error=str(exc))
                raise
            batch = WriteBatch()
            for entry, result in zip(chunk, results, strict=True):
                self._pohoda_result(batch, entry, links[entry.link_id], result, delivered)
            with self.store.transaction() as conn:
                batch.flush(conn)
            sent += len(chunk)
            self.progress("deliver to POHODA", start + len(chunk), len(entries))
            for entry, result in zip(chunk, results, strict=True):
                link = links[entry.link_id]
                if link.pohoda_id is None and result.ok and result.pohoda_id is not None:
                    links[link.id] = dataclasses.replace(link, pohoda_id=result.pohoda_id, state="linked")
        return sent

    @staticmethod
    def _pohoda_write(entry: OutboxEntry, link: Link) -> AddressBookWrite:
        if entry.kind == "delete":
            return AddressBookWrite.delete(version=entry.id, pohoda_id=link.pohoda_id, ext_id=link.eshop_id)
        contact = Contact.from_dict(entry.payload["contact"]).replace(ext_id=link.eshop_id)
        if entry.kind == "create" or link.pohoda_id is None:
            return AddressBookWrite.upsert(contact, version=entry.id)
        return AddressBookWrite.update(contact, version=entry.id, pohoda_id=link.pohoda_id)

    def _pohoda_result(
        self, batch: WriteBatch, entry: OutboxEntry, link: Link, result: ItemResult, delivered: Counter[str]
    ) -> None:
        after = hash_content(entry.payload["contact"]) if "contact" in entry.payload else None
        if not result.ok:
            batch.finish_outbox(entry.id, "refused", error=result.note)
            self._audit(
                batch,
                link,
                entry,
                operation=entry.kind,
                side="pohoda",
                after_hash=after,
                result="refused",
                note=result.note or "refused",
                detail={
                    "errors": [d.note for d in result.errors],
                    "field": result.error.field if result.error else None,
                },
            )
            self._count("refused")
            if link.pohoda_id is None and link.temp_hq_id is None and link.eshop_id is not None:
                # Refused registrations wait visibly: "Pending sync" on the e-shop, the note here.
                self._mark_pending(batch, link, "POHODA refused it")
            return
        batch.finish_outbox(entry.id, "done")
        pohoda_id = result.pohoda_id or link.pohoda_id
        if link.pohoda_id is None and pohoda_id is not None:
            batch.update_link(link.id, pohoda_id=pohoda_id, state="linked")
            if link.eshop_id is not None:
                self._enqueue(batch, link, "eshop", "link", {"hq_id": pohoda_id, "sync_state": "synced"})
        notes = [w.message for w in result.warnings]
        self._audit(
            batch,
            link,
            entry,
            pohoda_id=pohoda_id,
            operation=entry.kind,
            side="pohoda",
            after_hash=after,
            result="done",
            note="; ".join(notes) if notes else ("already imported (replay)" if result.duplicate else None),
        )
        delivered[f"pohoda.{entry.kind}"] += 1

    def _deliver_eshop(self, delivered: Counter[str]) -> int:
        entries = self.store.pending("eshop")
        if not entries:
            return 0
        links = self.store.links_by_id(entry.link_id for entry in entries)
        size = self.eshop.config.batch_size
        sent = 0
        for start in range(0, len(entries), size):
            chunk = entries[start : start + size]
            writes = [self._eshop_write(entry, links[entry.link_id]) for entry in chunk]
            try:
                results = self.eshop.apply(writes)
            except EshopUnreachable as exc:
                log.warning("sync.eshop_unreachable", run_id=self.run_id, error=str(exc))
                self.summary.eshop_unreachable = True
                break
            batch = WriteBatch()
            for entry, result in zip(chunk, results, strict=True):
                self._eshop_result(batch, entry, links[entry.link_id], result, delivered)
            with self.store.transaction() as conn:
                batch.flush(conn)
            sent += len(chunk)
            self.progress("deliver to e-shop", start + len(chunk), len(entries))
        return sent

    @staticmethod
    def _eshop_write(entry: OutboxEntry, link: Link) -> EshopWrite:
        payload = entry.payload
        if entry.kind == "create":
            return EshopWrite.create(
                Contact.from_dict(payload["contact"]),
                idempotency_key=payload["idempotency_key"],
                send_welcome=payload.get("send_welcome", False),
                hq_id=payload.get("hq_id"),
                sync_state=payload.get("sync_state"),
            )
        assert link.eshop_id is not None
        if entry.kind == "link":
            return EshopWrite.link(link.eshop_id, payload["hq_id"], payload["sync_state"])
        return EshopWrite.update(
            link.eshop_id, Contact.from_dict(payload["contact"]), payload.get("expected_version") or ""
        )

    def _eshop_result(
        self, batch: WriteBatch, entry: OutboxEntry, link: Link, result: Any, delivered: Counter[str]
    ) -> None:
        after = hash_content(entry.payload["contact"]) if "contact" in entry.payload else None
        if result.conflict:
            # The customer changed the record after we read it: the next run merges again.
            batch.finish_outbox(entry.id, "superseded", error=result.message)
            self._audit(
                batch,
                link,
                entry,
                operation=entry.kind,
                side="eshop",
                after_hash=after,
                result="conflict",
                note="the e-shop record changed after it was read; merged again by the next run",
            )
            self._count("conflicts")
            return
        taken_by = result.id if (result.error is not None and result.error.code == "email_taken") else None
        if entry.kind == "create" and link.eshop_id is None and taken_by and taken_by not in self._linked_eshop_ids():
            # Someone registered with this e-mail meanwhile: the same person, so link, don't copy.
            batch.finish_outbox(entry.id, "superseded", error=result.message)
            batch.update_link(link.id, eshop_id=taken_by, state="linked")
            self._enqueue(batch, link, "eshop", "link", {"hq_id": link.pohoda_id, "sync_state": "synced"})
            # POHODA learns the account's id as extId; the next run merges their contents.
            self._enqueue(batch, link, "pohoda", "update", {"contact": entry.payload["contact"]})
            self._audit(
                batch,
                link,
                entry,
                eshop_id=taken_by,
                operation="match",
                side="eshop",
                result="done",
                note="linked as the same customer: the e-mail already has an e-shop account",
            )
            return
        if not result.ok:
            batch.finish_outbox(entry.id, "refused", error=result.message)
            self._audit(
                batch,
                link,
                entry,
                operation=entry.kind,
                side="eshop",
                after_hash=after,
                result="refused",
                note=result.message or f"HTTP {result.status}",
                detail={"field": result.field},
            )
            self._count("refused")
            return
        batch.finish_outbox(entry.id, "done")
        eshop_id = result.id or link.eshop_id
        if entry.kind == "create" and link.eshop_id is None and eshop_id is not None:
            batch.update_link(link.id, eshop_id=eshop_id, state="linked")
            # POHODA keeps the e-shop's id as extId: the link then exists on both sides.
            self._enqueue(batch, link, "pohoda", "update", {"contact": entry.payload["contact"]})
        self._audit(
            batch,
            link,
            entry,
            eshop_id=eshop_id,
            operation=entry.kind,
            side="eshop",
            after_hash=after,
            result="done",
            note="welcome e-mail requested" if entry.payload.get("send_welcome") else None,
        )
        delivered[f"eshop.{entry.kind}"] += 1
