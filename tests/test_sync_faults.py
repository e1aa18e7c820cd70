"""The probe's fault runs, kept: many registrations, faults on both sides, a kill -9 in the
middle of a run, POHODA switched off for three runs; in the end both sides are equal,
nothing lost and nothing doubled."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest
from test_sync_invariants import _sync_process, assert_converged

from connector.actions import run_sync
from connector.sim.generate import generate_contacts
from connector.sim.sandbox import Sandbox


@pytest.mark.slow
def test_faults_on_both_sides_a_kill_and_a_night_without_pohoda_lose_and_double_nothing(tmp_path: Path) -> None:
    rng = random.Random(2026)
    registrations = list(generate_contacts(2000, seed=31, rich=False, start=0))
    with Sandbox(tmp_path / "box", eshop_seed=registrations) as box:
        box.pohoda_faults(error_rate=0.2, reset_rate=0.05, seed=7)
        box.eshop_faults(error_rate=0.1, reset_rate=0.05, seed=8)
        process = _sync_process(box)
        time.sleep(rng.uniform(1.0, 3.0))
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        for _night in range(3):
            box.pohoda_faults(down=True)
            summary = run_sync(box.config)
            assert summary.pohoda_unreachable
            # Edits made while POHODA is off are kept, in order, and reach it later.
        edited = sorted(c["id"] for c in box.eshop_contacts())[:50]
        for number, customer_id in enumerate(edited):
            box.edit_on_eshop(customer_id, city=f"Noční {number}")
        box.pohoda_faults(down=False, error_rate=0.0, reset_rate=0.0)
        box.eshop_faults(error_rate=0.0, reset_rate=0.0)
        for _run in range(4):
            run_sync(box.config)
        eshop_count, pohoda_count = assert_converged(box)
        assert (eshop_count, pohoda_count) == (2000, 2000)
        cities = {c["ext_id"]: c["city"] for c in box.pohoda_contacts()}
        assert [cities[i] for i in edited] == [f"Noční {n}" for n in range(50)]
        assert all(c["sync_state"] == "synced" for c in box.eshop_contacts())
