"""`connector reconcile`: both address books compared in full, reported by kind, repaired.

Real parts throughout: both simulators over loopback HTTP, the real store, the CLI as an
operator runs it. The seeded divergence is in `reconcile_seed.py` (the bench uses it too).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from reconcile_seed import Divergence, apply_to, divergence

from connector.model import Consent, Contact, ShipTo
from connector.plan import temporary_hq_id
from connector.runtime import Runtime
from connector.sim.sandbox import ICO, SHOP_BOXES, Sandbox
from connector.store import Store

N = 2000


def connector(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _counts(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    report = json.loads(result.stdout)
    return {kind: count for kind, count in report["counts"].items() if count}


# "prestashop" is PrestaShop 8 under its short name: the same simulator as "prestashop-8".
@pytest.fixture(params=sorted(set(SHOP_BOXES) - {"prestashop-8"}))
def diverged(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Sandbox, Divergence]]:
    platform = request.param
    seeded = divergence(N, rich=platform == "connector", hq_ids_in_seed=platform == "connector")
    with Sandbox(
        tmp_path / "box", pohoda_seed=seeded.pohoda_seed, eshop_seed=seeded.eshop_seed, platform=platform
    ) as box:
        with Store.open(box.config.store_url) as store:
            apply_to(box, store, seeded)
        yield box, seeded


def test_seeded_divergence_is_reported_exactly_then_fixed(diverged: tuple[Sandbox, Divergence]) -> None:
    box, seeded = diverged
    found = connector("reconcile", "--report", "json", env=box.env)
    assert found.returncode == 1, found.stderr
    assert _counts(found) == seeded.expected
    report = json.loads(found.stdout)
    assert report["summary"]["pohoda_complete"] and report["summary"]["eshop_complete"]
    assert report["summary"]["agree"] == N - sum(seeded.expected.values())
    differing = [d for d in report["differences"] if d["kind"] == "field_difference"]
    assert {d["fields"] == ["city"] for d in differing} == {True}
    assert {d["changed_on"] for d in differing} == {"eshop", "pohoda"}

    fixed = connector("reconcile", "--fix", "--report", "json", env=box.env)
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["fix"]["refused"] == 0

    again = connector("reconcile", "--report", "json", env=box.env)
    assert again.returncode == 0, again.stdout[-2000:]
    assert _counts(again) == {}
    with Store.open(box.config.store_url) as store:
        states = [link.state for link in store.all_links()]
        assert states.count("deleted_pohoda") == N // 200
        assert store.outbox_counts().get("pending", 0) == 0
        assert [a.operation for a in store.audit_entries(operation="reconcile")] == ["reconcile"]
    # Both sides hold every customer that was not deleted in POHODA, once.
    eshop = box.eshop_contacts()
    assert len(eshop) == N and len({c["email"] for c in eshop}) == N
    assert len(box.pohoda_contacts()) == N - N // 200


def test_a_fix_run_again_changes_nothing(tmp_path: Path) -> None:
    seeded = divergence(400)
    with Sandbox(tmp_path / "box", pohoda_seed=seeded.pohoda_seed, eshop_seed=seeded.eshop_seed) as box:
        with Runtime(box.config) as runtime:
            apply_to(box, runtime.store, seeded)
        assert connector("reconcile", "--fix", env=box.env).returncode == 0
        before = box.pohoda_stats()["requests"], box.eshop_stats()
        second = connector("reconcile", "--fix", "--report", "json", env=box.env)
        assert second.returncode == 0, second.stdout
        assert json.loads(second.stdout)["fix"]["planned"] == {}
        assert box.eshop_stats()["customers"] == before[1]["customers"]


def test_books_a_sync_left_in_step_agree(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "box") as box:
        for n in range(5):
            box.register({"name": f"Jana Nová {n}", "email": f"jana.{n}@example.cz", "city": "Brno"})
        box.add_at_counter({"name": "Petr Starý", "email": "petr@example.cz", "city": "Praha"})
        assert connector("sync", env=box.env).returncode == 0
        result = connector("reconcile", env=box.env)
        assert result.returncode == 0, result.stdout
        assert "Both address books agree." in result.stdout
        assert result.stderr == ""  # no progress bar when stderr is not a terminal


def test_deletions_wait_for_a_complete_read(tmp_path: Path) -> None:
    seeded = divergence(400)
    with Sandbox(tmp_path / "box", pohoda_seed=seeded.pohoda_seed, eshop_seed=seeded.eshop_seed) as box:
        with Runtime(box.config) as runtime:
            apply_to(box, runtime.store, seeded)
        box.pohoda_faults(malformed=True)  # POHODA's export cannot be read: nothing is known absent there
        result = connector("reconcile", "--fix", "--report", "json", env=box.env)
        assert result.returncode == 1
        report = json.loads(result.stdout)
        assert report["summary"]["pohoda_complete"] is False and report["summary"]["withheld"] > 0
        assert report["counts"]["gone_in_pohoda"] == 0 and report["counts"]["missing_in_pohoda"] == 0
        with Store.open(box.config.store_url) as store:
            assert {link.state for link in store.all_links()} == {"linked"}
            assert store.outbox_counts().get("pending", 0) == 0


def test_pending_customers_and_ids_lost_on_one_side_are_found_and_repaired(tmp_path: Path) -> None:
    pending = Contact(name="Eva Čekající", email="eva@example.cz", city="Olomouc")
    lost = Contact(name="Karel Ztracený", email="karel@example.cz", city="Plzeň")
    guid = temporary_hq_id(ICO, "P1")
    eshop_seed = [
        {**pending.replace(id="P1").to_dict(), "hq_id": guid, "sync_state": "pending_sync"},
        # The account shows no POHODA id any more (a restore of the e-shop, say).
        {**lost.replace(id="L1").to_dict()},
    ]
    with Sandbox(tmp_path / "box", pohoda_seed=[lost], eshop_seed=eshop_seed) as box:  # POHODA 1 lost its extId
        with Store.open(box.config.store_url) as store, store.transaction() as conn:
            first = Store.insert_link(conn, state="pending_sync", eshop_id="P1", temp_hq_id=guid)
            second = Store.insert_link(conn, state="linked", eshop_id="L1", pohoda_id="1")
            Store.set_bases(
                conn,
                [(first, pending.content(), pending.content_hash()), (second, lost.content(), lost.content_hash())],
            )
        found = connector("reconcile", "--report", "json", env=box.env)
        assert found.returncode == 1
        assert _counts(found) == {"pending": 1, "id_mismatch": 1}
        mismatch = next(d for d in json.loads(found.stdout)["differences"] if d["kind"] == "id_mismatch")
        assert mismatch["changed_on"] == "both"
        assert connector("reconcile", "--fix", env=box.env).returncode == 0
        assert connector("reconcile", env=box.env).returncode == 0
        accounts = {c["id"]: c for c in box.eshop_contacts()}
        assert accounts["P1"]["sync_state"] == "synced" and accounts["P1"]["hq_id"] != guid
        assert accounts["L1"]["hq_id"] == "1"
        assert {c.get("ext_id") for c in box.pohoda_contacts()} == {"L1", "P1"}


def test_text_and_json_reports_and_logs_carry_no_personal_data(diverged_small: tuple[Sandbox, Divergence]) -> None:
    box, seeded = diverged_small
    emails = [row["email"] for row in seeded.eshop_seed[:50]]
    with structlog.testing.capture_logs() as logs, Runtime(box.config) as runtime:
        from connector.reconcile import reconcile, render

        result = reconcile(runtime)
        text, machine, page = render(result, "text"), render(result, "json"), render(result, "html")
    assert result.exit_code == 1
    logged = json.dumps(logs, default=str)
    differing = [f for f in result.comparison.findings if f.values]
    shown = [v for f in differing for side in f.values.values() for v in side.values() if isinstance(v, str)]
    assert shown  # the HTML has the values to show ...
    assert any(value in page for value in shown)
    for value in [*emails, *shown]:  # ... and nothing else does
        assert value not in text and value not in machine and value not in logged


@pytest.fixture
def diverged_small(tmp_path: Path) -> Iterator[tuple[Sandbox, Divergence]]:
    seeded = divergence(400)
    with Sandbox(tmp_path / "box", pohoda_seed=seeded.pohoda_seed, eshop_seed=seeded.eshop_seed) as box:
        with Store.open(box.config.store_url) as store:
            apply_to(box, store, seeded)
        yield box, seeded


def test_a_configuration_error_exits_2(tmp_path: Path) -> None:
    env = {"CONNECTOR_STORE_URL": f"sqlite:///{tmp_path / 'c.db'}", "CONNECTOR_POHODA_URL": ""}
    result = connector("reconcile", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("error:")


def test_the_report_goes_to_a_file(diverged_small: tuple[Sandbox, Divergence], tmp_path: Path) -> None:
    box, _seeded = diverged_small
    target = tmp_path / "report.txt"
    result = connector("reconcile", "--output", str(target), env=box.env)
    assert result.returncode == 1 and result.stdout == ""
    text = target.read_text(encoding="utf-8")
    assert "missing in pohoda" in text and "Differences" in text


def test_the_fingerprint_is_the_hash_the_store_keeps_for_synced_versions() -> None:
    from connector.model import hash_content
    from connector.reconcile import fingerprint
    from connector.sim.generate import generate_contacts

    for contact in generate_contacts(300, seed=5):
        assert fingerprint(contact) == hash_content(contact.content()) == contact.content_hash()


_odd = st.sampled_from(['"', "\\", "%s", "\u2028", "\x00", "ž", "\U0001f600"])
_texts = st.one_of(st.none(), st.text(max_size=12), _odd)


@settings(max_examples=300, deadline=None)
@given(
    st.builds(
        Contact,
        **{name: _texts for name in ("company", "name", "email", "city", "zip", "country", "note", "birth_date")},
        groups=st.lists(st.text(max_size=5), max_size=3).map(tuple),
        ship_to=st.lists(st.builds(ShipTo, name=_texts, street=_texts, default=st.booleans()), max_size=2).map(tuple),
        gdpr=st.lists(st.builds(Consent, purpose=st.text(max_size=5), description=_texts), max_size=2).map(tuple),
    )
)
def test_the_fingerprint_writes_the_hash_of_any_content(contact: Contact) -> None:
    """The fingerprint writes the JSON itself: any text (quotes, escapes, line separators,
    '%', astral characters, ids aside) gives the same hash as the model's."""
    from connector.reconcile import fingerprint

    assert fingerprint(contact) == contact.content_hash()
    assert fingerprint(contact.replace(id="7", ext_id="E-7")) == contact.content_hash()


def test_on_a_terminal_the_progress_shows_each_side_and_its_rate(diverged_small: tuple[Sandbox, Divergence]) -> None:
    import pty
    import select

    box, _seeded = diverged_small
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "connector", "reconcile", "--report", "json"],
            env={**os.environ, **box.env, "TERM": "xterm", "COLUMNS": "120"},
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=300,
            check=False,
        )
        os.close(follower)
        shown = b""
        while select.select([leader], [], [], 0.5)[0]:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
    assert done.returncode == 1
    json.loads(done.stdout)  # the report on stdout stays clean JSON
    screen = shown.decode("utf-8", "replace")
    assert "POHODA" in screen and "e-shop" in screen
    assert "rec/s" in screen and "ETA" in screen
    assert "394/394" in screen.replace(" ", "")  # POHODA's records read, against those expected


def test_the_package_names_its_public_surface() -> None:
    import connector.reconcile as package

    assert sorted(package.__all__) == sorted(set(package.__all__))
    assert [name for name in package.__all__ if not hasattr(package, name)] == []
