"""Issue 19, point 7: ids people can read: a customer is `eshop:ID` or `pohoda:ID`, a
retry names the audit row and both operations, tables in a pipe are not cut."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.model import Contact
from connector.sim.sandbox import Sandbox

_PYTHONPATH = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


def connector(box: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    """In a pipe, as a script or `| less` runs it."""
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        env={"PATH": os.environ["PATH"], **_PYTHONPATH, **box.env, "COLUMNS": "80"},
        capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[Sandbox]:
    """E-shop 1 -> POHODA 3, e-shop 2 refused by POHODA, e-shop 3 -> POHODA 4: e-shop 3
    and POHODA 3 are different customers."""
    seed = [Contact(name="Firma Jedna", city="Brno"), Contact(name="Firma Dva", city="Praha")]
    with Sandbox(tmp_path / "box", pohoda_seed=seed) as box:
        box.pohoda_faults(item_error=[{"field": "email", "contains": "@refuse", "note": "blocked by a rule"}])
        for contact in ({"name": "Tereza Malá", "email": "tereza@example.cz"},
                        {"name": "Odmítnutý Zákazník", "email": "x@refuse.cz"},
                        {"name": "Petr Novák", "email": "petr@example.cz"}):
            box.register(contact)
        assert connector(box, "sync").returncode == 1  # one refused
        yield box


def rows(box: Sandbox, *args: str) -> list[dict[str, object]]:
    result = connector(box, "audit", "list", "--json", *args)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_a_customer_is_named_with_its_side(synced: Sandbox) -> None:
    everything = rows(synced)
    assert {r["eshop_id"] for r in everything if r["pohoda_id"] == "3"} == {"1"}
    eshop_3 = rows(synced, "--customer", "eshop:3")
    assert eshop_3 and {r["eshop_id"] for r in eshop_3} == {"3"}
    pohoda_3 = rows(synced, "--customer", "pohoda:3")
    assert pohoda_3 and {r["pohoda_id"] for r in pohoda_3} == {"3"} and {r["eshop_id"] for r in pohoda_3} == {"1"}
    bare = connector(synced, "audit", "list", "--customer", "3")
    assert bare.returncode == 2
    assert "eshop:3 or pohoda:3" in bare.stderr


def test_show_gives_the_history_of_one_customer_only(synced: Sandbox) -> None:
    row = next(r for r in rows(synced, "--customer", "eshop:3") if r["operation"] == "create")
    shown = connector(synced, "audit", "show", str(row["id"]), "--json")
    history = json.loads(shown.stdout)["history"]
    assert history and {h["eshop_id"] for h in history} == {"3"}


def test_retry_names_the_audit_row_and_both_operations(synced: Sandbox) -> None:
    refused = next(r for r in rows(synced, "--state", "refused"))
    synced.pohoda_faults(item_error=[])
    result = connector(synced, "audit", "retry", str(refused["id"]))
    assert result.returncode == 0, result.stderr
    new = next(r for r in rows(synced) if r["operation"] == "retry")
    assert result.stdout.strip() == (
        f"audit row {refused['id']} (operation {refused['outbox_id']}, refused): "
        f"sent again as operation {new['outbox_id']}: delivered"
    )


def test_tables_in_a_pipe_keep_every_column_whole(synced: Sandbox) -> None:
    result = connector(synced, "audit", "list")
    assert result.returncode == 0
    pending = next(r for r in rows(synced) if r["operation"] == "pending")
    assert str(pending["note"]) in result.stdout  # the whole note, on one line
    assert "…" not in result.stdout
