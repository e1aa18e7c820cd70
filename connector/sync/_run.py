"""The sync run: lock, pull both sides, plan, persist in one transaction, deliver in batches.

Nothing is acknowledged before the commit that holds the planned operations and the new
cursors; delivery is at least once, and every write is idempotent on the other side.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from connector.errors import BadData, PeerRefused, PeerUnreachable, RunLockHeld, StoreUnavailable
from connector.log import get_logger
from connector.model import Link, OutboxEntry, hash_content
from connector.peers.base import ChangeBatch, Peer, PeerRecord
from connector.plan import (
    Delivery,
    Plan,
    PlanSettings,
    PlanState,
    SideRecord,
    interpret,
    plan_operations,
    temporary_hq_id,
    to_mirror,
    write_for,
)
from connector.store import Store, WriteBatch
from connector.sync._echoes import SortedPage, count_echoes, sort_page
from connector.sync._state import changes_state, registration_candidates
from connector.transport import run_deadline

log = get_logger(__name__)

LOCK_NAME = "sync"
# What a peer does wrong that ends this run's work with that peer, not the run: it cannot be
# reached, it refused a whole batch, or its answer cannot be read. Configuration errors
# (wrong credentials or URL) are not among them: they stop the command.
PEER_FAULTS: tuple[type[Exception], ...] = (PeerUnreachable, PeerRefused, BadData)
# How often a live run renews its lock; a lock not renewed for the store's LOCK_STALE_S is
# a dead run's and may be taken over.
HEARTBEAT_S = 30.0
MAX_DELIVERY_ROUNDS = 4
# About how many e-shop changes one chunk of a cron run plans and persists at once (whole
# feed pages, so a little more): the run's memory follows this, not the store or the pull.
CHUNK_RECORDS = 1000


@dataclasses.dataclass
class RunSummary:
    """What one run did, in counts (for people, for `--json`, and for the runs table)."""

    run_id: str
    state: str = "running"  # done | failed | skipped
    pulled_eshop: int = 0
    pulled_pohoda: int = 0
    # Of those, records that carry nothing new (our own writes read back, or unchanged).
    echoes_eshop: int = 0
    echoes_pohoda: int = 0
    planned: dict[str, int] = dataclasses.field(default_factory=dict)
    delivered: dict[str, int] = dataclasses.field(default_factory=dict)
    refused: int = 0
    conflicts: int = 0
    linked: int = 0
    reviews: int = 0
    pending: int = 0
    pohoda_unreachable: bool = False
    eshop_unreachable: bool = False
    mail_unreachable: bool = False
    # side -> what went wrong with that peer in this run (see PEER_FAULTS)
    peer_errors: dict[str, str] = dataclasses.field(default_factory=dict)
    message: str = ""
    seconds: float = 0.0
    # Where the time went: reading both sides, planning and persisting, delivering.
    phases: dict[str, float] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


Progress = Callable[[str, int, int], None]


class SyncRun:
    """One run of the mirror, over one store and two peers: HQ (the accounting system's
    address book) and the shop (whatever platform answers the Peer interface)."""

    def __init__(
        self,
        store: Store,
        hq: Peer,
        shop: Peer,
        settings: PlanSettings,
        *,
        run_id: str | None = None,
        progress: Progress | None = None,
        read_eshop: bool = True,
        kind: str = "sync",
        max_run_s: float | None = None,
        mail: Peer | None = None,
        chunk_records: int = CHUNK_RECORDS,
    ) -> None:
        self.store = store
        self.chunk_records = chunk_records
        self.hq = hq
        self.shop = shop
        # The connector's own mail (the welcome e-mail where the platform sends none).
        self.mail = mail
        # A platform that cannot hold every field says what it keeps (Peer.storable_content).
        storable = getattr(shop, "storable_content", None)
        if storable is not None and settings.eshop_storable is None:
            settings = dataclasses.replace(settings, eshop_storable=storable)
        self.settings = settings
        self.run_id = run_id or f"sync-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        self.summary = RunSummary(self.run_id)
        self.progress = progress or (lambda _stage, _done, _total: None)
        # `connector convert` reads POHODA only: pending customers are created (deduplicated
        # against what POHODA has now) and their GUIDs replaced, the e-shop's feed waits.
        self.read_eshop = read_eshop
        self.kind = kind
        # Every exchange of the run ends by then ([sync] max_run_s): a dripping peer cannot
        # hold the run lock for ever.
        self.max_run_s = max_run_s
        # Records a peer sent that could not be read (bad data), with their side: audited as
        # refused with the persisted plan, and left out of it; the rest of the run goes on.
        self._set_aside: list[tuple[str, BadData]] = []
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
        heart = _Heartbeat(self.store, LOCK_NAME, self.run_id)
        deadline = run_deadline(self.max_run_s) if self.max_run_s else contextlib.nullcontext()
        try:
            with heart, deadline:
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
            found = self.shop.get(eshop_id)
            records.append(_side_record(self.shop, found) if found else SideRecord("eshop", eshop_id, None))
        self.summary.pulled_eshop = len(records)
        mark = self._phase("pull", mark)
        available = self.hq.available
        self.summary.pohoda_unreachable = not available
        plan = plan_operations(records, [], self._targeted_state(records, pohoda_available=available), self.settings)
        mark = self._phase("plan", mark)
        self._persist(plan, {})
        self._phase("persist", mark)

    def _targeted_state(self, records: Sequence[SideRecord], *, pohoda_available: bool) -> PlanState:
        """Only what planning these customers needs: their links, bases and mirror rows, and
        the POHODA contacts a registration may duplicate (by key, in the stored dedup index). A webhook batch then costs
        the same in a shop of 100 customers as in one of 100,000."""
        eshop_ids = [r.record_id for r in records]
        links = self.store.links_of(eshop_ids=eshop_ids, pohoda_ids=[r.hq_id for r in records if r.hq_id])
        if not self.shop.capabilities.stores_external_id:
            # A new account on a platform that cannot carry POHODA's id may be our own
            # auto-registration whose answer was lost: the planner needs those links to tell.
            known = {link.eshop_id for link in links}
            if any(r.contact is not None and r.record_id not in known for r in records):
                ids = {link.id for link in links}
                links += [
                    link
                    for link in self.store.links_missing("eshop")
                    if link.state == "creating_eshop" and link.id not in ids
                ]
        pohoda_ids = [link.pohoda_id for link in links if link.pohoda_id is not None]
        known = {link.eshop_id for link in links}
        registrations = [r.contact for r in records if r.contact is not None and r.record_id not in known]
        statistics = None
        if registrations:
            mirror_pohoda, linked, statistics = registration_candidates(
                self.store, self.settings, registrations, pohoda_ids
            )
            ids = {link.id for link in links}
            links += [link for link in linked if link.id not in ids]
        else:
            mirror_pohoda = self.store.mirror_records("pohoda", pohoda_ids)
        return PlanState(
            links=tuple(links),
            bases=self.store.bases_of(link.id for link in links),
            mirror_eshop=self.store.mirror_records("eshop", eshop_ids),
            mirror_pohoda=mirror_pohoda,
            # Decisions on reviews are applied by full runs, which see every record involved.
            decided_reviews=(),
            open_reviews=tuple(self.store.reviews()),
            pending_pohoda=self.store.pending_by_link("pohoda", ("create", "update")),
            pohoda_available=pohoda_available,
            pending_eshop_creates=frozenset(self.store.pending_by_link(self.shop.side, ("create",))),
            pohoda_statistics=statistics,
        )

    def _phase(self, name: str, since: float) -> float:
        now = time.monotonic()
        self.summary.phases[name] = round(self.summary.phases.get(name, 0.0) + now - since, 3)
        return now

    def _full(self) -> None:
        """Both sides' changes since their cursors, in chunks of about CHUNK_RECORDS records.

        POHODA is read first, page by page: echoes (a hash each) are set apart at once, only
        its real changes are held, and its cursor moves with the last chunk. The e-shop's feed
        is then read a chunk at a time; each chunk is planned with the held POHODA changes of
        the same customers (a three-way merge needs both sides' records) and persisted with the
        feed's cursor that covers it, in one transaction. A registration is compared with the
        store's POHODA contacts and with the held new ones (dedup across chunks); those held
        contacts are planned, with what is left, in the last chunk, so that no chunk creates an
        account for a contact a later chunk's registration turns out to be.
        """
        mark = time.monotonic()
        held: _HeldChanges | None = None
        try:
            if not self.hq.probe():
                raise PeerUnreachable(self.hq.unavailable_reason)
            held = self._pull_hq()
        except PEER_FAULTS as exc:
            # The shop's side still moves on; HQ's changes are read next time.
            self._peer_failed(self.hq, exc)
        mark = self._phase("pull", mark)
        pohoda_available = held is not None
        held = held or _HeldChanges()
        chunk: list[SideRecord] = []
        shop_cursor: str | None = None
        feed = self.shop.changes(self.store.cursor(self.shop.side)) if self.read_eshop else ()
        pages: Iterator[ChangeBatch] = iter(feed)
        shop_refused: list[tuple[str, BadData]] = []
        while True:
            try:
                batch = next(pages, None)
            except PEER_FAULTS as exc:
                # What earlier chunks persisted stays; this chunk's records are read next time.
                self._peer_failed(self.shop, exc)
                chunk, shop_refused, shop_cursor, batch = [], [], None, None
            mark = self._phase("pull", mark)
            last = batch is None
            if batch is not None:
                records = [_side_record(self.shop, record) for record in batch.records]
                self.summary.pulled_eshop += len(records)
                shop_refused.extend((self.shop.side, error) for error in batch.refused)
                sorted_page = sort_page(self.store, self.shop.side, records)
                self.summary.echoes_eshop += sorted_page.echoes
                if sorted_page.refreshed:
                    with self.store.transaction() as conn:
                        Store.refresh_mirror(conn, self.shop.side, sorted_page.refreshed)
                chunk.extend(sorted_page.changes)
                if batch.cursor is not None:
                    shop_cursor = batch.cursor
                self.progress(f"pull {self.shop.label}", self.summary.pulled_eshop, 0)
                if len(chunk) < self.chunk_records:
                    continue
            cursors = {self.shop.side: shop_cursor} if shop_cursor is not None else {}
            self._set_aside.extend(shop_refused)
            if last:
                # The last chunk: every held POHODA change left, and POHODA's cursor.
                hq_records, candidates = held.take_all(), {}
                self._set_aside.extend(held.refused)
                if held.cursor is not None:
                    cursors[self.hq.side] = held.cursor
            else:
                hq_records, candidates = held.take_pairs(chunk), held.candidates()
            if chunk or hq_records or cursors or self._set_aside:
                self._plan_chunk(
                    chunk, hq_records, cursors, pohoda_available=pohoda_available, held=held, candidates=candidates
                )
            mark = time.monotonic()
            chunk, shop_refused, shop_cursor = [], [], None
            if last:
                return

    def _pull_hq(self) -> _HeldChanges:
        """POHODA's changes since its cursor, a page at a time: echoes are counted and their
        mirror rows brought up to date (a hash each, no planning), real changes are held."""
        held = _HeldChanges()
        for batch in self.hq.changes(self.store.cursor(self.hq.side)):
            records = [_side_record(self.hq, record) for record in batch.records]
            self.summary.pulled_pohoda += len(records)
            held.refused.extend((self.hq.side, error) for error in batch.refused)
            page = sort_page(self.store, self.hq.side, records)
            self.summary.echoes_pohoda += page.echoes
            if page.refreshed or page.mirrored:
                # True whatever else this run does: what POHODA holds, equal to what was synced.
                with self.store.transaction() as conn:
                    Store.refresh_mirror(conn, self.hq.side, page.refreshed)
                    Store.put_mirror(conn, page.mirrored)
            held.add(page)
            if batch.cursor is not None:
                held.cursor = batch.cursor
            self.progress(f"pull {self.hq.label}", self.summary.pulled_pohoda, 0)
        return held

    def _plan_chunk(
        self,
        shop_records: list[SideRecord],
        hq_records: list[SideRecord],
        cursors: dict[str, str],
        *,
        pohoda_available: bool,
        held: _HeldChanges,
        candidates: dict[str, SideRecord],
    ) -> None:
        mark = time.monotonic()
        state = changes_state(
            self.store,
            self.shop,
            shop_records,
            hq_records,
            pohoda_available=pohoda_available,
            settings=self.settings,
            candidates=candidates,
        )
        self.summary.echoes_eshop += count_echoes(shop_records, state)
        self.summary.echoes_pohoda += count_echoes(hq_records, state)
        plan = plan_operations(shop_records, hq_records, state, self.settings)
        # A held contact this chunk linked to a registration is planned: its mirror row goes
        # with the link, and no later chunk takes it for a new contact again.
        linked = {n.pohoda_id for n in plan.new_links} | {
            values.get("pohoda_id") for values in plan.link_updates.values()
        }
        for pohoda_id in sorted(p for p in linked & candidates.keys() if p is not None):
            plan.mirror.append(to_mirror(held.take(pohoda_id)))
        mark = self._phase("plan", mark)
        self._persist(plan, cursors)
        self._phase("persist", mark)

    def _peer_failed(self, peer: Peer, exc: Exception) -> None:
        """A peer could not be reached or answered what cannot be read: no more calls to it
        in this run, its work waits in the outbox, and the run ends with its summary (exit 1)."""
        log.warning("sync.peer_failed", run_id=self.run_id, side=peer.side, error=str(exc))
        setattr(self.summary, f"{peer.side}_unreachable", True)
        with self._counter_lock:
            self.summary.peer_errors[peer.side] = f"{type(exc).__name__}: {exc}"
        self._set_aside = [(side, error) for side, error in self._set_aside if side != peer.side]

    def apply_plan(self, plan: Plan) -> None:
        """Record a plan made apart from this run's pull (reconcile's repairs) as a run records
        its own: links, bases, mirror, outbox, audit and reviews in one transaction. No
        cursor moves; `deliver` then sends what it queued."""
        self._persist(plan, {})

    def _persist(self, plan: Plan, cursors: dict[str, str]) -> None:
        """The plan's operations and the new cursors, in one transaction."""
        with self.store.transaction() as conn:
            ids = Store.insert_links(
                conn,
                [
                    {"state": n.state, "eshop_id": n.eshop_id, "pohoda_id": n.pohoda_id, "contact_of": n.contact_of}
                    for n in plan.new_links
                ],
            )
            refs = {new.ref: link_id for new, link_id in zip(plan.new_links, ids, strict=True)}

            def real(ref: int | None) -> int | None:
                return None if ref is None else refs.get(ref, ref)

            settled = WriteBatch()
            for link_id, values in plan.link_updates.items():
                Store.update_link(conn, real(link_id) or link_id, **values)
                for side in ("pohoda", "eshop"):
                    if values.get(f"{side}_id"):
                        # The record turned up linked (its create's answer was lost or refused).
                        settled.settle_refused(real(link_id) or link_id, side)
            settled.flush(conn)
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
            for side, error in self._set_aside:
                record = error.record
                batch.add_audit(
                    run_id=self.run_id,
                    operation="pull",
                    result="refused",
                    side=side,
                    eshop_id=record if side == "eshop" else None,
                    pohoda_id=record if side == "pohoda" else None,
                    note=f"set aside, not synced: {error}",
                    detail={"field": error.field},
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
        planned = Counter(self.summary.planned)
        planned.update(f"{op.side}.{op.kind}" for op in plan.ops)
        self.summary.planned = dict(planned)
        self.summary.conflicts += sum(1 for a in plan.audits if a.result == "conflict")
        self.summary.linked += sum(1 for a in plan.audits if a.operation == "match")
        self.summary.reviews += len(plan.reviews)
        for _side, error in self._set_aside:
            self._count("refused")
            log.warning("sync.record_set_aside", run_id=self.run_id, record=error.record, field=error.field)
        self._set_aside.clear()

    # -- delivery -----------------------------------------------------------------------

    def deliver(self) -> None:
        """Send what the outbox holds until a round queues nothing new.

        Both sides are delivered to at the same time, each by its own thread: the e-shop's
        link writes (POHODA's ids) follow HQ's answers while HQ, which serves one request at
        a time, works through the next batch.
        """
        mark = time.monotonic()
        counters = [Counter[str](), Counter[str]()]
        for _round in range(MAX_DELIVERY_ROUNDS):
            hq_done = threading.Event()
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="deliver") as pool:
                # Each thread runs in a copy of this context: the run's deadline goes along.
                hq_context, shop_context = contextvars.copy_context(), contextvars.copy_context()
                to_hq = pool.submit(hq_context.run, self._drain_hq, hq_done, counters[0])
                to_shop = pool.submit(shop_context.run, self._drain_shop, hq_done, counters[1])
                sent = to_hq.result() + to_shop.result()
            if self.mail is not None:
                # After the shop's results: an account created this round is welcomed now.
                sent += self._drain(self.mail, counters[1])
            if sent == 0:
                break
        delivered = Counter(self.summary.delivered)
        for counter in counters:
            delivered.update(counter)
        self.summary.delivered = dict(delivered)
        self._phase("deliver", mark)

    def _unreachable(self, side: str) -> bool:
        return bool(getattr(self.summary, f"{side}_unreachable"))

    def _drain_hq(self, done: threading.Event, delivered: Counter[str]) -> int:
        total = 0
        try:
            total += self._drain(self.hq, delivered)
            if self._unreachable(self.hq.side):
                total += self._fall_back_to_async()
        finally:
            done.set()
        return total

    def _drain_shop(self, hq_done: threading.Event, delivered: Counter[str]) -> int:
        total = 0
        while not self._unreachable(self.shop.side):
            finished = hq_done.is_set()
            sent = self._deliver(self.shop, delivered)
            total += sent
            if sent == 0:
                if finished:
                    break
                hq_done.wait(0.05)
        return total

    def _drain(self, peer: Peer, delivered: Counter[str]) -> int:
        total = 0
        while not self._unreachable(peer.side):
            sent = self._deliver(peer, delivered)
            total += sent
            if sent == 0:
                break
        return total

    def _fall_back_to_async(self) -> int:
        """HQ failed: every registration still waiting for it gets its temporary GUID and
        `pending_sync` on the e-shop now, instead of waiting with no account at all."""
        waiting = [
            link
            for link in self.store.links_missing("pohoda")
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
        batch.enqueue(
            run_id=self.run_id,
            link_id=link.id,
            side=self.shop.side,
            kind="link",
            payload={"hq_id": guid, "sync_state": "pending_sync"},
        )
        batch.add_audit(
            operation="pending",
            result="pending",
            run_id=self.run_id,
            link_id=link.id,
            eshop_id=link.eshop_id,
            side=self.shop.side,
            note=f"temporary account id {guid} until POHODA creates the customer ({why})",
        )

    def _count(self, field: str) -> None:
        with self._counter_lock:
            setattr(self.summary, field, getattr(self.summary, field) + 1)

    def _deliver(self, peer: Peer, delivered: Counter[str]) -> int:
        """One pass over the side's pending outbox, in the peer's batches."""
        side = peer.side
        entries = self.store.claim(side, self.run_id, limit=peer.batch_size)
        if not entries:
            return 0
        try:
            return self._deliver_claimed(peer, entries, delivered)
        finally:
            self.store.release_claims(self.run_id, side)

    def _deliver_claimed(self, peer: Peer, entries: list[OutboxEntry], delivered: Counter[str]) -> int:
        side = peer.side
        links = self.store.links_by_id(entry.link_id for entry in entries)
        sent = 0
        for start in range(0, len(entries), peer.batch_size):
            chunk = entries[start : start + peer.batch_size]
            writes = [write_for(entry, links[entry.link_id]) for entry in chunk]
            try:
                results = peer.apply(writes)
            except PEER_FAULTS as exc:
                # No more calls to this side in this run; the outbox keeps the chunk and the rest.
                if isinstance(exc, PeerRefused):
                    with self.store.transaction() as conn:
                        for entry in chunk:
                            Store.finish_outbox(conn, entry.id, "pending", error=str(exc))
                self._peer_failed(peer, exc)
                break
            taken = [r.record_id for r in results if r.outcome == "taken" and r.record_id]
            already_linked = self._linked_ids(side, taken)
            batch = WriteBatch()
            for entry, result in zip(chunk, results, strict=True):
                link = links[entry.link_id]
                outcome = interpret(entry, link, result, taken_is_linked=result.record_id in already_linked)
                self._record(batch, entry, link, outcome, delivered)
                if outcome.link_values:
                    links[link.id] = dataclasses.replace(link, **outcome.link_values)
            with self.store.transaction() as conn:
                batch.flush(conn)
            sent += len(chunk)
            self.progress(f"deliver to {peer.label}", start + len(chunk), len(entries))
        return sent

    def _linked_ids(self, side: str, record_ids: Sequence[str]) -> set[str | None]:
        """Which of these records of `side` some link holds already."""
        if not record_ids:
            return set()
        if side == "eshop":
            return {link.eshop_id for link in self.store.links_of(eshop_ids=record_ids, pohoda_ids=())}
        return {link.pohoda_id for link in self.store.links_of(eshop_ids=(), pohoda_ids=record_ids)}

    def _record(
        self, batch: WriteBatch, entry: OutboxEntry, link: Link, outcome: Delivery, delivered: Counter[str]
    ) -> None:
        batch.finish_outbox(entry.id, outcome.outbox_state, error=outcome.error)
        if outcome.outbox_state == "done":
            batch.settle_refused(link.id, entry.side, by=entry.id)
        if outcome.link_values:
            batch.update_link(link.id, **outcome.link_values)
        for follow in outcome.follow_ups:
            batch.enqueue(
                run_id=self.run_id, link_id=link.id, side=follow.side, kind=follow.kind, payload=follow.payload
            )
        fields = {"eshop_id": link.eshop_id, "pohoda_id": link.pohoda_id, **outcome.audit}
        batch.add_audit(run_id=self.run_id, link_id=link.id, outbox_id=entry.id, **fields)
        if outcome.counter == "delivered":
            delivered[f"{entry.side}.{entry.kind}"] += 1
        elif outcome.counter is not None:
            self._count(outcome.counter)
        if outcome.goes_pending:
            self._mark_pending(batch, link, "POHODA refused it")


@dataclasses.dataclass
class _HeldChanges:
    """POHODA's real changes read by this run and not planned yet, with how to find the ones
    a chunk of e-shop changes needs: the e-shop id each pairs with (its link's, or its extId)."""

    records: dict[str, SideRecord] = dataclasses.field(default_factory=dict)
    partner: dict[str, str] = dataclasses.field(default_factory=dict)  # e-shop id -> POHODA id
    unlinked: dict[str, None] = dataclasses.field(default_factory=dict)  # in the order read
    claims: dict[str, None] = dataclasses.field(default_factory=dict)
    refused: list[tuple[str, BadData]] = dataclasses.field(default_factory=list)
    cursor: str | None = None

    def add(self, page: SortedPage) -> None:
        for record in page.changes:
            self.records[record.record_id] = record
            eshop_id = page.partner.get(record.record_id) or record.ext_id
            if eshop_id is not None:
                self.partner[eshop_id] = record.record_id
            if record.record_id in page.linked or record.contact is None:
                continue
            if record.ext_id is not None:
                # It names its e-shop customer (our creation whose answer was lost): it is that
                # customer's contact before any registration is compared with it.
                self.claims[record.record_id] = None
            else:
                self.unlinked[record.record_id] = None

    def take(self, pohoda_id: str) -> SideRecord:
        self.unlinked.pop(pohoda_id, None)
        self.claims.pop(pohoda_id, None)
        return self.records.pop(pohoda_id)

    def take_pairs(self, shop_records: Sequence[SideRecord]) -> list[SideRecord]:
        """The held changes of the customers these e-shop records are: by link, by the extId
        POHODA's record carries, or by the POHODA id the e-shop account carries; and, with
        the first chunk, every unlinked record that carries an e-shop id (a claim)."""
        wanted: dict[str, None] = dict(self.claims)
        for record in shop_records:
            for pohoda_id in (self.partner.get(record.record_id), record.hq_id):
                if pohoda_id is not None and pohoda_id in self.records:
                    wanted[pohoda_id] = None
        return [self.take(pohoda_id) for pohoda_id in wanted]

    def candidates(self) -> dict[str, SideRecord]:
        """Held contacts no link knows yet: what a registration may be a duplicate of."""
        return {pohoda_id: self.records[pohoda_id] for pohoda_id in self.unlinked}

    def take_all(self) -> list[SideRecord]:
        records = list(self.records.values())
        self.records.clear()
        self.unlinked.clear()
        self.claims.clear()
        return records


class _Heartbeat:
    """Renews the run lock while the run lives, so that only a dead run's lock goes stale
    (and is taken over) while a long live one keeps it."""

    def __init__(self, store: Store, name: str, owner: str, *, every_s: float | None = None) -> None:
        self.store, self.name, self.owner = store, name, owner
        self.every_s = every_s if every_s is not None else HEARTBEAT_S
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat:{owner}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.store.heartbeat(self.name, self.owner)
            except StoreUnavailable as exc:  # the next beat tries again; the run goes on
                log.warning("sync.heartbeat_failed", run_id=self.owner, error=str(exc))

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _side_record(peer: Peer, record: PeerRecord) -> SideRecord:
    """A peer's record in the planner's terms: the id it carries of the other side is
    POHODA's extId (the e-shop id) or the e-shop account's HQ id."""
    if peer.side == "pohoda":
        return SideRecord("pohoda", record.record_id, record.contact, version=record.version, ext_id=record.other_id)
    return SideRecord("eshop", record.record_id, record.contact, version=record.version, hq_id=record.other_id)
