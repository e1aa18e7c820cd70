"""Issue 19, points 10 and 11: the simulators documented for integrators, `duplicates find`
reads what they print, the repository ignores SQLite's side files, comments say what is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from connector.sim.eshop import EshopSimulator
from connector.sim.pohoda import PohodaSimulator
from connector.sim.sandbox import Sandbox

REPO = Path(__file__).resolve().parent.parent
_PYTHONPATH = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


def connector(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "connector", *args], env={"PATH": os.environ["PATH"],
                          **_PYTHONPATH, **env}, capture_output=True, text=True, timeout=120, check=False)


def control_paths(simulator: PohodaSimulator | EshopSimulator) -> set[str]:
    routes = simulator.app.app.routes  # FaultInjection wraps the Starlette app
    return {route.path.split("{")[0].rstrip("/") for route in routes if route.path.startswith("/_sim")}


def test_every_control_endpoint_of_both_simulators_is_documented() -> None:
    doc = (REPO / "docs" / "simulators.md").read_text(encoding="utf-8")
    for path in control_paths(PohodaSimulator()) | control_paths(EshopSimulator()):
        assert path in doc, path
    assert "POST /_sim/contacts" in doc and "{\"id\": 1}" in doc  # how to add a contact
    for fault in ("down", "error_rate", "delay_ms", "reset_after", "malformed", "item_error"):
        assert f"`{fault}" in doc, fault
    assert (REPO / "README.md").read_text(encoding="utf-8").count("docs/simulators.md") >= 1


def test_duplicates_find_reads_what_the_eshop_simulator_prints(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "box") as box:
        for name in ("Jana Nová", "Jana Nová"):
            box.register({"name": name, "email": f"jana.{len(box.eshop_contacts())}@example.cz", "city": "Brno",
                          "street": "Hlavní 1", "phone": "+420 777 123 456"})
        printed = httpx.get(f"{box.eshop_server.url}/_sim/contacts").text
        assert '"hq_id"' in printed and '"sync_state"' in printed
        (tmp_path / "in.jsonl").write_text(printed, encoding="utf-8")
        result = connector("duplicates", "find", "--input", str(tmp_path / "in.jsonl"), env=box.env)
        assert result.returncode == 0, result.stderr
        assert "2 record(s) read from" in result.stderr


def test_duplicates_find_on_the_stored_pohoda_side_says_how_many_it_read(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "box") as box:
        for n in range(3):
            box.add_at_counter({"name": f"Firma {n}", "city": "Brno"})
        assert connector("sync", env=box.env).returncode == 0
        result = connector("duplicates", "find", "--side", "pohoda", env=box.env)
        assert result.returncode == 0, result.stderr
        assert "3 record(s) read from the store's snapshot of POHODA" in result.stderr


def test_git_ignores_sqlites_wal_and_shm_files() -> None:
    for name in ("connector.db-wal", "connector.db-shm", "sub/x.db-wal"):
        ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", name], cwd=REPO, check=False)
        assert ignored.returncode == 0, name


def test_the_async_comment_says_the_same_run_creates_the_customer() -> None:
    example = (REPO / "config" / "connector.example.toml").read_text(encoding="utf-8")
    comment = example[example.index("[sync]"):example.index("create_mode =")]
    assert "the same run then creates it in POHODA" in comment and "is created by the next run" not in comment
