"""The simulated POHODA address book: records, their ids, extIds and modification times.

Plain Python, no XML and no HTTP; the mServer protocol layer and the control endpoints use it.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Iterable, Mapping

from connector.errors import ConnectorError
from connector.model import Contact

MS = dt.timedelta(milliseconds=1)


def local_naive(moment: dt.datetime) -> dt.datetime:
    """POHODA works in the local time of its machine without a zone; so does the simulator."""
    if moment.tzinfo is not None:
        moment = moment.astimezone().replace(tzinfo=None)
    return moment


@dataclasses.dataclass(frozen=True)
class Record:
    """One address-book entry: POHODA's id, the contact's content, extIds by external system."""

    id: int
    contact: Contact  # content only: its id and ext_id are None
    ext_ids: Mapping[str, str]
    modified: dt.datetime  # local, naive, millisecond resolution, unique across the book
    created: dt.datetime

    def as_contact(self, ex_system: str | None) -> Contact:
        """The canonical form: POHODA's id in `id`, the extId of `ex_system` (or the first) in `ext_id`."""
        ext_id = self.ext_ids.get(ex_system or "") or next(iter(self.ext_ids.values()), None)
        return self.contact.replace(id=str(self.id), ext_id=ext_id)


@dataclasses.dataclass(frozen=True)
class Criteria:
    """An `ftr:filter` of the address book: every condition given must hold (AND)."""

    id: int | None = None
    ext_id: tuple[str, str] | None = None  # (exSystemName, ids)
    company: str | None = None
    name: str | None = None
    city: str | None = None
    street: str | None = None
    zip: str | None = None
    ico: str | None = None
    dic: str | None = None
    last_changes: dt.datetime | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in dataclasses.fields(self))

    def matches(self, record: Record) -> bool:
        if self.id is not None and record.id != self.id:
            return False
        if self.ext_id is not None:
            system, ids = self.ext_id
            if record.ext_ids.get(system) != ids:
                return False
        for field in ("company", "name", "city", "street", "zip", "ico", "dic"):
            wanted = getattr(self, field)
            if wanted is not None and getattr(record.contact, field) != wanted:
                return False
        return self.last_changes is None or record.modified >= self.last_changes


class ExtIdTaken(ConnectorError, ValueError):
    """An extId of one external system may belong to one record only."""

    def __init__(self, system: str, ids: str, owner: int) -> None:
        super().__init__(f"extId {ids!r} of system {system!r} already belongs to record {owner}")
        self.owner = owner


class AddressBook:
    """Records by POHODA id, with a strictly increasing modification clock.

    `lock` is held by whoever changes or reads several records as one step (a dataPack, a
    control request); the methods also take it, so single calls are safe from any thread.
    """

    def __init__(self, clock: Callable[[], dt.datetime] | None = None) -> None:
        self._clock = clock or dt.datetime.now
        self.lock = threading.RLock()
        self._records: dict[int, Record] = {}
        # (system, extId) -> record id: upserts keyed by extId must not scan the whole book.
        self._by_ext_id: dict[tuple[str, str], int] = {}
        self._next_id = 1
        self._last_tick: dt.datetime | None = None
        # Every id in order, kept as records come and go (an index on the id column): an
        # export paged by idFrom finds its page by bisection instead of sorting the whole
        # book for each page, which made reading a large book page by page quadratic.
        self._ids: list[int] = []

    def _tick(self) -> dt.datetime:
        """Now, in ms; never equal to an earlier tick, so `lastChanges >= t` is exact."""
        now = local_naive(self._clock())
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if self._last_tick is not None and now <= self._last_tick:
            now = self._last_tick + MS
        self._last_tick = now
        return now

    def now(self) -> dt.datetime:
        return local_naive(self._clock())

    def clear(self) -> None:
        with self.lock:
            self._records.clear()
            self._by_ext_id.clear()
            self._ids.clear()
            self._next_id = 1

    def get(self, record_id: int) -> Record | None:
        with self.lock:
            return self._records.get(record_id)

    def all(self) -> list[Record]:
        """Every record, ordered by id."""
        with self.lock:
            return [self._records[k] for k in self._ids]

    def page(self, criteria: Criteria | None, *, id_from: int | None, count: int | None) -> list[Record]:
        """The records matching `criteria` (None: all) with an id of at least `id_from`, in id
        order, at most `count` of them: one page of an export (`lAdb:limit`)."""
        with self.lock:
            if criteria is not None and (criteria.id is not None or criteria.ext_id is not None):
                found = [r for r in self.find(criteria) if id_from is None or r.id >= id_from]
                return found[:count] if count is not None else found
            ids = self._ids
            out: list[Record] = []
            if count is not None and count <= 0:  # as a slice [:count] of the whole selection
                return [r for r in self.all() if (criteria is None or criteria.matches(r))
                        and (id_from is None or r.id >= id_from)][:count]
            for index in range(bisect.bisect_left(ids, id_from) if id_from is not None else 0, len(ids)):
                record = self._records[ids[index]]
                if criteria is None or criteria.matches(record):
                    out.append(record)
                    if len(out) == count:
                        break
            return out

    def __len__(self) -> int:
        return len(self._records)

    def find(self, criteria: Criteria) -> list[Record]:
        with self.lock:
            if criteria.id is not None:
                # The usual case (update by id) without a scan of the whole book.
                record = self._records.get(criteria.id)
                return [record] if record is not None and criteria.matches(record) else []
            if criteria.ext_id is not None:
                owner = self._records.get(self._by_ext_id.get(criteria.ext_id, 0))
                return [owner] if owner is not None and criteria.matches(owner) else []
            return [r for r in self.all() if criteria.matches(r)]

    def owner_of(self, system: str, ids: str) -> int | None:
        with self.lock:
            return self._by_ext_id.get((system, ids))

    def _index(self, old: Record | None, new: Record | None) -> None:
        if old is not None:
            for system, ids in old.ext_ids.items():
                self._by_ext_id.pop((system, ids), None)
        if new is not None:
            for system, ids in new.ext_ids.items():
                self._by_ext_id[(system, ids)] = new.id

    def _check_ext_ids(self, ext_ids: Mapping[str, str], record_id: int | None) -> None:
        for system, ids in ext_ids.items():
            owner = self.owner_of(system, ids)
            if owner is not None and owner != record_id:
                raise ExtIdTaken(system, ids, owner)

    def add(self, contact: Contact, ext_ids: Mapping[str, str] | None = None) -> Record:
        """A new record with the next id; raises ExtIdTaken when an extId is someone else's."""
        with self.lock:
            ext = dict(ext_ids or {})
            self._check_ext_ids(ext, None)
            now = self._tick()
            record = Record(
                id=self._next_id,
                contact=contact.replace(id=None, ext_id=None),
                ext_ids=ext,
                modified=now,
                created=now,
            )
            self._records[record.id] = record
            if self._ids and record.id < self._ids[-1]:
                bisect.insort(self._ids, record.id)
            else:
                self._ids.append(record.id)
            self._index(None, record)
            self._next_id += 1
            return record

    def replace(self, record_id: int, contact: Contact, ext_ids: Mapping[str, str] | None = None) -> Record:
        """New content (and extIds when given) for an existing record; it counts as modified."""
        with self.lock:
            old = self._records[record_id]
            ext = dict(old.ext_ids if ext_ids is None else ext_ids)
            self._check_ext_ids(ext, record_id)
            record = dataclasses.replace(
                old, contact=contact.replace(id=None, ext_id=None), ext_ids=ext, modified=self._tick()
            )
            self._records[record_id] = record
            self._index(old, record)
            return record

    def delete(self, record_id: int) -> Record | None:
        with self.lock:
            record = self._records.pop(record_id, None)
            if record is not None:
                del self._ids[bisect.bisect_left(self._ids, record_id)]
            self._index(record, None)
            return record

    def load(self, contacts: Iterable[tuple[Contact, Mapping[str, str]]]) -> list[Record]:
        with self.lock:
            return [self.add(contact, ext_ids) for contact, ext_ids in contacts]
