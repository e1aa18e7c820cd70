"""Issue 19, point 8: what a run wrote and reads back is counted as an echo, not a change."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from connector.actions import run_sync
from connector.model import Contact, Link, MirrorRecord, hash_content
from connector.plan import PlanState, SideRecord
from connector.sim.sandbox import Sandbox

_PYTHONPATH = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


def test_the_second_run_reads_only_its_own_writes_and_an_edit_is_a_change(tmp_path: Path) -> None:
    seed = [Contact(name=f"Pult {n}", email=f"pult{n}@example.cz", city="Brno") for n in range(3)]
    with Sandbox(tmp_path / "box", pohoda_seed=seed) as box:
        customers = [box.register({"name": f"Zákazník {n}", "email": f"z{n}@example.cz"}) for n in range(4)]
        first = run_sync(box.config)
        assert first.echoes_eshop == 0 and first.echoes_pohoda == 0
        second = run_sync(box.config)
        assert second.pulled_eshop > 0 and second.pulled_pohoda > 0
        assert second.echoes_eshop == second.pulled_eshop
        assert second.echoes_pohoda == second.pulled_pohoda
        box.edit_on_eshop(customers[0], city="Ostrava")
        third = run_sync(box.config)
        assert third.pulled_eshop - third.echoes_eshop == 1
        # The third run's writes, read back by the next run: shown apart in the table.
        env = {"PATH": os.environ["PATH"], **_PYTHONPATH, **box.env}
        shown = subprocess.run([sys.executable, "-m", "connector", "sync"], env=env, capture_output=True, text=True,
                               timeout=120, check=False)
        assert shown.returncode == 0, shown.stderr
        line = next(x for x in shown.stdout.splitlines() if "records read from POHODA" in x)
        match = re.search(r"(\d+) read, (\d+) our own writes", line)
        assert match and match.group(1) == match.group(2), shown.stdout


def test_count_echoes_as_a_plain_call() -> None:
    from connector.sync._echoes import count_echoes

    ours = Contact(name="Eva", email="eva@example.cz")
    base = ours.content()
    old = Contact(name="Old").content()
    link = Link(id=1, eshop_id="7", pohoda_id="70", temp_hq_id=None, state="linked")
    state = PlanState(
        links=(link,),
        bases={1: base},
        mirror_eshop={"8": MirrorRecord("eshop", "8", old, hash_content(old), None, None, False)},
        mirror_pohoda={},
    )
    changes = [
        SideRecord("pohoda", "70", ours),  # our write read back
        SideRecord("pohoda", "71", ours, ext_id="7"),  # the same link found by extId
        SideRecord("eshop", "7", ours.replace(city="Brno")),  # a real change
        SideRecord("eshop", "8", Contact(name="Old")),  # unchanged since the mirror
        SideRecord("eshop", "9", Contact(name="New")),  # new
    ]
    assert count_echoes(changes[:2], state) == 2
    assert count_echoes(changes[2:], state) == 1
