"""`connector sim eshop`: the e-shop simulator as a foreground process, seeded from JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

import connector.cli._sim_eshop  # noqa: F401 - attaches `sim eshop` until _commands lists it
from connector.cli._main import EXIT_USAGE, _register_commands, root
from connector.sim._server import free_port

LAUNCH = [sys.executable, "-c", "import connector.cli._sim_eshop; from connector.cli import main; main()"]


def test_help_lists_the_options() -> None:
    _register_commands()
    result = CliRunner().invoke(root, ["sim", "eshop", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--seed", "--token"):
        assert option in result.output


def test_a_bad_seed_file_is_a_usage_error_naming_line_and_field(tmp_path: Path) -> None:
    _register_commands()
    seed = tmp_path / "seed.jsonl"
    seed.write_text('{"name": "ok"}\n{"name": "x", "sync_state": "done"}\n', encoding="utf-8")
    result = CliRunner().invoke(root, ["sim", "eshop", "--port", "1", "--seed", str(seed)])
    assert result.exit_code == EXIT_USAGE
    assert "line 2" in result.output and "sync_state" in result.output


def test_runs_in_the_foreground_with_seed_and_token(tmp_path: Path) -> None:
    seed = tmp_path / "seed.jsonl"
    rows = [
        {"id": "500", "name": "Jana Nováková", "email": "jana@example.cz", "hq_id": "7", "sync_state": "synced"},
        {"company": "Firma s.r.o.", "ico": "27082440"},
    ]
    seed.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    port = free_port()
    args = ["sim", "eshop", "--port", str(port), "--seed", str(seed), "--token", "cli-token"]
    process = subprocess.Popen([*LAUNCH, *args], stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                contacts = httpx.get(f"{url}/_sim/contacts")
                break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the simulator did not start"
            time.sleep(0.05)
        listed = [json.loads(line) for line in contacts.text.splitlines()]
        assert [(c["id"], c["hq_id"]) for c in listed] == [("500", "7"), ("501", None)]
        assert httpx.get(f"{url}/customers/500").status_code == 401
        assert httpx.get(f"{url}/customers/500", headers={"Authorization": "Bearer cli-token"}).status_code == 200
    finally:
        process.terminate()
        process.wait(10)
