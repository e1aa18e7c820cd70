"""`connector demo|sync|status|review` and the crontab, as cron and people run them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.sim.sandbox import Sandbox
from connector.store import Store

REPO = Path(__file__).resolve().parent.parent


def connector(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "box") as sandbox:
        yield sandbox


def test_demo_runs_to_the_end_and_converges() -> None:
    result = connector("demo", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["converged"] is True
    assert report["duplicates"] == 0 and report["differences"] == []
    assert report["linked"] == report["eshop_customers"] > 0
    assert report["welcome_emails"] > 0 and report["pohoda_only"] > 0
    assert report["seconds"] < 30
    assert report["runs"][1]["delivered"] == {}  # the second run finds nothing left to do


def test_demo_prints_tables_for_people() -> None:
    result = connector("demo")
    assert result.returncode == 0, result.stderr
    assert "both sides after two runs" in result.stdout
    assert "converged" in result.stdout


def test_sync_exit_codes_and_json(box: Sandbox) -> None:
    box.register({"name": "Tereza Malá", "email": "tereza@example.cz"})
    done = connector("sync", "--json", env=box.env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["delivered"]["pohoda.create"] == 1
    box.pohoda_faults(item_error=[{"field": "email", "contains": "@refuse", "note": "blocked"}])
    box.register({"name": "Odmítnutý", "email": "x@refuse.cz"})
    refused = connector("sync", "--json", env=box.env)
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["refused"] == 1


def test_sync_with_a_bad_configuration_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[sync]\ncreate_mode = "sometimes"\n', encoding="utf-8")
    result = connector("--config", str(config), "sync")
    assert result.returncode == 2
    assert str(config) in result.stderr and "create_mode" in result.stderr


def test_overlapping_run_exits_0_saying_so(box: Sandbox) -> None:
    store = Store.open(box.config.store_url)
    store.acquire_lock("sync", "cron-run-in-progress")
    result = connector("sync", env=box.env)
    assert result.returncode == 0
    assert "another run is active" in result.stdout


def test_status_and_review_commands(box: Sandbox) -> None:
    pohoda_id = box.add_at_counter({"name": "Ladislav Szabó", "zip": "040 01", "street": "Hlavná 12"})
    connector("sync", env=box.env)
    eshop_id = box.register({"name": "Ladislav Szabo", "zip": "04001", "street": "Mlynská 3", "email": "l@x.sk"})
    connector("sync", env=box.env)
    listed = connector("review", "list", "--json", env=box.env)
    assert listed.returncode == 0, listed.stderr
    [item] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (item["record_id"], item["candidate_id"]) == (eshop_id, pohoda_id)
    human = connector("review", "list", env=box.env)
    assert "Szab" in human.stdout
    status = json.loads(connector("status", "--json", env=box.env).stdout)
    assert status["in_review"] == 1 and status["last_run"]["state"] == "done"
    assert connector("review", "reject", str(item["id"]), env=box.env).returncode == 0
    again = connector("review", "reject", str(item["id"]), env=box.env)
    assert again.returncode == 2 and "already rejected" in again.stderr
    connector("sync", env=box.env)
    assert len(box.pohoda_contacts()) == 2  # rejected: a different person, created


def test_crontab_is_valid_cron_d_syntax() -> None:
    lines = [
        line
        for line in (REPO / "cron.d" / "connector").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    environment = [line for line in lines if re.match(r"^[A-Z_]+=", line)]
    jobs = [line for line in lines if line not in environment]
    assert any(line.startswith("PATH=") for line in environment)
    assert len(jobs) == 1
    fields = jobs[0].split(None, 6)
    minute, hour, day, month, weekday, user, command = fields
    assert minute == "*/5" and (hour, day, month, weekday) == ("*", "*", "*", "*")
    assert re.fullmatch(r"[a-z_][a-z0-9_-]*", user)
    assert "connector --config /etc/connector/connector.toml sync" in command
    assert "%" not in command  # cron would cut the command there
