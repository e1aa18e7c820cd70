"""Kill -9 on WooCommerce and Shoptet: a sync run of 1,000 registrations (and 200 counter
contacts to auto-register) is killed at a random instant, then a clean run: nothing lost,
nothing doubled, no welcome e-mail sent twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from connector.actions import run_sync
from connector.model import CONTACT_FIELDS
from connector.runtime import Runtime
from connector.sim.generate import generate_contacts
from connector.sim.sandbox import Sandbox

MAPPED = [f for f in CONTACT_FIELDS if f not in ("id", "ext_id")]
REGISTRATIONS = 1000
COUNTER = 200


def assert_converged(box: Sandbox) -> int:
    """Every shop customer is one POHODA contact (by POHODA's extId, the one mapping every
    platform has) and equal to it on what the platform holds; returns the count."""
    eshop, pohoda = box.eshop_contacts(), box.pohoda_contacts()
    ext_ids = Counter(str(row["ext_id"]) for row in pohoda)
    assert all(count == 1 for count in ext_ids.values()), "two POHODA contacts carry one e-shop id"
    emails = Counter(str(row["email"]).casefold() for row in eshop)
    assert all(count == 1 for count in emails.values()), "one e-mail has two shop accounts"
    by_ext = {str(row["ext_id"]): row for row in pohoda}
    with Runtime(box.config, parts=("shop",)) as runtime:
        held = runtime.shop.storable_content  # type: ignore[attr-defined]
    differences = []
    for customer in eshop:
        twin = by_ext.get(customer["id"])
        assert twin is not None, "a shop customer has no POHODA contact"
        if customer["hq_id"] is not None:
            assert customer["hq_id"] == twin["id"]
        shown = held({f: twin[f] for f in MAPPED})
        differences += [(customer["id"], f) for f in MAPPED if customer[f] != shown[f]]
    assert differences == []
    assert len(eshop) == len(pohoda)
    return len(eshop)


def _shop_creates(box: Sandbox) -> int:
    return int(box.eshop_stats().get("creates", 0))


def _sync_process(box: Sandbox) -> subprocess.Popen[bytes]:
    env = {**os.environ, **box.env}
    return subprocess.Popen(
        [sys.executable, "-m", "connector", "sync", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
@pytest.mark.parametrize("platform", ["woocommerce", "shoptet"])
# Six instants per platform, two per test (each well under 90 s): one anywhere, one inside the delivery.
@pytest.mark.parametrize(
    "attempts", [range(n, n + 2) for n in range(0, 6, 2)], ids=[f"kills-{n + 1}-{n + 2}" for n in range(0, 6, 2)]
)
def test_kill_9_at_random_instants_doubles_and_loses_nothing(tmp_path: Path, platform: str, attempts: range) -> None:
    registrations = list(generate_contacts(REGISTRATIONS, seed=17, rich=False, start=0))
    counter_contacts = list(generate_contacts(COUNTER, seed=18, rich=False, start=100_000))
    cut_short = 0  # attempts killed with part of the writes done (the instants that matter)
    for attempt in attempts:
        rng = random.Random(f"{platform}-{attempt}")
        directory = tmp_path / f"attempt-{attempt}"
        with Sandbox(directory, platform=platform, eshop_seed=registrations, pohoda_seed=counter_contacts) as box:
            creates_before = _shop_creates(box)  # Shoptet counts its seeded customers as creates

            def progress(box: Sandbox = box, before: int = creates_before) -> tuple[int, int]:
                """(POHODA import items, shop creates) so far: cheap counters, not the records."""
                return int(box.pohoda_stats()["imports"]), _shop_creates(box) - before

            process = _sync_process(box)
            if attempt % 2 == 0:
                # Anywhere from start-up to the end of delivery (the run takes a few seconds).
                time.sleep(rng.uniform(0.5, 5.0))
            else:
                # Inside the delivery: once the first writes arrived, a little later (a loaded
                # machine may take long to start the run: it is waited for, not failed).
                deadline = time.monotonic() + 120
                while progress() == (0, 0) and process.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(rng.uniform(0.0, 0.8))
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            imports, creates = progress()
            # A whole run imports every registration and tells POHODA each new account's id.
            cut_short += 0 < imports < REGISTRATIONS + COUNTER or 0 < creates < COUNTER
            clean = run_sync(box.config)
            assert clean.state == "done", clean.message
            run_sync(box.config)
            assert assert_converged(box) == REGISTRATIONS + COUNTER, f"attempt {attempt}"
            welcomes = Counter(n["customer_id"] for n in box.notifications())
            assert len(welcomes) == COUNTER and set(welcomes.values()) == {1}, f"attempt {attempt}"
    assert cut_short > 0, "no kill fell inside the delivery"
