"""The mirror's invariants at scale: convergence, nothing doubled, nothing lost, kill -9 safety."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connector.actions import run_sync
from connector.model import CONTACT_FIELDS, Contact
from connector.sim.generate import generate_contacts
from connector.sim.sandbox import Sandbox

# Every case runs on SQLite and on PostgreSQL (skipped without a server).
pytestmark = pytest.mark.usefixtures("store_backend")

MAPPED = [f for f in CONTACT_FIELDS if f not in ("id", "ext_id")]


def assert_nothing_doubled(box: Sandbox) -> None:
    """No POHODA id on two e-shop accounts, no e-shop id on two POHODA contacts, no e-mail on
    two accounts (records not linked yet are not counted: they may still be on their way)."""
    eshop, pohoda = box.eshop_contacts(), box.pohoda_contacts()
    hq_ids = Counter(row["hq_id"] for row in eshop if row["hq_id"])
    assert all(count == 1 for count in hq_ids.values()), "two e-shop accounts carry one POHODA id"
    ext_ids = Counter(row["ext_id"] for row in pohoda if row["ext_id"])
    assert all(count == 1 for count in ext_ids.values()), "two POHODA contacts carry one e-shop id"
    emails = Counter(str(row["email"]).casefold() for row in eshop)
    assert all(count == 1 for count in emails.values()), "one e-mail has two e-shop accounts"


def assert_converged(box: Sandbox) -> tuple[int, int]:
    """Both sides equal on every mapped field, every record linked once; returns the counts."""
    assert_nothing_doubled(box)
    eshop, pohoda = box.eshop_contacts(), box.pohoda_contacts()
    pohoda_by_id = {row["id"]: row for row in pohoda}
    unlinked = sum(1 for row in eshop if not row["hq_id"]) + sum(1 for row in pohoda if not row["ext_id"])
    assert unlinked == 0, f"{unlinked} records on the two sides are not linked"
    differences = []
    for customer in eshop:
        twin = pohoda_by_id.get(customer["hq_id"])
        assert twin is not None, f"e-shop customer {customer['id']} has no POHODA contact"
        assert twin["ext_id"] == customer["id"]
        for field in MAPPED:
            if customer[field] != twin[field]:
                differences.append((customer["id"], field, customer[field], twin[field]))
    assert differences == []
    assert len(eshop) == len(pohoda)
    return len(eshop), len(pohoda)


def twin_of(contact: Contact, rng: random.Random) -> Contact:
    """The same person as the other side wrote them down."""
    changes: dict[str, Any] = {"note": "Zapsáno na prodejně"}
    if rng.random() < 0.5:
        changes["email"] = (contact.email or "").upper()
    if rng.random() < 0.5:
        changes["phone"] = (contact.phone or "").replace(" ", "")
    if rng.random() < 0.3:
        changes["city"] = (contact.city or "") + " 2"
    return contact.replace(**changes)


def random_edit(rng: random.Random, number: int) -> dict[str, Any]:
    choice = rng.randrange(5)
    if choice == 0:
        return {"city": rng.choice(["Brno", "Košice", "Győr", "Łódź", "Ústí nad Labem"])}
    if choice == 1:
        return {"phone": f"+420 7{rng.randint(10, 99)} {rng.randint(100, 999)} {number:03d}"}
    if choice == 2:
        return {"street": f"Nová {rng.randint(1, 99)}", "zip": f"{rng.randint(100, 799)} {rng.randint(10, 99)}"}
    if choice == 3:
        return {"note": f"úprava {number}"}
    return {"email": f"novy.{number}.{rng.randint(0, 10**6)}@example.cz"}


@pytest.mark.slow
# SQLite only, for the suite's time budget. The store's part of this scenario on PostgreSQL is
# held by cheaper tests: test_sync_scenarios[postgresql] (duplicates linked, edits both ways,
# a both-sides edit merged with its conflict row, a second run writing nothing) and the kill -9
# test below, which converges 2,000 customers on PostgreSQL at each of its five instants.
@pytest.mark.parametrize("store_backend", ["sqlite"], indirect=True)
def test_two_thousand_per_side_with_overlap_and_edits_converge(tmp_path: Path) -> None:
    rng = random.Random(42)
    eshop_seed = list(generate_contacts(2000, seed=101, start=0))
    shared = eshop_seed[:600]  # 30% of the e-shop's customers are in POHODA too
    pohoda_seed = [twin_of(c, rng) for c in shared] + list(generate_contacts(1400, seed=202, start=50_000))
    with Sandbox(tmp_path / "box", eshop_seed=eshop_seed, pohoda_seed=pohoda_seed) as box:
        run_sync(box.config)
        run_sync(box.config)
        assert assert_converged(box) == (3400, 3400)

        # Random edits on both sides, some of the same customers on both.
        customers = box.eshop_sim.customers()
        for number, customer in enumerate(rng.sample(customers, 300)):
            box.eshop_sim.edit(customer.id, **random_edit(rng, number))
        contacts = box.pohoda_sim.contacts()
        for number, contact in enumerate(rng.sample(contacts, 300)):
            assert contact.id is not None
            box.pohoda_sim.update_contact(int(contact.id), **random_edit(rng, 1000 + number))
        first = run_sync(box.config)
        second = run_sync(box.config)
        assert first.refused == 0 and second.refused == 0
        assert assert_converged(box) == (3400, 3400)
        third = run_sync(box.config)
        assert third.delivered == {}  # converged: nothing left to write


def _sync_process(box: Sandbox) -> subprocess.Popen[bytes]:
    env = {**os.environ, **box.env}
    return subprocess.Popen(
        [sys.executable, "-m", "connector", "sync", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "attempts",
    [range(0, 5), range(5, 10)],
    ids=["kills-1-5", "kills-6-10"],
)
def test_kill_9_at_random_instants_doubles_and_loses_nothing(
    tmp_path: Path, attempts: range, store_backend: str
) -> None:
    """A run creating 2,000 customers (1,000 each way) is killed at a random instant; a clean
    run afterwards leaves every customer exactly once on each side."""
    if store_backend.startswith("postgresql") and attempts.start >= 5:
        # The suite's time budget: the ten instants run on SQLite, the first five of them on
        # PostgreSQL too (the store's part of a crash, the transaction cut, is the same in each;
        # what differs, a dead run's claims waiting out their lease, shows in each of the five).
        pytest.skip("kill instants 6-10 run on SQLite only")
    registrations = list(generate_contacts(1000, seed=7, rich=False, start=0))
    counter_contacts = list(generate_contacts(1000, seed=8, rich=False, start=100_000))
    # SQLite (one machine) frees a dead process's claims at once; on PostgreSQL the lease
    # decides, so the operations the killed run had claimed wait that long: short here.
    lease_s = 2.0
    settings = {"CONNECTOR_STORE_LEASE_S": str(lease_s)}
    for attempt in attempts:
        rng = random.Random(attempt)
        directory = tmp_path / f"attempt-{attempt}"
        with Sandbox(directory, eshop_seed=registrations, pohoda_seed=counter_contacts, settings=settings) as box:
            process = _sync_process(box)
            # Kill anywhere from start-up to the end of delivery (a full run takes a few seconds).
            time.sleep(rng.uniform(0.3, 4.0))
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            killed_at = time.monotonic()
            clean = run_sync(box.config)
            assert clean.state == "done", clean.message
            assert_nothing_doubled(box)
            if store_backend.startswith("postgresql"):
                time.sleep(max(0.0, killed_at + lease_s + 0.5 - time.monotonic()))
            elif clean.pending:
                raise AssertionError(f"attempt {attempt}: {clean.pending} operations left after a clean run")
            run_sync(box.config)
            eshop_count, pohoda_count = assert_converged(box)
            assert (eshop_count, pohoda_count) == (2000, 2000), f"attempt {attempt}"
            assert len(box.notifications()) == 1000  # one welcome e-mail per counter contact
