"""A store of N customers linked on both sides, written directly (no sync run): what the scale
test and bench/sync.py start from, with the simulators seeded from the same contacts.

Customer `i` is e-shop account `ESHOP_ID_BASE + i` and POHODA contact `i + 1` (the POHODA
simulator numbers its seeds 1, 2, …); each side's record carries the other's id, the mirror
holds both as the peers report them, the last synced version is their common content, and
the cursors stand after the seeds: the next run reads only what changes afterwards.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from typing import Any

from connector.model import Contact, MirrorRecord, hash_content
from connector.store import Store

ESHOP_ID_BASE = 100_000


def eshop_id(index: int) -> str:
    return str(ESHOP_ID_BASE + index)


def pohoda_id(index: int) -> str:
    return str(index + 1)


def eshop_seeds(contacts: Sequence[Contact]) -> Iterator[dict[str, Any]]:
    """The e-shop simulator's seeds: synced accounts that carry their POHODA id."""
    for index, contact in enumerate(contacts):
        yield {**contact.replace(id=eshop_id(index)).to_dict(), "hq_id": pohoda_id(index), "sync_state": "synced"}


def pohoda_seeds(contacts: Sequence[Contact]) -> Iterator[Contact]:
    """The POHODA simulator's seeds: contacts that carry their e-shop id as extId."""
    for index, contact in enumerate(contacts):
        yield contact.replace(id=None, ext_id=eshop_id(index))


def pohoda_cursor_after(last_seed: dt.datetime) -> str:
    """A lastChanges cursor after every seed, once the clock has passed them all.

    The POHODA simulator gives each record a time one millisecond after the last one's at
    least, so seeds loaded faster than that run ahead of the clock; and lastChanges is read to
    the second. `last_seed`: the last seed's time (POHODA's local time, or the upper bound a
    caller knows). Waits until a whole second has passed it, then answers now: edits made
    afterwards are after the cursor, no seed is.
    """
    local = last_seed.astimezone().replace(tzinfo=None) if last_seed.tzinfo else last_seed
    wait = (local - dt.datetime.now()).total_seconds() + 1.1
    if wait > 0:
        time.sleep(wait)
    return dt.datetime.now(dt.UTC).isoformat()


def seed_linked_store(
    store_url: str,
    contacts: Sequence[Contact],
    *,
    eshop_cursor: str,
    pohoda_cursor: str,
    chunk: int = 5000,
) -> None:
    """Links, mirror rows (both sides), last synced versions and cursors of `contacts`.

    The e-shop's versions are the feed positions its simulator gave the seeds (1, 2, … in
    order); `eshop_cursor` is the last of them; `pohoda_cursor` see `pohoda_cursor_after`.
    """
    cursor = pohoda_cursor
    with Store.open(store_url) as store:
        for start in range(0, len(contacts), chunk):
            part = contacts[start : start + chunk]
            with store.transaction() as conn:
                ids = Store.insert_links(
                    conn,
                    [
                        {"state": "linked", "eshop_id": eshop_id(start + i), "pohoda_id": pohoda_id(start + i)}
                        for i in range(len(part))
                    ],
                )
                mirror: list[MirrorRecord] = []
                bases: list[tuple[int, dict[str, Any], str]] = []
                for offset, (contact, link_id) in enumerate(zip(part, ids, strict=True)):
                    index = start + offset
                    content = contact.replace(id=None, ext_id=None).content()
                    digest = hash_content(content)
                    shop_id, hq_id, version = eshop_id(index), pohoda_id(index), str(index + 1)
                    mirror.append(MirrorRecord("eshop", shop_id, content, digest, version, None, False))
                    mirror.append(MirrorRecord("pohoda", hq_id, content, digest, None, shop_id, False))
                    bases.append((link_id, content, digest))
                Store.put_mirror(conn, mirror)
                Store.set_bases(conn, bases)
        with store.transaction() as conn:
            Store.set_cursor(conn, "eshop", eshop_cursor)
            Store.set_cursor(conn, "pohoda", cursor)
