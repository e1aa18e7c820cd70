"""Paging in the simulators is as the protocols say and costs each page its own entries:
the e-shop's feed (customers and tombstones by the sequence of their last write) and
POHODA's export by idFrom/count, each checked against the plain reading of its state after
random writes, and against a count of the records a full read touches (linear, not N²)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from connector.codec.eshop import EshopWrite
from connector.model import Contact
from connector.sim import _eshop_shop
from connector.sim._eshop_shop import Shop, StoredCustomer
from connector.sim._pohoda_book import AddressBook, Criteria, Record


def plain_feed(shop: Shop, after: int, limit: int) -> tuple[list[tuple[str, int, bool]], bool]:
    """Every customer and tombstone written after `after`, sorted: what the feed must answer."""
    entries = [(s.seq, s.contact.id or "", True) for s in shop._customers.values() if s.seq > after]
    entries += [(t.seq, t.id, False) for t in shop._tombstones.values() if t.seq > after]
    entries.sort()
    return [(i, seq, alive) for seq, i, alive in entries[:limit]], len(entries) > limit


def answered(shop: Shop, after: int, limit: int) -> tuple[list[tuple[str, int, bool]], bool]:
    page = shop.changes(str(after) if after else None, limit)
    got = [
        (c.id, int(c.version) if c.customer is not None else _seq_of_tombstone(shop, c.id), c.customer is not None)
        for c in page.changes
    ]
    expected_cursor = str(got[-1][1]) if got else str(after)
    assert page.next_cursor == expected_cursor
    return got, page.has_more


def _seq_of_tombstone(shop: Shop, customer_id: str) -> int:
    return shop._tombstones[customer_id].seq


@pytest.mark.parametrize("seed", range(6))
def test_the_feed_after_random_writes_is_the_plain_reading(seed: int) -> None:
    rnd = random.Random(seed)
    shop = Shop()
    for n in range(60):
        shop.seed(Contact(id=str(n + 1), name=f"Zákazník {n}", email=f"z{n}@example.cz"))
    for step in range(400):
        ids = sorted(shop._customers)
        roll = rnd.random()
        if roll < 0.35 and ids:
            shop.edit(rnd.choice(ids), {"city": f"Město {step}"})
        elif roll < 0.5 and ids:
            shop.delete(rnd.choice(ids))
        elif roll < 0.65 and ids:
            target = rnd.choice(ids)
            shop.apply(EshopWrite.link(target, str(step), "synced"))
        elif roll < 0.75 and shop._tombstones:
            # The same id seeded again after its deletion (an import): both are in the feed.
            gone = rnd.choice(sorted(shop._tombstones))
            if gone not in shop._customers:
                shop.seed(Contact(id=gone, name="Znovu"))
        else:
            shop.register(Contact(name=f"Nový {step}", email=f"n{step}@example.cz"))
        if step % 40 == 0:
            for after in (0, rnd.randrange(shop._seq + 2), shop._seq):
                for limit in (1, 7, 1000):
                    assert answered(shop, after, limit) == plain_feed(shop, after, limit)
    # Read to its end page by page: every entry once, in order, "more" on all pages but the last.
    seen: list[int] = []
    cursor = None
    while True:
        page = shop.changes(cursor, 13)
        seen += [int(c.version) if c.customer else _seq_of_tombstone(shop, c.id) for c in page.changes]
        cursor = page.next_cursor
        if not page.has_more:
            break
    assert seen == sorted(seen) == [seq for _i, seq, _a in plain_feed(shop, 0, 10**6)[0]]
    assert shop.changes(cursor, 5).changes == ()  # the last cursor: an empty page, the same cursor


def test_reading_the_whole_feed_builds_each_customer_once(monkeypatch: pytest.MonkeyPatch) -> None:
    shop = Shop()
    for n in range(3000):
        shop.seed(Contact(id=str(n + 1), name=f"Zákazník {n}"))
    for n in range(1, 3001, 10):
        shop.edit(str(n), {"city": "Brno"})  # writes move customers to the end of the feed
    built = [0]
    public = StoredCustomer.public

    def counted(self: StoredCustomer) -> object:
        built[0] += 1
        return public(self)

    monkeypatch.setattr(_eshop_shop.StoredCustomer, "public", counted)
    pages, cursor = 0, None
    while True:
        page = shop.changes(cursor, 100)
        pages += 1
        cursor = page.next_cursor
        if not page.has_more:
            break
    assert pages == 30
    assert built[0] == 3000  # each customer built for its own page only (once, the whole feed before)


def plain_page(book: AddressBook, criteria: Criteria | None, id_from: int | None, count: int | None) -> list[int]:
    records = book.find(criteria) if criteria is not None else book.all()
    chosen = sorted((r for r in records if id_from is None or r.id >= id_from), key=lambda r: r.id)
    return [r.id for r in (chosen[:count] if count is not None else chosen)]


class SteppingClock:
    def __init__(self) -> None:
        self.now = dt.datetime(2024, 1, 1, 8, 0)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


@pytest.mark.parametrize("seed", range(4))
def test_an_export_page_after_random_writes_is_the_plain_reading(seed: int) -> None:
    rnd = random.Random(seed)
    clock = SteppingClock()
    book = AddressBook(clock)
    for n in range(80):
        book.add(Contact(name=f"P{n}"), {"eshop": f"E{n}"})
    for step in range(300):
        ids = [r.id for r in book.all()]
        roll = rnd.random()
        if roll < 0.3 and ids:
            book.delete(rnd.choice(ids))
        elif roll < 0.6 and ids:
            book.replace(rnd.choice(ids), Contact(name=f"Q{step}", city="Brno"))
        else:
            book.add(Contact(name=f"N{step}"))
        if step % 30 == 0:
            since = clock.now - dt.timedelta(seconds=rnd.randrange(1, 200))
            some = rnd.choice(ids) if ids else 1
            for criteria in (None, Criteria(last_changes=since), Criteria(id=some), Criteria(city="Brno")):
                for id_from in (None, 1, rnd.randrange(1, 400)):
                    for count in (None, 1, 9, 10_000):
                        got = [r.id for r in book.page(criteria, id_from=id_from, count=count)]
                        assert got == plain_page(book, criteria, id_from, count)
    assert [r.id for r in book.all()] == sorted(r.id for r in book.all())


def test_reading_the_whole_book_page_by_page_looks_at_each_record_once(monkeypatch: pytest.MonkeyPatch) -> None:
    book = AddressBook()
    for n in range(5000):
        book.add(Contact(name=f"P{n}"))
    looked = [0]
    matches = Criteria.matches

    def counted(self: Criteria, record: Record) -> bool:
        looked[0] += 1
        return matches(self, record)

    monkeypatch.setattr(Criteria, "matches", counted)
    everything = Criteria(last_changes=dt.datetime(2000, 1, 1))
    read, id_from = 0, 1
    while True:
        page = book.page(everything, id_from=id_from, count=1000)
        read += len(page)
        if len(page) < 1000:
            break
        id_from = page[-1].id + 1
    assert read == 5000
    assert looked[0] == 5000
