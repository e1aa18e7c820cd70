"""A seeded divergence between the two address books, for the reconcile tests and bench.

`n` customers, all linked and in step, then: 1% on the e-shop only and 1% in POHODA only
(removed from the other side, no link), 1% with one differing field (half changed on each
side), 0.5% deleted in POHODA (the link stays), 0.5% on both sides but not linked (duplicates).
The simulators and the store are seeded directly, without a sync, so that 100,000 is quick.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from typing import Any

from connector.model import Contact, hash_content
from connector.peers import PeerWrite, shop_factory
from connector.sim.generate import generate_contacts
from connector.sim.sandbox import Sandbox
from connector.store import Store


@dataclasses.dataclass
class Divergence:
    """The seeds of both simulators, what the store holds, and what reconcile must find."""

    pohoda_seed: list[Contact]  # POHODA gives ids 1, 2, … in this order
    eshop_seed: list[dict[str, Any]]
    links: list[tuple[str, str]]  # (e-shop id, POHODA id), each with its synced content below
    bases: list[dict[str, Any]]
    deleted_in_pohoda: list[int]  # delete these POHODA ids once the simulator runs
    expected: dict[str, int]


def expected_counts(n: int) -> dict[str, int]:
    """What reconcile must find in `divergence(n)`, by kind."""
    one, half = n // 100, n // 200
    return {
        "missing_in_pohoda": one,
        "missing_in_eshop": one,
        "field_difference": one,
        "gone_in_pohoda": half,
        "unlinked_duplicate": half,
    }


def eshop_id(number: int) -> str:
    return f"C{number:06d}"


def divergence(n: int, *, seed: int = 17, rich: bool = True, hq_ids_in_seed: bool = True) -> Divergence:
    """`rich`: ship-to addresses, groups, consents, company ids (what the project's own shop
    protocol carries; other platforms get the basic fields). `hq_ids_in_seed`: the e-shop seed
    carries each account's POHODA id (the "connector" simulator takes it; other platforms
    learn it by a link write through their peer, see `apply_to`)."""
    rng = random.Random(seed)
    order = list(range(n))
    rng.shuffle(order)
    one, half = n // 100, n // 200
    cuts = {"eshop_only": one, "pohoda_only": one, "differs": one, "deleted": half, "duplicate": half}
    role: dict[int, str] = {}
    start = 0
    for name, size in cuts.items():
        role.update(dict.fromkeys(order[start : start + size], name))
        start += size
    seeded = Divergence([], [], [], [], [], {})
    for number, contact in enumerate(generate_contacts(n, seed=seed, rich=rich)):
        kind = role.get(number, "linked")
        eid = eshop_id(number + 1)
        eshop_contact, pohoda_contact = contact, contact
        if kind == "differs":
            edited = contact.replace(city=f"Nové Město {number}")
            # Half changed on the e-shop since the last sync, half in POHODA.
            if number % 2:
                eshop_contact = edited
            else:
                pohoda_contact = edited
        on_eshop = kind != "pohoda_only"
        on_pohoda = kind != "eshop_only"
        linked = kind in ("linked", "differs", "deleted")
        pohoda_id = None
        if on_pohoda:
            seeded.pohoda_seed.append(pohoda_contact.replace(ext_id=eid if linked else None))
            pohoda_id = str(len(seeded.pohoda_seed))
        if on_eshop:
            row: dict[str, Any] = {**eshop_contact.replace(id=eid).to_dict()}
            if linked and hq_ids_in_seed:
                row.update(hq_id=pohoda_id, sync_state="synced")
            seeded.eshop_seed.append(row)
        if linked:
            assert pohoda_id is not None
            seeded.links.append((eid, pohoda_id))
            seeded.bases.append(contact.content())
        if kind == "deleted":
            assert pohoda_id is not None
            seeded.deleted_in_pohoda.append(int(pohoda_id))
    seeded.expected = expected_counts(n)
    return seeded


def _chunks(seeded: Divergence, size: int) -> Iterator[tuple[list[tuple[str, str]], list[dict[str, Any]]]]:
    for start in range(0, len(seeded.links), size):
        yield seeded.links[start : start + size], seeded.bases[start : start + size]


def seed_store(store: Store, seeded: Divergence) -> None:
    """The links and their synced versions, as a sync would have left them."""
    for links, bases in _chunks(seeded, 5000):
        with store.transaction() as conn:
            ids = Store.insert_links(conn, [{"state": "linked", "eshop_id": e, "pohoda_id": p} for e, p in links])
            Store.set_bases(conn, [(i, b, hash_content(b)) for i, b in zip(ids, bases, strict=True)])


def apply_to(box: Sandbox, store: Store, seeded: Divergence) -> None:
    """Finish the seeding once the sandbox runs: the POHODA deletions, the store's links.

    A platform that gives its own ids to seeded customers is followed: its ids are found by
    e-mail, and POHODA's extIds are set to them; an account that does not show its POHODA
    id yet is told it by a link write through the platform's own peer.
    """
    for pohoda_id in seeded.deleted_in_pohoda:
        box.pohoda_sim.delete_contact(pohoda_id)
    rows = {row["email"]: row for row in box.eshop_contacts()}
    seeded_email = {row["id"]: row["email"] for row in seeded.eshop_seed}
    links = []
    writes = []
    for eid, pohoda_id in seeded.links:
        row = rows[seeded_email[eid]]
        actual = str(row["id"])
        if actual != eid and int(pohoda_id) not in seeded.deleted_in_pohoda:
            box.pohoda_sim.update_contact(int(pohoda_id), ext_id=actual)
        if row.get("hq_id") != pohoda_id:
            writes.append(
                PeerWrite("link", ref=len(writes) + 1, record_id=actual, other_id=pohoda_id, sync_state="synced")
            )
        links.append((actual, pohoda_id))
    if writes:
        shop = shop_factory(box.config.eshop.platform)(box.config)
        try:
            for start in range(0, len(writes), shop.batch_size):
                results = shop.apply(writes[start : start + shop.batch_size])
                assert all(result.ok for result in results), [r.reason for r in results if not r.ok][:3]
        finally:
            shop.close()
    seeded.links = links
    seed_store(store, seeded)
