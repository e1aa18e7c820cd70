"""Helpers of the shared-work tests and bench/scale.py: a private PostgreSQL server that a
test may stop and start, and an outbox seeded with linked customers' updates both ways."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from glob import glob
from pathlib import Path
from typing import Any

from connector.sim._server import free_port
from connector.sim.generate import generate_contacts
from connector.sim.sandbox import Sandbox
from connector.store import Store, WriteBatch

DELIVER = [sys.executable, "-m", "connector", "deliver", "--until-empty", "--json"]


def postgres_bin() -> Path | None:
    found = sorted(glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """A PostgreSQL server of its own on a loopback port, in a temporary directory, run as
    the `postgres` user when this process is root (the server refuses root)."""

    def __init__(self) -> None:
        bindir = postgres_bin()
        assert bindir is not None
        self.bindir = bindir
        # Not under pytest's tmp_path: the server's user must reach it (root's is 0700).
        self.directory = directory = Path(tempfile.mkdtemp(prefix="connector-pg-"))
        self.data = directory / "data"
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        self._as_server_user([str(bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"])
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_server_user(self, argv: Sequence[str]) -> None:
        command = list(argv)
        if self._user:
            command = ["runuser", "-u", self._user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.directory)

    def start(self) -> PostgresServer:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory} -c fsync=off -c max_connections=200"
        )
        self._as_server_user(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.directory / "log"),
                "-w",
                "start",
            ]
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        self._as_server_user([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


def seeded_sandbox(
    directory: Path, customers: int, *, pohoda_ops: int, settings: dict[str, str] | None = None
) -> Sandbox:
    """A sandbox whose two sides hold the same `customers`, linked in the store, and whose
    outbox holds one e-shop update per customer plus POHODA updates for the first `pohoda_ops`:
    `customers + pohoda_ops` operations, each changing the note to `v2-<number>`."""
    contacts = list(generate_contacts(customers, seed=3, rich=False))
    box = Sandbox(directory, eshop_seed=contacts, pohoda_seed=contacts, settings=settings)
    eshop = {c["email"]: str(c["id"]) for c in box.eshop_contacts()}
    versions = {customer.contact.id: customer.version for customer in box.eshop_sim.customers()}
    pohoda = {c["email"]: str(c["id"]) for c in box.pohoda_contacts()}
    with Store.open(box.config.store_url) as store, store.transaction() as conn:
        ids = Store.insert_links(
            conn,
            [{"state": "linked", "eshop_id": eshop[c.email], "pohoda_id": pohoda[c.email]} for c in contacts],
        )
        batch = WriteBatch()
        for number, (contact, link_id) in enumerate(zip(contacts, ids, strict=True)):
            changed = contact.replace(id=None, note=f"v2-{number}").to_dict()
            expected = versions[eshop[contact.email]]
            payload = {"contact": changed, "expected_version": expected}
            batch.enqueue(run_id="seed", link_id=link_id, side="eshop", kind="update", payload=payload)
            if number < pohoda_ops:
                batch.enqueue(
                    run_id="seed", link_id=link_id, side="pohoda", kind="update", payload={"contact": changed}
                )
        batch.flush(conn)
    return box


def delivered_notes(box: Sandbox) -> tuple[dict[str, int], dict[str, int]]:
    """How many customers carry each `v2-…` note, on the e-shop and in POHODA."""
    out: list[dict[str, int]] = []
    for contacts in (box.eshop_contacts(), box.pohoda_contacts()):
        notes: dict[str, int] = {}
        for contact in contacts:
            note = contact.get("note") or ""
            if note.startswith("v2-"):
                notes[note] = notes.get(note, 0) + 1
        out.append(notes)
    return out[0], out[1]


def start_workers(box: Sandbox, count: int, logs: Path, **env: str) -> list[subprocess.Popen[bytes]]:
    logs.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, **box.env, **env}
    environment.pop("CONNECTOR_SANDBOX_STORE_URL", None)
    # A worker stopped with SIGABRT (wait_all's deadline) writes every thread's stack to its log.
    environment["PYTHONFAULTHANDLER"] = "1"
    return [
        subprocess.Popen(
            DELIVER,
            env=environment,
            stdout=(logs / f"worker-{i}.out").open("wb"),
            stderr=(logs / f"worker-{i}.err").open("wb"),
        )
        for i in range(count)
    ]


def worker_stacks(logs: Path) -> str:
    """The end of each worker's error log in `logs` (after wait_all's SIGABRT: its threads' stacks)."""
    return "".join(
        f"\n--- {log.name}:\n{log.read_text(errors='replace')[-4000:]}" for log in sorted(logs.glob("worker-*.err"))
    )


def wait_all(processes: Sequence[subprocess.Popen[bytes]], timeout_s: float) -> list[int]:
    """The processes' exit codes; past the deadline they are killed (a worker left behind
    would go on against a store whose schema the test drops, and load the tests after it)."""
    deadline = time.monotonic() + timeout_s
    codes = []
    try:
        for process in processes:
            codes.append(process.wait(max(0.1, deadline - time.monotonic())))
    except subprocess.TimeoutExpired:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGABRT)  # faulthandler: the stacks, then the end
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        raise
    return codes


def outbox_states(box: Sandbox) -> dict[str, int]:
    with Store.open(box.config.store_url, migrate=False) as store:
        return store.outbox_counts()


def stats(box: Sandbox) -> tuple[dict[str, Any], dict[str, Any]]:
    return box.eshop_stats(), box.pohoda_stats()
