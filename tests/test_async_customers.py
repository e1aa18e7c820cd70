"""Async customer mode: registrations never wait for POHODA, are converted later, audited."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connector.actions import run_sync
from connector.cli._main import _register_commands, root
from connector.plan import temporary_hq_id
from connector.sim.generate import generate_contacts
from connector.sim.sandbox import Sandbox
from connector.store import Store
from tests.test_sync_invariants import assert_converged

# Every case runs on SQLite and on PostgreSQL (skipped without a server).
pytestmark = pytest.mark.usefixtures("store_backend")

GUID_LENGTH = 36


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "box", settings={"CONNECTOR_POHODA_RETRY_MAX_S": "1"}) as sandbox:
        yield sandbox


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in rows}


def registration(number: int) -> dict[str, Any]:
    contact = next(generate_contacts(1, seed=number, start=number, rich=False))
    return {k: v for k, v in contact.to_dict().items() if k not in ("id", "ext_id") and v not in (None, [])}


@pytest.mark.slow
def test_pohoda_down_for_a_whole_scenario_then_one_run_converts(box: Sandbox, store_backend: str) -> None:
    if store_backend.startswith("postgresql"):
        # The suite's time budget: the quicker cases of this file run the store's part of
        # pending creations (their GUIDs, conversion, retry from the audit) on PostgreSQL.
        pytest.skip("the whole-outage scenario runs on SQLite only")
    rng = random.Random(4)
    box.pohoda_faults(down=True)
    expected: dict[str, dict[str, Any]] = {}
    for batch in range(2):
        for number in range(batch * 250, batch * 250 + 250):
            eshop_id = box.register(registration(number))
            expected[eshop_id] = {}
        run_sync(box.config)  # POHODA down: everybody gets a GUID
        for edit in range(150):  # edits, many to customers that are still pending
            eshop_id = rng.choice(list(expected))
            changes = {"city": f"Město {batch}-{edit}", "phone": f"+420 777 {edit:03d} {batch:03d}"}
            if edit % 10 == 0:
                changes["ship_to"] = [{"name": "Sklad", "city": "Brno", "zip": "602 00", "default": True}]
            box.edit_on_eshop(eshop_id, **changes)
            expected[eshop_id].update(changes)
        run_sync(box.config)
    customers = by_id(box.eshop_contacts())
    assert len(customers) == 500
    for eshop_id in expected:
        assert customers[eshop_id]["sync_state"] == "pending_sync"
        assert customers[eshop_id]["hq_id"] == temporary_hq_id("12345678", eshop_id)
        assert len(customers[eshop_id]["hq_id"]) == GUID_LENGTH
    assert box.pohoda_contacts() == []

    box.pohoda_faults(down=False)
    summary = run_sync(box.config)
    assert summary.delivered.get("pohoda.create") == 500  # several edits collapsed into one write each
    pohoda = box.pohoda_contacts()
    assert len(pohoda) == 500
    assert Counter(c["ext_id"] for c in pohoda).most_common(1)[0][1] == 1
    pohoda_by_ext = {c["ext_id"]: c for c in pohoda}
    customers = by_id(box.eshop_contacts())
    for eshop_id, changes in expected.items():
        customer, contact = customers[eshop_id], pohoda_by_ext[eshop_id]
        assert customer["sync_state"] == "synced"
        assert customer["hq_id"] == contact["id"]
        for field, value in changes.items():
            if field == "ship_to":
                assert [s["city"] for s in contact["ship_to"]] == ["Brno"]
            else:
                assert contact[field] == value, (eshop_id, field)
    assert_converged(box)


def test_down_with_1000_pending_creations_is_fast_and_sends_a_handful(box: Sandbox) -> None:
    for contact in generate_contacts(1000, seed=3, rich=False):
        box.eshop_sim.register(contact)
    box.pohoda_faults(down=True)
    before = sum(box.pohoda_stats()["requests"].values())
    started = time.monotonic()
    summary = run_sync(box.config)
    elapsed = time.monotonic() - started
    sent = sum(box.pohoda_stats()["requests"].values()) - before - 1  # less the stats call itself
    assert summary.pohoda_unreachable
    assert elapsed < 10
    assert sent <= 3
    assert Counter(c["sync_state"] for c in box.eshop_contacts()) == {"pending_sync": 1000}
    store = Store.open(box.config.store_url)
    assert len(store.audit_entries(result="pending", limit=5000)) == 1000  # `audit list --state pending`


@pytest.mark.slow
def test_flaky_pohoda_across_ten_runs_converges(box: Sandbox, store_backend: str) -> None:
    if store_backend.startswith("postgresql"):
        # The suite's time budget: the quicker cases of this file run the store's part of
        # pending creations (their GUIDs, conversion, retry from the audit) on PostgreSQL.
        pytest.skip("the ten-run flaky scenario runs on SQLite only")
    rng = random.Random(10)
    box.pohoda_faults(error_rate=0.3, reset_rate=0.1, delay_ms=5, seed=10)
    number = 0
    for run in range(10):
        for _ in range(30):
            box.register(registration(number))
            number += 1
        for _ in range(5):
            box.add_at_counter({**registration(10_000 + number), "note": "pult"})
            number += 1
        customers = box.eshop_contacts()
        for customer in rng.sample(customers, min(20, len(customers))):
            box.edit_on_eshop(customer["id"], city=f"Obec {run}", note=f"úprava {run}")
        run_sync(box.config)
    box.pohoda_faults(error_rate=0.0, reset_rate=0.0, delay_ms=0)
    run_sync(box.config)
    run_sync(box.config)
    eshop_count, pohoda_count = assert_converged(box)
    assert eshop_count == pohoda_count == 350  # 300 registrations and 50 counter contacts, once each


def test_refused_record_stays_pending_with_the_note_then_audit_retry_delivers_it(box: Sandbox) -> None:
    _register_commands()
    box.pohoda_faults(item_error=[{"field": "email", "contains": "@blocked", "note": "E-mail domain is blocked"}])
    good = box.register({"name": "Alena Dobrá", "email": "alena@example.cz"})
    bad = box.register({"name": "Boris Zlý", "email": "boris@blocked.cz"})
    summary = run_sync(box.config)
    assert summary.refused == 1
    customers = by_id(box.eshop_contacts())
    assert customers[good]["sync_state"] == "synced"
    assert customers[bad]["sync_state"] == "pending_sync"
    store = Store.open(box.config.store_url)
    [refusal] = store.audit_entries(result="refused")
    assert refusal.eshop_id == bad
    assert "E-mail domain is blocked" in (refusal.note or "")

    runner = CliRunner()
    env = box.env
    listed = runner.invoke(root, ["audit", "list", "--state", "refused", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert str(refusal.id) in listed.stdout
    shown = runner.invoke(root, ["audit", "show", str(refusal.id)], env=env)
    assert "E-mail domain is blocked" in shown.stdout

    box.edit_on_eshop(bad, email="boris@example.cz")  # the operator has the data corrected
    retried = runner.invoke(root, ["audit", "retry", str(refusal.id)], env=env)
    assert retried.exit_code == 0, retried.output
    contact = {c["ext_id"]: c for c in box.pohoda_contacts()}[bad]
    assert contact["email"] == "boris@example.cz"
    customer = by_id(box.eshop_contacts())[bad]
    assert customer["sync_state"] == "synced" and customer["hq_id"] == contact["id"]
    again = runner.invoke(root, ["audit", "retry", str(refusal.id)], env=env)
    assert again.exit_code == 2 and "only a refused operation" in again.stderr
    run_sync(box.config)
    assert len(box.pohoda_contacts()) == 2


def test_async_mode_gives_a_guid_first_then_the_real_id(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "async", settings={"CONNECTOR_SYNC_CREATE_MODE": "async"}) as sandbox:
        eshop_id = sandbox.register({"name": "Věra Nová", "email": "vera@example.cz"})
        run_sync(sandbox.config)
        store = Store.open(sandbox.config.store_url)
        links = [a for a in store.audit_entries(operation="link") if a.eshop_id == eshop_id]
        assert len(links) == 2  # first the GUID (pending_sync), then POHODA's id (synced)
        customer = by_id(sandbox.eshop_contacts())[eshop_id]
        assert customer["sync_state"] == "synced"
        assert customer["hq_id"] == sandbox.pohoda_contacts()[0]["id"]


def test_pending_registration_matching_a_new_counter_contact_is_linked_not_created(box: Sandbox) -> None:
    box.pohoda_faults(down=True)
    eshop_id = box.register({"name": "Karel Dvojník", "email": "karel@example.cz", "city": "Tábor"})
    run_sync(box.config)
    assert by_id(box.eshop_contacts())[eshop_id]["sync_state"] == "pending_sync"
    box.pohoda_faults(down=False)
    pohoda_id = box.add_at_counter({"name": "Karel Dvojník", "email": "KAREL@example.cz", "city": "Tábor"})
    runner = CliRunner()
    _register_commands()
    converted = runner.invoke(root, ["convert", "--json"], env=box.env)
    assert converted.exit_code == 0, converted.output
    assert [c["id"] for c in box.pohoda_contacts()] == [pohoda_id]
    customer = by_id(box.eshop_contacts())[eshop_id]
    assert (customer["hq_id"], customer["sync_state"]) == (pohoda_id, "synced")
    assert len(box.eshop_contacts()) == 1 and box.notifications() == []


def test_status_shows_pending_count_and_oldest_age(box: Sandbox) -> None:
    box.pohoda_faults(down=True)
    box.register({"name": "Čekající", "email": "ceka@example.cz"})
    run_sync(box.config)
    _register_commands()
    result = CliRunner().invoke(root, ["status", "--json"], env=box.env)
    assert result.exit_code == 0, result.output
    import json

    report = json.loads(result.stdout)
    assert report["pending_customers"] == 1
    assert report["oldest_pending_age_s"] is not None and report["oldest_pending_age_s"] >= 0
