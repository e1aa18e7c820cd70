"""Issue 19, point 6: one log format per process (JSON lines when not a terminal), an
accepted webhook leaves a line without personal data, `carts push` gives up in time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from connector.sim._server import free_port
from connector.sim.sandbox import Sandbox
from connector.web import HEADER, sign
from tests.pricing_helpers import EXAMPLE_CART

SECRET = "whsec-logs-0123456789"
_PYTHONPATH = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


def json_lines(text: str) -> list[dict[str, object]]:
    """Every non-empty line parsed as JSON; fails naming the first line that is not."""
    lines = []
    for line in text.splitlines():
        if line.strip():
            try:
                lines.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"not a JSON line: {line!r}") from None
    return lines


def test_serve_logs_only_json_lines_and_each_accepted_webhook(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "box") as box:
        port = free_port()
        env = {"PATH": os.environ["PATH"], **_PYTHONPATH, **box.env, "CONNECTOR_WEBHOOK_SECRETS": SECRET,
               "CONNECTOR_LOG_LEVEL": "info"}
        log = tmp_path / "serve.log"
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "connector", "serve", "--port", str(port)],
                                       env=env, stdout=out, stderr=out)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline
                time.sleep(0.05)
            body = json.dumps({"event_id": "evt-1", "type": "customer.created", "customer_id": "no-such-9"}).encode()
            answer = httpx.post(f"{url}/webhooks/eshop", content=body,
                                headers={"content-type": "application/json", HEADER: sign(SECRET, body)})
            assert answer.status_code == 202
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        events = json_lines(log.read_text(encoding="utf-8"))
        assert any(e.get("logger", "").startswith("uvicorn") for e in events)  # uvicorn's, as JSON
        accepted = [e for e in events if e["event"] == "webhook.accepted"]
        assert len(accepted) == 1 and accepted[0]["event_id"] == "evt-1"
        assert accepted[0]["type"] == "customer.created"


def test_carts_push_to_a_dead_worker_gives_up_at_its_timeout_with_json_logs() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "connector", "carts", "push", str(EXAMPLE_CART), "--worker", dead, "--timeout", "1"],
        env={"PATH": os.environ["PATH"], **_PYTHONPATH}, capture_output=True, text=True, timeout=120,
    )
    took = time.monotonic() - started
    assert result.returncode == 1
    assert took < 15, took  # not the minute of cron's budget
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    logs, error = lines[:-1], lines[-1]
    assert error.startswith("error: pricing worker unreachable") and dead in error
    assert logs and all(json.loads(line)["event"] == "transport.retry" for line in logs)
