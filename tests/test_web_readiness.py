"""Issue 19, point 5: /readyz and /metrics report peers probed at most a few seconds ago,
and a webhook batch after POHODA stopped does not wait out the retries."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connector.config import load_config
from connector.sim._server import RunningServer
from connector.sim.sandbox import Sandbox
from connector.store import Store
from connector.web import HEADER, WebSettings, create_app, sign

SECRET = "whsec-test-0123456789"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Sandbox, httpx.Client, str]]:
    with Sandbox(tmp_path / "box", settings={"CONNECTOR_POHODA_RETRY_MAX_S": "60"}) as box:
        config = load_config(None, env={**box.env, "CONNECTOR_WEBHOOK_SECRETS": SECRET})
        server = RunningServer(create_app(config, WebSettings(poll_s=0.2, probe_max_age_s=0.5))).start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                yield box, http, config.store_url
        finally:
            server.stop(30)


def pohoda_up(http: httpx.Client) -> str:
    line = next(x for x in http.get("/metrics").text.splitlines() if x.startswith("connector_pohoda_up "))
    return line.split()[1]


def test_readiness_and_metrics_follow_pohoda_without_a_run(served: tuple[Sandbox, httpx.Client, str]) -> None:
    box, http, _store = served
    assert http.get("/readyz").json()["pohoda"]["ok"] is True  # probed, not "unknown"
    assert pohoda_up(http) == "1.0"
    box.pohoda_server.stop()
    time.sleep(0.7)
    ready = http.get("/readyz").json()
    assert ready["pohoda"]["ok"] is False and ready["ready"] is True  # webhooks still taken
    assert pohoda_up(http) == "0.0"


def test_a_webhook_after_pohoda_stopped_goes_async_at_once(served: tuple[Sandbox, httpx.Client, str]) -> None:
    box, http, store_url = served
    http.get("/readyz")
    box.pohoda_server.stop()
    time.sleep(0.7)
    customer = box.register({"name": "Eva Nová", "email": "eva@example.cz"})
    body = json.dumps({"event_id": "evt-1", "type": "customer.created", "customer_id": customer}).encode()
    sent = time.monotonic()
    answer = http.post("/webhooks/eshop", content=body, headers={"content-type": "application/json",
                                                                 HEADER: sign(SECRET, body)})
    assert answer.status_code == 202
    deadline = time.monotonic() + 30
    while True:
        with Store.open(store_url) as store:
            if store.event_counts() == {"processed": 1}:
                break
        assert time.monotonic() < deadline, "the event was not processed"
        time.sleep(0.05)
    # The worker probed first (one attempt), so the run did not retry POHODA for 60 s.
    assert time.monotonic() - sent < 10
    assert box.eshop_contacts()[0]["sync_state"] == "pending_sync"
