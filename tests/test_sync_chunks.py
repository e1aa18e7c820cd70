"""Issue 14, point 4: a cron run plans and persists in chunks, and chunking changes no outcome.

The runs here use chunks of two e-shop changes (feed pages of two, POHODA's batches of one),
so that what the planner needs together lies across a chunk boundary: a registration and the
POHODA contact it duplicates, the two sides' edits of one customer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import connector.sync._run as run_module
from connector.actions import run_sync
from connector.plan import Plan, PlanSettings, PlanState, plan_operations
from connector.runtime import Runtime
from connector.sim.sandbox import Sandbox
from connector.store import Store
from connector.sync import RunSummary
from tests.test_sync_invariants import assert_converged

_ADDRESS = {"street": "Hlavní 12", "zip": "60200", "country": "CZ"}
MARIE = {"name": "Marie Dvojnice", "email": "marie.dvojnice@example.cz", "phone": "+420 604 111 222",
         "city": "Tábor", **_ADDRESS}


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> list[tuple[set[str], set[str]]]:
    """The e-shop and POHODA ids each chunk's plan was given, in the order planned."""
    given: list[tuple[set[str], set[str]]] = []

    def recorded(eshop: Any, pohoda: Any, state: PlanState, settings: PlanSettings) -> Plan:
        eshop, pohoda = list(eshop), list(pohoda)
        given.append(({r.record_id for r in eshop}, {r.record_id for r in pohoda}))
        return plan_operations(eshop, pohoda, state, settings)

    monkeypatch.setattr(run_module, "plan_operations", recorded)
    return given


def _chunked_run(box: Sandbox) -> RunSummary:
    with Runtime(box.config) as runtime:
        runtime.shop.page_size = 2  # type: ignore[attr-defined]
        runtime.hq.page_size = 1  # type: ignore[attr-defined]
        return runtime.sync_run(chunk_records=2).run()


def _registrations(box: Sandbox, numbers: range) -> list[str]:
    return [
        box.register({"name": f"Zákazník Číslo{n}", "email": f"zakaznik{n}@example.cz", "city": "Brno", **_ADDRESS})
        for n in numbers
    ]


def test_a_registration_in_a_later_chunk_is_linked_to_the_pohoda_contact_it_duplicates(
    tmp_path: Path, plans: list[tuple[set[str], set[str]]]
) -> None:
    with Sandbox(tmp_path / "box") as box:
        _registrations(box, range(2))
        counter = box.add_at_counter({**MARIE, "note": "zapsáno na prodejně"})  # read in POHODA's first batch
        _registrations(box, range(2, 4))
        box.add_at_counter({"name": "Petr Pultový", "email": "petr.pult@example.cz", "city": "Jihlava", **_ADDRESS})
        marie = box.register({**MARIE, "email": MARIE["email"].upper()})  # the e-shop's third chunk
        _registrations(box, range(4, 6))  # and a fourth after it
        summary = _chunked_run(box)
        assert summary.state == "done", summary.message
        # The registration was planned two chunks after the first, apart from the contact.
        chunk_of = next(i for i, (eshop, _p) in enumerate(plans) if marie in eshop)
        assert chunk_of >= 2 and counter not in plans[chunk_of][1], plans
        assert summary.linked == 1
        accounts = [a for a in box.eshop_contacts() if str(a["email"]).casefold() == MARIE["email"]]
        contacts = [c for c in box.pohoda_contacts() if str(c["email"]).casefold() == MARIE["email"]]
        assert [a["id"] for a in accounts] == [marie], "an account was made for the contact as well"
        assert [c["id"] for c in contacts] == [counter], "the registration was created in POHODA again"
        assert accounts[0]["hq_id"] == counter and contacts[0]["ext_id"] == marie
        with Store.open(box.config.store_url) as store:
            match = [e for e in store.audit_entries() if e.operation == "match"]
            link = store.find_link(eshop_id=marie)
            assert link is not None
            queued = [(entry.side, entry.kind) for entry in store.outbox_for_link(link.id)]
        assert [(e.eshop_id, e.pohoda_id) for e in match] == [(marie, counter)]
        # Linked in its own chunk: no creation in POHODA was ever queued for it.
        assert ("pohoda", "create") not in queued, queued
        # The other counter contact got its account (planned in the last chunk), once.
        assert run_sync(box.config).delivered == {}
        assert assert_converged(box) == (8, 8)


def test_both_sides_edits_of_a_customer_are_merged_in_the_chunk_of_its_e_shop_change(
    tmp_path: Path, plans: list[tuple[set[str], set[str]]]
) -> None:
    with Sandbox(tmp_path / "box") as box:
        accounts = _registrations(box, range(4))
        marie = box.register(MARIE)
        later = _registrations(box, range(4, 6))
        run_sync(box.config)
        run_sync(box.config)
        by_account = {a["id"]: a["hq_id"] for a in box.eshop_contacts()}
        for account in accounts:
            box.edit_on_eshop(account, note="upraveno")
        # Both sides change Marie's phone (a conflict: the e-shop wins the contact group) and
        # each side one field of its own.
        box.edit_on_eshop(marie, phone="+420 777 000 001", birth_date="1990-05-06")
        box.edit_in_pohoda(by_account[marie], phone="+420 777 000 002", city="Písek")
        for account in later:  # the e-shop's fourth chunk: Marie's is not the last
            box.edit_on_eshop(account, note="upraveno")
        plans.clear()
        summary = _chunked_run(box)
        assert summary.state == "done", summary.message
        chunk_of = next(i for i, (eshop, _p) in enumerate(plans) if marie in eshop)
        assert chunk_of >= 2 and plans[chunk_of][1] == {by_account[marie]}, plans
        assert summary.conflicts == 1
        account = next(a for a in box.eshop_contacts() if a["id"] == marie)
        contact = next(c for c in box.pohoda_contacts() if c["id"] == by_account[marie])
        for side in (account, contact):
            assert (side["phone"], side["birth_date"], side["city"]) == ("+420 777 000 001", "1990-05-06", "Písek")
        assert run_sync(box.config).delivered == {}
        assert assert_converged(box) == (7, 7)
