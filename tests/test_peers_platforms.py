"""The WooCommerce and Shoptet adapters' own quirks, over loopback HTTP to their simulators:
WooCommerce's scan cursor and batch limit, Shoptet's rate limit, write lock and 30-day log,
and a create whose e-mail is taken meanwhile (both)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.actions import run_sync
from connector.peers.woocommerce import decode_cursor, encode_cursor
from connector.runtime import Runtime
from connector.sim.sandbox import Sandbox


@pytest.fixture
def woo(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "woo", platform="woocommerce") as box:
        yield box


@pytest.fixture
def shoptet(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "shoptet", platform="shoptet") as box:
        yield box


def test_the_scan_cursor_is_compact_and_reads_back() -> None:
    seen = {n * 3 + 1: 1_764_000_000 + n for n in range(10_000)}
    cursor = encode_cursor(seen)
    assert decode_cursor(cursor) == seen
    assert len(cursor) < 40_000  # 10,000 customers in a few tens of kilobytes
    assert decode_cursor(None) is None and decode_cursor("wc1:not-base64!") is None


def test_woocommerce_pull_fetches_only_what_changed_since_the_last_scan(woo: Sandbox) -> None:
    ids = [woo.register({"name": f"Zákazník Scan{n}", "email": f"s{n}@example.cz"}) for n in range(150)]
    run_sync(woo.config)
    run_sync(woo.config)  # reads back the first run's own writes (POHODA's ids): echoes
    with Runtime(woo.config, parts=("store", "shop")) as runtime:
        shop = runtime.shop
        cursor = runtime.store.cursor("eshop")
        seen = decode_cursor(cursor)
        assert seen is not None and {str(i) for i in seen} == set(ids)
        unsure = {str(cid) for cid, stamp in seen.items() if stamp == -1}  # seen in the scan's last seconds
        woo.edit_on_eshop(ids[7], city="Opava")
        woo.delete_on_eshop(ids[8])
        batches = list(shop.changes(cursor))
        records = [r for b in batches for r in b.records]
        changed = {r.record_id for r in records if r.contact is not None}
        assert ids[7] in changed and changed <= {ids[7]} | unsure
        assert [r.record_id for r in records if r.contact is None] == [ids[8]]  # gone from the scan
        assert shop.requests.scan == 2  # 149 customers, 100 a page (per_page=100, X-WP-TotalPages)
        assert shop.requests.fetch == (1 if changed else 0) * ((len(changed) + 99) // 100)
        assert batches[-1].cursor is not None


def test_woocommerce_writes_go_in_batches_of_at_most_100(woo: Sandbox) -> None:
    for n in range(230):
        woo.add_at_counter({"name": f"Pultový Dávka{n}", "email": f"d{n}@example.cz"})
    run_sync(woo.config)
    stats = woo.eshop_stats()
    assert stats["creates"] == 230
    assert stats["batch_items"] <= stats["batches"] * 100
    assert stats["batches"] >= 3
    assert len(woo.notifications()) == 230


@pytest.mark.parametrize("platform", ["woocommerce", "shoptet"])
def test_an_account_registered_between_pull_and_delivery_is_linked_not_copied(tmp_path: Path, platform: str) -> None:
    with Sandbox(tmp_path / "box", platform=platform) as box:
        pohoda_id = box.add_at_counter({"name": "Zdeňka Říhová", "email": "zdenka@example.cz"})
        with Runtime(box.config) as runtime:
            run = runtime.sync_run()
            run._full()  # pulls and plans the auto-registration, delivers nothing yet
            eshop_id = box.register({"name": "Zdeňka Říhová", "email": "ZDENKA@example.cz"})
            run.deliver()  # the e-mail is taken: the create becomes a link to that account
        run_sync(box.config)
        [customer] = box.eshop_contacts()
        assert customer["id"] == eshop_id
        assert {row["id"]: row for row in box.pohoda_contacts()}[pohoda_id]["ext_id"] == eshop_id
        # Only the shopper's own registration e-mail: the connector's create did not happen.
        assert [n["customer_id"] for n in box.notifications()] == [eshop_id]


def test_shoptet_429_is_waited_out(shoptet: Sandbox) -> None:
    ids = [shoptet.register({"name": f"Zákazník Limit{n}", "email": f"l{n}@example.cz"}) for n in range(12)]
    # The shop takes one connection at a time for now: the adapter's three in flight hit 429.
    shoptet.eshop_faults(concurrency_limit=1, delay_ms=50)
    assert run_sync(shoptet.config).state == "done"
    assert sorted(row["ext_id"] for row in shoptet.pohoda_contacts()) == sorted(ids)
    assert shoptet.eshop_stats().get("refused_429", 0) > 0


def test_shoptet_423_is_sent_again_and_creates_once(shoptet: Sandbox) -> None:
    shoptet.add_at_counter({"name": "Zamčený Zákazník", "email": "zamceny@example.cz"})
    shoptet.eshop_faults(lock_next=2)  # the next two writes meet the lock of a write in progress
    summary = run_sync(shoptet.config)
    assert summary.state == "done" and summary.refused == 0
    assert len(shoptet.eshop_contacts()) == 1
    assert len(shoptet.notifications()) == 1
    assert shoptet.eshop_stats()["refused_423"] == 2


def test_shoptet_cursor_older_than_the_log_reads_the_full_list(shoptet: Sandbox) -> None:
    first = shoptet.register({"name": "Stará Zákaznice", "email": "stara@example.cz"})
    run_sync(shoptet.config)
    assert run_sync(shoptet.config).delivered == {}
    shoptet.shop.sim.advance_clock(days=31)  # type: ignore[attr-defined]
    second = shoptet.register({"name": "Nová Zákaznice", "email": "nova@example.cz"})
    before = shoptet.eshop_stats()["requests"].get("GET /api/customers", 0)
    summary = run_sync(shoptet.config)
    assert summary.state == "done"
    assert shoptet.eshop_stats()["requests"].get("GET /api/customers", 0) > before  # the full list
    assert sorted(row["ext_id"] for row in shoptet.pohoda_contacts()) == sorted([first, second])
    assert run_sync(shoptet.config).delivered == {}


@pytest.mark.parametrize("path", ["cron", "webhook"])
def test_shoptet_own_creation_whose_answer_was_lost_is_claimed_not_copied(shoptet: Sandbox, path: str) -> None:
    """Shoptet cannot carry POHODA's id: the auto-registration created on Shoptet, its answer
    lost in a crash, is recognised by the link that waits for it (by e-mail), in a full run
    and in a webhook's targeted run alike."""
    import httpx

    from connector.codec import shoptet as codec
    from connector.model import Contact

    pohoda_id = shoptet.add_at_counter({"name": "Ztracená Odpověď", "email": "ztracena@example.cz"})
    with Runtime(shoptet.config) as runtime:
        runtime.sync_run()._full()  # planned and persisted, nothing delivered: then the "crash"
    # What the lost create did on Shoptet: the account, and Shoptet's registration e-mail.
    body = codec.encode_create(Contact(name="Ztracená Odpověď", email="ztracena@example.cz"))
    answer = httpx.post(
        f"{shoptet.eshop_server.url}/api/customers",
        params={"sendRegistrationEmail": "true"},
        json=body,
        headers={"Shoptet-Private-API-Token": shoptet.env["CONNECTOR_ESHOP_TOKEN"]},
    )
    guid = answer.json()["data"]["customer"]["guid"]
    if path == "webhook":
        with Runtime(shoptet.config) as runtime:
            assert runtime.sync_run().run_targeted([guid]).state == "done"
    run_sync(shoptet.config)
    run_sync(shoptet.config)
    [contact] = shoptet.pohoda_contacts()
    assert (contact["id"], contact["ext_id"]) == (pohoda_id, guid)
    assert [row["id"] for row in shoptet.eshop_contacts()] == [guid]
    assert [n["customer_id"] for n in shoptet.notifications()] == [guid]


def test_shoptet_change_log_read_while_it_moves_skips_no_customer(shoptet: Sandbox) -> None:
    """Each customer's last change only: a customer changing again while the log is paged
    moves to its end and pulls the later entries one place forward. The adapter reads the
    pages last to first, so it can read one twice but never skip one."""
    import httpx

    from connector.config import load_config
    from connector.peers.shoptet import ShoptetShop

    sim = shoptet.shop.sim  # type: ignore[attr-defined]
    guids = [shoptet.register({"name": f"Zákazník Posun{n}", "email": f"posun{n}@example.cz"}) for n in range(45)]
    run_sync(shoptet.config)
    with Runtime(shoptet.config, parts=("store",)) as runtime:
        cursor = runtime.store.cursor("eshop")
    sim.advance_clock(seconds=5)
    for guid in guids:  # 45 changes after the cursor: three pages of 20
        shoptet.edit_on_eshop(guid, city="Brno")
    moved = iter(guids)

    class ChangesWhilePaging(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            # One change per page read: a page answered 429 (the shop's three connections per
            # token, our own edit still counted) is sent again, and is not a read.
            if request.url.path == "/api/customers/changes" and response.status_code == 200:
                sim.advance_clock(seconds=2)
                shoptet.edit_on_eshop(next(moved), city="Zlín")  # the log's oldest entry moves to its end
            return response

    config = load_config(None, env=shoptet.env)
    shop = ShoptetShop.from_config(config, transport=ChangesWhilePaging())
    try:
        batches = list(shop.changes(cursor))
    finally:
        shop.close()
    assert shop.requests.changes == 4  # page 1 for the count, then 3, 2, 1
    read = {r.record_id for batch in batches for r in batch.records}
    moved_during = set(guids[:4])  # one customer changed again after each of the 4 page reads
    # Every customer that did not change again while the log was paged is read in this pass.
    assert set(guids) - moved_during <= read
    # One that changed again meanwhile may have moved behind the pages already read (the log's
    # ties at one second are ordered by guid, so where it stood depends on the clock): its
    # new entry is later than the cursor this pass handed back, so the next pull reads it.
    next_cursor = batches[-1].cursor
    assert next_cursor is not None
    again = ShoptetShop.from_config(config)
    try:
        reread = {r.record_id for batch in again.changes(next_cursor) for r in batch.records}
    finally:
        again.close()
    assert set(guids) - read <= reread
    assert read | reread == set(guids)
