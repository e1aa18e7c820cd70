"""The mServer client against the simulator over real HTTP: round trip, batching, faults."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connector.codec.pohoda import AddressBookWrite
from connector.config import PohodaConfig
from connector.errors import PeerConfigurationError, PohodaUnreachable
from connector.model import Contact
from connector.peers.pohoda import PohodaClient
from connector.sim._server import RunningServer
from connector.sim.generate import generate_contacts
from connector.sim.pohoda import PohodaSimulator
from connector.transport import RetryPolicy

ICO = "12345678"
FAST = RetryPolicy(max_total_s=1.0, initial_backoff_s=0.01, max_backoff_s=0.05)


@pytest.fixture
def sim(sim_schema_dir: Path | None) -> Iterator[tuple[PohodaSimulator, RunningServer]]:
    simulator = PohodaSimulator(user="shop", password="tajné heslo", ico=ICO, schema_dir=sim_schema_dir)
    server = RunningServer(simulator.app).start()
    yield simulator, server
    server.stop()


def client_for(server: RunningServer, *, password: str = "tajné heslo", batch_size: int = 200,
               policy: RetryPolicy = FAST, **extra: object) -> PohodaClient:
    config = PohodaConfig(url=server.url, user="shop", ico=ICO, batch_size=batch_size, **extra)  # type: ignore[arg-type]
    return PohodaClient(config, password, policy=policy)


def faults(server: RunningServer, **settings: object) -> None:
    httpx.post(f"{server.url}/_sim/faults", json=settings).raise_for_status()


def stats(server: RunningServer) -> dict[str, object]:
    return httpx.get(f"{server.url}/_sim/stats").json()  # type: ignore[no-any-return]


def with_ids(contacts: list[Contact]) -> list[Contact]:
    return [c.replace(ext_id=f"E{i}") for i, c in enumerate(contacts)]


def test_round_trip_of_1000_generated_contacts(sim: tuple[PohodaSimulator, RunningServer]) -> None:
    _simulator, server = sim
    contacts = with_ids(list(generate_contacts(1000, seed=7)))
    assert {c.country for c in contacts} == {"CZ", "SK", "PL", "HU"}
    with client_for(server) as client:
        results = client.apply([AddressBookWrite.upsert(c, version=1) for c in contacts])
        assert all(r.ok for r in results), [r.note for r in results if not r.ok][:3]
        assert client.requests.xml == 5  # 1,000 items in dataPacks of 200
        exported = list(client.snapshot(page_size=300))
    assert client.requests.xml == 5 + 4  # four pages of at most 300
    by_ext = {c.ext_id: c for c in exported}
    assert len(by_ext) == 1000
    for original in contacts:
        back = by_ext[original.ext_id]
        assert back.content() == original.content(), original.ext_id
    ids = {r.pohoda_id for r in results}
    assert ids == {c.id for c in exported}


def test_upsert_replayed_creates_nothing_twice(sim: tuple[PohodaSimulator, RunningServer]) -> None:
    simulator, server = sim
    contact = Contact(ext_id="E1", name="Eva Nováková", email="eva@example.cz")
    with client_for(server) as client:
        first = client.apply([AddressBookWrite.upsert(contact, version=1)])
        again = client.apply([AddressBookWrite.upsert(contact, version=1)])
        newer = client.apply([AddressBookWrite.upsert(contact.replace(city="Brno"), version=2)])
    assert first[0].ok and again[0].ok and newer[0].ok
    assert again[0].duplicate  # the same (pack, item) pair: refused by POHODA as already imported
    assert first[0].pohoda_id == again[0].pohoda_id == newer[0].pohoda_id
    assert len(simulator.contacts()) == 1
    assert simulator.contacts()[0].city == "Brno"


def test_lost_answer_then_retry_is_a_duplicate_success(sim: tuple[PohodaSimulator, RunningServer]) -> None:
    simulator, server = sim
    faults(server, reset_next=1, reset_after=True)  # the pack is imported, its answer is lost
    with client_for(server) as client:
        results = client.apply([AddressBookWrite.upsert(Contact(ext_id="E9", name="Jan Novák"), version=3)])
    assert results[0].ok and results[0].duplicate  # POHODA refused the replay as already imported
    assert results[0].pohoda_id == simulator.contacts()[0].id
    assert client.requests.xml == 2
    assert len(simulator.contacts()) == 1


def test_503_twice_then_success(sim: tuple[PohodaSimulator, RunningServer]) -> None:
    _simulator, server = sim
    faults(server, error_next=2)
    with client_for(server) as client:
        results = client.apply([AddressBookWrite.upsert(Contact(ext_id="E1", name="Jan Novák"), version=1)])
    assert results[0].ok
    assert client.requests.xml == 3


def test_down_gives_pohoda_unreachable_after_the_bounded_time(sim: tuple[PohodaSimulator, RunningServer]) -> None:
    _simulator, server = sim
    faults(server, down=True)
    policy = RetryPolicy(max_total_s=0.6, initial_backoff_s=0.02, max_backoff_s=0.1)
    started = time.monotonic()
    with client_for(server, policy=policy) as client, pytest.raises(PohodaUnreachable) as info:
        client.apply([AddressBookWrite.upsert(Contact(ext_id="E1", name="Jan"), version=1)])
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 2.0
    assert client.requests.xml == info.value.attempts >= 2


def test_unreachable_port_gives_pohoda_unreachable() -> None:
    config = PohodaConfig(url="http://127.0.0.1:9", user="shop", ico=ICO)
    policy = RetryPolicy(max_total_s=0.3, initial_backoff_s=0.01, max_backoff_s=0.05)
    with PohodaClient(config, "x", policy=policy) as client, pytest.raises(PohodaUnreachable):
        list(client.snapshot())
    assert client.requests.xml >= 2


def test_bad_credentials_fail_at_once(sim: tuple[PohodaSimulator, RunningServer]) -> None:
    _simulator, server = sim
    with client_for(server, password="wrong") as client, pytest.raises(PeerConfigurationError) as info:
        client.apply([AddressBookWrite.upsert(Contact(ext_id="E1", name="Jan"), version=1)])
    assert "401" in str(info.value)
    assert "password" in str(info.value)
    assert client.requests.xml == 1


def test_one_item_refused_the_others_go_on(sim: tuple[PohodaSimulator, RunningServer]) -> None:
    simulator, server = sim
    faults(server, item_error=[{"field": "email", "contains": "@refuse", "note": "E-mail is blocked"}])
    writes = [
        AddressBookWrite.upsert(Contact(ext_id="E1", name="A", email="a@example.cz"), version=1),
        AddressBookWrite.upsert(Contact(ext_id="E2", name="B", email="b@refuse.cz"), version=1),
        AddressBookWrite.upsert(Contact(ext_id="E3", name="C", email="c@example.cz"), version=1),
    ]
    with client_for(server) as client:
        results = client.apply(writes)
    assert [r.ok for r in results] == [True, False, True]
    assert "E-mail is blocked" in (results[1].note or "")
    assert len(simulator.contacts()) == 2


def test_item_the_codec_refuses_is_not_sent(sim: tuple[PohodaSimulator, RunningServer]) -> None:
    simulator, server = sim
    writes = [
        AddressBookWrite.upsert(Contact(ext_id="E1", name="x" * 65), version=1),
        AddressBookWrite.upsert(Contact(ext_id="E2", name="Zoë ✓ 😀"), version=1),
        AddressBookWrite.upsert(Contact(ext_id="E3", name="Ödön Fűzfa"), version=1),
    ]
    with client_for(server) as client:
        results = client.apply(writes)
    assert [r.ok for r in results] == [False, False, True]
    assert results[0].error is not None and results[0].error.field == "name"
    assert results[1].error is not None and results[1].error.field == "name"
    assert "?" not in simulator.contacts()[0].name  # type: ignore[operator]
    assert client.requests.xml == 1


def test_changes_since_and_get(sim: tuple[PohodaSimulator, RunningServer]) -> None:
    simulator, server = sim
    with client_for(server) as client:
        client.apply([AddressBookWrite.upsert(Contact(ext_id=f"E{i}", name=f"N {i}"), version=1) for i in range(5)])
        # POHODA's lastChanges has a resolution of one second.
        time.sleep(1.05)
        moment = dt.datetime.now(dt.UTC)
        time.sleep(1.05)
        changed_id = simulator.add_contact(Contact(name="Pult Zákazník", email="pult@example.cz"))
        changed = list(client.changes_since(moment))
        assert [c.id for c in changed] == [str(changed_id)]
        one = client.get(ext_id="E3")
        assert one is not None and one.name == "N 3"
        assert client.get(pohoda_id="99999") is None


def test_requests_are_one_at_a_time_and_gzipped(sim: tuple[PohodaSimulator, RunningServer]) -> None:
    _simulator, server = sim
    with client_for(server, batch_size=10) as client:
        client.apply([AddressBookWrite.upsert(Contact(ext_id=f"E{i}", name=f"N {i}"), version=1) for i in range(50)])
    figures = stats(server)
    assert figures["max_concurrency"] == 1
    assert client.requests.xml == 5


def test_status(sim: tuple[PohodaSimulator, RunningServer]) -> None:
    _simulator, server = sim
    with client_for(server) as client:
        assert client.status().up
        faults(server, down=True)
        assert not client.status().up
