"""Several connector processes sharing one store: claims, leases, the run lock, the mServer
lock; and, on PostgreSQL, four `connector deliver` workers that deliver every operation once,
live through a SIGKILL of one of them and a restart of the server."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.errors import RunLockHeld
from connector.sim.sandbox import Sandbox
from connector.store import Store, WriteBatch
from connector.store._engine import with_password
from tests.conftest import SANDBOX_STORE_ENV, postgres_url_or_skip
from tests.shared_work import (
    PostgresServer,
    delivered_notes,
    outbox_states,
    postgres_bin,
    seeded_sandbox,
    start_workers,
    wait_all,
    worker_stacks,
)


def _outbox(store: Store, links: int, per_link: int = 1) -> list[int]:
    with store.transaction() as conn:
        ids = Store.insert_links(
            conn, [{"state": "linked", "eshop_id": f"e{i}", "pohoda_id": f"{i}"} for i in range(links)]
        )
        batch = WriteBatch()
        for _round in range(per_link):
            for link_id in ids:
                batch.enqueue(run_id="seed", link_id=link_id, side="eshop", kind="update", payload={"n": _round})
        batch.flush(conn)
    return ids


@pytest.fixture
def store(store_backend: str) -> Iterator[Store]:
    with Store.open(store_backend, lease_s=30) as opened:
        yield opened


def test_two_workers_never_claim_the_same_operation(store: Store) -> None:
    _outbox(store, 300)
    taken: dict[str, list[int]] = {"a": [], "b": []}

    def work(owner: str) -> None:
        while entries := store.claim("eshop", owner, limit=7):
            with store.transaction() as conn:
                for entry in entries:
                    Store.finish_outbox(conn, entry.id, "done")
            taken[owner].extend(entry.id for entry in entries)

    threads = [threading.Thread(target=work, args=(owner,)) for owner in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not set(taken["a"]) & set(taken["b"])
    assert len(taken["a"]) + len(taken["b"]) == 300
    assert store.outbox_counts() == {"done": 300}


def test_one_customer_has_one_operation_claimed_at_a_time_in_order(store: Store) -> None:
    _outbox(store, 3, per_link=3)
    first = store.claim("eshop", "a")
    assert [e.payload["n"] for e in first] == [0, 0, 0]
    assert store.claim("eshop", "b") == []  # the later ones wait for the first of each customer
    with store.transaction() as conn:
        for entry in first:
            Store.finish_outbox(conn, entry.id, "done")
    assert [e.payload["n"] for e in store.claim("eshop", "b")] == [1, 1, 1]


def test_a_claim_whose_lease_ran_out_is_taken_over_and_a_released_one_at_once(store: Store) -> None:
    _outbox(store, 4)
    dead = store.claim("eshop", "dead", lease_s=0.5, limit=2)
    store.release_claims("dead", "eshop")  # its renewer stops; the rows are free now
    assert [e.id for e in store.claim("eshop", "alive", limit=2)] == [e.id for e in dead]
    lost = store.claim("eshop", "killed", lease_s=0.5, limit=2)
    with store._claims_lock:  # a SIGKILLed worker renews nothing
        store._claimants.discard(("killed", "eshop"))
    assert store.claim("eshop", "other") == []
    time.sleep(0.7)
    assert [e.id for e in store.claim("eshop", "other")] == [e.id for e in lost]


def test_on_sqlite_a_dead_process_claims_are_free_at_once(tmp_path: Path) -> None:
    import sys

    url = f"sqlite:///{tmp_path / 'connector.db'}"
    with Store.open(url) as store:
        _outbox(store, 3)
    code = f"from connector.store import Store; Store.open({url!r}).claim('eshop', 'killed')"
    subprocess.run([sys.executable, "-c", code], check=True)  # claims, exits without releasing
    with Store.open(url) as store:
        assert len(store.claim("eshop", "next")) == 3


def test_a_live_worker_keeps_its_claims_by_renewing_them(store_backend: str) -> None:
    with Store.open(store_backend, lease_s=1.0) as store:
        _outbox(store, 2)
        held = store.claim("eshop", "live")
        time.sleep(2.0)  # twice the lease: the renewer beat every third of it
        assert store.claim("eshop", "other") == []
        store.release_claims("live", "eshop")
        assert len(store.claim("eshop", "other")) == len(held)


def test_renewing_claims_never_waits_for_the_delivery_settling_them(store_backend: str) -> None:
    """PostgreSQL: the renewer skips the rows a delivery's transaction holds (it settles them
    anyway). Waiting for them, with the delivery waiting for rows the renewer took, was a
    deadlock that PostgreSQL broke by aborting the delivery (a kill -9 run found it). SQLite
    has one writer at a time: there the renewal waits its turn, and no cycle can form."""
    if store_backend.startswith("sqlite"):
        pytest.skip("SQLite has no row locks: one writer at a time, a renewal waits its turn")
    with Store.open(store_backend, lease_s=30) as store:
        _renew_beside_a_settling_delivery(store)


def _renew_beside_a_settling_delivery(store: Store) -> None:
    _outbox(store, 10)
    held = store.claim("eshop", "worker")
    assert len(held) == 10
    settling = store.engine.connect()
    try:
        transaction = settling.begin()
        for entry in held[:4]:  # the delivery's transaction, midway through its chunk
            Store.finish_outbox(settling, entry.id, "done")
        renewed: list[int] = []
        renewer = threading.Thread(target=lambda: renewed.append(store.renew_claims("worker", "eshop")))
        renewer.start()
        renewer.join(10)
        blocked = renewer.is_alive()
        transaction.commit()
        renewer.join(10)
    finally:
        settling.close()
    assert not blocked, "the renewal waited for the delivery's transaction"
    assert renewed == [6]
    assert store.outbox_counts() == {"done": 4, "pending": 6}


def test_the_run_lock_is_held_once_and_freed_by_release(store: Store, store_backend: str) -> None:
    store.acquire_lock("sync", "first")
    with Store.open(store_backend) as other, pytest.raises(RunLockHeld):
        other.acquire_lock("sync", "second")
    store.release_lock("sync", "first")
    with Store.open(store_backend) as other:
        other.acquire_lock("sync", "second")
        other.release_lock("sync", "second")


def test_one_at_a_time_excludes_across_stores(store_backend: str) -> None:
    inside, most = 0, 0
    lock = threading.Lock()

    def hold(store: Store) -> None:
        nonlocal inside, most
        for _ in range(10):
            with store.one_at_a_time("mserver:http://example.invalid"):
                with lock:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.005)
                with lock:
                    inside -= 1

    stores = [Store.open(store_backend) for _ in range(3)]
    try:
        threads = [threading.Thread(target=hold, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for s in stores:
            s.close()
    assert most == 1


def test_the_password_comes_from_the_environment_not_the_url() -> None:
    url = sa.engine.make_url("postgresql+psycopg://connector@db.internal/shop")
    assert with_password(url, {"CONNECTOR_STORE_PASSWORD": "s3cret"}).password == "s3cret"
    assert with_password(url, {}).password is None
    assert with_password(sa.engine.make_url("sqlite:///x.db"), {"CONNECTOR_STORE_PASSWORD": "s"}).password is None


# -- several processes on PostgreSQL -----------------------------------------------------


@pytest.fixture
def on_postgres(monkeypatch: pytest.MonkeyPatch) -> str:
    base = postgres_url_or_skip()
    monkeypatch.setenv(SANDBOX_STORE_ENV, base)
    return base


def wait_for_progress(box: Sandbox, *, done: int, timeout_s: float = 60) -> None:
    """Until the workers are well into the work (their start-up takes a while on a busy machine)."""
    deadline = time.monotonic() + timeout_s
    while outbox_states(box).get("done", 0) < done:
        assert time.monotonic() < deadline, "the workers did not start delivering"
        time.sleep(0.1)


def workers_finished(
    box: Sandbox, workers: list[subprocess.Popen[bytes]], timeout_s: float, logs: Path
) -> list[int]:
    """The workers' exit codes; if they are still running at the deadline (killed there),
    what they left says where they were: the outbox's states and the simulators' requests."""
    try:
        return wait_all(workers, timeout_s)
    except subprocess.TimeoutExpired:
        left = outbox_states(box)
        requests = box.eshop_stats().get("requests"), box.pohoda_stats().get("requests")
        raise AssertionError(
            f"workers still running after {timeout_s} s: outbox {left}, requests {requests}{worker_stacks(logs)}"
        ) from None


def assert_each_delivered_once(
    box: Sandbox, eshop_ops: int, pohoda_ops: int, *, lost_chunks: int = 0, orphaned: int = 0
) -> None:
    """Every operation done, and its effect applied once at the simulator. A worker that died
    (or lost the store) after sending a chunk and before recording its answers leaves that
    chunk to be sent again after the lease: the simulators recognise those replays (the
    e-shop answers them as no-ops, POHODA's duplicity check refuses them), at most
    `lost_chunks` chunks of them. Without a loss, each operation reached its peer once."""
    assert outbox_states(box) == {"done": eshop_ops + pohoda_ops}
    on_eshop, in_pohoda = delivered_notes(box)
    assert len(on_eshop) == eshop_ops and set(on_eshop.values()) == {1}
    assert len(in_pohoda) == pohoda_ops and set(in_pohoda.values()) == {1}
    eshop, pohoda = box.eshop_stats(), box.pohoda_stats()
    # Counted at the simulators: each update applied once.
    assert eshop["updates"] == eshop_ops
    assert eshop.get("conflicts", 0) == 0
    assert eshop.get("noops", 0) <= lost_chunks * box.config.eshop.batch_size
    # A replayed chunk that a new claim composed differently gets a new pack id, so POHODA
    # imports its updates again: the same content, no second contact (counted above).
    assert pohoda_ops <= pohoda["imports"] <= pohoda_ops + lost_chunks * box.config.pohoda.batch_size
    assert pohoda["duplicates"] <= lost_chunks * box.config.pohoda.batch_size
    assert len(box.pohoda_contacts()) == len(box.eshop_contacts()) == eshop_ops
    # mServer serves one request at a time, as the simulator does (it queues the others).
    assert pohoda["max_concurrency"] == 1
    # The workers never had two in flight. A worker that dies mid-request (or a store that
    # drops every session) lets the gate go while mServer still works on that request, so
    # the next one may wait at mServer behind it: `orphaned` such requests at most.
    assert pohoda["max_in_flight"] <= 1 + orphaned


# The kill and the restart tests: enough operations that the four workers are still busy
# (several batches each to go) when it comes after the first 300. What they prove is that
# claims cut short are taken over and sent once, which takes concurrency and a cut, not volume;
# the 20,000 of issue 18's acceptance are delivered by the test above them.
MID_RUN_ESHOP, MID_RUN_POHODA = 1_500, 300


@pytest.mark.slow
def test_four_workers_deliver_20000_operations_each_once(tmp_path: Path, on_postgres: str) -> None:
    settings = {"CONNECTOR_POHODA_BATCH_SIZE": "100"}
    with seeded_sandbox(tmp_path / "box", 16_000, pohoda_ops=4_000, settings=settings) as box:
        workers = start_workers(box, 4, tmp_path / "logs")
        # The deadline only bounds a hang: three such runs at once took 97 s each at load 7.
        assert workers_finished(box, workers, 240, tmp_path / "logs") == [0, 0, 0, 0]
        assert_each_delivered_once(box, 16_000, 4_000)
        # Full packs of 100, save where a claim came up short (another worker held some of the
        # oldest rows at that instant); none sent twice (POHODA's imports counted above).
        assert 40 <= box.pohoda_stats()["requests"]["POST /xml"] <= 48


@pytest.mark.slow
def test_a_worker_killed_mid_batch_has_its_claims_taken_over_after_the_lease(tmp_path: Path, on_postgres: str) -> None:
    # A slow e-shop keeps every worker mid-batch most of the time. At the kill (300 done),
    # some 1,500 of the 1,800 operations are still to go: several batches for each worker.
    lease = {"CONNECTOR_STORE_LEASE_S": "3", "CONNECTOR_ESHOP_BATCH_SIZE": "50"}
    with seeded_sandbox(tmp_path / "box", MID_RUN_ESHOP, pohoda_ops=MID_RUN_POHODA, settings=lease) as box:
        box.eshop_faults(delay_ms=100)
        workers = start_workers(box, 4, tmp_path / "logs")
        wait_for_progress(box, done=300)
        workers[0].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        assert workers[0].wait(10) == -signal.SIGKILL
        assert workers_finished(box, workers[1:], 110, tmp_path / "logs") == [0, 0, 0]
        # The killed worker held claims: they waited for their lease before being taken over.
        assert time.monotonic() - killed_at >= 3
        assert_each_delivered_once(box, MID_RUN_ESHOP, MID_RUN_POHODA, lost_chunks=2, orphaned=1)


@pytest.mark.slow
@pytest.mark.skipif(postgres_bin() is None, reason="no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
def test_workers_live_through_a_postgresql_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = PostgresServer().start()
    try:
        monkeypatch.setenv(SANDBOX_STORE_ENV, server.url)
        settings = {"CONNECTOR_STORE_LEASE_S": "5", "CONNECTOR_ESHOP_BATCH_SIZE": "50"}
        with seeded_sandbox(tmp_path / "box", MID_RUN_ESHOP, pohoda_ops=MID_RUN_POHODA, settings=settings) as box:
            box.eshop_faults(delay_ms=100)
            workers = start_workers(box, 4, tmp_path / "logs")
            wait_for_progress(box, done=300)
            server.stop("immediate")  # a crash: every session is cut mid-transaction
            time.sleep(2.0)
            server.start()
            assert workers_finished(box, workers, 110, tmp_path / "logs") == [0, 0, 0, 0]
            outages = sum(
                '"store_outages": 0' not in (tmp_path / "logs" / f"worker-{i}.out").read_text() for i in range(4)
            )
            assert outages >= 1  # the workers did see the server go
            # Each of the four may have lost the answers of its chunk in flight to each side.
            assert_each_delivered_once(box, MID_RUN_ESHOP, MID_RUN_POHODA, lost_chunks=4, orphaned=1)
    finally:
        server.close()
