"""Hostile peers and bad records against the real run: no mislink, no stall, one bad record
stops nothing. The hostile answers come from a real loopback proxy in front of the simulators.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hostile_proxy import rewriting_proxy

import connector.store._store as store_module
import connector.sync._run as run_module
from connector.actions import run_sync
from connector.cli._main import _register_commands, root
from connector.config import load_config
from connector.runtime import Runtime
from connector.sim.sandbox import Sandbox
from connector.store import Store

_PRODUCED = re.compile(rb"(<rdc:producedDetails>\s*<rdc:id>)(\d+)(</rdc:id>)")


_register_commands()


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "box") as sandbox:
        yield sandbox


def _with_pohoda_at(box: Sandbox, url: str) -> dict[str, str]:
    return {**box.env, "CONNECTOR_POHODA_URL": url}


def swap_first_two_produced_ids(method: str, path: str, body: bytes) -> bytes:
    ids = _PRODUCED.findall(body)
    if method != "POST" or len(ids) < 2:
        return body
    first, second = ids[0][1], ids[1][1]
    swapped = iter([second, first])

    def repl(match: re.Match[bytes]) -> bytes:
        value = next(swapped, None)
        return match.group(1) + (value if value is not None else match.group(2)) + match.group(3)

    return _PRODUCED.sub(repl, body, count=2)


def test_a_swapped_produced_id_links_nobody_and_mixes_no_data(box: Sandbox) -> None:
    box.add_at_counter({"name": "Stávající Jedna", "city": "Brno"})  # ids 1 and 2 exist already
    box.add_at_counter({"name": "Stávající Dva", "city": "Brno"})
    jana = box.register({"name": "Jana Nováková", "email": "jana@example.cz", "street": "Lipová 1"})
    petr = box.register({"name": "Petr Svoboda", "email": "petr@example.cz", "street": "Dubová 2"})
    proxy = rewriting_proxy(box.pohoda_server.url, swap_first_two_produced_ids)
    try:
        hostile = load_config(None, env=_with_pohoda_at(box, proxy.url))
        summary = run_sync(hostile)
    finally:
        proxy.stop()
    assert summary.refused == 2
    with Store.open(box.config.store_url) as store:
        for eshop_id in (jana, petr):
            link = store.find_link(eshop_id=eshop_id)
            assert link is not None and link.pohoda_id is None  # linked to nobody
        notes = [a.note or "" for a in store.audit_entries(result="refused", limit=10)]
    assert sum("does not carry the e-shop id" in note for note in notes) == 2
    # The next clean run finds each created contact by its extId and links it right.
    run_sync(box.config)
    run_sync(box.config)
    pohoda = {c["ext_id"]: c for c in box.pohoda_contacts() if c["ext_id"]}
    eshop = {c["id"]: c for c in box.eshop_contacts()}
    assert set(pohoda) == {jana, petr}
    for eshop_id, name in ((jana, "Jana Nováková"), (petr, "Petr Svoboda")):
        assert eshop[eshop_id]["name"] == name and pohoda[eshop_id]["name"] == name
        assert eshop[eshop_id]["hq_id"] == pohoda[eshop_id]["id"]
        assert eshop[eshop_id]["sync_state"] == "synced"
    assert len(box.pohoda_contacts()) == 4  # nobody created twice


def _impossible_birth_date_of_record_1(method: str, path: str, body: bytes) -> bytes:
    if b"listAddressBook" not in body:
        return body
    # The first record's date of birth, made one that fails xs:date (February 30th).
    return re.sub(rb"(<[A-Za-z]+:dateOfBirth>)[^<]*(</[A-Za-z]+:dateOfBirth>)", rb"\g<1>1985-02-30\g<2>", body, count=1)


def test_one_bad_pohoda_record_is_set_aside_and_the_rest_goes_on(box: Sandbox) -> None:
    ids = [
        box.add_at_counter({"name": f"Pultový {n}", "email": f"pult{n}@example.cz", "birth_date": "1980-01-0" + str(n)})
        for n in range(1, 6)
    ]
    proxy = rewriting_proxy(box.pohoda_server.url, _impossible_birth_date_of_record_1)
    try:
        summary = run_sync(load_config(None, env=_with_pohoda_at(box, proxy.url)))
    finally:
        proxy.stop()
    assert summary.state == "done" and summary.refused == 1
    assert len(box.eshop_contacts()) == 4  # the four good contacts got their accounts
    with Store.open(box.config.store_url) as store:
        [row] = [a for a in store.audit_entries(result="refused", limit=10) if a.operation == "pull"]
    assert row.pohoda_id == ids[0] and row.detail == {"field": "birth_date"}
    assert "1985-02-30" not in (row.note or "")  # the value is personal data: never in a note


def test_one_bad_eshop_record_is_set_aside_and_the_rest_goes_on(box: Sandbox) -> None:
    good = [box.register({"name": f"Zákazník {n}", "email": f"z{n}@example.cz"}) for n in range(3)]
    bad = box.register({"name": "Dlouhé Jméno", "email": "dlouhe@example.cz"})

    def long_name(method: str, path: str, body: bytes) -> bytes:
        if path != "/customers/changes":
            return body
        pattern = rb'(<customer id="' + bad.encode() + rb'"[^>]*>.*?<name>)[^<]*(</name>)'
        return re.sub(pattern, rb"\g<1>" + b"X" * 200 + rb"\g<2>", body, count=1, flags=re.S)

    proxy = rewriting_proxy(box.eshop_server.url, long_name)
    try:
        summary = run_sync(load_config(None, env={**box.env, "CONNECTOR_ESHOP_URL": proxy.url}))
    finally:
        proxy.stop()
    assert summary.refused == 1
    assert {c["ext_id"] for c in box.pohoda_contacts()} == set(good)
    with Store.open(box.config.store_url) as store:
        [row] = [a for a in store.audit_entries(result="refused", limit=10) if a.operation == "pull"]
    assert row.eshop_id == bad and row.detail == {"field": "name"}
    assert f"customer {bad}" in (row.note or "") and "changes/customer[" not in (row.note or "")


@pytest.mark.parametrize(
    "answer",
    [
        b"<html><body>502 Bad Gateway</body></html>",
        b"",
        b'<?xml version="1.0" encoding="Windows-1250"?><rsp:responsePack xmlns:rsp="http://www.stormware.cz/schema/version_2/response.xsd"',
        b"not xml at all",
    ],
    ids=["html", "empty", "truncated", "malformed"],
)
def test_a_peer_that_answers_garbage_is_a_peer_fault_exit_1_with_the_summary(box: Sandbox, answer: bytes) -> None:
    box.register({"name": "Jana Nová", "email": "jana@example.cz"})
    proxy = rewriting_proxy(box.pohoda_server.url, lambda m, p, b: answer if p == "/xml" else b)
    try:
        env = _with_pohoda_at(box, proxy.url)
        result = CliRunner().invoke(root, ["sync", "--json"], env=env, catch_exceptions=False)
    finally:
        proxy.stop()
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["pohoda_unreachable"] is True and "pohoda" in summary["peer_errors"]
    assert summary["pulled_eshop"] == 1  # the e-shop's side went on


def test_a_live_run_keeps_its_lock_and_a_second_run_waits(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "LOCK_STALE_S", 1.0)
    monkeypatch.setattr(run_module, "HEARTBEAT_S", 0.2)
    for n in range(30):
        box.register({"name": f"Pomalý {n}", "email": f"pomaly{n}@example.cz"})
    # Packs of 5, each POHODA request 1 s: the run cannot end (six packs, and its reads, take
    # 7 s at least) before the second run asks at 2 s, however quick or loaded the machine is.
    box.pohoda_faults(delay_ms=1000)
    config = load_config(None, env={**box.env, "CONNECTOR_POHODA_BATCH_SIZE": "5"})
    first: list[object] = []
    with Runtime(config) as slow:
        def first_run() -> None:
            try:
                first.append(slow.sync_run().run())
            except BaseException as exc:  # kept for the assertion below, which names it
                first.append(exc)
                raise

        worker = threading.Thread(target=first_run)
        worker.start()
        time.sleep(2.0)  # the first run's lock is older than LOCK_STALE_S by now
        second = run_sync(box.config)
        # A first run already ended (or failed) would leave no lock to find, and the second
        # run's answer would say nothing about the heartbeat: CI once saw it "done", unexplained.
        first_still_running = worker.is_alive()
        box.pohoda_faults(delay_ms=0)  # the answer is in: the first run may finish quickly now
        worker.join(60)
    assert first_still_running, f"the first run ended before the second asked for the lock: {first!r}"
    assert second.state == "skipped" and "another run is active" in second.message
    assert first[0].state == "done"


def test_status_counts_only_what_is_still_refused(box: Sandbox) -> None:
    eshop_id = box.register({"name": "N" * 65 + " Dlouhý", "email": "dlouhy@example.cz"})  # over POHODA's 64
    run_sync(box.config)
    runner = CliRunner()
    before = json.loads(runner.invoke(root, ["status", "--json"], env=box.env).stdout)
    assert before["refused"] == 1
    box.edit_on_eshop(eshop_id, name="Jan Krátký")
    run_sync(box.config)
    after = json.loads(runner.invoke(root, ["status", "--json"], env=box.env).stdout)
    assert after["refused"] == 0
    assert {c["ext_id"] for c in box.pohoda_contacts()} == {eshop_id}



def test_the_whole_run_ends_by_max_run_s_even_with_a_peer_that_answers_slowly(box: Sandbox) -> None:
    for n in range(5):
        box.register({"name": f"Čekající {n}", "email": f"cekajici{n}@example.cz"})
    box.pohoda_faults(delay_ms=8000)  # every POHODA answer takes 8 s (the read timeout is longer)
    config = load_config(
        None, env={**box.env, "CONNECTOR_SYNC_MAX_RUN_S": "3", "CONNECTOR_POHODA_RETRY_MAX_S": "60"}
    )
    started = time.monotonic()
    summary = run_sync(config)
    elapsed = time.monotonic() - started
    assert elapsed < 12, elapsed  # not 60 s of retries: the run's deadline cut the exchange
    assert summary.pohoda_unreachable and "max_run_s" in summary.peer_errors["pohoda"]
    box.pohoda_faults(delay_ms=0)
    run_sync(box.config)
    assert len(box.pohoda_contacts()) == 5  # nothing lost: the next run delivered it all
