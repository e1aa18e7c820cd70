"""A new e-shop platform is one Peer class plus one `register_platform` line.

The platform here is written in the test, in memory, knowing nothing of the sync; it is
plugged into a real run over the real store and POHODA's simulator over loopback HTTP, and
the two address books converge.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from connector.actions import run_sync
from connector.config import Config
from connector.model import Contact
from connector.peers import (
    Capabilities,
    ChangeBatch,
    PeerRecord,
    PeerWrite,
    WriteResult,
    platforms,
    register_platform,
)
from connector.sim.sandbox import Sandbox


class MemoryShop:
    """Customers in a dict; the change feed is a list of (sequence, id)."""

    side = "eshop"
    label = "the in-memory shop"
    capabilities = Capabilities(sends_welcome_email=True, stores_external_id=True)
    batch_size = 7  # odd on purpose: the run must follow the peer's batch size

    def __init__(self) -> None:
        self.customers: dict[str, tuple[Contact, str | None, int]] = {}  # id -> (contact, hq id, version)
        self.feed: list[tuple[int, str]] = []
        self.welcome: list[str] = []
        self.keys: dict[str, str] = {}
        self.apply_calls: list[int] = []
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)

    # what a shopper does
    def register(self, **fields: str) -> str:
        record_id = f"m{next(self._ids)}"
        self._put(record_id, Contact.from_dict(fields), None)
        return record_id

    def _put(self, record_id: str, contact: Contact, hq_id: str | None) -> None:
        version = self.customers[record_id][2] + 1 if record_id in self.customers else 1
        self.customers[record_id] = (contact, hq_id, version)
        self.feed.append((next(self._seq), record_id))

    # the Peer interface
    available = True
    unavailable_reason = ""

    def probe(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def _record(self, record_id: str) -> PeerRecord:
        contact, hq_id, version = self.customers[record_id]
        return PeerRecord(record_id, contact, version=str(version), other_id=hq_id)

    def changes(self, cursor: str | None) -> Iterator[ChangeBatch]:
        after = int(cursor or 0)
        news = [(seq, rid) for seq, rid in self.feed if seq > after]
        latest = dict((rid, seq) for seq, rid in news)  # each customer's last change
        records = [self._record(rid) for rid in latest]
        yield ChangeBatch(records, str(max((seq for seq, _ in news), default=after)))

    def snapshot(self) -> Iterator[PeerRecord]:
        for record_id in self.customers:
            yield self._record(record_id)

    def get(self, record_id: str) -> PeerRecord | None:
        return self._record(record_id) if record_id in self.customers else None

    def apply(self, writes: Sequence[PeerWrite]) -> list[WriteResult]:
        assert len(writes) <= self.batch_size
        self.apply_calls.append(len(writes))
        results = []
        for write in writes:
            if write.kind == "create":
                assert write.contact is not None and write.idempotency_key
                if write.idempotency_key in self.keys:
                    results.append(WriteResult("done", record_id=self.keys[write.idempotency_key], replay=True))
                    continue
                record_id = f"m{next(self._ids)}"
                self.keys[write.idempotency_key] = record_id
                self._put(record_id, write.contact, write.other_id)
                if write.send_welcome:
                    self.welcome.append(record_id)
                results.append(WriteResult("done", record_id=record_id))
            elif write.kind == "update":
                assert write.record_id is not None and write.contact is not None
                _contact, hq_id, _version = self.customers[write.record_id]
                self._put(write.record_id, write.contact, hq_id)
                results.append(WriteResult("done", record_id=write.record_id))
            elif write.kind == "link":
                assert write.record_id is not None
                contact, _hq, _version = self.customers[write.record_id]
                self._put(write.record_id, contact, write.other_id if write.sync_state == "synced" else None)
                results.append(WriteResult("done", record_id=write.record_id))
            else:
                results.append(WriteResult("refused", reason=f"no {write.kind} here"))
        return results


SHOP = MemoryShop()


def _factory(_config: Config) -> MemoryShop:
    return SHOP


register_platform("memory", _factory)


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    global SHOP
    SHOP = MemoryShop()
    with Sandbox(tmp_path / "box", settings={"CONNECTOR_ESHOP_PLATFORM": "memory"}) as sandbox:
        yield sandbox


def test_the_platform_is_listed() -> None:
    assert {"connector", "memory"} <= set(platforms())


def test_an_in_memory_platform_converges_with_pohoda(box: Sandbox) -> None:
    registered = [SHOP.register(name=f"Zákazník {n}", email=f"z{n}@example.cz", city="Brno") for n in range(10)]
    counter = box.add_at_counter({"name": "Ludmila Pultová", "email": "ludmila@example.cz", "city": "Zlín"})

    first = run_sync(box.config)
    second = run_sync(box.config)
    assert first.state == second.state == "done"

    pohoda = {row["ext_id"]: row for row in box.pohoda_contacts()}
    assert set(registered) <= set(pohoda)  # every registration reached POHODA with its id as extId
    for record_id in registered:
        contact, hq_id, _version = SHOP.customers[record_id]
        assert hq_id == pohoda[record_id]["id"]
        assert contact.name == pohoda[record_id]["name"]
    # The counter contact became an account on the shop, with the shop's own welcome e-mail.
    [auto] = [rid for rid, (_c, hq, _v) in SHOP.customers.items() if hq == counter]
    assert SHOP.welcome == [auto]
    assert pohoda[auto]["id"] == counter
    assert max(SHOP.apply_calls) <= MemoryShop.batch_size

    # Converged: a third run writes nothing to either side.
    writes_before = len(SHOP.apply_calls), box.pohoda_stats()["imports"]
    third = run_sync(box.config)
    assert third.delivered == {}
    assert (len(SHOP.apply_calls), box.pohoda_stats()["imports"]) == writes_before

    # An edit on the shop reaches POHODA.
    record_id = registered[0]
    contact, hq_id, _version = SHOP.customers[record_id]
    SHOP._put(record_id, contact.replace(city="Olomouc"), hq_id)
    run_sync(box.config)
    assert {row["ext_id"]: row for row in box.pohoda_contacts()}[record_id]["city"] == "Olomouc"


def test_an_unknown_platform_is_a_configuration_error(tmp_path: Path) -> None:
    from connector.errors import ConfigError

    settings = {"CONNECTOR_ESHOP_PLATFORM": "nosuchshop"}
    with Sandbox(tmp_path / "box", settings=settings) as sandbox, pytest.raises(ConfigError, match="nosuchshop"):
        run_sync(sandbox.config)
