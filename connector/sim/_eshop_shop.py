"""The e-shop simulator's in-memory customers: the protocol's operations, the feed, idempotency.

Pure Python under one lock, no HTTP: `connector.sim.eshop` puts it on the wire.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import hashlib
import json
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from connector.codec.eshop import (
    ID_PATTERN,
    SYNC_STATES,
    ChangePage,
    ErrorReport,
    EshopChange,
    EshopCustomer,
    EshopResult,
    EshopWrite,
    SyncState,
    check_contact,
    customer_entry,
)
from connector.errors import BadData, ConnectorError, InvalidContact
from connector.model import Contact
from connector.sim._faults import Faults

MAX_FEED_PAGE = 1000


class UnknownCustomer(ConnectorError, KeyError):
    """No customer with this id (never was, or deleted)."""


class EmailTaken(ConnectorError, ValueError):
    """Another customer already has this e-mail address (compared case-folded)."""

    def __init__(self, email: str, existing_id: str) -> None:
        super().__init__(f"the e-mail address is already registered (customer {existing_id})")
        self.email = email
        self.existing_id = existing_id


class CursorExpired(ConnectorError):
    """The cursor points into history the e-shop no longer keeps (HTTP 410)."""


class BadCursor(ConnectorError, ValueError):
    """A cursor this e-shop never handed out."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass
class StoredCustomer:
    contact: Contact  # contact.id is the e-shop id
    seq: int  # the feed position of the last write; also the version
    updated_at: dt.datetime
    hq_id: str | None = None
    sync_state: SyncState | None = None
    # The feed entry as written and checked at the last write (`customer_entry`), with the
    # state it was written from: a full read of the feed joins these instead of writing and
    # checking 100,000 entries again, as a shop's cache would keep them.
    entry: tuple[tuple[Any, ...], str | None] | None = dataclasses.field(default=None, repr=False, compare=False)

    def public(self) -> EshopCustomer:
        return EshopCustomer(self.contact, str(self.seq), self.updated_at, self.hq_id, self.sync_state)


@dataclasses.dataclass(frozen=True)
class Tombstone:
    id: str
    seq: int
    last_version: str
    deleted_at: dt.datetime


FeedEntry = StoredCustomer | Tombstone


def _entry_key(stored: StoredCustomer) -> tuple[Any, ...]:
    """What a customer's feed entry is written from (the contact compared by identity)."""
    return (stored.contact, stored.seq, stored.updated_at, stored.hq_id, stored.sync_state)


class _Feed:
    """The feed's index: each customer and tombstone by the sequence number of its last write,
    in order (what `ORDER BY change_seq` reads from an index in the protocol's SQL).

    Numbers only grow, so they are appended in order; a write moves its entry to the end and
    leaves its old number behind, dropped when the stale numbers outgrow the live ones. A
    page then costs its own entries, not a sort of the whole shop.
    """

    def __init__(self) -> None:
        self._at: dict[int, FeedEntry] = {}
        self._order: list[int] = []

    def clear(self) -> None:
        self._at.clear()
        self._order.clear()

    def put(self, entry: FeedEntry, *, old_seq: int | None = None) -> None:
        """`entry` at its (new, largest) number; `old_seq` is the number it leaves."""
        if old_seq is not None and self._at.get(old_seq) is entry:
            del self._at[old_seq]
        self._at[entry.seq] = entry
        if self._order and entry.seq <= self._order[-1]:
            bisect.insort(self._order, entry.seq)
        else:
            self._order.append(entry.seq)
        self._compact()

    def drop(self, entry: FeedEntry) -> None:
        if self._at.get(entry.seq) is entry:
            del self._at[entry.seq]
            self._compact()

    def _compact(self) -> None:
        if len(self._order) > 2 * len(self._at) + 64:
            self._order = [seq for seq in self._order if seq in self._at]

    def after(self, seq: int, limit: int) -> tuple[list[FeedEntry], bool]:
        """Up to `limit` entries written after `seq`, oldest first, and whether more follow."""
        order, at = self._order, self._at
        page: list[FeedEntry] = []
        for index in range(bisect.bisect_right(order, seq), len(order)):
            entry = at.get(order[index])
            if entry is None:
                continue
            if len(page) == limit:
                return page, True
            page.append(entry)
        return page, False


@dataclasses.dataclass(frozen=True)
class Remembered:
    """A successful create, kept under its idempotency key."""

    fingerprint: str
    status: int
    customer_id: str
    snapshot: EshopCustomer


def _fingerprint(write: EshopWrite) -> str:
    assert write.contact is not None
    blob = json.dumps(
        [write.contact.content(), write.send_welcome, write.hq_id, write.sync_state],
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _refused(status: int, code: str, message: str, *, field: str | None = None, id: str | None = None) -> EshopResult:
    return EshopResult(ref="", status=status, id=id, error=ErrorReport(code, message, field))


class Shop:
    """The customers of one e-shop, their change feed, idempotency keys and welcome e-mails.

    Every write takes the next number of one sequence: that number is the customer's new
    version and its position in the feed (so a cursor is just the last number seen).
    """

    def __init__(self, *, faults: Faults | None = None, unique_emails: bool = True) -> None:
        self.lock = threading.RLock()
        self.faults = faults or Faults()
        self.unique_emails = unique_emails
        self.counters: Counter[str] = Counter()
        self.notifications: list[dict[str, Any]] = []
        self._customers: dict[str, StoredCustomer] = {}
        self._tombstones: dict[str, Tombstone] = {}
        self._keys: dict[str, Remembered] = {}
        # Case-folded e-mail -> ids having it (seeds may share one): the uniqueness check in O(1).
        self._by_email: dict[str, set[str]] = {}
        self._feed = _Feed()
        self._seq = 0
        self._next_id = 1
        self.history_from = 0

    # -- bookkeeping -------------------------------------------------------------------------

    def clear(self) -> None:
        with self.lock:
            self._customers.clear()
            self._by_email.clear()
            self._tombstones.clear()
            self._keys.clear()
            self._feed.clear()
            self.notifications.clear()
            self.counters.clear()
            self._seq = 0
            self._next_id = 1
            self.history_from = 0

    def __len__(self) -> int:
        return len(self._customers)

    def _bump(self) -> int:
        self._seq += 1
        return self._seq

    def _new_id(self) -> str:
        while str(self._next_id) in self._customers or str(self._next_id) in self._tombstones:
            self._next_id += 1
        new_id = str(self._next_id)
        self._next_id += 1
        return new_id

    def _owner_of_email(self, email: str | None, *, other_than: str | None = None) -> str | None:
        if not self.unique_emails or not email:
            return None
        owners = self._by_email.get(email.casefold(), set()) - {other_than}
        return min(owners, key=lambda i: (len(i), i)) if owners else None

    def _index(self, customer_id: str, old: Contact | None, new: Contact | None) -> None:
        if old is not None and old.email:
            holders = self._by_email.get(old.email.casefold())
            if holders is not None:
                holders.discard(customer_id)
                if not holders:
                    del self._by_email[old.email.casefold()]
        if new is not None and new.email:
            self._by_email.setdefault(new.email.casefold(), set()).add(customer_id)

    def _put(self, stored: StoredCustomer, *, old_seq: int | None = None) -> None:
        """A customer's write into the feed, its entry written and checked with it."""
        self._feed.put(stored, old_seq=old_seq)
        stored.entry = (_entry_key(stored), customer_entry(stored.public()))

    def _entry(self, stored: StoredCustomer) -> str | None:
        """The customer's checked entry, when it was written from the state it is in."""
        if stored.entry is None:
            return None
        key, text = stored.entry
        return text if key[0] is stored.contact and key[1:] == _entry_key(stored)[1:] else None

    def _set_contact(self, stored: StoredCustomer, contact: Contact) -> None:
        """Store new content: a write (next version, feed entry), the e-mail index kept."""
        self._index(stored.contact.id or "", stored.contact, contact)
        old_seq = stored.seq
        stored.contact, stored.seq, stored.updated_at = contact, self._bump(), _now()
        self._put(stored, old_seq=old_seq)

    def _store(
        self, contact: Contact, *, hq_id: str | None = None, sync_state: SyncState | None = None
    ) -> StoredCustomer:
        customer_id = contact.id or self._new_id()
        if customer_id.isdigit():
            # Like an auto-increment column after an import: new ids follow the largest one.
            self._next_id = max(self._next_id, int(customer_id) + 1)
        stored = StoredCustomer(contact.replace(id=customer_id, ext_id=None), self._bump(), _now(), hq_id, sync_state)
        self._customers[customer_id] = stored
        self._put(stored)
        self._index(customer_id, None, stored.contact)
        return stored

    # -- the storefront (control API) --------------------------------------------------------

    def seed(self, contact: Contact, *, hq_id: str | None = None, sync_state: SyncState | None = None) -> str:
        """Load a customer as it already exists (its id kept when it has one); no checks on e-mails."""
        with self.lock:
            if contact.id is not None:
                if not ID_PATTERN.match(contact.id):
                    raise InvalidContact(f"record {contact.id}: not a valid e-shop id", record=contact.id, field="id")
                if contact.id in self._customers:
                    raise InvalidContact(f"record {contact.id}: the id appears twice", record=contact.id, field="id")
            return self._store(contact, hq_id=hq_id, sync_state=sync_state).contact.id or ""

    def register(self, contact: Contact) -> str:
        """A registration through the storefront's form; raises EmailTaken like the form would."""
        with self.lock:
            check_contact(contact, record="registration")
            owner = self._owner_of_email(contact.email)
            if owner is not None:
                raise EmailTaken(contact.email or "", owner)
            self.counters["registrations"] += 1
            return self._store(contact.replace(id=None)).contact.id or ""

    def edit(self, customer_id: str, changes: Mapping[str, Any]) -> EshopCustomer:
        """The customer edits their profile (canonical field names); a no-op keeps the version."""
        with self.lock:
            stored = self._customers.get(customer_id)
            if stored is None:
                raise UnknownCustomer(customer_id)
            data = {**stored.contact.to_dict(), **changes, "id": customer_id}
            contact = Contact.from_dict(data, record=customer_id)
            check_contact(contact, record=customer_id)
            if contact == stored.contact:
                return stored.public()
            owner = self._owner_of_email(contact.email, other_than=customer_id)
            if owner is not None:
                raise EmailTaken(contact.email or "", owner)
            self._set_contact(stored, contact)
            self.counters["profile_edits"] += 1
            return stored.public()

    def delete(self, customer_id: str) -> bool:
        """The customer closes the account: gone, and a tombstone in the feed."""
        with self.lock:
            stored = self._customers.pop(customer_id, None)
            if stored is None:
                return False
            self._index(customer_id, stored.contact, None)
            self._feed.drop(stored)
            earlier = self._tombstones.get(customer_id)
            if earlier is not None:
                self._feed.drop(earlier)
            tombstone = Tombstone(customer_id, self._bump(), str(stored.seq), _now())
            self._tombstones[customer_id] = tombstone
            self._feed.put(tombstone)
            return True

    def get(self, customer_id: str) -> EshopCustomer | None:
        with self.lock:
            stored = self._customers.get(customer_id)
            return stored.public() if stored is not None else None

    def customers(self) -> list[EshopCustomer]:
        """Every customer, in id order (numeric ids by number)."""
        with self.lock:
            items = [stored.public() for stored in self._customers.values()]
        return sorted(items, key=lambda c: (0, int(c.id), "") if c.id.isdigit() else (1, 0, c.id))

    # -- the protocol ------------------------------------------------------------------------

    def forget_history(self) -> int:
        """Keep no change history before now: older cursors are answered 410 cursor_expired."""
        with self.lock:
            self.history_from = self._seq
        return self.history_from

    def changes(self, cursor: str | None, limit: int) -> ChangePage:
        """Customers and tombstones written after `cursor`, oldest first, one entry each."""
        return self.changes_and_entries(cursor, limit)[0]

    def changes_and_entries(self, cursor: str | None, limit: int) -> tuple[ChangePage, list[str | None]]:
        """`changes`, with each customer's entry as checked at its last write (None for a
        tombstone, or where none was kept): what `encode_changes(page, entries=...)` joins."""
        after = _parse_cursor(cursor)
        if cursor and after < self.history_from:
            raise CursorExpired(f"the change history before {self.history_from} is gone; read the feed from its start")
        with self.lock:
            entries, more = self._feed.after(after, limit)
            page = tuple(
                EshopChange(e.contact.id or "", str(e.seq), e.updated_at, e.public())
                if isinstance(e, StoredCustomer)
                else EshopChange(e.id, e.last_version, e.deleted_at, None)
                for e in entries
            )
            texts = [self._entry(e) if isinstance(e, StoredCustomer) else None for e in entries]
        next_cursor = str(entries[-1].seq) if entries else str(after)
        return ChangePage(page, next_cursor, more), texts

    def apply(self, write: EshopWrite) -> EshopResult:
        """One create, update or link, answered as the protocol says (status, customer, error)."""
        self.counters["writes"] += 1
        with self.lock:
            if write.kind == "create":
                result = self._create(write)
            elif write.kind == "update":
                result = self._update(write)
            else:
                result = self._link(write)
        self.counters[f"status_{result.status}"] += 1
        return result

    def _check_link(self, hq_id: str | None, sync_state: str | None) -> EshopResult | None:
        if sync_state is not None and sync_state not in SYNC_STATES:
            return _refused(422, "invalid", f"syncState must be one of {', '.join(SYNC_STATES)}", field="sync_state")
        if sync_state == "synced" and not hq_id:
            return _refused(422, "invalid", "syncState synced needs an hqId (the POHODA id)", field="hq_id")
        return None

    def _refused_by_fault(self, contact: Contact) -> EshopResult | None:
        note = self.faults.item_error_for(contact.to_dict())
        if note is None:
            return None
        return _refused(422, "refused", note, id=contact.id)

    def _check_content(self, contact: Contact, *, record: str) -> EshopResult | None:
        try:
            check_contact(contact, record=record)
        except BadData as exc:
            return _refused(422, "invalid", str(exc), field=exc.field)
        return None

    def _create(self, write: EshopWrite) -> EshopResult:
        assert write.contact is not None and write.idempotency_key is not None
        fingerprint = _fingerprint(write)
        remembered = self._keys.get(write.idempotency_key)
        if remembered is not None:
            if remembered.fingerprint != fingerprint:
                self.counters["key_reuse"] += 1
                return _refused(
                    422,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for a different customer; use a new key per new customer",
                    field="idempotency_key",
                )
            self.counters["replays"] += 1
            current = self._customers.get(remembered.customer_id)
            customer = current.public() if current is not None else remembered.snapshot
            return EshopResult("", remembered.status, customer.id, customer, replayed=True)
        refusal = (
            self._check_content(write.contact, record="new")
            or self._check_link(write.hq_id, write.sync_state)
            or self._refused_by_fault(write.contact)
        )
        if refusal is not None:
            return refusal
        if write.send_welcome and not write.contact.email:
            return _refused(422, "invalid", "sendWelcome needs an e-mail address to send to", field="email")
        owner = self._owner_of_email(write.contact.email)
        if owner is not None:
            existing = self._customers[owner].public()
            return EshopResult(
                "",
                422,
                owner,
                existing,
                ErrorReport("email_taken", f"the e-mail address is already registered (customer {owner})", "email"),
            )
        stored = self._store(write.contact.replace(id=None), hq_id=write.hq_id, sync_state=write.sync_state)
        customer = stored.public()
        self._keys[write.idempotency_key] = Remembered(fingerprint, 201, customer.id, customer)
        self.counters["creates"] += 1
        if write.send_welcome:
            self.notifications.append(
                {"customer_id": customer.id, "email": customer.contact.email, "at": _now().isoformat()}
            )
        return EshopResult("", 201, customer.id, customer)

    def _current(self, customer_id: str) -> StoredCustomer | EshopResult:
        stored = self._customers.get(customer_id)
        if stored is not None:
            return stored
        if customer_id in self._tombstones:
            return _refused(404, "deleted", f"customer {customer_id} was deleted", id=customer_id)
        return _refused(404, "not_found", f"no customer {customer_id}", id=customer_id)

    def _update(self, write: EshopWrite) -> EshopResult:
        assert write.id is not None and write.contact is not None
        stored = self._current(write.id)
        if isinstance(stored, EshopResult):
            return stored
        contact = write.contact.replace(id=write.id, ext_id=None)
        if contact == stored.contact:
            # Nothing would change: a success whatever the version said (a replay after a lost
            # answer lands here), and no new version, so no echo in the feed.
            self.counters["noops"] += 1
            return EshopResult("", 200, write.id, stored.public())
        if write.expected_version != str(stored.seq):
            self.counters["conflicts"] += 1
            return EshopResult(
                "",
                409,
                write.id,
                stored.public(),
                ErrorReport(
                    "version_conflict",
                    f"customer {write.id} is at version {stored.seq}, not {write.expected_version}",
                    "version",
                ),
            )
        refusal = self._check_content(contact, record=write.id) or self._refused_by_fault(contact)
        if refusal is not None:
            return dataclasses.replace(refusal, id=write.id)
        owner = self._owner_of_email(contact.email, other_than=write.id)
        if owner is not None:
            return _refused(
                422,
                "email_taken",
                f"the e-mail address is already registered (customer {owner})",
                field="email",
                id=write.id,
            )
        self._set_contact(stored, contact)
        self.counters["updates"] += 1
        return EshopResult("", 200, write.id, stored.public())

    def _link(self, write: EshopWrite) -> EshopResult:
        assert write.id is not None
        stored = self._current(write.id)
        if isinstance(stored, EshopResult):
            return stored
        refusal = self._check_link(write.hq_id, write.sync_state)
        if refusal is not None:
            return dataclasses.replace(refusal, id=write.id)
        if (stored.hq_id, stored.sync_state) != (write.hq_id, write.sync_state):
            stored.hq_id, stored.sync_state = write.hq_id, write.sync_state
            old_seq = stored.seq
            stored.seq, stored.updated_at = self._bump(), _now()
            self._put(stored, old_seq=old_seq)
            self.counters["links"] += 1
        else:
            self.counters["noops"] += 1
        return EshopResult("", 200, write.id, stored.public())


def _parse_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    if not cursor.isdigit():
        raise BadCursor(f"the cursor {cursor!r} was not handed out by this e-shop")
    return int(cursor)


def seed_entry(data: Mapping[str, Any], *, record: str) -> tuple[Contact, str | None, SyncState | None]:
    """A seed's JSON object as (contact, hq_id, sync_state); InvalidContact names `record` and the field."""
    values = dict(data)
    hq_id = values.pop("hq_id", None) or None
    sync_state = values.pop("sync_state", None) or None
    if hq_id is not None and not isinstance(hq_id, str):
        raise InvalidContact(f"{record}: hq_id must be a string", record=record, field="hq_id")
    if sync_state is not None and sync_state not in SYNC_STATES:
        raise InvalidContact(
            f"{record}: sync_state must be one of {', '.join(SYNC_STATES)}", record=record, field="sync_state"
        )
    return Contact.from_dict(values, record=record), hq_id, sync_state


def seed_shop(shop: Shop, seeds: Iterable[Contact | Mapping[str, Any]]) -> int:
    """Load seeds: contacts, or JSON objects that may also carry `hq_id` and `sync_state`."""
    count = 0
    for index, seed in enumerate(seeds, start=1):
        if isinstance(seed, Contact):
            shop.seed(seed)
        else:
            contact, hq_id, sync_state = seed_entry(seed, record=f"seed {index}")
            shop.seed(contact, hq_id=hq_id, sync_state=sync_state)
        count += 1
    return count
