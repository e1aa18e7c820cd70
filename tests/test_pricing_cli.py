"""`connector pricing serve` and `connector carts push`, run as a person or a script would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest
from click.testing import CliRunner

from connector.cli import _commands  # noqa: F401  (attaches every command to root)
from connector.cli._main import root
from connector.pricing._store import CartStore
from connector.pricing._worker import PricingService, create_app
from connector.sim._server import free_port, serve_in_thread
from connector.store import open_engine
from tests.pricing_helpers import EXAMPLE_CART, EXAMPLE_CATALOG, REPO, example_catalog


@pytest.fixture()
def worker(tmp_path):
    service = PricingService(example_catalog(), CartStore(open_engine(f"sqlite:///{tmp_path / 'w.db'}")))
    with serve_in_thread(create_app(service)) as server:
        yield server.url


def test_push_prints_the_priced_cart_as_a_table(worker):
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        root, ["carts", "push", str(EXAMPLE_CART), "--worker", worker, "--chunk", "4"]
    )

    assert result.exit_code == 0, result.output
    assert "cart Q-2024-0001 for ACME" in result.output
    assert "CHAIR-RED" in result.output and "backordered" in result.output
    assert "total: 9568.03 CZK" in result.output
    assert "2 chunk(s), 0 answered from the worker's record, 6 line(s) added" in result.output


def test_push_json_is_machine_readable_and_refused_lines_exit_1(worker, tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_bytes(EXAMPLE_CART.read_bytes().replace(b'partNumber="BOLT"', b'partNumber="GONE"'))

    result = CliRunner().invoke(root, ["carts", "push", str(bad), "--worker", worker, "--json", "--customer", "ACME"])

    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["added"] == 5
    assert [(e["position"], e["field"], e["partNumber"]) for e in report["errors"]] == [(4, "partNumber", "GONE")]
    assert report["cart"]["summary"]["pricedLines"] == 5


def test_push_of_an_invalid_file_is_a_usage_error_naming_the_file(tmp_path):
    bad = tmp_path / "cart.xml"
    bad.write_bytes(b"<cart><line")
    result = CliRunner().invoke(root, ["carts", "push", str(bad), "--worker", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert str(bad) in result.output and "not well-formed" in result.output


def test_serve_runs_the_worker_on_the_configured_store(tmp_path):
    port = free_port()
    env = {**os.environ, "CONNECTOR_STORE_URL": f"sqlite:///{tmp_path / 'served.db'}", "CONNECTOR_CONFIG": ""}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from connector.cli import main; main()",
            "pricing",
            "serve",
            "--port",
            str(port),
            "--catalog",
            str(EXAMPLE_CATALOG),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.communicate()[1].decode()) from None
                time.sleep(0.1)
        result = CliRunner().invoke(root, ["carts", "push", str(EXAMPLE_CART), "--worker", url, "--json"])
        assert result.exit_code == 0, result.output
    finally:
        process.terminate()
        process.wait(10)
    assert (tmp_path / "served.db").exists()
