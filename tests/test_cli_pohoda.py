"""`connector pohoda encode|decode|status` as a person or a script runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
from click.testing import CliRunner

from connector.cli import main
from connector.cli._main import root
from connector.sim._server import RunningServer
from connector.sim.pohoda import PohodaSimulator

ICO = "12345678"


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    from connector.cli._main import _register_commands

    _register_commands()
    return CliRunner()


@pytest.fixture
def server(sim_schema_dir: Path | None) -> Iterator[RunningServer]:
    simulator = PohodaSimulator(user="shop", password="pw", ico=ICO, schema_dir=sim_schema_dir)
    running = RunningServer(simulator.app).start()
    yield running
    running.stop()


def contacts_jsonl() -> str:
    rows = [
        {"ext_id": "E1", "name": "Ján Kováč", "email": "jan@example.sk", "groups": ["VIP"],
         "ship_to": [{"city": "Brno", "default": True}, {"city": "Žilina"}]},
        {"ext_id": "E2", "name": "Ödön Fűzfa", "company": "Fűzfa Kft.", "ico": "12345679"},
    ]
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def test_encode_post_decode_through_the_simulator(runner: CliRunner, server: RunningServer, tmp_path: Path) -> None:
    encoded = runner.invoke(root, ["pohoda", "encode", "--ico", ICO, "--ex-system", "eshop"], input=contacts_jsonl())
    assert encoded.exit_code == 0, encoded.output
    pack = encoded.stdout_bytes
    assert pack.startswith(b"<?xml version='1.0' encoding='Windows-1250'?>")
    answer = httpx.post(f"{server.url}/xml", content=pack,
                        headers={"STW-Authorization": "Basic c2hvcDpwdw==", "Content-Type": "text/xml"})
    (tmp_path / "answer.xml").write_bytes(answer.content)
    decoded = runner.invoke(root, ["pohoda", "decode", str(tmp_path / "answer.xml")])
    assert decoded.exit_code == 0, decoded.output
    results = [json.loads(line) for line in decoded.stdout.splitlines()]
    assert [r["ok"] for r in results] == [True, True]
    assert all(r["pohoda_id"] for r in results)

    listing = httpx.post(
        f"{server.url}/xml",
        content=(
            "<?xml version='1.0' encoding='Windows-1250'?>"
            '<dat:dataPack xmlns:dat="http://www.stormware.cz/schema/version_2/data.xsd" '
            'xmlns:lAdb="http://www.stormware.cz/schema/version_2/list_addBook.xsd" '
            f'version="2.0" id="l1" ico="{ICO}" application="t" note="">'
            '<dat:dataPackItem version="2.0" id="i1"><lAdb:listAddressBookRequest version="2.0" '
            'addressBookVersion="2.0" extSystem="eshop"><lAdb:requestAddressBook/>'
            "</lAdb:listAddressBookRequest></dat:dataPackItem></dat:dataPack>"
        ).encode("cp1250"),
        headers={"STW-Authorization": "Basic c2hvcDpwdw=="},
    )
    (tmp_path / "export.xml").write_bytes(listing.content)
    exported = runner.invoke(root, ["pohoda", "decode", str(tmp_path / "export.xml")])
    assert exported.exit_code == 0, exported.output
    contacts = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [c["name"] for c in contacts] == ["Ján Kováč", "Ödön Fűzfa"]
    assert contacts[0]["ext_id"] == "E1"
    assert [s["city"] for s in contacts[0]["ship_to"]] == ["Brno", "Žilina"]


def test_encode_reports_a_refused_record_and_keeps_the_others(runner: CliRunner) -> None:
    rows = '{"ext_id":"E1","name":"Jan"}\n{"ext_id":"E2","email":"' + "x" * 99 + '"}\n'
    result = runner.invoke(root, ["pohoda", "encode", "--ico", ICO, "--ex-system", "eshop"], input=rows)
    assert result.exit_code == 1
    assert "record ext:E2" in result.stderr and "email" in result.stderr
    assert result.stdout_bytes.count(b"<dat:dataPackItem ") == 1


def test_decode_pack_error_prints_state_and_note(runner: CliRunner, tmp_path: Path) -> None:
    pack = (
        '<?xml version="1.0" encoding="Windows-1250"?>'
        '<rsp:responsePack xmlns:rsp="http://www.stormware.cz/schema/version_2/response.xsd" '
        'version="2.0" id="p1" state="error" note="Účetní jednotka nenalezena"/>'
    )
    (tmp_path / "error.xml").write_bytes(pack.encode("cp1250"))
    result = runner.invoke(root, ["pohoda", "decode", str(tmp_path / "error.xml")])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"state": "error", "note": "Účetní jednotka nenalezena"}


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><r>&b;</r>',
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        b'<?xml version="1.0" encoding="Windows-1250"?><rsp:responsePack xmlns:rsp="x"',
        "<?xml version='1.0' encoding='Windows-1250'?><r>Žluťoučký</r>".encode(),
    ],
    ids=["entities", "external-entity", "truncated", "wrong-encoding"],
)
def test_decode_hostile_input_exits_2_with_one_line(runner: CliRunner, tmp_path: Path, body: bytes) -> None:
    (tmp_path / "in.xml").write_bytes(body)
    result = runner.invoke(root, ["pohoda", "decode", str(tmp_path / "in.xml")])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "root:" not in result.stdout


def test_bad_json_line_exits_2(runner: CliRunner) -> None:
    result = runner.invoke(root, ["pohoda", "encode", "--ico", ICO, "--ex-system", "e"], input='{"nme": "x"}\n')
    assert result.exit_code == 2
    assert "unknown key 'nme'" in result.stderr


def test_status_up_and_down(server: RunningServer, tmp_path: Path) -> None:
    env = {"CONNECTOR_POHODA_URL": server.url, "CONNECTOR_POHODA_USER": "shop", "CONNECTOR_POHODA_ICO": ICO,
           "CONNECTOR_POHODA_PASSWORD": "pw", "CONNECTOR_POHODA_RETRY_MAX_S": "0.3"}
    command = [sys.executable, "-m", "connector", "pohoda", "status", "--json"]
    up = subprocess.run(command, env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30)
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["up"] is True
    httpx.post(f"{server.url}/_sim/faults", json={"down": True})
    down = subprocess.run(command, env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30)
    assert down.returncode == 1
    assert json.loads(down.stdout)["up"] is False


def test_status_without_configuration_names_the_missing_key() -> None:
    command = [sys.executable, "-m", "connector", "pohoda", "status"]
    result = subprocess.run(command, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "[pohoda] url is required" in result.stderr


def test_main_is_importable() -> None:
    assert callable(main)


# -- issue 12, points 6 and 8: a refused document prints nothing; input is never read whole ----


def export_bytes(count: int = 600) -> bytes:
    import io

    from connector.codec.pohoda import PohodaCodec
    from connector.sim.generate import generate_contacts

    out = io.BytesIO()
    PohodaCodec(ico=ICO, ex_system="eshop", application="t").write_export(generate_contacts(count), out)
    return out.getvalue()


def spoiled(kind: str) -> bytes:
    data = export_bytes()
    if kind == "bad-list-state":
        # Read only when the envelope is validated at the end, after every record.
        return data.replace(b'dateValidFrom="', b'state="bogus" dateValidFrom="', 1).replace(
            b'" state="ok"><lAdb:addressbook', b'"><lAdb:addressbook', 1
        )
    # A record after the first batches (256 records each) with a birth date that cannot be.
    start = data.index(b"<adb:dateOfBirth>", len(data) * 3 // 4)
    end = data.index(b"</adb:dateOfBirth>", start)
    return data[:start] + b"<adb:dateOfBirth>1985-02-30" + data[end:]


@pytest.mark.parametrize("kind", ["bad-list-state", "bad-record"])
@pytest.mark.parametrize("how", ["file", "stdin"])
def test_a_refused_export_prints_no_record(runner: CliRunner, tmp_path: Path, kind: str, how: str) -> None:
    body = spoiled(kind)
    if how == "file":
        (tmp_path / "export.xml").write_bytes(body)
        result = runner.invoke(root, ["pohoda", "decode", str(tmp_path / "export.xml")])
    else:
        result = runner.invoke(root, ["pohoda", "decode", "-"], input=body)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "1985-02-30" not in result.stderr


def test_a_valid_export_from_stdin_still_prints_every_record(runner: CliRunner) -> None:
    result = runner.invoke(root, ["pohoda", "decode", "-"], input=export_bytes(300))
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 300


def test_decode_help_says_output_is_all_or_nothing(runner: CliRunner) -> None:
    result = runner.invoke(root, ["pohoda", "decode", "--help"])
    assert "All or nothing" in result.stdout


# `python -m connector ARGS` that writes its own peak memory (VmHWM, kB) to a file as it exits.
OWN_PEAK = """
import atexit, runpy, sys
out = sys.argv.pop(1)
def _peak():
    with open("/proc/self/status") as status, open(out, "w") as peak:
        peak.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
atexit.register(_peak)
sys.argv[0] = "connector"
runpy.run_module("connector", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("head", [b"<?xml version='1.0'?><rsp:responsePack ", b""], ids=["pack", "export"])
def test_a_huge_stdin_is_refused_without_being_held(tmp_path: Path, head: bytes) -> None:
    import os
    import threading

    if not head:
        head = export_bytes(1).split(b"<lAdb:addressbook ", 1)[0]
    # The CLI's own peak (VmHWM, written as it exits): ru_maxrss of a child carries the
    # parent's (pytest's) peak after exec, so it says nothing of the CLI.
    peak_file = tmp_path / "vmhwm"
    command = [sys.executable, "-c", OWN_PEAK, str(peak_file), "pohoda", "decode", "-"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

    def feed(stdin: IO[bytes] = proc.stdin) -> None:
        # About 1 GB: spaces, well-formed as far as they go, far past every limit.
        block = b" " * (1 << 20)
        try:
            stdin.write(head)
            for _ in range(1024):
                stdin.write(block)
            stdin.close()
        except (BrokenPipeError, ValueError):
            pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    stderr = proc.stderr.read()
    proc.wait()
    feeder.join(30)
    assert proc.returncode == 2, stderr
    assert stderr.startswith(b"error: ") and b"limit" in stderr, stderr
    peak_mb = int(peak_file.read_text()) / 1024
    assert peak_mb < 300, f"peak RSS {peak_mb:.0f} MB"
