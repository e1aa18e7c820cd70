"""The mirror against WooCommerce and Shoptet: each platform's simulator over loopback HTTP,
POHODA's simulator, the real store, `run_sync`; the same behaviour asked of both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.actions import run_sync
from connector.codec import woocommerce as woo_codec
from connector.model import Contact
from connector.sim.sandbox import Sandbox
from connector.store import Store

PLATFORMS = ["woocommerce", "shoptet"]


@pytest.fixture(params=PLATFORMS)
def box(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "box", platform=request.param) as sandbox:
        yield sandbox


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in rows}


def shop_writes(box: Sandbox) -> int:
    """Writes the platform's simulator applied (creates, updates, deletes), counted by it."""
    return int(box.eshop_stats().get("writes", 0))


def test_a_registration_reaches_pohoda_with_its_ext_id(box: Sandbox) -> None:
    eshop_id = box.register(
        {"name": "Jana Dvořáková", "email": "jana@example.cz", "street": "Dlouhá 12", "city": "Brno", "country": "CZ"}
    )
    assert run_sync(box.config).state == "done"
    [contact] = box.pohoda_contacts()
    assert contact["ext_id"] == eshop_id
    assert (contact["name"], contact["street"], contact["city"]) == ("Jana Dvořáková", "Dlouhá 12", "Brno")
    store = Store.open(box.config.store_url)
    try:
        [link] = store.links_of(eshop_ids=[eshop_id], pohoda_ids=[])
        assert (link.pohoda_id, link.state) == (contact["id"], "linked")
    finally:
        store.close()
    if box.platform == "woocommerce":  # WooCommerce keeps POHODA's id in meta_data
        assert by_id(box.eshop_contacts())[eshop_id]["hq_id"] == contact["id"]


def test_a_counter_contact_becomes_an_account_with_one_welcome_email_sent_by_the_platform(box: Sandbox) -> None:
    pohoda_id = box.add_at_counter(
        {"name": "Peter Horváth", "email": "peter@example.sk", "city": "Košice", "note": "VIP", "mobile": "+421905111"}
    )
    box.add_at_counter({"name": "Bez E-mailu", "city": "Nitra"})  # no login: stays in POHODA only
    run_sync(box.config)
    run_sync(box.config)
    [customer] = box.eshop_contacts()
    assert customer["email"] == "peter@example.sk"
    # The platform's own e-mail, once: WooCommerce's "new account", Shoptet's registration.
    assert [n["customer_id"] for n in box.notifications()] == [customer["id"]]
    assert by_id(box.pohoda_contacts())[pohoda_id]["ext_id"] == customer["id"]
    # What the platform cannot hold stays in POHODA, untouched by the sync.
    pohoda = by_id(box.pohoda_contacts())[pohoda_id]
    assert pohoda["mobile"] == "+421905111"
    if box.platform == "woocommerce":
        assert pohoda["note"] == "VIP"
        assert customer["hq_id"] == pohoda_id and customer["sync_state"] == "synced"
    else:
        assert customer["note"] == "VIP"  # Shoptet's remark


@pytest.mark.parametrize(
    ("existing", "registration", "reason"),
    [
        (
            {"name": "Marta Kovács", "email": "Marta.Kovacs@Example.HU"},
            {"name": "Marta K.", "email": "marta.kovacs@example.hu"},
            "same e-mail",
        ),
        (
            {"company": "Stavby Novák s.r.o.", "ico": "25596641", "email": "info@stavby.cz"},
            {"company": "STAVBY NOVÁK", "ico": "25596641", "email": "objednavky@stavby.cz"},
            "same ICO",
        ),
        (
            {"name": "Józef Nowak", "phone": "+420 603 123 456", "email": "jozef@example.pl"},
            {"name": "Jozef Novak", "phone": "603123456", "email": "j.novak@example.cz"},
            "same phone",
        ),
    ],
    ids=["email-case", "ico", "phone"],
)
def test_a_duplicate_registration_is_linked_not_copied(
    box: Sandbox, existing: dict[str, str], registration: dict[str, str], reason: str
) -> None:
    pohoda_id = box.add_at_counter({**existing, "city": "Praha"})
    eshop_id = box.register({**registration, "city": "Praha"})
    run_sync(box.config)
    run_sync(box.config)
    assert len(box.pohoda_contacts()) == 1
    assert len(box.eshop_contacts()) == 1
    # Only the shopper's own registration e-mail: linked, not auto-registered.
    assert [n["customer_id"] for n in box.notifications()] == [eshop_id]
    assert by_id(box.pohoda_contacts())[pohoda_id]["ext_id"] == eshop_id
    store = Store.open(box.config.store_url)
    try:
        [link_audit] = store.audit_entries(operation="match")
        assert reason in (link_audit.note or "")
    finally:
        store.close()


def test_woocommerce_company_ids_travel_in_the_configured_meta_keys(tmp_path: Path) -> None:
    settings = {"CONNECTOR_ESHOP_WOOCOMMERCE_ICO_KEY": "ic", "CONNECTOR_ESHOP_WOOCOMMERCE_DIC_KEY": "dic"}
    with Sandbox(tmp_path / "box", platform="woocommerce", settings=settings) as box:
        pohoda_id = box.add_at_counter({"company": "Stavby Novák s.r.o.", "ico": "25596641", "city": "Praha"})
        sim = box.shop.sim  # type: ignore[attr-defined]
        body = woo_codec.encode_customer(Contact(company="STAVBY NOVÁK", email="obj@stavby.cz", city="Praha"))
        body["meta_data"] = [{"key": "ic", "value": "25596641"}, {"key": "dic", "value": "CZ25596641"}]
        eshop_id = str(sim.register(body))
        run_sync(box.config)
        [contact] = box.pohoda_contacts()
        assert (contact["id"], contact["ext_id"]) == (pohoda_id, eshop_id)
        assert contact["dic"] == "CZ25596641"  # the shop's DIČ reached POHODA
        meta = {m["key"]: m["value"] for m in sim.customer(int(eshop_id))["meta_data"]}
        assert meta["ic"] == "25596641" and meta["pohoda_id"] == pohoda_id


def test_edits_go_both_ways(box: Sandbox) -> None:
    eshop_id = box.register({"name": "Eva Malá", "email": "eva@example.cz", "phone": "+420 601 000 001"})
    run_sync(box.config)
    pohoda_id = box.pohoda_contacts()[0]["id"]
    box.edit_on_eshop(eshop_id, phone="+420 601 999 999", street="Nová 5", city="Brno")
    run_sync(box.config)
    pohoda = by_id(box.pohoda_contacts())[pohoda_id]
    assert (pohoda["phone"], pohoda["street"], pohoda["city"]) == ("+420 601 999 999", "Nová 5", "Brno")
    box.edit_in_pohoda(pohoda_id, city="Olomouc", zip="779 00", email="eva.mala@example.cz")
    run_sync(box.config)
    customer = by_id(box.eshop_contacts())[eshop_id]
    assert (customer["city"], customer["zip"], customer["email"]) == ("Olomouc", "779 00", "eva.mala@example.cz")
    assert customer["phone"] == "+420 601 999 999"


def test_a_second_and_a_third_run_write_nothing_to_the_shop(box: Sandbox) -> None:
    for n in range(30):
        box.register({"name": f"Zákazník Číslo{n}", "email": f"z{n}@example.cz", "street": f"Hlavní {n}"})
    for n in range(20):
        box.add_at_counter(
            {"name": f"Pultový Zákazník{n}", "email": f"p{n}@example.cz", "note": "z pultu", "mobile": "+420777000111"}
        )
    run_sync(box.config)
    after_first = shop_writes(box)
    assert after_first > 0
    for _run in range(2):
        summary = run_sync(box.config)
        assert summary.state == "done"
        assert summary.planned == {} and summary.delivered == {}
        assert shop_writes(box) == after_first  # counted at the simulator
    assert len(box.eshop_contacts()) == 50 and len(box.pohoda_contacts()) == 50


def test_a_deletion_on_the_shop_is_seen_and_kept_in_pohoda(box: Sandbox) -> None:
    eshop_id = box.register({"name": "Karel Odešel", "email": "karel@example.cz"})
    run_sync(box.config)
    box.delete_on_eshop(eshop_id)
    run_sync(box.config)
    store = Store.open(box.config.store_url)
    try:
        [link] = store.links_of(eshop_ids=[eshop_id], pohoda_ids=[])
        assert link.state == "deleted_eshop"
    finally:
        store.close()
    assert len(box.pohoda_contacts()) == 1


def test_a_record_the_platform_refuses_stops_nothing_else_and_is_told_without_personal_data(box: Sandbox) -> None:
    field = "email" if box.platform == "woocommerce" else "account.email"
    box.eshop_faults(item_error=[{"field": field, "equals": "odmitnuta@example.cz", "note": "refused by the shop"}])
    refused = box.add_at_counter({"name": "Odmítnutá Zákaznice", "email": "odmitnuta@example.cz"})
    box.add_at_counter({"name": "Přijatá Zákaznice", "email": "prijata@example.cz"})
    summary = run_sync(box.config)
    assert summary.refused == 1
    assert [row["email"] for row in box.eshop_contacts()] == ["prijata@example.cz"]
    store = Store.open(box.config.store_url)
    try:
        [entry] = store.audit_entries(result="refused")
        assert entry.pohoda_id == refused
        assert "odmitnuta" not in (entry.note or "") and "Odmítnutá" not in (entry.note or "")
    finally:
        store.close()
