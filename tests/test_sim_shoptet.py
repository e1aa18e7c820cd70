"""The Shoptet simulator over real HTTP: the private API's customers as strict as the real one,
its change log, locks, rate limit, envelope and signed webhooks."""

from __future__ import annotations

import concurrent.futures
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connector.codec import shoptet as codec
from connector.sim._server import serve_in_thread
from connector.sim.shoptet import ShoptetError, ShoptetSimulator

TOKEN = "123456-p-1-test"
KEY = "signature-key-test"


class Receiver:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.received.append((body, dict(request.headers)))
        return Response(status_code=200)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ShoptetSimulator, str, Receiver, str]]:
    sim = ShoptetSimulator(token=TOKEN, signature_key=KEY)
    receiver = Receiver()
    with serve_in_thread(sim.app) as server, serve_in_thread(receiver.app) as hooks:
        yield sim, server.url, receiver, hooks.url + "/hook"


@pytest.fixture
def sim(served: tuple[ShoptetSimulator, str, Receiver, str]) -> ShoptetSimulator:
    served[0].reset()
    with served[2].lock:
        served[2].received.clear()
    return served[0]


@pytest.fixture
def http(sim: ShoptetSimulator, served: tuple[ShoptetSimulator, str, Receiver, str]) -> Iterator[httpx.Client]:
    headers = {"Shoptet-Private-API-Token": TOKEN, "Content-Type": "application/json"}
    with httpx.Client(base_url=served[1], headers=headers, timeout=10) as client:
        yield client


def _create(http: httpx.Client, email: str = "jana@example.cz", **params: Any) -> dict[str, Any]:
    body = {
        "data": {
            "account": {"email": email, "fullName": "Jana Nováková", "phone": "+420777888999"},
            "billingAddress": {
                "fullName": "Jana Nováková",
                "street": "Dlouhá",
                "houseNumber": "12",
                "countryCode": "CZ",
            },
        }
    }
    answer = http.post("/api/customers", json=body, params=params)
    assert answer.status_code == 201, answer.text
    customer: dict[str, Any] = answer.json()["data"]["customer"]
    return customer


def _error(answer: httpx.Response) -> dict[str, Any]:
    body = answer.json()
    assert body["data"] is None
    assert set(body) == {"data", "errors", "metadata"} and body["metadata"]["requestId"]
    assert len(body["errors"]) == 1 and set(body["errors"][0]) == {"errorCode", "message", "instance"}
    error: dict[str, Any] = body["errors"][0]
    return error


# -- authentication and the envelope ----------------------------------------------------------


def test_missing_or_wrong_token_is_401_in_the_envelope(served: Any, sim: ShoptetSimulator) -> None:
    answer = httpx.get(served[1] + "/api/customers")
    assert answer.status_code == 401
    assert _error(answer)["errorCode"] == "missing-access-token"
    answer = httpx.get(served[1] + "/api/customers", headers={"Shoptet-Private-API-Token": "nope"})
    assert answer.status_code == 401
    assert _error(answer)["errorCode"] == "invalid-token"


def test_create_answers_the_customer_which_the_codec_reads(http: httpx.Client, sim: ShoptetSimulator) -> None:
    answer = http.post(
        "/api/customers", json={"data": {"account": {"email": "a@example.cz"}, "billingAddress": {"city": "Brno"}}}
    )
    assert answer.status_code == 201
    decoded = codec.decode_customer(answer.json())
    assert decoded.contact.email == "a@example.cz"
    assert decoded.contact.city == "Brno"
    assert decoded.account_guid == answer.json()["data"]["customer"]["accounts"][0]["guid"]
    assert sim.notifications() == []  # sendRegistrationEmail defaults to false


def test_send_registration_email_is_recorded(http: httpx.Client, sim: ShoptetSimulator) -> None:
    customer = _create(http, sendRegistrationEmail="true")
    notes = sim.notifications()
    assert [(n["guid"], n["template"]) for n in notes] == [(customer["guid"], "registration")]


def test_duplicate_email_is_refused(http: httpx.Client, sim: ShoptetSimulator) -> None:
    _create(http, "jana@example.cz")
    answer = http.post("/api/customers", json={"data": {"account": {"email": "JANA@example.cz"}}})
    assert answer.status_code == 409
    assert _error(answer)["instance"] == "data.account.email"
    assert len(sim.customers()) == 1


def test_create_without_account_is_422_naming_the_field(http: httpx.Client) -> None:
    answer = http.post("/api/customers", json={"data": {"remark": "x"}})
    assert answer.status_code == 422
    error = _error(answer)
    assert error["errorCode"] == "invalid-request-data"
    assert error["instance"] == "data.account"


def test_an_alpha3_country_is_refused(http: httpx.Client) -> None:
    answer = http.post(
        "/api/customers", json={"data": {"account": {"email": "a@x.cz"}, "billingAddress": {"countryCode": "CZE"}}}
    )
    assert answer.status_code == 422
    assert _error(answer)["instance"] == "data.billingAddress.countryCode"


def test_a_czech_tax_id_different_from_the_vat_id_is_refused(http: httpx.Client) -> None:
    answer = http.post(
        "/api/customers",
        json={
            "data": {
                "account": {"email": "a@x.cz"},
                "billingAddress": {"countryCode": "CZ", "vatId": "CZ12345678", "taxId": "12345678"},
            }
        },
    )
    assert answer.status_code == 422
    assert _error(answer)["instance"] == "data.billingAddress.taxId"


# -- updates ----------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{"data": {}}, {}, {"data": {"billingAddress": {}}}])
def test_a_patch_with_nothing_in_it_is_refused(http: httpx.Client, body: dict[str, Any]) -> None:
    customer = _create(http)
    answer = http.patch(f"/api/customers/{customer['guid']}", json=body)
    assert answer.status_code == 422
    assert _error(answer)["errorCode"] == "invalid-request-data"


def test_an_empty_body_patch_is_refused(http: httpx.Client) -> None:
    customer = _create(http)
    answer = http.patch(f"/api/customers/{customer['guid']}", content=b"")
    assert answer.status_code == 422


def test_patch_is_partial_and_email_lives_on_the_account(http: httpx.Client) -> None:
    customer = _create(http)
    guid = customer["guid"]
    answer = http.patch(f"/api/customers/{guid}", json={"data": {"billingAddress": {"city": "Ostrava"}}})
    assert answer.status_code == 200
    billing = answer.json()["data"]["customer"]["billingAddress"]
    assert billing["city"] == "Ostrava" and billing["street"] == "Dlouhá" and billing["houseNumber"] == "12"
    # e-mail is not a customer field: the schema refuses it on PATCH /customers/{guid}
    refused = http.patch(f"/api/customers/{guid}", json={"data": {"email": "x@y.cz"}})
    assert refused.status_code == 422
    account = customer["accounts"][0]["guid"]
    answer = http.patch(f"/api/customers/{guid}/accounts/{account}", json={"data": {"email": "new@example.cz"}})
    assert answer.status_code == 200
    assert answer.json()["data"]["account"]["email"] == "new@example.cz"
    assert http.get(f"/api/customers/{guid}").json()["data"]["customer"]["accounts"][0]["email"] == "new@example.cz"
    assert http.patch(f"/api/customers/{guid}/accounts/{account}", json={"data": {}}).status_code == 422


def test_account_email_taken_by_another_customer_is_refused(http: httpx.Client) -> None:
    _create(http, "a@example.cz")
    second = _create(http, "b@example.cz")
    answer = http.patch(
        f"/api/customers/{second['guid']}/accounts/{second['accounts'][0]['guid']}",
        json={"data": {"email": "A@example.cz"}},
    )
    assert answer.status_code == 409


def test_unknown_customer_is_404_customer_not_found(http: httpx.Client) -> None:
    answer = http.get("/api/customers/157e7215-9035-11e4-a769-ac162d8a2454")
    assert answer.status_code == 404
    assert _error(answer)["errorCode"] == "customer-not-found"


# -- list and change log ----------------------------------------------------------------------


def test_list_is_short_and_paged_with_a_clamped_page_size(http: httpx.Client) -> None:
    for i in range(3):
        _create(http, f"c{i}@example.cz")
    answer = http.get("/api/customers", params={"itemsPerPage": 2, "page": 2})
    data = answer.json()["data"]
    assert data["paginator"] == {"totalCount": 3, "page": 2, "pageCount": 2, "itemsOnPage": 1, "itemsPerPage": 2}
    assert set(data["customers"][0]) == {
        "guid",
        "creationTime",
        "changeTime",
        "billCompany",
        "billFullName",
        "adminUrl",
    }
    codec.decode_list(answer.json())
    # above the maximum the maximum applies (Paging: "the maximum is applied automatically")
    assert http.get("/api/customers", params={"itemsPerPage": 5000}).json()["data"]["paginator"]["itemsPerPage"] == 1000
    assert http.get("/api/customers", params={"email": "C1@EXAMPLE.CZ"}).json()["data"]["paginator"]["totalCount"] == 1


def test_changes_list_the_last_change_only_with_creation_as_edit(http: httpx.Client, sim: ShoptetSimulator) -> None:
    first = _create(http, "a@example.cz")
    second = _create(http, "b@example.cz")
    http.patch(f"/api/customers/{first['guid']}", json={"data": {"remark": "VIP"}})
    http.delete(f"/api/customers/{second['guid']}")
    answer = http.get("/api/customers/changes", params={"from": "2000-01-01T00:00:00+0000"})
    assert answer.status_code == 200
    page = codec.decode_changes(answer.json())
    assert {(c.guid, c.change_type) for c in page.items} == {(first["guid"], "edit"), (second["guid"], "delete")}
    only_deletes = http.get(
        "/api/customers/changes", params={"from": "2000-01-01T00:00:00+02:00", "changeType": "delete"}
    ).json()
    assert [c["guid"] for c in only_deletes["data"]["changes"]] == [second["guid"]]


def test_an_unencoded_plus_in_from_is_refused(served: Any, http: httpx.Client) -> None:
    _create(http)
    # A raw `+` in a query string means a space: what a client that forgot %2B sends.
    answer = httpx.get(
        served[1] + "/api/customers/changes?from=2024-01-01T00:00:00+0200", headers={"Shoptet-Private-API-Token": TOKEN}
    )
    assert answer.status_code == 400
    error = _error(answer)
    assert error["errorCode"] == "invalid-parameter" and error["instance"] == "from"
    encoded = httpx.get(
        served[1] + "/api/customers/changes?from=2024-01-01T00:00:00%2B0200",
        headers={"Shoptet-Private-API-Token": TOKEN},
    )
    assert encoded.status_code == 200


def test_changes_need_from(http: httpx.Client) -> None:
    answer = http.get("/api/customers/changes")
    assert answer.status_code == 400
    assert _error(answer)["errorCode"] == "missing-parameter"


def test_changes_keep_30_days_and_pages_of_20(http: httpx.Client, sim: ShoptetSimulator) -> None:
    _create(http, "old@example.cz")
    sim.advance_clock(days=31)
    for i in range(21):
        _create(http, f"n{i}@example.cz")
    answer = http.get("/api/customers/changes", params={"from": "2000-01-01T00:00:00+0000", "itemsPerPage": 100})
    data = answer.json()["data"]
    assert data["paginator"]["totalCount"] == 21  # the 31-day-old creation is gone
    assert data["paginator"]["itemsPerPage"] == 20 and len(data["changes"]) == 20


# -- rate limit and locks ---------------------------------------------------------------------


def test_more_than_three_requests_in_flight_per_token_get_429(
    served: Any, http: httpx.Client, sim: ShoptetSimulator
) -> None:
    httpx.post(served[1] + "/_sim/faults", json={"delay_ms": 400}).raise_for_status()

    def call(_: int) -> httpx.Response:
        return http.get("/api/customers")

    with concurrent.futures.ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(call, range(5)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) == 3 and statuses.count(429) == 2
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.headers["retry-after"]
    assert _error(refused)["errorCode"] == "too-many-requests"


def test_the_same_write_while_the_first_is_processing_gets_423(served: Any, http: httpx.Client) -> None:
    customer = _create(http)
    httpx.post(served[1] + "/_sim/faults", json={"delay_ms": 400}).raise_for_status()
    body = {"data": {"remark": "same"}}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda _: http.patch(f"/api/customers/{customer['guid']}", json=body), range(2)))
    assert sorted(a.status_code for a in answers) == [200, 423]


def test_a_423_can_be_switched_on_as_a_fault(served: Any, http: httpx.Client) -> None:
    customer = _create(http)
    httpx.post(served[1] + "/_sim/faults", json={"lock_next": 1}).raise_for_status()
    assert http.patch(f"/api/customers/{customer['guid']}", json={"data": {"remark": "a"}}).status_code == 423
    assert http.patch(f"/api/customers/{customer['guid']}", json={"data": {"remark": "a"}}).status_code == 200


# -- webhooks ---------------------------------------------------------------------------------


def test_webhooks_carry_only_the_guid_and_are_signed(served: Any, sim: ShoptetSimulator, http: httpx.Client) -> None:
    for event in ("customer:create", "customer:update", "customer:delete"):
        sim.add_webhook(event, served[3])
    customer = _create(http)
    http.patch(f"/api/customers/{customer['guid']}", json={"data": {"remark": "x"}})
    http.delete(f"/api/customers/{customer['guid']}")
    assert sim.flush_webhooks()
    received = served[2].received
    assert [json.loads(b)["event"] for b, _ in received] == ["customer:create", "customer:update", "customer:delete"]
    for body, headers in received:
        data = json.loads(body)
        assert set(data) == {"eshopId", "event", "eventCreated", "eventInstance"}
        assert data["eventInstance"] == customer["guid"]
        expected = hmac.new(KEY.encode(), body, hashlib.sha1).hexdigest()
        assert hmac.compare_digest(expected, headers["shoptet-webhook-signature"])
        assert headers["shoptet-webhook-signature"] != hmac.new(b"other", body, hashlib.sha1).hexdigest()


def test_one_url_per_event_and_allowed_ports_only(sim: ShoptetSimulator) -> None:
    sim.add_webhook("customer:create", "https://hooks.example/a")
    with pytest.raises(ShoptetError) as exc:
        sim.add_webhook("customer:create", "https://hooks.example/b")
    assert exc.value.status == 422
    strict = ShoptetSimulator(enforce_webhook_ports=True)
    with pytest.raises(ShoptetError):
        strict.add_webhook("customer:update", "http://127.0.0.1:5999/hook")
    strict.add_webhook("customer:update", "https://hooks.example:8443/hook")


def test_a_storefront_registration_sends_the_email_and_the_webhook(served: Any, sim: ShoptetSimulator) -> None:
    sim.add_webhook("customer:create", served[3])
    answer = httpx.post(served[1] + "/_sim/register", json={"account": {"email": "shopper@example.cz"}})
    assert answer.status_code == 201
    assert sim.flush_webhooks()
    assert json.loads(served[2].received[0][0])["eventInstance"] == answer.json()["guid"]
    assert sim.notifications()[0]["guid"] == answer.json()["guid"]


def test_stats_count_per_route_not_per_guid(served: Any, http: httpx.Client) -> None:
    customer = _create(http)
    http.get(f"/api/customers/{customer['guid']}")
    http.get(f"/api/customers/{customer['guid']}")
    stats = httpx.get(served[1] + "/_sim/stats").json()
    assert stats["requests"]["GET /api/customers/{guid}"] == 2
    assert stats["writes"] == 1 and stats["creates"] == 1
