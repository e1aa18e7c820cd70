"""One person, one customer, through every review path (issue 13's three doubling paths),
over both simulators and the real store: a pair in review causes nothing on either side,
a decision is applied once, and a second registration of a known person is never copied."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.actions import run_sync
from connector.cli._main import _register_commands, root
from connector.sim.sandbox import Sandbox
from connector.store import Store

_register_commands()

JAN_ESHOP = {"name": "Jan Novák", "phone": "602 111 222", "birth_date": "1985-07-02", "email": "jan.novak@example.cz"}
JAN_POHODA = {"name": "Jan Novák", "phone": "+420602111222", "birth_date": "1980-03-14", "email": "novak@firma.cz"}


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "box") as sandbox:
        yield sandbox


def cli(box: Sandbox, *args: str) -> str:
    result = CliRunner().invoke(root, list(args), env=box.env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def open_items(box: Sandbox) -> list[dict[str, object]]:
    return [json.loads(line) for line in cli(box, "review", "list", "--json").splitlines() if line.strip()]


def held_pair(box: Sandbox) -> tuple[str, str]:
    eshop_id = box.register(JAN_ESHOP)
    pohoda_id = box.add_at_counter(JAN_POHODA)
    run_sync(box.config)
    run_sync(box.config)
    [item] = open_items(box)
    assert (item["record_id"], item["candidate_id"]) == (eshop_id, pohoda_id)
    # While the pair waits: no create in POHODA, no account for the contact, no welcome.
    assert [c["id"] for c in box.pohoda_contacts()] == [pohoda_id]
    assert [c["id"] for c in box.eshop_contacts()] == [eshop_id]
    assert box.notifications() == []
    return eshop_id, pohoda_id


def test_an_accepted_pair_is_linked_once(box: Sandbox) -> None:
    eshop_id, pohoda_id = held_pair(box)
    item_id = open_items(box)[0]["id"]
    cli(box, "review", "accept", str(item_id))
    first = run_sync(box.config)
    assert first.linked == 1
    run_sync(box.config)
    [contact], [account] = box.pohoda_contacts(), box.eshop_contacts()
    assert (contact["id"], contact["ext_id"]) == (pohoda_id, eshop_id)
    assert (account["hq_id"], account["sync_state"]) == (pohoda_id, "synced")
    assert box.notifications() == []
    everything = cli(box, "review", "list", "--all", "--json")
    assert [json.loads(line)["state"] for line in everything.splitlines()] == ["applied"]
    assert open_items(box) == []
    again = run_sync(box.config)
    assert again.delivered == {}  # applied once: the next runs write nothing


def test_a_rejected_pair_lets_each_go_its_way(box: Sandbox) -> None:
    eshop_id, pohoda_id = held_pair(box)
    cli(box, "review", "reject", str(open_items(box)[0]["id"]))
    run_sync(box.config)
    run_sync(box.config)
    pohoda = {c["id"]: c for c in box.pohoda_contacts()}
    eshop = {c["id"]: c for c in box.eshop_contacts()}
    assert len(pohoda) == 2 and len(eshop) == 2  # two different people, each once per side
    assert eshop[eshop_id]["hq_id"] != pohoda_id
    [welcomed] = [c for c in eshop.values() if c["hq_id"] == pohoda_id]
    assert [n["customer_id"] for n in box.notifications()] == [welcomed["id"]]


def test_a_second_registration_of_a_known_person_is_never_copied(box: Sandbox) -> None:
    first = box.register({"name": "Marie Dvořáková", "phone": "603 222 333", "email": "marie@example.cz"})
    run_sync(box.config)
    [contact] = box.pohoda_contacts()
    second = box.register({"name": "Marie Dvořáková", "phone": "+420 603 222 333", "email": "marie.d@jinde.cz"})
    run_sync(box.config)
    run_sync(box.config)
    assert [c["id"] for c in box.pohoda_contacts()] == [contact["id"]]  # one contact for the person
    accounts = {c["id"]: c for c in box.eshop_contacts()}
    assert accounts[second]["hq_id"] == contact["id"]  # the second account knows her contact
    assert box.pohoda_contacts()[0]["ext_id"] == first  # which keeps its first account
    assert accounts[second]["email"] == "marie.d@jinde.cz"  # and nobody's data was mixed
    with Store.open(box.config.store_url) as store:
        link = store.find_link(eshop_id=second)
    assert link is not None and link.state == "secondary"
    assert run_sync(box.config).delivered == {}
