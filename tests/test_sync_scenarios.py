"""The mirror end to end: both simulators over loopback HTTP, the real store, `run_sync`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.actions import run_sync
from connector.model import CONTACT_FIELDS, Contact
from connector.sim.sandbox import Sandbox
from connector.store import Store

# Every case runs on SQLite and on PostgreSQL (skipped without a server).
pytestmark = pytest.mark.usefixtures("store_backend")

MAPPED = [f for f in CONTACT_FIELDS if f not in ("id", "ext_id")]


@pytest.fixture
def sandbox(tmp_path: Path, sim_schema_dir: Path | None) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "sandbox", schema_dir=sim_schema_dir) as box:
        yield box


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in rows}


def mapped(row: dict[str, Any]) -> dict[str, Any]:
    return {f: row[f] for f in MAPPED}


def writes(box: Sandbox) -> tuple[int, int]:
    """(import items POHODA received, write batches the e-shop received) so far."""
    pohoda, eshop = box.pohoda_stats(), box.eshop_stats()
    return pohoda["imports"], eshop["requests"].get("POST /batch", 0)


def test_registration_becomes_a_pohoda_contact_and_the_id_comes_back(sandbox: Sandbox) -> None:
    eshop_id = sandbox.register({"name": "Jana Dvořáková", "email": "jana@example.cz", "city": "Brno"})
    summary = run_sync(sandbox.config)
    assert summary.state == "done"
    [contact] = sandbox.pohoda_contacts()
    assert contact["ext_id"] == eshop_id
    assert contact["name"] == "Jana Dvořáková"
    customer = by_id(sandbox.eshop_contacts())[eshop_id]
    assert customer["hq_id"] == contact["id"]
    assert customer["sync_state"] == "synced"


def test_counter_contact_becomes_an_account_with_one_welcome_email(sandbox: Sandbox) -> None:
    pohoda_id = sandbox.add_at_counter({"name": "Peter Horváth", "email": "peter@example.sk", "city": "Košice"})
    sandbox.add_at_counter({"name": "Bez E-mailu", "city": "Nitra"})  # no login: stays in POHODA only
    run_sync(sandbox.config)
    run_sync(sandbox.config)
    [customer] = sandbox.eshop_contacts()
    assert customer["email"] == "peter@example.sk"
    assert customer["hq_id"] == pohoda_id and customer["sync_state"] == "synced"
    assert [n["customer_id"] for n in sandbox.notifications()] == [customer["id"]]
    # POHODA now knows the e-shop's id too.
    assert by_id(sandbox.pohoda_contacts())[pohoda_id]["ext_id"] == customer["id"]


def test_edits_on_either_side_reach_the_other(sandbox: Sandbox) -> None:
    eshop_id = sandbox.register({"name": "Eva Malá", "email": "eva@example.cz", "phone": "+420 601 000 001"})
    run_sync(sandbox.config)
    pohoda_id = sandbox.pohoda_contacts()[0]["id"]
    sandbox.edit_on_eshop(eshop_id, phone="+420 601 999 999", street="Nová 5")
    run_sync(sandbox.config)
    assert by_id(sandbox.pohoda_contacts())[pohoda_id]["phone"] == "+420 601 999 999"
    assert by_id(sandbox.pohoda_contacts())[pohoda_id]["street"] == "Nová 5"
    sandbox.edit_in_pohoda(pohoda_id, city="Olomouc", note="VIP zákazník")
    run_sync(sandbox.config)
    customer = by_id(sandbox.eshop_contacts())[eshop_id]
    assert customer["city"] == "Olomouc" and customer["note"] == "VIP zákazník"


def test_edits_on_both_sides_merge_per_policy_with_a_conflict_row(sandbox: Sandbox) -> None:
    eshop_id = sandbox.register({"name": "Ivan Černý", "email": "ivan@example.cz", "city": "Praha", "zip": "110 00"})
    run_sync(sandbox.config)
    pohoda_id = sandbox.pohoda_contacts()[0]["id"]
    # Both change the e-mail (the e-shop wins contact data) and the city (POHODA wins the
    # billing address); each side also changes a field the other leaves alone.
    sandbox.edit_on_eshop(eshop_id, email="ivan.novy@example.cz", city="Brno", phone="+420 777 111 222")
    sandbox.edit_in_pohoda(pohoda_id, email="ivan@firma.cz", city="Plzeň", zip="301 00")
    summary = run_sync(sandbox.config)
    assert summary.conflicts == 2
    expected = {"email": "ivan.novy@example.cz", "city": "Plzeň", "phone": "+420 777 111 222", "zip": "301 00"}
    for row in (by_id(sandbox.pohoda_contacts())[pohoda_id], by_id(sandbox.eshop_contacts())[eshop_id]):
        assert {k: row[k] for k in expected} == expected
    store = Store.open(sandbox.config.store_url)
    conflicts = store.audit_entries(result="conflict")
    assert sorted((c.detail or {})["field"] for c in conflicts) == ["city", "email"]
    assert {(c.detail or {})["winner"] for c in conflicts} == {"eshop", "pohoda"}


@pytest.mark.parametrize(
    ("existing", "registration", "reason"),
    [
        (
            {"name": "Marta Kovács", "email": "Marta.Kovacs@Example.HU"},
            {"name": "Marta K.", "email": "marta.kovacs@example.hu"},
            "same e-mail",
        ),
        (
            {"company": "Stavby Novák s.r.o.", "ico": "25596641"},
            {"company": "STAVBY NOVÁK", "ico": "25 596 641"},
            "same ICO",
        ),
        (
            {"name": "Józef Nowak", "phone": "+420 603 123 456"},
            {"name": "Jozef Novak", "phone": "603123456"},
            "same phone",
        ),
    ],
    ids=["email-case", "ico", "phone-format"],
)
def test_duplicate_registration_is_linked_not_created(
    sandbox: Sandbox, existing: dict[str, str], registration: dict[str, str], reason: str
) -> None:
    pohoda_id = sandbox.add_at_counter({**existing, "city": "Praha"})
    eshop_id = sandbox.register({**registration, "city": "Praha"})
    run_sync(sandbox.config)
    run_sync(sandbox.config)
    assert len(sandbox.pohoda_contacts()) == 1
    assert len(sandbox.eshop_contacts()) == 1
    assert sandbox.notifications() == []  # linked, not auto-registered: no welcome e-mail
    customer = by_id(sandbox.eshop_contacts())[eshop_id]
    assert customer["hq_id"] == pohoda_id
    assert by_id(sandbox.pohoda_contacts())[pohoda_id]["ext_id"] == eshop_id
    store = Store.open(sandbox.config.store_url)
    [link_audit] = store.audit_entries(operation="match")
    assert reason in (link_audit.note or "")


def test_second_run_with_no_changes_sends_no_write(sandbox: Sandbox) -> None:
    for n in range(30):
        sandbox.register({"name": f"Zákazník {n}", "email": f"z{n}@example.cz"})
    for n in range(20):
        sandbox.add_at_counter({"name": f"Pultový {n}", "email": f"p{n}@example.cz"})
    run_sync(sandbox.config)
    first = writes(sandbox)
    assert first[0] > 0 and first[1] > 0
    summary = run_sync(sandbox.config)
    assert summary.planned == {} and summary.delivered == {}
    assert writes(sandbox) == first
    run_sync(sandbox.config)
    assert writes(sandbox) == first


def test_overlapping_run_exits_saying_another_run_is_active(sandbox: Sandbox) -> None:
    store = Store.open(sandbox.config.store_url)
    store.acquire_lock("sync", "someone-else")
    summary = run_sync(sandbox.config)
    assert summary.state == "skipped"
    assert "another run is active" in summary.message
    store.release_lock("sync", "someone-else")
    assert run_sync(sandbox.config).state == "done"


def test_deleted_on_eshop_is_kept_in_pohoda_and_the_link_marked(sandbox: Sandbox) -> None:
    import httpx

    eshop_id = sandbox.register({"name": "Odcházející", "email": "bye@example.cz"})
    run_sync(sandbox.config)
    httpx.delete(f"{sandbox.eshop_server.url}/_sim/customers/{eshop_id}").raise_for_status()
    run_sync(sandbox.config)
    assert len(sandbox.pohoda_contacts()) == 1
    store = Store.open(sandbox.config.store_url)
    link = store.find_link(eshop_id=eshop_id)
    assert link is not None and link.state == "deleted_eshop"
    assert store.audit_entries(operation="delete")[0].note is not None


def test_unsure_duplicate_goes_to_review_and_a_decision_applies(sandbox: Sandbox) -> None:
    pohoda_id = sandbox.add_at_counter({"name": "Ladislav Szabó", "zip": "040 01", "street": "Hlavná 12"})
    run_sync(sandbox.config)
    eshop_id = sandbox.register({"name": "Ladislav Szabo", "zip": "04001", "street": "Mlynská 3", "email": "l@x.sk"})
    run_sync(sandbox.config)
    store = Store.open(sandbox.config.store_url)
    [review] = store.reviews()
    assert (review.record_id, review.candidate_id) == (eshop_id, pohoda_id)
    assert len(sandbox.pohoda_contacts()) == 1  # nothing created while a person decides
    with store.transaction() as conn:
        Store.decide_review(conn, review.id, "accepted")
    run_sync(sandbox.config)
    assert len(sandbox.pohoda_contacts()) == 1
    assert by_id(sandbox.eshop_contacts())[eshop_id]["hq_id"] == pohoda_id


def test_content_roundtrip_keeps_every_mapped_field(sandbox: Sandbox) -> None:
    rich = Contact.from_dict(
        {
            "company": "Wiśniewski Nábytek sp. z o.o.",
            "name": "Łukasz Wiśniewski",
            "email": "lw@example.pl",
            "phone": "+48 601 222 333",
            "mobile": "+48 700 111 222",
            "street": "Świętokrzyska 7",
            "city": "Kraków",
            "zip": "30-001",
            "country": "PL",
            "ico": "12345679",
            "dic": "PL1234567890",
            "groups": ["B2B", "VIP"],
            "note": "Dodávka „do 12:00“",
            "birth_date": "1975-05-04",
            "ship_to": [
                {
                    "name": "Sklad",
                    "street": "Długa 1",
                    "city": "Łódź",
                    "zip": "90-001",
                    "country": "PL",
                    "default": True,
                },
                {"name": "Pobočka", "city": "Gdańsk"},
            ],
            "gdpr": [{"purpose": "Marketing", "date_from": "2024-03-01"}],
        }
    )
    eshop_id = sandbox.register({k: v for k, v in rich.to_dict().items() if k not in ("id", "ext_id")})
    run_sync(sandbox.config)
    [contact] = sandbox.pohoda_contacts()
    assert mapped(contact) == mapped(by_id(sandbox.eshop_contacts())[eshop_id])


def test_account_registered_between_pull_and_delivery_is_linked_not_copied(sandbox: Sandbox) -> None:
    from connector.runtime import Runtime

    pohoda_id = sandbox.add_at_counter({"name": "Zdeňka Říhová", "email": "zdenka@example.cz"})
    with Runtime(sandbox.config) as runtime:
        run = runtime.sync_run()
        run._full()  # pulls and plans the auto-registration, delivers nothing yet
        eshop_id = sandbox.register({"name": "Zdeňka Říhová", "email": "ZDENKA@example.cz"})
        run.deliver()  # the e-shop refuses the e-mail as taken: link to that account instead
    run_sync(sandbox.config)
    assert len(sandbox.eshop_contacts()) == 1
    assert sandbox.notifications() == []
    assert by_id(sandbox.eshop_contacts())[eshop_id]["hq_id"] == pohoda_id
    assert by_id(sandbox.pohoda_contacts())[pohoda_id]["ext_id"] == eshop_id


def test_expired_eshop_cursor_rereads_the_feed_and_writes_nothing_new(sandbox: Sandbox) -> None:
    import httpx

    for n in range(5):
        sandbox.register({"name": f"Stálý {n}", "email": f"s{n}@example.cz"})
    run_sync(sandbox.config)
    before = writes(sandbox)
    sandbox.register({"name": "Nový po vymazání", "email": "novy@example.cz"})
    httpx.post(f"{sandbox.eshop_server.url}/_sim/forget-history").raise_for_status()
    summary = run_sync(sandbox.config)
    assert summary.state == "done"
    assert summary.pulled_eshop == 6  # the whole feed, read again from its start
    assert summary.delivered == {"pohoda.create": 1, "eshop.link": 1}  # only the new customer
    assert len(sandbox.pohoda_contacts()) == 6
    assert writes(sandbox)[0] == before[0] + 1


def test_targeted_run_plans_from_its_own_customers_rows(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """A webhook batch reads its customers' links and mirror rows, not the whole store."""
    import connector.sync._run as run_module
    from connector.runtime import Runtime

    for n in range(40):
        sandbox.register({"name": f"Stálý zákazník {n}", "email": f"stary{n}@example.cz"})
    sandbox.add_at_counter({"name": "Bez účtu", "city": "Jihlava"})  # unlinked: no e-mail
    run_sync(sandbox.config)
    run_sync(sandbox.config)
    edited = by_id(sandbox.eshop_contacts())
    some_id = sorted(edited)[0]
    sandbox.edit_on_eshop(some_id, city="Tábor")
    new_id = sandbox.register({"name": "Nová Registrace", "email": "nova@example.cz"})

    seen: list[Any] = []
    real_plan = run_module.plan_operations

    def spy(eshop: Any, pohoda: Any, state: Any, settings: Any) -> Any:
        seen.append(state)
        return real_plan(eshop, pohoda, state, settings)

    monkeypatch.setattr(run_module, "plan_operations", spy)
    with Runtime(sandbox.config) as runtime:
        summary = runtime.sync_run(kind="webhook").run_targeted([some_id, new_id])
    [state] = seen
    assert len(state.links) == 1 and len(state.bases) == 1  # only the edited customer's link
    assert set(state.mirror_eshop) == {some_id}  # the new one has no mirror row yet
    # The edited customer's contact, and the POHODA contacts sharing a blocking key with the
    # new registration (the stored dedup index): none here, not even the unlinked counter one.
    assert set(state.mirror_pohoda) == {state.links[0].pohoda_id}
    assert state.pohoda_statistics is not None and state.pohoda_statistics.population == 41
    assert summary.delivered == {"pohoda.update": 1, "pohoda.create": 1, "eshop.link": 1}
    contacts = {c["ext_id"]: c for c in sandbox.pohoda_contacts()}
    assert contacts[some_id]["city"] == "Tábor" and new_id in contacts
