"""schemathesis against /openapi.json over loopback: no 5xx, and every answer (status code,
content type, headers, body) is one the document describes. Half the webhook bodies carry a
valid signature, so the generated events get past it and reach validation and the store."""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from connector.config import load_config
from connector.sim._server import RunningServer
from connector.sim.sandbox import Sandbox
from connector.web import HEADER, WebSettings, create_app, sign

SECRET = "whsec-fuzz"
ADMIN = "admin-fuzz"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
STATUSES: Counter[tuple[str, int]] = Counter()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory: Path = tmp_path_factory.mktemp("fuzz")
    with Sandbox(directory) as box:
        env = {**box.env, "CONNECTOR_WEBHOOK_SECRETS": SECRET, "CONNECTOR_ADMIN_TOKEN": ADMIN}
        server = RunningServer(create_app(load_config(None, env=env), WebSettings(poll_s=0.2))).start()
        try:
            yield server
        finally:
            server.stop(30)


@pytest.fixture(scope="module")
def web_schema(served: RunningServer) -> Any:
    return schemathesis.openapi.from_url(f"{served.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("web_schema")


@schema.parametrize()
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_app_answers_as_documented(case: Any, served: RunningServer) -> None:
    headers: dict[str, str] = {}
    if case.path == "/webhooks/eshop" and isinstance(case.body, dict):
        # requests serialises `json=` with json.dumps' defaults: sign exactly those bytes.
        body = json.dumps(case.body, allow_nan=False).encode()
        if zlib.crc32(body) % 2:
            headers[HEADER] = sign(SECRET, body)
    if case.path == "/trigger/sync" and zlib.crc32(repr(case.headers).encode()) % 2:
        headers["Authorization"] = f"Bearer {ADMIN}"
    response = case.call_and_validate(base_url=served.url, headers=headers, checks=CHECKS)
    STATUSES[(case.path, response.status_code)] += 1


def test_the_fuzzing_reached_past_the_signature() -> None:
    # Runs after the fuzzing above (same module, file order): signed events were stored.
    if not STATUSES:
        pytest.skip("the fuzzing ran in another pytest-xdist worker")
    accepted = STATUSES[("/webhooks/eshop", 202)] + STATUSES[("/webhooks/eshop", 200)]
    assert accepted > 0, STATUSES
    assert STATUSES[("/webhooks/eshop", 401)] > 0, STATUSES
