"""The event worker over real HTTP: webhook → targeted run → POHODA, with the simulators;
POHODA down (the async path, fast after the first failure), the e-shop down (events wait,
attempts unspent), a triggered full run, and cron's `connector sync` at the same time."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.actions import run_sync
from connector.config import load_config
from connector.sim._server import RunningServer
from connector.sim.generate import generate_contacts
from connector.sim.sandbox import Sandbox
from connector.store import Store
from connector.web import HEADER, WebSettings, create_app, sign

# Every case runs on SQLite and on PostgreSQL (skipped without a server).
pytestmark = pytest.mark.usefixtures("store_backend")

SECRET = "whsec-test-0123456789"
ADMIN = "admin-test-0123456789"


class Served:
    """The simulators, and the webhook app on its own port with its worker running."""

    def __init__(self, directory: Path) -> None:
        self.box = Sandbox(directory)
        env = {**self.box.env, "CONNECTOR_WEBHOOK_SECRETS": SECRET, "CONNECTOR_ADMIN_TOKEN": ADMIN}
        self.config = load_config(None, env=env)
        self.server = RunningServer(create_app(self.config, WebSettings(poll_s=0.2))).start()
        self.http = httpx.Client(base_url=self.server.url, timeout=30)
        self.numbers = iter(range(1, 1_000_000))

    def close(self) -> None:
        self.http.close()
        self.server.stop(30)
        self.box.close()

    def register(self, number: int) -> str:
        (contact,) = generate_contacts(1, seed=number, rich=False, start=number)
        return self.box.register(contact.to_dict())

    def send(self, customer_id: str, kind: str = "customer.created", event_id: str | None = None) -> int:
        body = json.dumps(
            {"event_id": event_id or f"evt-{next(self.numbers)}", "type": kind, "customer_id": customer_id}
        ).encode()
        headers = {"content-type": "application/json", HEADER: sign(SECRET, body)}
        return self.http.post("/webhooks/eshop", content=body, headers=headers).status_code

    def events(self) -> dict[str, int]:
        store = Store.open(self.config.store_url)
        try:
            return store.event_counts()
        finally:
            store.close()

    def stored_events(self) -> list[Any]:
        store = Store.open(self.config.store_url)
        try:
            return store.events_to_process(limit=10_000, max_attempts=1_000)
        finally:
            store.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    setup = Served(tmp_path)
    try:
        yield setup
    finally:
        setup.close()


def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def by_ext_id(box: Sandbox) -> Counter[str]:
    return Counter(str(row["ext_id"]) for row in box.pohoda_contacts())


def test_a_registration_reaches_pohoda_within_a_second(served: Served) -> None:
    customer = served.register(1)
    sent = time.monotonic()
    assert served.send(customer) == 202
    wait_for(lambda: customer in by_ext_id(served.box))
    assert time.monotonic() - sent < 1.0
    wait_for(lambda: served.events() == {"processed": 1})
    (eshop,) = served.box.eshop_contacts()
    assert eshop["sync_state"] == "synced" and eshop["hq_id"] is not None
    metrics = served.http.get("/metrics").text
    assert "connector_event_to_pohoda_seconds_count 1.0" in metrics
    assert 'connector_webhook_events_processed_total{result="processed"} 1.0' in metrics
    assert 'connector_operations_total{kind="pohoda.create",result="delivered"} 1.0' in metrics
    ready = served.http.get("/readyz").json()
    assert ready["pohoda"]["ok"] is True and ready["eshop"]["ok"] is True


def test_events_arriving_together_are_synced_in_few_runs(served: Served) -> None:
    customers = [served.register(n) for n in range(1, 41)]
    for customer in customers:
        assert served.send(customer) == 202
    wait_for(lambda: served.events() == {"processed": 40})
    assert sorted(by_ext_id(served.box)) == sorted(customers)
    assert set(by_ext_id(served.box).values()) == {1}
    # Fewer dataPacks than events: micro-batches, not one POHODA round trip each.
    assert served.box.pohoda_stats()["requests"].get("POST /xml", 0) < 40


def test_an_edit_and_a_replay(served: Served) -> None:
    customer = served.register(1)
    assert served.send(customer, event_id="evt-a") == 202
    wait_for(lambda: served.events() == {"processed": 1})
    served.box.edit_on_eshop(customer, city="Brno")
    assert served.send(customer, "customer.updated", event_id="evt-b") == 202
    assert served.send(customer, "customer.updated", event_id="evt-b") == 200
    wait_for(lambda: [row["city"] for row in served.box.pohoda_contacts()] == ["Brno"])
    wait_for(lambda: served.events() == {"processed": 2})
    assert by_ext_id(served.box) == {customer: 1}


def test_pohoda_down_takes_the_async_path_and_then_fails_fast(served: Served) -> None:
    served.box.pohoda_faults(down=True)
    first = served.register(1)
    assert served.send(first) == 202
    wait_for(lambda: served.events() == {"processed": 1})
    assert served.box.eshop_contacts()[0]["sync_state"] == "pending_sync"
    # The breaker is open: the next registration does not wait out POHODA's retries.
    second = served.register(2)
    sent = time.monotonic()
    assert served.send(second) == 202
    wait_for(lambda: served.events() == {"processed": 2})
    assert time.monotonic() - sent < 1.0
    assert {row["sync_state"] for row in served.box.eshop_contacts()} == {"pending_sync"}
    assert served.http.get("/readyz").json()["pohoda"]["ok"] is False
    assert served.box.pohoda_contacts() == []
    # POHODA back: the next cron run converts both, once each.
    served.box.pohoda_faults(down=False)
    assert run_sync(served.config).state == "done"
    assert by_ext_id(served.box) == {first: 1, second: 1}


def test_eshop_down_leaves_events_waiting_without_spending_attempts(served: Served) -> None:
    customer = served.register(1)
    served.box.eshop_faults(down=True)
    assert served.send(customer) == 202
    time.sleep(3.0)  # the e-shop client's retries (2 s in the sandbox) run out at least once
    (waiting,) = served.stored_events()
    assert waiting.state == "received" and waiting.attempts == 0
    served.box.eshop_faults(down=False)
    wait_for(lambda: served.events() == {"processed": 1}, timeout_s=30)
    assert by_ext_id(served.box) == {customer: 1}


def test_trigger_runs_a_full_sync_under_the_given_run_id(served: Served) -> None:
    customer = served.register(1)  # no webhook: only a full run finds it
    answer = served.http.post("/trigger/sync", headers={"authorization": f"Bearer {ADMIN}"})
    assert answer.status_code == 202
    run_id = answer.json()["run_id"]

    def finished() -> bool:
        last = served.http.get("/status").json()["last_run"]
        return bool(last and last["id"] == run_id and last["state"] == "done")

    wait_for(finished)
    assert by_ext_id(served.box) == {customer: 1}


def test_cron_sync_running_during_the_load_doubles_nothing(served: Served) -> None:
    stop = threading.Event()
    cron_runs: list[str] = []

    def cron() -> None:
        while not stop.is_set():
            cron_runs.append(run_sync(served.config).state)

    worker = threading.Thread(target=cron)
    worker.start()
    try:
        customers = []
        for number in range(1, 121):
            customers.append(served.register(number))
            assert served.send(customers[-1]) == 202
            time.sleep(0.01)
        wait_for(lambda: served.events() == {"processed": 120}, timeout_s=60)
    finally:
        stop.set()
        worker.join(60)
    run_sync(served.config)
    assert "done" in cron_runs
    counts = by_ext_id(served.box)
    assert sorted(counts) == sorted(customers)
    assert set(counts.values()) == {1}
    assert len(served.box.eshop_contacts()) == 120  # nothing came back as a second account


def test_a_closed_account_is_processed_under_the_deletion_policy(served: Served) -> None:
    customer = served.register(1)
    assert served.send(customer) == 202
    wait_for(lambda: served.events() == {"processed": 1})
    httpx.delete(f"{served.box.eshop_server.url}/_sim/customers/{customer}", timeout=30).raise_for_status()
    assert served.send(customer, "customer.deleted") == 202
    wait_for(lambda: served.events() == {"processed": 2})
    # The default policy keeps the contact in POHODA (its invoices still point at it).
    assert by_ext_id(served.box) == {customer: 1}
