"""`connector sim woocommerce|shoptet` as foreground processes, and `connector demo --platform`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from connector.cli._main import _register_commands, root
from connector.sim._server import free_port

LAUNCH = [sys.executable, "-c", "from connector.cli import main; main()"]


def _wait(process: subprocess.Popen[bytes], probe: str, **kwargs: object) -> httpx.Response:
    deadline = time.monotonic() + 15
    while True:
        try:
            return httpx.get(probe, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the simulator did not start"
        time.sleep(0.05)


@pytest.mark.parametrize("platform", ["woocommerce", "shoptet"])
def test_the_platform_simulator_runs_in_the_foreground_with_a_seed(tmp_path: Path, platform: str) -> None:
    seed = tmp_path / "seed.jsonl"
    seed.write_text(json.dumps({"name": "Jana Nováková", "email": "jana@example.cz"}) + "\n", encoding="utf-8")
    port = free_port()
    args = ["sim", platform, "--port", str(port), "--seed", str(seed)]
    if platform == "woocommerce":
        args += ["--key", "ck_test", "--secret", "cs_test"]
    else:
        args += ["--token", "tok-test"]
    process = subprocess.Popen([*LAUNCH, *args], stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        if platform == "woocommerce":
            answer = _wait(process, f"{url}/wp-json/wc/v3/customers", auth=("ck_test", "cs_test"))
            assert answer.status_code == 200
            assert [c["email"] for c in answer.json()] == ["jana@example.cz"]
            assert httpx.get(f"{url}/wp-json/wc/v3/customers", auth=("ck_test", "wrong")).status_code == 401
        else:
            answer = _wait(process, f"{url}/api/customers", headers={"Shoptet-Private-API-Token": "tok-test"})
            assert answer.status_code == 200
            assert answer.json()["data"]["paginator"]["totalCount"] == 1
            assert httpx.get(f"{url}/api/customers").status_code == 401
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize("platform", ["woocommerce", "shoptet"])
def test_demo_converges_on_the_platform(platform: str) -> None:
    _register_commands()
    result = CliRunner().invoke(root, ["demo", "--platform", platform, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["converged"] is True and report["duplicates"] == 0
    assert report["welcome_emails"] == 10  # the platform's own, one per auto-registered contact
    assert report["runs"][1]["delivered"] == {}
