"""`connector sim pohoda`: the simulator as a foreground process, seeded from JSON lines."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from connector.cli._main import EXIT_USAGE, _register_commands, root
from connector.sim._server import free_port

# The console script's entry point, run by the interpreter running the tests.
LAUNCH = [sys.executable, "-c", "from connector.cli import main; main()"]


def test_help_lists_the_options() -> None:
    _register_commands()
    result = CliRunner().invoke(root, ["sim", "pohoda", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--seed", "--user", "--password", "--ico"):
        assert option in result.output


def test_a_bad_seed_file_is_a_usage_error(tmp_path: Path) -> None:
    _register_commands()
    seed = tmp_path / "seed.jsonl"
    seed.write_text('{"name": "ok"}\n{"nmae": "typo"}\n', encoding="utf-8")
    result = CliRunner().invoke(root, ["sim", "pohoda", "--port", "1", "--seed", str(seed)])
    assert result.exit_code == EXIT_USAGE
    assert "line 2" in result.output and "nmae" in result.output


def test_runs_in_the_foreground_with_seed_and_credentials(tmp_path: Path, official_xsd_dir: Path) -> None:
    seed = tmp_path / "seed.jsonl"
    seed.write_text(
        json.dumps({"name": "Jana Nováková", "ext_id": "W-1"}) + "\n" + json.dumps({"company": "Firma"}) + "\n",
        encoding="utf-8",
    )
    port = free_port()
    args = ["sim", "pohoda", "--port", str(port), "--seed", str(seed), "--user", "u", "--password", "p"]
    args += ["--ico", "87654321", "--schema-dir", str(official_xsd_dir)]
    process = subprocess.Popen([*LAUNCH, *args], stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{url}/status").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the simulator did not start"
            time.sleep(0.05)
        lines = httpx.get(f"{url}/_sim/contacts").text.splitlines()
        assert [(c["id"], c["ext_id"]) for c in map(json.loads, lines)] == [("1", "W-1"), ("2", None)]
        pack = (
            b'<dat:dataPack xmlns:dat="http://www.stormware.cz/schema/version_2/data.xsd" version="2.0" id="x" '
            b'ico="87654321" application="t" note="n"><dat:dataPackItem version="2.0" id="1">'
            b'<lAdb:listAddressBookRequest xmlns:lAdb="http://www.stormware.cz/schema/version_2/list_addBook.xsd" '
            b'version="2.0" addressBookVersion="2.0"><lAdb:requestAddressBook/></lAdb:listAddressBookRequest>'
            b"</dat:dataPackItem></dat:dataPack>"
        )
        token = base64.b64encode(b"u:p").decode()
        assert httpx.post(f"{url}/xml", content=pack).status_code == 401
        answer = httpx.post(f"{url}/xml", content=pack, headers={"STW-Authorization": f"Basic {token}"})
        assert answer.status_code == 200
        assert b'state="ok"' in answer.content and "Nováková".encode("cp1250") in answer.content
    finally:
        process.terminate()
        process.wait(10)
