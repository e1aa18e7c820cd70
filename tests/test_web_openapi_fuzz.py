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
from hypothesis import HealthCheck, given, settings
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

SECRET = "whsec-fuzz-0123456789"
ADMIN = "admin-fuzz-0123456789"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


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


def test_the_app_answers_as_documented(served: RunningServer) -> None:
    """Every documented operation, fuzzed from the served document (hypothesis drives
    schemathesis' strategies directly, so no pytest plugin is involved)."""
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    statuses: Counter[tuple[str, int]] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/webhooks/eshop", "/trigger/sync", "/status", "/metrics"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def exercise(case: Any) -> None:
            headers: dict[str, str] = {}
            if case.path == "/webhooks/eshop" and isinstance(case.body, dict):
                # requests serialises `json=` with json.dumps' defaults: sign exactly those bytes.
                body = json.dumps(case.body, allow_nan=False).encode()
                if zlib.crc32(body) % 2:
                    headers[HEADER] = sign(SECRET, body)
            if case.path == "/trigger/sync" and zlib.crc32(repr(case.headers).encode()) % 2:
                headers["Authorization"] = f"Bearer {ADMIN}"
            response = case.call_and_validate(base_url=served.url, headers=headers, checks=CHECKS)
            statuses[(case.path, response.status_code)] += 1

        exercise()
    # Signed events got past the signature to validation and the store; unsigned ones did not.
    accepted = statuses[("/webhooks/eshop", 202)] + statuses[("/webhooks/eshop", 200)]
    assert accepted > 0, statuses
    assert statuses[("/webhooks/eshop", 401)] > 0, statuses
