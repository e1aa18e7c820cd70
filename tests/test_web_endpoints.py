"""The trigger's bearer token, health, readiness, metrics, status and the OpenAPI document
(the one in the repo is the one the app serves)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_web_webhook import environment

from connector.config import load_config
from connector.sim._server import serve_in_thread
from connector.web import WebSettings, create_app
from connector.web.openapi import render

REPO = Path(__file__).resolve().parent.parent


def serve(tmp_path: Path, **env: str) -> Iterator[httpx.Client]:
    config = load_config(None, env=environment(tmp_path, **env))
    app = create_app(config, WebSettings(run_worker=False))
    with serve_in_thread(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    yield from serve(tmp_path)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong",
        "Bearer admin-token-0123456789-and-more",
        "Basic admin-token-0123456789",
        "admin-token-0123456789",
        "Bearer",
        "Bearer ž",
    ],
)
def test_trigger_without_the_right_token_is_401(client: httpx.Client, authorization: str | None) -> None:
    headers = {b"authorization": authorization.encode()} if authorization else {}
    answer = client.post("/trigger/sync", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthorized"
    assert answer.headers["www-authenticate"] == "Bearer"


def test_trigger_with_the_token_queues_one_run(client: httpx.Client) -> None:
    first = client.post("/trigger/sync", headers={"authorization": "Bearer admin-token-0123456789"})
    assert first.status_code == 202
    run_id = first.json()["run_id"]
    assert first.json() == {"status": "queued", "run_id": run_id}
    assert run_id.startswith("sync-")
    # Asked again before the worker took it: the same run, not a second one.
    second = client.post("/trigger/sync", headers={"authorization": "bearer admin-token-0123456789"})
    assert second.json()["run_id"] == run_id


def test_trigger_is_off_without_an_admin_token(tmp_path: Path) -> None:
    for client in serve(tmp_path, CONNECTOR_ADMIN_TOKEN=""):
        answer = client.post("/trigger/sync", headers={"authorization": "Bearer"})
        assert answer.status_code == 403
        assert answer.json()["error"] == "trigger_disabled"


def test_healthz(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_the_store_and_probes_the_peers_before_any_run(client: httpx.Client) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200
    body = answer.json()
    assert body["ready"] is True and body["store"] == {"ok": True}
    # Issue 19: probed now (nothing listens on port 9), not "unknown until a run".
    assert body["pohoda"]["ok"] is False and "[pohoda] url" in body["pohoda"]["error"]
    assert body["pohoda"]["at"] is not None
    assert body["eshop"]["ok"] is False


def test_status_is_connector_status_plus_webhook_events(client: httpx.Client) -> None:
    body = client.get("/status").json()
    assert body["last_run"] is None
    assert body["pending"] == 0 and body["pending_customers"] == 0
    assert body["webhook_events"] == {}


def test_metrics_are_prometheus_text(client: httpx.Client) -> None:
    answer = client.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    for name in (
        "connector_webhook_events_received_total",
        "connector_webhook_events_rejected_total",
        "connector_webhook_events_processed_total",
        "connector_runs_total",
        "connector_operations_total",
        "connector_event_to_pohoda_seconds_bucket",
        "connector_outbox_operations",
        "connector_pending_customers",
        "connector_store_up 1.0",
    ):
        assert f"# TYPE {name.split()[0].removesuffix('_total').removesuffix('_bucket')}" in text or name in text


def test_the_served_openapi_document_is_the_one_in_the_repo(client: httpx.Client) -> None:
    served = client.get("/openapi.json").json()
    kept = json.loads((REPO / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert served == kept, "run `python -m connector.web > docs/openapi.json`"
    assert (REPO / "docs" / "openapi.json").read_text(encoding="utf-8") == render()
