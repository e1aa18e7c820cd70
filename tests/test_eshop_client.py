"""The e-shop client against the e-shop simulator over real loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from lxml import etree

from connector._paths import schemas_dir
from connector.config import EshopConfig
from connector.errors import EshopUnreachable, PeerConfigurationError
from connector.model import Contact
from connector.peers.eshop import EshopClient, EshopWrite
from connector.sim._server import RunningServer, serve_in_thread
from connector.sim.eshop import EshopSimulator
from connector.transport import RetryPolicy

TOKEN = "s3cret-token"
FAST = RetryPolicy(max_total_s=3.0, initial_backoff_s=0.01, max_backoff_s=0.05)
SEED = [
    Contact(name="Jana Nováková", email="jana@example.cz", city="Brno"),
    Contact(name="Petr Dvořák", email="petr@example.cz", city="Praha"),
    Contact(name="Eva Svobodová", email="eva@example.sk", city="Bratislava", country="SK"),
    Contact(company="Kovo a.s.", ico="27082440", city="Ostrava"),
    Contact(name="Tomáš Černý", phone="+420 777 111 222"),
    Contact(name="Zuzana Horváthová", email="zuzana@example.sk"),
    Contact(name="Marek Kučera", email="marek@example.cz"),
]
SCHEMA = etree.XMLSchema(etree.parse(str(schemas_dir() / "eshop" / "eshop.xsd")))


class RecordingTransport(httpx.HTTPTransport):
    """A real HTTP transport that keeps every request and answer body for inspection."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.read()
        self.exchanges.append((request, response))
        return response


@pytest.fixture(scope="module")
def simulator() -> Iterator[tuple[EshopSimulator, RunningServer]]:
    sim = EshopSimulator(token=TOKEN, seed_contacts=SEED)
    with serve_in_thread(sim.app) as server:
        yield sim, server


@pytest.fixture
def sim(simulator: tuple[EshopSimulator, RunningServer]) -> EshopSimulator:
    simulator[0].reset()
    return simulator[0]


@pytest.fixture
def url(simulator: tuple[EshopSimulator, RunningServer]) -> str:
    return simulator[1].url


def client_for(url: str, *, token: str = TOKEN, batch_size: int = 100, **kwargs: object) -> EshopClient:
    return EshopClient(EshopConfig(url=url, batch_size=batch_size), token, policy=FAST, **kwargs)  # type: ignore[arg-type]


def test_feed_pages_tombstones_and_resumes_from_its_cursor(sim: EshopSimulator, url: str) -> None:
    client = client_for(url)
    pages = list(client.changes(None, page_size=3))
    assert [len(p.changes) for p in pages] == [3, 3, 1]
    assert [p.has_more for p in pages] == [True, True, False]
    assert [c.customer.contact.name for p in pages for c in p.changes if c.customer] == [s.name for s in SEED]
    assert client.requests.changes == 3
    cursor = pages[-1].next_cursor

    [quiet] = list(client.changes(cursor))
    assert quiet.changes == () and quiet.next_cursor == cursor  # nothing new
    sim.edit("2", city="Plzeň")
    sim.delete("5")
    new_id = sim.register(Contact(name="Nová Registrace", email="nova@example.cz"))
    resumed = [c for p in client.changes(cursor) for c in p.changes]
    assert [(c.id, c.deleted) for c in resumed] == [("2", False), ("5", True), (new_id, False)]
    assert resumed[0].customer is not None and resumed[0].customer.contact.city == "Plzeň"
    assert resumed[1].version is not None  # the tombstone says which version was deleted

    everyone = list(client.snapshot())
    assert len(everyone) == len(SEED)  # 7 seeded, one deleted, one registered
    assert "5" not in {c.id for c in everyone}


def test_get_returns_the_customer_with_its_version_or_none(sim: EshopSimulator, url: str) -> None:
    client = client_for(url)
    customer = client.get("1")
    assert customer is not None and customer.contact.email == "jana@example.cz"
    assert customer.version == sim.customer("1").version  # type: ignore[union-attr]
    assert client.get("999") is None
    assert client.requests.get == 2


def test_a_404_that_is_not_the_protocols_is_a_configuration_error(sim: EshopSimulator, url: str) -> None:
    client = client_for(url + "/wrong-prefix")
    with pytest.raises(PeerConfigurationError):
        client.get("1")


def test_create_is_idempotent_and_sends_one_welcome_email(sim: EshopSimulator, url: str) -> None:
    client = client_for(url)
    contact = Contact(name="Karel Novotný", email="karel@example.cz", city="Olomouc")
    write = EshopWrite.create(contact, "pohoda-17-v1", send_welcome=True, hq_id="17", sync_state="synced")
    first = client.apply([write])[0]
    assert first.ok and first.status == 201 and not first.replayed
    assert first.customer is not None and first.customer.hq_id == "17" and first.customer.sync_state == "synced"

    again = client.apply([write])[0]  # the answer was lost; the outbox sends it again
    assert again.ok and again.replayed and again.id == first.id
    assert sum(c.email == "karel@example.cz" for c in sim.contacts()) == 1
    assert sim.notifications() == [
        {"customer_id": first.id, "email": "karel@example.cz", "at": sim.notifications()[0]["at"]}
    ]

    other = client.apply([EshopWrite.create(contact.replace(city="Zlín"), "pohoda-17-v1")])[0]
    assert other.status == 422 and other.outcome == "rejected"
    assert other.error is not None and other.error.code == "idempotency_key_reused"
    assert other.field == "idempotency_key"
    assert len(sim.contacts()) == len(SEED) + 1


def test_update_with_a_stale_version_is_a_conflict_with_the_current_version(sim: EshopSimulator, url: str) -> None:
    client = client_for(url)
    seen = client.get("2")
    assert seen is not None
    sim.edit("2", phone="+420 608 000 111")  # the customer edits meanwhile
    current = sim.customer("2")
    assert current is not None

    stale = client.apply([EshopWrite.update("2", seen.contact.replace(city="Kolín"), seen.version)])[0]
    assert stale.conflict and stale.outcome == "conflict" and stale.status == 409
    assert stale.version == current.version
    assert stale.customer is not None and stale.customer.contact.phone == "+420 608 000 111"

    fresh = client.apply([EshopWrite.update("2", current.contact.replace(city="Kolín"), current.version)])[0]
    assert fresh.ok and fresh.version != current.version
    assert sim.customer("2").contact.city == "Kolín"  # type: ignore[union-attr]

    # The same content again (a replay after a lost answer): success, and no new version.
    replay = client.apply([EshopWrite.update("2", current.contact.replace(city="Kolín"), current.version)])[0]
    assert replay.ok and replay.version == fresh.version


def test_link_sets_hq_id_and_sync_state(sim: EshopSimulator, url: str) -> None:
    client = client_for(url)
    pending = client.apply([EshopWrite.link("3", "a2f4c9e0-1111-4c4c-9d9d-123456789abc", "pending_sync")])[0]
    assert pending.ok and pending.customer is not None and pending.customer.sync_state == "pending_sync"
    synced = client.apply([EshopWrite.link("3", "1042", "synced")])[0]
    assert synced.ok
    customer = sim.customer("3")
    assert customer is not None and (customer.hq_id, customer.sync_state) == ("1042", "synced")

    refused = client.apply([EshopWrite.link("3", None, "synced")])[0]
    assert refused.status == 422 and refused.field == "hq_id"


def test_one_failing_item_does_not_fail_the_others(sim: EshopSimulator, url: str) -> None:
    client = client_for(url)
    sim.faults.configure({"item_error": [{"field": "name", "contains": "Refuse", "note": "blocked by the shop"}]})
    one = client.get("1")
    assert one is not None
    writes = [
        EshopWrite.create(Contact(name="Alena Malá", email="alena@example.cz"), "k-1"),
        EshopWrite.update("999", Contact(name="Nobody"), "1"),
        EshopWrite.create(Contact(name="Refuse Me"), "k-2"),
        EshopWrite.create(Contact(name="Too Long", street="x" * 129), "k-3"),
        EshopWrite.create(Contact(name="Second Jana", email="JANA@example.cz"), "k-4"),
        EshopWrite.update("1", one.contact.replace(city="Znojmo"), one.version),
    ]
    results = client.apply(writes)
    assert client.requests.batch == 1
    assert [r.ref for r in results] == ["0", "1", "2", "3", "4", "5"]
    assert [r.outcome for r in results] == ["ok", "not_found", "rejected", "rejected", "rejected", "ok"]
    assert results[1].id == "999"
    assert results[2].message == "blocked by the shop"
    assert not results[3].sent and results[3].field == "street" and "128" in (results[3].message or "")
    assert results[4].error is not None and results[4].error.code == "email_taken"
    assert results[4].id == "1"  # the account that has the address: link instead of create
    assert sim.customer("1").contact.city == "Znojmo"  # type: ignore[union-attr]


def test_writes_go_in_batches_of_batch_size(sim: EshopSimulator, url: str) -> None:
    client = client_for(url, batch_size=2)
    writes = [EshopWrite.create(Contact(name=f"Zákazník {i}"), f"bulk-{i}") for i in range(5)]
    results = client.apply(writes)
    assert all(r.ok for r in results)
    assert client.requests.batch == 3
    assert sim.stats_dict()["requests"]["POST /batch"] == 3
    assert client.apply([]) == [] and client.requests.batch == 3


def test_a_wrong_token_is_a_configuration_error_at_once(sim: EshopSimulator, url: str) -> None:
    client = client_for(url, token="wrong")
    with pytest.raises(PeerConfigurationError) as caught:
        list(client.changes(None))
    assert caught.value.status_code == 401
    assert client.requests.total == 1


def test_two_503s_then_success_is_retried(sim: EshopSimulator, url: str) -> None:
    client = client_for(url)
    sim.faults.configure({"error_next": 2})
    results = client.apply([EshopWrite.create(Contact(name="Retry Test"), "retry-1")])
    assert results[0].ok
    assert client.requests.batch == 3
    assert sim.stats_dict()["faults"] == {"error": 2}
    assert sum(c.name == "Retry Test" for c in sim.contacts()) == 1


def test_an_e_shop_that_stays_down_is_unreachable(sim: EshopSimulator, url: str) -> None:
    client = EshopClient(
        EshopConfig(url=url), TOKEN, policy=RetryPolicy(max_total_s=0.3, initial_backoff_s=0.01, max_retry_after_s=0)
    )
    sim.faults.configure({"error_rate": 1.0})
    with pytest.raises(EshopUnreachable):
        list(client.changes(None))


def test_every_request_and_answer_validates_against_the_schema(sim: EshopSimulator, url: str) -> None:
    recorder = RecordingTransport()
    client = client_for(url, transport=recorder)
    list(client.changes(None, page_size=4))
    one = client.get("1")
    assert one is not None and client.get("404") is None
    client.apply(
        [
            EshopWrite.create(Contact(name="Schema Check", email="schema@example.cz"), "s-1", send_welcome=True),
            EshopWrite.update("1", one.contact.replace(note="VIP"), one.version),
            EshopWrite.update("2", Contact(name="Stale"), "0"),
            EshopWrite.link("3", "99", "synced"),
        ]
    )
    bodies = [r.content for r, _ in recorder.exchanges if r.content] + [a.content for _, a in recorder.exchanges]
    assert len(recorder.exchanges) == 5 and len(bodies) == 6
    roots = set()
    for body in bodies:
        document = etree.fromstring(body)
        assert SCHEMA.validate(document), SCHEMA.error_log
        roots.add(etree.QName(document).localname)
    assert roots == {"changes", "customer", "error", "batch", "batchResult"}
