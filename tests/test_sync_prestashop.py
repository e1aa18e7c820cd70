"""The mirror with a PrestaShop shop (1.7 and 8) over loopback HTTP: the real adapter, the real
store, POHODA's simulator; counts taken at the PrestaShop simulator.

PrestaShop holds no POHODA id, so a pair is found through POHODA's extId (the shop's id) and the
store's link; fields the shop cannot hold (note, birth date, groups, consents) are not compared.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
import zoneinfo
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connector.actions import run_sync
from connector.cli._main import _register_commands, root
from connector.mail import welcome_message_id
from connector.model import Contact
from connector.peers import PeerWrite
from connector.peers.prestashop import PrestaShopShop, window_start
from connector.sim.generate import generate_contacts
from connector.sim.sandbox import PrestaShopBox, Sandbox
from connector.store import Store

# What a PrestaShop customer and its addresses hold of a contact.
HELD = ("company", "name", "email", "phone", "mobile", "street", "city", "zip", "country", "ico", "dic")
WRITES = ("POST", "PUT", "PATCH", "DELETE")
ADDRESS = {"street": "Dlouhá 5", "city": "Praha", "zip": "110 00", "country": "CZ"}


@pytest.fixture(params=["1.7", "8"])
def box(request: pytest.FixtureRequest, tmp_path: Path, sim_schema_dir: Path | None) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "box", platform=f"prestashop-{request.param}", schema_dir=sim_schema_dir) as sandbox:
        yield sandbox


def shop_of(box: Sandbox) -> PrestaShopBox:
    assert isinstance(box.shop, PrestaShopBox)
    return box.shop


def by_id(rows: list[dict[str, Any]], key: str = "id") -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in rows if row.get(key)}


def held(row: dict[str, Any]) -> dict[str, Any]:
    return {field: row[field] for field in HELD} | {
        "ship_to": [{k: v for k, v in s.items() if k not in ("email", "default")} for s in row["ship_to"]]
    }


def shop_writes(box: Sandbox) -> int:
    """Write requests the PrestaShop simulator received (any resource)."""
    calls = box.eshop_stats()["calls"]
    return sum(count for call, count in calls.items() if call.split()[0] in WRITES)


def assert_converged(box: Sandbox) -> int:
    """Every shop customer has exactly one POHODA contact carrying its id, equal on what the
    shop holds, and every POHODA contact with an e-mail has its customer; returns the count."""
    shop, pohoda = box.eshop_contacts(), box.pohoda_contacts()
    ext_ids = Counter(row["ext_id"] for row in pohoda if row["ext_id"])
    assert all(n == 1 for n in ext_ids.values()), "two POHODA contacts carry one shop id"
    emails = Counter(str(row["email"]).casefold() for row in shop)
    assert all(n == 1 for n in emails.values()), "one e-mail has two shop accounts"
    twins = by_id(pohoda, "ext_id")
    differences = [
        (customer["id"], field)
        for customer in shop
        for field, value in held(customer).items()
        if customer["id"] not in twins or held(twins[customer["id"]])[field] != value
    ]
    assert differences == []
    assert len(shop) == len(pohoda)
    return len(shop)


# -- the mirror's scenarios ------------------------------------------------------------------------


def test_a_registration_reaches_pohoda_with_the_shop_id(box: Sandbox) -> None:
    eshop_id = box.register(
        {"name": "Jana Dvořáková", "email": "jana@example.cz", "phone": "+420 601 000 001", "ico": "12345678",
         "dic": "CZ12345678", "company": "Lípa s.r.o.", **ADDRESS}
    )  # fmt: skip
    summary = run_sync(box.config)
    assert summary.state == "done" and summary.refused == 0
    [contact] = box.pohoda_contacts()
    assert contact["ext_id"] == eshop_id
    assert held(contact) == held(by_id(box.eshop_contacts())[eshop_id])
    assert (contact["ico"], contact["dic"]) == ("12345678", "CZ12345678")  # from the address's dni, vat_number
    link = Store.open(box.config.store_url).find_link(eshop_id=eshop_id)
    assert link is not None and link.pohoda_id == contact["id"] and link.state == "linked"


def test_a_counter_contact_becomes_a_shop_account(box: Sandbox) -> None:
    pohoda_id = box.add_at_counter({"name": "Peter Horváth", "email": "peter@example.sk", "street": "Hlavná 1",
                                    "city": "Košice", "zip": "040 01", "country": "SK"})  # fmt: skip
    box.add_at_counter({"name": "Bez Mailu", "city": "Nitra"})  # no login: stays in POHODA only
    run_sync(box.config)
    run_sync(box.config)
    [customer] = box.eshop_contacts()
    assert customer["email"] == "peter@example.sk" and customer["city"] == "Košice"
    assert by_id(box.pohoda_contacts())[pohoda_id]["ext_id"] == customer["id"]
    row = shop_of(box).sim.customer(int(customer["id"]))
    assert row is not None
    # Sent with active = 1 (a POST leaves out nothing it needs) and a random password.
    assert row.values["active"] == "1" and row.values["passwd"].startswith("$2y$")
    assert box.notifications() == []  # the webservice sends no welcome e-mail (§1)...
    # ...so the connector sends it: exactly one, to the new account, none to the other contact.
    [mail] = shop_of(box).mails()
    assert mail["to"] == ["peter@example.sk"]
    assert mail["message_id"] == welcome_message_id(customer["id"], domain="shop.example")


@pytest.mark.parametrize(
    ("existing", "registration", "reason"),
    [
        ({"name": "Marta Kovács", "email": "Marta.Kovacs@Example.HU"},
         {"name": "Marta Kovács", "email": "marta.kovacs@example.hu"}, "same e-mail"),
        ({"company": "Stavby Novák s.r.o.", "ico": "25596641"},
         {"name": "Karel Novák", "company": "STAVBY NOVÁK", "ico": "25596641"}, "same ICO"),
        ({"name": "Józef Nowak", "phone": "+420 603 123 456"},
         {"name": "Jozef Novak", "email": "jozef@example.pl", "phone": "603123456"}, "same phone"),
    ],
    ids=["email-case", "ico", "phone-format"],
)  # fmt: skip
def test_a_duplicate_registration_is_linked_not_copied(
    box: Sandbox, existing: dict[str, str], registration: dict[str, str], reason: str
) -> None:
    pohoda_id = box.add_at_counter({**existing, **ADDRESS})
    eshop_id = box.register({"email": "novak@example.cz", **registration, **ADDRESS})
    run_sync(box.config)
    run_sync(box.config)
    assert len(box.pohoda_contacts()) == 1 and len(box.eshop_contacts()) == 1
    assert by_id(box.pohoda_contacts())[pohoda_id]["ext_id"] == eshop_id
    assert box.eshop_stats()["calls"].get("POST customers", 0) == 0
    assert shop_of(box).mails() == []  # linked, not auto-registered: no welcome e-mail
    [match] = Store.open(box.config.store_url).audit_entries(operation="match")
    assert reason in (match.note or "")


def test_edits_reach_the_other_side_both_ways(box: Sandbox) -> None:
    shop = shop_of(box)
    first = box.register({"name": "Eva Malá", "email": "eva@example.cz", "phone": "+420 601 000 001", **ADDRESS})
    run_sync(box.config)
    shop.sim.advance_clock(10)
    box.register({"name": "Ota Velký", "email": "ota@example.cz", **ADDRESS})
    run_sync(box.config)
    shop.sim.advance_clock(10)
    customer_date = (shop.sim.customer(int(first)) or pytest.fail("gone")).values["date_upd"]
    # A back-office address edit moves only the address's date_upd, which is now well after
    # the customers' window: only the address poll finds it.
    box.edit_on_eshop(first, phone="+420 601 999 999", street="Nová 5")
    assert (shop.sim.customer(int(first)) or pytest.fail("gone")).values["date_upd"] == customer_date
    run_sync(box.config)
    contact = by_id(box.pohoda_contacts(), "ext_id")[first]
    assert (contact["phone"], contact["street"]) == ("+420 601 999 999", "Nová 5")

    box.edit_in_pohoda(contact["id"], city="Olomouc", zip="779 00")
    summary = run_sync(box.config)
    assert summary.delivered == {"eshop.update": 1}
    customer = by_id(box.eshop_contacts())[first]
    assert (customer["city"], customer["zip"]) == ("Olomouc", "779 00")
    assert assert_converged(box) == 2


def test_the_second_and_third_runs_write_nothing_to_the_shop(box: Sandbox) -> None:
    for contact in generate_contacts(30, seed=3, rich=False):
        box.register(contact.to_dict() | {"id": None})
    counter = list(generate_contacts(20, seed=4, rich=False, start=1000))
    for contact in counter:
        box.add_at_counter({k: v for k, v in contact.to_dict().items() if v not in (None, [])})
    first = run_sync(box.config)
    assert first.refused == 0, first.message
    written = shop_writes(box), box.pohoda_stats()["imports"]
    assert written[0] > 0
    for _ in range(2):
        summary = run_sync(box.config)
        assert summary.planned == {} and summary.delivered == {}
        assert (shop_writes(box), box.pohoda_stats()["imports"]) == written
    assert assert_converged(box) == 50
    # One welcome e-mail per account the connector made (the 20 counter contacts), none twice.
    mails = shop_of(box).mails()
    assert len(mails) == 20 and len({m["message_id"] for m in mails}) == 20
    assert {m["to"][0] for m in mails} == {c.email for c in counter}


def test_what_the_shop_cannot_hold_is_kept_in_pohoda_and_the_mirror_settles(tmp_path: Path) -> None:
    """Counter contacts with notes, birth dates, groups, consents, IČ DPH and flagged delivery
    addresses become shop accounts. PrestaShop holds none of that, so its accounts read back
    without it: that is no edit, and POHODA keeps every field, also after a shop-side edit."""
    seed = list(generate_contacts(30, seed=11, rich=True, start=5000))
    with Sandbox(tmp_path / "box", platform="prestashop-8", pohoda_seed=seed) as box:
        before = by_id(box.pohoda_contacts())
        assert any(c["note"] for c in before.values()) and any(c["ship_to"] for c in before.values())
        run_sync(box.config)
        for _ in range(2):
            summary = run_sync(box.config)
            assert summary.planned == {}, summary.planned
        shop = shop_of(box)
        shop.sim.advance_clock(5)
        edited = sorted(box.eshop_contacts(), key=lambda c: int(c["id"]))[:5]
        for customer in edited:
            box.edit_on_eshop(customer["id"], city="Jihlava")
        summary = run_sync(box.config)
        assert summary.delivered == {"pohoda.update": 5}
        after = by_id(box.pohoda_contacts())
        for pohoda_id, contact in before.items():
            changed = {f for f in contact if f != "ext_id" and contact[f] != after[pohoda_id][f]}
            assert changed <= {"city"}, (pohoda_id, changed)
        assert sum(c["city"] == "Jihlava" for c in after.values()) >= 5
        assert run_sync(box.config).planned == {}


def test_an_update_keeps_the_note_birthday_and_newsletter(box: Sandbox) -> None:
    shop = shop_of(box)
    eshop_id = box.register({"name": "Hana Veselá", "email": "hana@example.cz", **ADDRESS})
    shop.edit_raw(eshop_id, note="Platí pozdě", birthday="1980-02-03", newsletter="1", optin="1")
    run_sync(box.config)
    before = shop.sim.customer(int(eshop_id))
    assert before is not None
    calls_before = dict(box.eshop_stats()["calls"])
    pohoda_id = by_id(box.pohoda_contacts(), "ext_id")[eshop_id]["id"]
    box.edit_in_pohoda(pohoda_id, city="Olomouc", name="Hana Nováková")
    summary = run_sync(box.config)
    assert summary.delivered == {"eshop.update": 1}

    after = shop.sim.customer(int(eshop_id))
    assert after is not None
    assert (after.values["lastname"], by_id(box.eshop_contacts())[eshop_id]["city"]) == ("Nováková", "Olomouc")
    for field in ("note", "birthday", "newsletter", "optin", "newsletter_date_add", "passwd", "secure_key",
                  "active", "id_default_group", "date_add"):  # fmt: skip
        assert after.values[field] == before.values[field], field
    assert after.groups == before.groups
    calls = Counter(box.eshop_stats()["calls"])
    calls.subtract(calls_before)
    if shop.sim.version == "8":
        assert calls["PATCH customers"] == 1 and calls["PATCH addresses"] == 1
        assert calls["PUT customers"] == calls["PUT addresses"] == 0
    else:
        assert calls["PUT customers"] == 1 and calls["PUT addresses"] == 1


def test_a_refused_name_stops_nothing_else(box: Sandbox) -> None:
    """100 counter contacts become shop accounts; one name PrestaShop's isCustomerName refuses
    (digits) is refused by the connector before anything is sent, with the field named."""
    contacts = list(generate_contacts(100, seed=5, rich=False, start=2000))
    bad_number = 37
    for number, contact in enumerate(contacts):
        name = "Agent 007 Bond" if number == bad_number else contact.name
        box.add_at_counter({k: v for k, v in contact.replace(name=name).to_dict().items() if v not in (None, [])})
    _register_commands()
    runner = CliRunner()
    result = runner.invoke(root, ["sync", "--json"], env=box.env)
    assert result.exit_code == 1, result.output
    linked = [c for c in box.pohoda_contacts() if c["ext_id"]]
    assert len(linked) == 99 and len(box.eshop_contacts()) == 99
    assert box.eshop_stats()["calls"]["POST customers"] == 99  # the refused one was never sent

    listed = runner.invoke(root, ["audit", "list", "--state", "refused", "--json"], env=box.env)
    assert listed.exit_code == 0, listed.output
    [row] = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    assert row["side"] == "eshop" and row["detail"]["field"] == "name"
    assert "'name'" in row["note"] and "007" not in row["note"] and "Bond" not in row["note"]
    assert len(shop_of(box).mails()) == 99  # a welcome for each account made, none for the refused one


def test_a_hard_delete_is_found_by_the_id_scan(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    import connector.peers.prestashop as adapter

    monkeypatch.setattr(adapter, "ID_SCAN_S", 0.0)
    staying = box.register({"name": "Stálý Zákazník", "email": "stay@example.cz", **ADDRESS})
    leaving = box.register({"name": "Odchozí Zákazník", "email": "bye@example.cz", **ADDRESS})
    run_sync(box.config)
    box.delete_on_eshop(leaving)  # Customer::delete: the row is gone, no date_upd to poll
    run_sync(box.config)
    store = Store.open(box.config.store_url)
    link = store.find_link(eshop_id=leaving)
    assert link is not None and link.state == "deleted_eshop"
    assert (store.find_link(eshop_id=staying) or pytest.fail("no link")).state == "linked"
    assert len(box.pohoda_contacts()) == 2  # kept in POHODA (the default deletion policy)


def test_a_date_upd_in_the_future_does_not_push_the_window_past_later_edits(box: Sandbox) -> None:
    shop = shop_of(box)
    first = box.register({"name": "Bára Budoucí", "email": "bara@example.cz", **ADDRESS})
    shop.sim.advance_clock(3600)  # the shop's clock an hour fast while this one was written
    box.register({"name": "Cyril Časový", "email": "cyril@example.cz", **ADDRESS})
    shop.sim.advance_clock(-3600 + 5)  # the clock put right
    run_sync(box.config)
    box.edit_on_eshop(first, city="Jihlava")  # dated now: an hour before the other record
    run_sync(box.config)
    assert by_id(box.pohoda_contacts(), "ext_id")[first]["city"] == "Jihlava"


def test_the_window_reaches_back_over_the_autumn_clock_change() -> None:
    prague = zoneinfo.ZoneInfo("Europe/Prague")
    # 2026-10-25 03:00 CEST -> 02:00 CET: the hour from 02:00 is shown twice.
    first_pass = "2026-10-25 02:40:00"  # 00:40 UTC
    later = dt.datetime(2026, 10, 25, 1, 20, tzinfo=dt.UTC)  # 02:20 CET, the second 02:20
    assert window_start(first_pass, prague, later) <= "2026-10-25 02:00:00"
    assert window_start("2026-06-01 12:00:00", prague, dt.datetime(2026, 6, 1, 10, 5, tzinfo=dt.UTC)) == (
        "2026-06-01 11:59:59"
    )


def test_a_create_cut_short_is_finished_on_replay_and_another_account_is_taken(box: Sandbox) -> None:
    """A crash after the customer's POST and before its address's: the outbox sends the create
    again, the shop answers 500 / 140, and the adapter finishes its own create (a replay);
    an account someone else holds under that e-mail is reported taken, with its id."""
    shop = shop_of(box)
    contact = Contact.from_dict({"name": "Věra Nová", "email": "vera@example.cz", **ADDRESS})
    with PrestaShopShop.from_config(box.config) as peer:
        [first] = peer.apply([PeerWrite("create", ref=1, contact=contact)])
        assert first.outcome == "done" and first.record_id is not None
        [address] = [a for a in shop.sim.addresses() if a.values["id_customer"] == first.record_id]
        shop.sim.delete("addresses", address.id)  # as if the crash came before this POST
        [again] = peer.apply([PeerWrite("create", ref=1, contact=contact)])
        assert (again.outcome, again.record_id, again.replay) == ("done", first.record_id, True)
        assert len(box.eshop_contacts()) == 1 and box.eshop_contacts()[0]["city"] == "Praha"

        someone = box.register({"name": "Jiná Osoba", "email": "Jina@example.cz", **ADDRESS})
        [taken] = peer.apply([PeerWrite("create", ref=2, contact=contact.replace(email="jina@example.cz"))])
        assert (taken.outcome, taken.record_id, taken.field) == ("taken", someone, "email")
    assert len(box.eshop_contacts()) == 2


def test_an_account_saved_just_before_a_crash_is_claimed_not_doubled(box: Sandbox) -> None:
    """A run creates a shop account for a counter contact and dies after the shop saved the
    customer, before its address and before the answer was recorded. The next pull finds an
    account with no POHODA id on it (PrestaShop has nowhere to keep one): it must join the
    link being created, not become a registration (a second contact in POHODA)."""
    from connector.codec import prestashop as codec
    from connector.runtime import Runtime

    contact = {"name": "Věra Nová", "email": "vera@example.cz", **ADDRESS}
    pohoda_id = box.add_at_counter(contact)
    with Runtime(box.config) as runtime:
        run = runtime.sync_run()
        run._full()  # planned: the shop account for the counter contact; nothing delivered
        peer = runtime.shop
        assert isinstance(peer, PrestaShopShop)
        write = codec.plan_contact_write(Contact.from_dict(contact), peer.countries)
        peer.client.request("POST", "/customers", content=codec.encode_customer_post(write.customer))
        runtime.store.release_lock("sync", run.run_id)  # the run is dead
    for _ in range(3):
        assert run_sync(box.config).state == "done"
    assert assert_converged(box) == 1
    [customer] = box.eshop_contacts()
    assert by_id(box.pohoda_contacts())[pohoda_id]["ext_id"] == customer["id"]
    assert customer["street"] == ADDRESS["street"]  # the create was finished, not lost
    assert run_sync(box.config).delivered == {}
    assert [m["to"] for m in shop_of(box).mails()] == [["vera@example.cz"]]  # its welcome, once


def test_an_address_the_shop_refuses_leaves_no_account_half_made(box: Sandbox) -> None:
    """The shop asks for a dni in this country (need_identification_number) and the counter
    contact has no IČO: the customer is saved, its address refused, so the account is removed
    again and the write refused naming the field; nothing else stops."""
    shop = shop_of(box)
    with shop.sim.shop.lock:
        shop.sim.shop.tables["countries"][37].values["need_identification_number"] = "1"  # SK
    box.add_at_counter({"name": "Ján Kováč", "email": "jan@example.sk", "street": "Hlavná 1", "city": "Nitra",
                        "zip": "949 01", "country": "SK"})  # fmt: skip
    box.add_at_counter({"name": "Eva Malá", "email": "eva@example.cz", **ADDRESS})
    summary = run_sync(box.config)
    assert summary.refused == 1
    assert [c["email"] for c in box.eshop_contacts()] == ["eva@example.cz"]
    [refusal] = Store.open(box.config.store_url).audit_entries(result="refused")
    assert (refusal.detail or {})["field"] == "ico" and "removed" in (refusal.note or "")


def test_a_record_changed_since_it_was_read_is_a_conflict_not_overwritten(box: Sandbox) -> None:
    eshop_id = box.register({"name": "Jan Rychlý", "email": "jan@example.cz", **ADDRESS})
    with PrestaShopShop.from_config(box.config) as peer:
        read = peer.get(eshop_id)
        assert read is not None and read.contact is not None and read.version
        box.edit_on_eshop(eshop_id, city="Brno")  # the shopper, meanwhile
        write = PeerWrite("update", ref=1, record_id=eshop_id, contact=read.contact.replace(city="Tábor"),
                          expected_version=read.version)  # fmt: skip
        [result] = peer.apply([write])
    assert result.outcome == "conflict"
    assert by_id(box.eshop_contacts())[eshop_id]["city"] == "Brno"


def test_a_key_without_the_patch_permission_falls_back_to_put(tmp_path: Path) -> None:
    import dataclasses

    with Sandbox(tmp_path / "box", platform="prestashop-8") as box:
        shop = shop_of(box).sim.shop
        for name in ("customers", "addresses"):  # 8.0 upgraded, the key's PATCH not granted
            resource = shop.resources[name]
            shop.resources[name] = dataclasses.replace(resource, methods=resource.methods - {"PATCH"})
        eshop_id = box.register({"name": "Petra Malá", "email": "petra@example.cz", **ADDRESS})
        shop_of(box).edit_raw(eshop_id, note="Stálá zákaznice")
        run_sync(box.config)
        pohoda_id = by_id(box.pohoda_contacts(), "ext_id")[eshop_id]["id"]
        box.edit_in_pohoda(pohoda_id, city="Kolín", name="Petra Velká")
        assert run_sync(box.config).delivered == {"eshop.update": 1}
        calls = box.eshop_stats()["calls"]
        assert calls["PATCH customers"] == 1  # refused once (405 code 25), then PUT from then on
        assert calls["PUT customers"] == 1 and calls["PUT addresses"] == 1
        row = shop_of(box).sim.customer(int(eshop_id))
        assert row is not None and (row.values["lastname"], row.values["note"]) == ("Velká", "Stálá zákaznice")


# -- the CLI ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.7", "8"])
def test_connector_sim_prestashop_serves_the_version_asked_for(version: str) -> None:
    import httpx

    from connector.sim._server import free_port
    from connector.sim.prestashop import DEFAULT_KEY

    port = free_port()
    launch = [sys.executable, "-c", "from connector.cli import main; main()"]
    process = subprocess.Popen(
        [*launch, "sim", "prestashop", "--port", str(port), "--version", version], stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/customers", auth=(DEFAULT_KEY, ""))
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the simulator did not start"
                time.sleep(0.05)
        assert answer.status_code == 200
        assert answer.headers["PSWS-Version"].startswith("1.7." if version == "1.7" else "8.")
        patch = httpx.patch(f"http://127.0.0.1:{port}/api/customers/1", auth=(DEFAULT_KEY, ""), content=b"<x/>")
        assert (patch.status_code == 405) == (version == "1.7")  # PATCH came with 8.0
    finally:
        process.terminate()
        process.wait(10)


def test_connector_demo_runs_against_prestashop(tmp_path: Path) -> None:
    _register_commands()
    result = CliRunner().invoke(root, ["demo", "--platform", "prestashop-1.7", "--json", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["converged"] and report["duplicates"] == 0
    assert report["eshop_customers"] == report["linked"] > 0
    # The webservice sends none: the connector sends one per account it made for a counter contact.
    made = sum(run["delivered"].get("eshop.create", 0) for run in report["runs"])
    assert report["welcome_emails"] == made > 0


# -- kill -9 -----------------------------------------------------------------------------------------


def _sync_process(box: Sandbox) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "connector", "sync", "--json"],
        env={**os.environ, **box.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _progress(box: Sandbox) -> int:
    """Writes the run has made so far: POHODA import items, shop write requests, e-mails."""
    shop = shop_of(box)
    calls = shop.sim.stats_dict()["calls"]  # in-process: polling must not slow the run down
    writes = sum(count for call, count in calls.items() if call.split()[0] in WRITES)
    return int(box.pohoda_sim.stats_dict()["imports"]) + writes + len(shop.mails())


@pytest.mark.slow
@pytest.mark.parametrize("version", ["1.7", "8"])
def test_kill_9_during_500_registrations_loses_and_doubles_nothing(tmp_path: Path, version: str) -> None:
    """A run carrying 500 registrations to POHODA (and 30 counter contacts to the shop) is
    killed at 2 random instants per version (4 in all); a clean run afterwards leaves every
    customer once on each side, and each account made has its welcome e-mail once.

    The instant is a random point of the run's progress (its writes so far, from none to
    nearly all), not of the clock, so the kills land all over the run however busy the
    machine is."""
    registrations = [c.to_dict() | {"id": None} for c in generate_contacts(500, seed=9, rich=False)]
    counter = [c.to_dict() for c in generate_contacts(30, seed=10, rich=False, start=9000)]
    pohoda_seed = [Contact.from_dict({k: v for k, v in c.items() if v not in (None, [])}) for c in counter]
    total = 500 + 30 + 2 * 30 + 30  # POHODA items (+ extIds), shop customers and addresses, e-mails
    for attempt in range(2):
        rng = random.Random(f"{version}-{attempt}")
        target = rng.randint(0, total - 10)
        where = tmp_path / f"attempt-{attempt}"
        with Sandbox(where, platform=f"prestashop-{version}", eshop_seed=registrations, pohoda_seed=pohoda_seed) as box:
            process = _sync_process(box)
            deadline = time.monotonic() + 120
            time.sleep(rng.uniform(0.0, 0.5))
            while _progress(box) < target and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            clean = run_sync(box.config)
            assert clean.state == "done", clean.message
            run_sync(box.config)
            assert assert_converged(box) == 530, f"attempt {attempt} (killed after {target} writes)"
            # A kill may repeat the one e-mail in flight, under the same Message-ID.
            mails = shop_of(box).mails()
            assert {m["to"][0] for m in mails} == {c["email"] for c in counter}
            assert len({m["message_id"] for m in mails}) == 30 and len(mails) <= 31
