"""Issue 19, the operator's day: commands that refuse to report from nothing, `connector
check`, an honest `pohoda status`, and errors that name the URL and the key to fix."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connector.sim.sandbox import POHODA_PASSWORD, Sandbox

REPO = Path(__file__).resolve().parent.parent
# Kept, so that the suite can be pointed at another checkout (e.g. to see it fail on main).
_PYTHONPATH = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


def connector(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The installed command as cron or a person runs it: only the environment given."""
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **_PYTHONPATH, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "box") as sandbox:
        yield sandbox


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A port that accepts connections and never answers (a hung mServer)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


# -- point 1: a command that reads state does not report from a store it just created ------


@pytest.mark.parametrize("command", [["status"], ["audit", "list"], ["review", "list"], ["status", "--json"]])
def test_reading_commands_refuse_a_store_they_would_create(tmp_path: Path, command: list[str]) -> None:
    result = connector(*command, cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    assert "No sync run yet" not in result.stdout
    assert "no store at" in result.stderr
    assert "--config or CONNECTOR_CONFIG" in result.stderr  # which configuration it looked for
    assert not (tmp_path / "connector.db").exists()


def test_reading_commands_name_the_configuration_file(tmp_path: Path) -> None:
    config = tmp_path / "connector.toml"
    config.write_text("[log]\nlevel = 'warning'\n", encoding="utf-8")
    result = connector("--config", str(config), "status", cwd=tmp_path)
    assert result.returncode == 2
    assert str(config) in result.stderr and str(tmp_path / "connector.db") in result.stderr
    assert not (tmp_path / "connector.db").exists()


def test_status_reads_a_store_that_exists(box: Sandbox) -> None:
    assert connector("sync", env=box.env).returncode == 0
    result = connector("status", "--json", env=box.env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["last_run"]["state"] == "done"


def test_the_store_does_not_create_its_directory(box: Sandbox, tmp_path: Path) -> None:
    missing = tmp_path / "var" / "lib" / "connector"
    result = connector("sync", env={**box.env, "CONNECTOR_STORE_URL": f"sqlite:///{missing}/connector.db"})
    assert result.returncode == 2
    assert f"{missing} of the SQLite file does not exist" in result.stderr
    assert "install -d" in result.stderr
    assert not missing.exists()


# -- point 2: `connector pohoda status` signs in, checks the IČO, speaks briefly, gives up --


def test_pohoda_status_up_with_the_right_credentials(box: Sandbox) -> None:
    result = connector("pohoda", "status", env=box.env)
    assert result.returncode == 0, result.stderr
    assert "signed in" in result.stdout and "IČO 12345678" in result.stdout
    assert "<mServer>" not in result.stdout and "<" not in result.stdout  # no raw XML
    answer = json.loads(connector("pohoda", "status", "--json", env=box.env).stdout)
    assert answer["ok"] is True and answer["signed_in"] is True and answer["ico_ok"] is True


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("CONNECTOR_POHODA_PASSWORD", "wrong-password", "CONNECTOR_POHODA_PASSWORD"),
        ("CONNECTOR_POHODA_USER", "nobody", "[pohoda] user"),
        ("CONNECTOR_POHODA_ICO", "87654321", "[pohoda] ico"),
    ],
)
def test_pohoda_status_is_not_up_with_wrong_settings(box: Sandbox, key: str, value: str, named: str) -> None:
    started = time.monotonic()
    result = connector("pohoda", "status", env={**box.env, key: value, "CONNECTOR_POHODA_RETRY_MAX_S": "60"})
    assert time.monotonic() - started < 20
    assert result.returncode == 1, result.stdout
    assert "not usable" in result.stdout and named in result.stdout
    assert POHODA_PASSWORD not in result.stdout + result.stderr
    assert box.pohoda_stats()["requests"].get("POST /xml", 0) >= 1  # it did ask, authenticated


def test_pohoda_status_gives_up_within_its_timeout(box: Sandbox, black_hole: str) -> None:
    env = {**box.env, "CONNECTOR_POHODA_URL": black_hole, "CONNECTOR_POHODA_RETRY_MAX_S": "60"}
    started = time.monotonic()
    result = connector("pohoda", "status", "--timeout", "2", env=env)
    took = time.monotonic() - started
    assert result.returncode == 1
    assert "DOWN" in result.stdout and "[pohoda] url" in result.stdout
    assert took < 12, took  # the budget is 2 s; the rest is Python starting on a loaded machine


def test_simulator_status_answers_like_mserver(box: Sandbox) -> None:
    url = box.pohoda_server.url
    plain = httpx.get(f"{url}/status")
    assert plain.status_code == 200 and "Response from POHODA mServer" in plain.text
    assert "12345678" not in plain.text  # plain /status says nothing of the company
    assert httpx.get(f"{url}/status?companyDetail").status_code == 401
    signed = httpx.get(
        f"{url}/status?companyDetail", headers={"STW-Authorization": "Basic Y29ubmVjdG9yOnNhbmRib3gtcG9ob2Rh"}
    )
    assert signed.status_code == 200 and "<companyDetail>" in signed.text


# -- point 3: `connector check` --------------------------------------------------------------


def staged_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc" / "cron.d").mkdir(parents=True)
    (root / "var" / "log" / "connector").mkdir(parents=True)
    shutil.copy(REPO / "cron.d" / "connector", root / "etc" / "cron.d" / "connector")
    return root


def test_check_all_ok_against_the_simulators(box: Sandbox, tmp_path: Path) -> None:
    root = staged_root(tmp_path)
    env = {**box.env, "CONNECTOR_WEBHOOK_SECRETS": "a" * 32}
    result = connector("check", "--root", str(root), env=env)
    assert result.returncode == 0, result.stdout
    names = [line.split(":")[0] for line in result.stdout.splitlines() if line[:4] in ("ok  ", "FAIL", "skip")]
    assert names == [
        "ok   configuration", "ok   store", "ok   POHODA", "ok   e-shop (connector)", "skip mail", "ok   cron",
        "ok   webhook secrets",
    ]
    assert result.stdout.rstrip().endswith("all ok")
    as_json = connector("check", "--json", "--root", str(root), env=env).stdout
    lines = [json.loads(line) for line in as_json.splitlines()]
    assert {line["state"] for line in lines} <= {"ok", "skip"}


def test_check_names_a_wrong_pohoda_password_and_exits_1_quickly(box: Sandbox, tmp_path: Path) -> None:
    started = time.monotonic()
    result = connector("check", "--root", str(staged_root(tmp_path)),
                       env={**box.env, "CONNECTOR_POHODA_PASSWORD": "nope-nope", "CONNECTOR_POHODA_RETRY_MAX_S": "60"})
    assert time.monotonic() - started < 10
    assert result.returncode == 1
    pohoda = next(line for line in result.stdout.splitlines() if "POHODA" in line)
    assert pohoda.startswith("FAIL") and "password" in pohoda and "CONNECTOR_POHODA_PASSWORD" in pohoda
    assert "nope-nope" not in result.stdout


def test_check_reports_each_part_that_is_wrong(box: Sandbox, tmp_path: Path) -> None:
    env = {**box.env, "CONNECTOR_ESHOP_TOKEN": "wrong-token", "CONNECTOR_STORE_URL": f"sqlite:///{tmp_path}/no/x.db"}
    result = connector("check", "--root", str(tmp_path / "empty-root"), env=env)
    assert result.returncode == 1
    out = result.stdout
    assert "FAIL store" in out and "install -d" in out
    assert "FAIL e-shop (connector)" in out and "CONNECTOR_ESHOP_TOKEN" in out
    assert "FAIL cron" in out and "cp cron.d/connector /etc/cron.d/connector" in out
    assert "ok   POHODA" in out


def test_check_with_a_bad_configuration_says_which_key(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[sync]\ncreate_mode = 'later'\n", encoding="utf-8")
    result = connector("--config", str(config), "check")
    assert result.returncode == 1
    assert result.stdout.startswith("FAIL configuration") and "create_mode" in result.stdout


# -- point 4: errors that point the right way ------------------------------------------------


def test_a_wrong_eshop_token_asks_for_the_token(box: Sandbox) -> None:
    result = connector("sync", env={**box.env, "CONNECTOR_ESHOP_TOKEN": "not-the-token"})
    assert result.returncode == 2
    assert "check the token (CONNECTOR_ESHOP_TOKEN)" in result.stderr
    assert "user name" not in result.stderr and "not-the-token" not in result.stderr
    assert box.eshop_server.url in result.stderr


def test_a_wrong_base_url_names_the_url_and_the_key(box: Sandbox) -> None:
    wrong = box.eshop_server.url + "/shop-api"
    result = connector("sync", env={**box.env, "CONNECTOR_ESHOP_URL": wrong})
    assert result.returncode == 2
    assert f"{wrong}/customers/changes" in result.stderr
    assert "404 Not Found: check the URL ([eshop] url)" in result.stderr


def test_peer_errors_never_show_a_secret_in_the_url(box: Sandbox) -> None:
    url = box.pohoda_server.url.replace("http://", "http://admin:s3cret-in-url@") + "/wrong?key=s3cret-key"
    result = connector("pohoda", "status", env={**box.env, "CONNECTOR_POHODA_URL": url})
    assert result.returncode == 1
    assert "s3cret" not in result.stdout + result.stderr
    assert "[pohoda] url" in result.stdout


def test_an_unreachable_peer_names_its_url_key(box: Sandbox) -> None:
    from connector.sim._server import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    result = connector("sync", env={**box.env, "CONNECTOR_ESHOP_URL": dead, "CONNECTOR_ESHOP_RETRY_MAX_S": "0.5"})
    assert result.returncode == 1
    assert dead in result.stderr and "check [eshop] url" in result.stderr


def test_check_tries_the_mail_server_when_one_is_configured(box: Sandbox, tmp_path: Path) -> None:
    greeter = socket.socket()
    greeter.bind(("127.0.0.1", 0))
    greeter.listen(4)

    def greet() -> None:
        conn, _ = greeter.accept()
        conn.sendall(b"220 mail.example ESMTP ready\r\n")
        conn.close()

    threading.Thread(target=greet, daemon=True).start()
    try:
        env = {**box.env, "CONNECTOR_MAIL_URL": f"smtp://127.0.0.1:{greeter.getsockname()[1]}"}
        result = connector("check", "--root", str(staged_root(tmp_path)), env=env)
        assert "ok   mail: smtp://127.0.0.1:" in result.stdout, result.stdout
    finally:
        greeter.close()
    from connector.sim._server import free_port

    dead = connector("check", "--root", str(tmp_path / "root"),
                     env={**box.env, "CONNECTOR_MAIL_URL": f"smtp://127.0.0.1:{free_port()}"})
    assert dead.returncode == 1 and "FAIL mail" in dead.stdout and "[mail] url" in dead.stdout
