"""The e-shop simulator's wire protocol and control endpoints, spoken to with plain httpx."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from connector.codec import eshop as codec
from connector.config import EshopConfig
from connector.errors import MalformedXML
from connector.model import Contact
from connector.peers.eshop import EshopClient
from connector.sim._server import serve_in_thread
from connector.sim.eshop import EshopSimulator
from connector.transport import RetryPolicy

TOKEN = "t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[EshopSimulator, str]]:
    sim = EshopSimulator(
        token=TOKEN,
        seed_contacts=[
            {"id": "100", "name": "Jana Nováková", "email": "jana@example.cz", "hq_id": "7", "sync_state": "synced"},
            Contact(name="Petr Dvořák", email="petr@example.cz"),
        ],
    )
    with serve_in_thread(sim.app) as server:
        yield sim, server.url


@pytest.fixture
def http(served: tuple[EshopSimulator, str]) -> Iterator[httpx.Client]:
    served[0].reset()
    with httpx.Client(base_url=served[1], timeout=5) as client:
        yield client


@pytest.fixture
def sim(served: tuple[EshopSimulator, str], http: httpx.Client) -> EshopSimulator:
    return served[0]


def lines(response: httpx.Response) -> list[dict[str, object]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def test_seeds_keep_their_ids_and_links(http: httpx.Client) -> None:
    contacts = lines(http.get("/_sim/contacts"))
    assert [(c["id"], c["hq_id"], c["sync_state"]) for c in contacts] == [("100", "7", "synced"), ("101", None, None)]
    assert Contact.from_dict({k: v for k, v in contacts[0].items() if k not in ("hq_id", "sync_state")}).name


def test_malformed_xml_gets_400_saying_what_is_wrong(http: httpx.Client) -> None:
    answer = http.post("/batch", headers=AUTH, content=b"<batch xmlns='urn:connector:eshop:1'><create")
    assert answer.status_code == 400
    report = codec.decode_error(answer.content)
    assert report.code == "malformed_xml" and "not well-formed" in report.message


def test_a_schema_violation_names_the_element_and_the_field(http: httpx.Client) -> None:
    body = codec.encode_new_customer(Contact(name="Jan")).replace(
        b"<name>Jan</name>", b"<city>" + b"c" * 65 + b"</city>"
    )
    answer = http.post("/customers", headers={**AUTH, "Idempotency-Key": "k"}, content=body)
    assert answer.status_code == 400
    report = codec.decode_error(answer.content)
    assert report.code == "schema_violation" and report.field == "city"
    assert "newCustomer/city" in report.message and "64" in report.message

    wrong_root = http.post("/customers", headers={**AUTH, "Idempotency-Key": "k"}, content=b"<x/>")
    assert (
        wrong_root.status_code == 400 and "expected a <newCustomer>" in codec.decode_error(wrong_root.content).message
    )


def test_a_bad_item_in_a_batch_is_answered_alone(http: httpx.Client) -> None:
    good = b'<create ref="a" idempotencyKey="k1"><name>Good</name></create>'
    bad = b'<update ref="b" id="100" version="1"><name>Bad</name><shoeSize>44</shoeSize></update>'
    body = b'<batch xmlns="urn:connector:eshop:1">' + good + bad + b"</batch>"
    answer = http.post("/batch", headers=AUTH, content=body)
    assert answer.status_code == 200
    first, second = codec.decode_batch_result(answer.content)
    assert (first.ref, first.status) == ("a", 201)
    assert (second.ref, second.status) == ("b", 400)
    assert second.error is not None and second.field == "shoeSize" and "item 2" in second.error.message


def test_missing_or_wrong_token_is_401(http: httpx.Client) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"}):
        answer = http.get("/customers/changes", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert codec.decode_error(answer.content).code == "unauthorized"


def test_single_create_needs_a_key_and_replays(http: httpx.Client, sim: EshopSimulator) -> None:
    body = codec.encode_new_customer(Contact(name="Ivana Malá", email="ivana@example.cz"), send_welcome=True)
    assert http.post("/customers", headers=AUTH, content=body).status_code == 400
    first = http.post("/customers", headers={**AUTH, "Idempotency-Key": "reg-1"}, content=body)
    again = http.post("/customers", headers={**AUTH, "Idempotency-Key": "reg-1"}, content=body)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotency-Replayed"] == "true" and "Idempotency-Replayed" not in first.headers
    assert first.headers["Location"] == f"/customers/{codec.decode_customer(first.content).id}"
    assert codec.decode_customer(again.content).id == codec.decode_customer(first.content).id
    other = codec.encode_new_customer(Contact(name="Ivana Malá", email="ivana2@example.cz"))
    reused = http.post("/customers", headers={**AUTH, "Idempotency-Key": "reg-1"}, content=other)
    assert reused.status_code == 422 and codec.decode_error(reused.content).code == "idempotency_key_reused"
    assert len(lines(http.get("/_sim/notifications"))) == 1


def test_put_checks_the_version_from_if_match_or_the_body(http: httpx.Client) -> None:
    current = http.get("/customers/100", headers=AUTH)
    etag = current.headers["ETag"]
    content = codec.decode_customer(current.content).contact.replace(city="Brno")
    body = codec.encode_customer_update(content)
    assert http.put("/customers/100", headers=AUTH, content=body).status_code == 428

    stale = http.put("/customers/100", headers={**AUTH, "If-Match": '"0"'}, content=body)
    assert stale.status_code == 409 and stale.headers["ETag"] == etag
    report = codec.decode_error(stale.content)
    assert report.code == "version_conflict" and report.customer is not None
    assert f'"{report.customer.version}"' == etag

    done = http.put("/customers/100", headers={**AUTH, "If-Match": etag}, content=body)
    assert done.status_code == 200 and done.headers["ETag"] != etag
    in_body = codec.encode_customer_update(content.replace(city="Jihlava"), version=done.headers["ETag"].strip('"'))
    assert http.put("/customers/100", headers=AUTH, content=in_body).status_code == 200
    assert http.put("/customers/999", headers={**AUTH, "If-Match": '"1"'}, content=body).status_code == 404


def test_hq_link_endpoint(http: httpx.Client, sim: EshopSimulator) -> None:
    answer = http.put("/customers/101/hq-link", headers=AUTH, content=codec.encode_hq_link("g-1", "pending_sync"))
    assert answer.status_code == 200
    assert codec.decode_customer(answer.content).sync_state == "pending_sync"
    cleared = http.put("/customers/101/hq-link", headers=AUTH, content=codec.encode_hq_link(None, None))
    assert codec.decode_customer(cleared.content).hq_id is None


def test_storefront_register_edit_delete_reach_the_feed(http: httpx.Client) -> None:
    registered = http.post("/_sim/register", json={"name": "Nový Zákazník", "email": "novy@example.cz"})
    assert registered.status_code == 201
    new_id = registered.json()["id"]
    taken = http.post("/_sim/register", json={"name": "Dvojník", "email": "NOVY@example.cz"})
    assert taken.status_code == 409 and taken.json()["existing_id"] == new_id
    assert http.post("/_sim/register", json={"name": "X", "shoe": 44}).status_code == 400

    edited = http.patch("/_sim/customers/100", json={"phone": "+420 777 000 000"})
    assert edited.status_code == 200 and edited.json()["phone"] == "+420 777 000 000"
    assert http.patch("/_sim/customers/999", json={"name": "x"}).status_code == 404
    assert http.delete("/_sim/customers/101").status_code == 204
    assert http.delete("/_sim/customers/101").status_code == 404

    feed = codec.decode_changes(http.get("/customers/changes", params={"cursor": "2"}, headers=AUTH).content)
    assert [(c.id, c.deleted) for c in feed.changes] == [(new_id, False), ("100", False), ("101", True)]
    bad_cursor = http.get("/customers/changes", params={"cursor": "yesterday"}, headers=AUTH)
    assert bad_cursor.status_code == 400 and codec.decode_error(bad_cursor.content).field == "cursor"


def test_faults_stats_and_reset(http: httpx.Client, sim: EshopSimulator) -> None:
    assert http.post("/_sim/faults", json={"bogus": 1}).status_code == 400
    assert http.post("/_sim/faults", json={"down": True}).json()["down"] is True
    assert http.get("/customers/changes", headers=AUTH).status_code == 503
    assert http.get("/customers/100", headers=AUTH).status_code == 503
    assert http.get("/_sim/contacts").status_code == 200  # control endpoints never fail
    stats = http.get("/_sim/stats").json()
    assert stats["requests"]["GET /customers/changes"] == 1
    assert stats["requests"]["GET /customers/{id}"] == 1
    assert stats["faults"] == {"down": 2}
    assert http.post("/_sim/reset").json() == {"reset": True, "contacts": 2}
    assert http.get("/customers/changes", headers=AUTH).status_code == 200


def test_malformed_answers_are_refused_by_the_client(served: tuple[EshopSimulator, str], sim: EshopSimulator) -> None:
    sim.faults.configure({"malformed": True})
    client = EshopClient(EshopConfig(url=served[1]), TOKEN, policy=RetryPolicy(max_total_s=1))
    with pytest.raises(MalformedXML):
        list(client.changes(None))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"name": "Jan \\ud800 Nov\\u00e1k", "email": "lone@example.cz"}', "name"),
        (b'{"name": "Jan", "ship_to": [{"city": "Brno"}, {"city": "\\udfff"}]}', "ship_to[1].city"),
    ],
    ids=["top-level", "nested"],
)
def test_a_lone_surrogate_is_refused_at_the_door(http: httpx.Client, body: bytes, field: str) -> None:
    before = http.get("/customers/changes", params={"cursor": ""}, headers=AUTH)
    headers = {"Content-Type": "application/json"}
    answer = http.post("/_sim/register", content=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == field
    assert field in answer.json()["error"]
    edit = http.patch("/_sim/customers/100", content=body, headers=headers)
    assert edit.status_code == 400 and edit.json()["field"] == field
    # Nothing was stored: the customer and the feed still read as before.
    assert http.get("/customers/100", headers=AUTH).status_code == 200
    after = http.get("/customers/changes", params={"cursor": ""}, headers=AUTH)
    assert after.status_code == 200 and after.content == before.content
