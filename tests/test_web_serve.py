"""`connector serve` as its own process: killed with SIGKILL in the middle of a load and
started again, every event answered 202 before the kill is synced after the restart, and
no customer twice; SIGTERM stops it cleanly; a missing secret is a configuration error."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from connector.sim._server import free_port
from connector.sim.generate import generate_contacts
from connector.sim.sandbox import Sandbox
from connector.store import Store
from connector.web import HEADER, sign

# Every case runs on SQLite and on PostgreSQL (skipped without a server).
pytestmark = pytest.mark.usefixtures("store_backend")

SECRET = "whsec-serve-0123456789"
# `connector serve` whether or not the command list imports it yet.
SERVE = "import connector.cli._serve; from connector.cli import main; main()"


def start_serve(box: Sandbox, port: int, log: Path, **env: str) -> subprocess.Popen[bytes]:
    environ = {**os.environ, **box.env, "CONNECTOR_WEBHOOK_SECRETS": SECRET, **env}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", SERVE, "serve", "--port", str(port)], env=environ, stdout=out, stderr=out
        )


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, f"connector serve exited with {process.returncode}"
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("connector serve did not become ready")


def send(url: str, event_id: str, customer_id: str) -> int | None:
    body = json.dumps({"event_id": event_id, "type": "customer.created", "customer_id": customer_id}).encode()
    headers = {"content-type": "application/json", HEADER: sign(SECRET, body)}
    try:
        return httpx.post(f"{url}/webhooks/eshop", content=body, headers=headers, timeout=5).status_code
    except httpx.TransportError:
        return None  # no answer: the e-shop keeps the event and sends it again


def event_counts(box: Sandbox) -> dict[str, int]:
    store = Store.open(box.config.store_url)
    try:
        return store.event_counts()
    finally:
        store.close()


@pytest.mark.slow
def test_sigkill_mid_load_loses_and_doubles_nothing(tmp_path: Path, store_backend: str) -> None:
    seed = 1
    rng = random.Random(seed)
    contacts = [c.to_dict() for c in generate_contacts(200, seed=seed, rich=False, start=seed * 1000)]
    with Sandbox(tmp_path) as box:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = tmp_path / "serve.log"
        # A killed process's claims on the outbox: on SQLite free at once (its pid is gone);
        # on PostgreSQL their lease decides (any host may hold them), so keep it short here.
        lease = {"CONNECTOR_STORE_LEASE_S": "3"}
        process = start_serve(box, port, log, **lease)
        wait_ready(url, process)
        answers: dict[str, tuple[str, int | None]] = {}  # event id → (customer, status)

        def load() -> None:
            # 50 registrations a second, each followed by its webhook, as the storefront does.
            for contact in contacts:
                customer = box.register(contact)
                event_id = f"reg-{customer}"
                answers[event_id] = (customer, send(url, event_id, customer))
                time.sleep(0.02)

        loader = threading.Thread(target=load)
        loader.start()
        # Kill once a random number of events were accepted: mid-batch, mid-run, or between.
        kill_after = rng.randint(20, 120)
        while sum(1 for _c, s in list(answers.values()) if s == 202) < kill_after:
            assert loader.is_alive()
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.1))
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        accepted_before_kill = {e for e, (_c, s) in list(answers.items()) if s == 202}
        loader.join(60)

        process = start_serve(box, port, log, **lease)
        try:
            wait_ready(url, process)
            # What got no answer is sent again (same event id), as the e-shop's retry queue would.
            for event_id, (customer, status) in list(answers.items()):
                if status not in (200, 202):
                    answers[event_id] = (customer, send(url, event_id, customer))
            assert all(s in (200, 202) for _c, s in answers.values())
            deadline = time.monotonic() + 60
            while event_counts(box) != {"processed": len(contacts)}:
                assert time.monotonic() < deadline, event_counts(box)
                time.sleep(0.1)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        # What the killed process had claimed and not sent waits for the next delivery (the
        # cron's next run); `deliver --until-empty` waits out the lease and sends it.
        deliver = subprocess.run(
            [sys.executable, "-m", "connector", "deliver", "--until-empty", "--max-s", "60", "--json"],
            env={**os.environ, **box.env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert deliver.returncode == 0, deliver.stderr
        assert json.loads(deliver.stdout.splitlines()[-1])["pending"] == 0

        by_ext_id = Counter(str(row["ext_id"]) for row in box.pohoda_contacts())
        registered = {customer for customer, _s in answers.values()}
        assert {answers[e][0] for e in accepted_before_kill} <= set(by_ext_id)
        assert set(by_ext_id) == registered
        assert set(by_ext_id.values()) == {1}, "a customer was created twice in POHODA"
        assert len(box.pohoda_contacts()) == len(contacts)
        eshop = box.eshop_contacts()
        assert len(eshop) == len(contacts)  # nothing came back as a second e-shop account
        assert {row["sync_state"] for row in eshop} == {"synced"}


def test_sigterm_stops_cleanly_and_nothing_accepted_is_lost(tmp_path: Path) -> None:
    with Sandbox(tmp_path) as box:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = start_serve(box, port, tmp_path / "serve.log")
        wait_ready(url, process)
        customers = [box.register(c.to_dict()) for c in generate_contacts(30, seed=4, rich=False)]
        for customer in customers:
            assert send(url, f"reg-{customer}", customer) == 202
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
        # Whatever the worker had not taken yet waits, stored, for the next start.
        counts = event_counts(box)
        assert sum(counts.values()) == 30 and set(counts) <= {"processed", "received"}
        process = start_serve(box, port, tmp_path / "serve.log")
        try:
            wait_ready(url, process)
            deadline = time.monotonic() + 30
            while event_counts(box) != {"processed": 30}:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        assert sorted(str(row["ext_id"]) for row in box.pohoda_contacts()) == sorted(customers)


def test_serve_without_webhook_secrets_is_a_configuration_error(tmp_path: Path) -> None:
    with Sandbox(tmp_path) as box:
        env = {**os.environ, **box.env}
        env.pop("CONNECTOR_WEBHOOK_SECRETS", None)
        done = subprocess.run(
            [sys.executable, "-c", SERVE, "serve", "--port", str(free_port())],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert "CONNECTOR_WEBHOOK_SECRETS" in done.stderr
