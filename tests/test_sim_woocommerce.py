"""The WooCommerce simulator over real HTTP: the REST v3 customers API as strict as the real one,
its webhooks (signed, echoed, coalesced) and its control endpoints."""

from __future__ import annotations

import base64
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

from connector.sim._server import serve_in_thread
from connector.sim.woocommerce import API, WooCommerceSimulator

KEY, SECRET = "ck_test", "cs_test"
HOOK_SECRET = "whsec-test"


class Receiver:
    """A webhook endpoint that keeps every POST (raw body and headers)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.status = 200
        self.app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.received.append((body, dict(request.headers)))
        return Response(status_code=self.status)

    def signed(self) -> list[tuple[bytes, dict[str, str]]]:
        with self.lock:
            return [r for r in self.received if "x-wc-webhook-signature" in r[1]]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[WooCommerceSimulator, str, Receiver, str]]:
    sim = WooCommerceSimulator(
        consumer_key=KEY,
        consumer_secret=SECRET,
        seed_customers=[
            {"id": 1, "email": "admin@shop.example", "username": "admin", "role": "administrator"},
        ],
    )
    receiver = Receiver()
    with serve_in_thread(sim.app) as server, serve_in_thread(receiver.app) as hooks:
        yield sim, server.url, receiver, hooks.url + "/hook"


@pytest.fixture
def sim(served: tuple[WooCommerceSimulator, str, Receiver, str]) -> WooCommerceSimulator:
    served[0].reset()
    with served[2].lock:
        served[2].received.clear()
        served[2].status = 200
    return served[0]


@pytest.fixture
def http(sim: WooCommerceSimulator, served: tuple[WooCommerceSimulator, str, Receiver, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[1] + API, auth=(KEY, SECRET), timeout=5) as client:
        yield client


def _new(email: str, **extra: Any) -> dict[str, Any]:
    return {"email": email, "first_name": "Jana", "last_name": "Nováková", **extra}


# -- authentication ---------------------------------------------------------------------------


def test_no_credentials_is_refused_with_woocommerce_error_json(served: Any, sim: WooCommerceSimulator) -> None:
    answer = httpx.get(served[1] + API + "/customers")
    assert answer.status_code == 401
    body = answer.json()
    assert body["code"] == "woocommerce_rest_cannot_view"
    assert body["data"]["status"] == 401
    assert set(body) == {"code", "message", "data"}


def test_wrong_secret_is_refused(served: Any, sim: WooCommerceSimulator) -> None:
    answer = httpx.get(served[1] + API + "/customers", auth=(KEY, "wrong"))
    assert answer.status_code == 401
    assert answer.json()["code"] == "woocommerce_rest_authentication_error"
    assert answer.json()["message"] == "Consumer secret is invalid."


def test_unknown_key_is_anonymous_and_refused(served: Any, sim: WooCommerceSimulator) -> None:
    answer = httpx.post(served[1] + API + "/customers", auth=("ck_other", SECRET), json=_new("a@b.cz"))
    assert answer.status_code == 401
    assert answer.json()["code"] == "woocommerce_rest_cannot_create"
    assert sim.customers(role="customer") == []


def test_query_string_credentials_work(served: Any, sim: WooCommerceSimulator) -> None:
    answer = httpx.get(served[1] + API + "/customers", params={"consumer_key": KEY, "consumer_secret": SECRET})
    assert answer.status_code == 200


def test_read_only_key_cannot_write(served: Any) -> None:
    readonly = WooCommerceSimulator(consumer_key=KEY, consumer_secret=SECRET, key_permissions="read")
    with serve_in_thread(readonly.app) as server:
        answer = httpx.post(server.url + API + "/customers", auth=(KEY, SECRET), json=_new("r@b.cz"))
        assert answer.status_code == 401
        assert answer.json()["code"] == "woocommerce_rest_authentication_error"
        assert httpx.get(server.url + API + "/customers", auth=(KEY, SECRET)).status_code == 200


# -- create, read, update, delete -------------------------------------------------------------


def test_create_answers_201_with_location_and_sends_the_new_account_email(
    http: httpx.Client, sim: WooCommerceSimulator
) -> None:
    answer = http.post("/customers", json=_new("jana@example.cz", billing={"city": "Praha", "country": "cz"}))
    assert answer.status_code == 201
    body = answer.json()
    assert answer.headers["location"].endswith(f"/wp-json/wc/v3/customers/{body['id']}")
    assert body["role"] == "customer"
    assert body["username"] == "jana"  # generated from the e-mail
    assert body["billing"]["city"] == "Praha"
    assert body["billing"]["country"] == "CZ"
    assert "password" not in body
    notes = sim.notifications()
    assert [(n["customer_id"], n["template"]) for n in notes] == [(body["id"], "customer_new_account")]


def test_create_without_email_is_a_missing_parameter(http: httpx.Client) -> None:
    answer = http.post("/customers", json={"first_name": "Jana"})
    assert answer.status_code == 400
    assert answer.json()["code"] == "rest_missing_callback_param"
    assert answer.json()["data"]["params"] == ["email"]


def test_create_with_a_bad_email_is_an_invalid_parameter(http: httpx.Client) -> None:
    answer = http.post("/customers", json={"email": "not-an-address"})
    assert answer.status_code == 400
    assert answer.json()["code"] == "rest_invalid_param"
    assert "email" in answer.json()["data"]["params"]


def test_duplicate_email_is_refused_case_insensitively(http: httpx.Client, sim: WooCommerceSimulator) -> None:
    assert http.post("/customers", json=_new("jana@example.cz")).status_code == 201
    answer = http.post("/customers", json=_new("JANA@example.cz"))
    assert answer.status_code == 400
    assert answer.json()["code"] == "registration-error-email-exists"
    assert len(sim.customers(role="customer")) == 1
    assert len(sim.notifications()) == 1


def test_username_and_password_are_required_when_the_store_does_not_generate_them() -> None:
    strict = WooCommerceSimulator(
        consumer_key=KEY, consumer_secret=SECRET, generate_username=False, generate_password=False
    )
    with serve_in_thread(strict.app) as server:
        answer = httpx.post(server.url + API + "/customers", auth=(KEY, SECRET), json=_new("x@y.cz"))
        assert answer.status_code == 400
        assert answer.json()["data"]["params"] == ["username", "password"]


def test_update_is_partial_and_keeps_meta_data(http: httpx.Client) -> None:
    created = http.post(
        "/customers",
        json=_new(
            "jana@example.cz",
            billing={"city": "Praha", "phone": "+420777"},
            meta_data=[{"key": "pohoda_id", "value": "7"}],
        ),
    ).json()
    answer = http.put(f"/customers/{created['id']}", json={"billing": {"city": "Brno"}})
    assert answer.status_code == 200
    body = answer.json()
    assert body["billing"]["city"] == "Brno"
    assert body["billing"]["phone"] == "+420777"  # untouched
    assert body["first_name"] == "Jana"
    assert [(m["key"], m["value"]) for m in body["meta_data"]] == [("pohoda_id", "7")]
    # meta_data is upserted by key, not appended
    again = http.put(f"/customers/{created['id']}", json={"meta_data": [{"key": "pohoda_id", "value": "8"}]}).json()
    assert [(m["key"], m["value"]) for m in again["meta_data"]] == [("pohoda_id", "8")]
    assert http.get(f"/customers/{created['id']}").json()["meta_data"][0]["value"] == "8"


def test_update_to_a_taken_email_is_refused(http: httpx.Client) -> None:
    http.post("/customers", json=_new("a@example.cz"))
    second = http.post("/customers", json=_new("b@example.cz")).json()
    answer = http.put(f"/customers/{second['id']}", json={"email": "A@example.cz"})
    assert answer.status_code == 400
    assert answer.json()["code"] == "woocommerce_rest_customer_invalid_email"


def test_username_is_not_editable(http: httpx.Client) -> None:
    created = http.post("/customers", json=_new("a@example.cz")).json()
    answer = http.put(f"/customers/{created['id']}", json={"username": "someone-else"})
    assert answer.status_code == 400
    assert answer.json()["code"] == "woocommerce_rest_customer_invalid_argument"


def test_an_administrators_email_cannot_be_changed_or_deleted(http: httpx.Client) -> None:
    answer = http.put("/customers/1", json={"email": "new@shop.example"})
    assert answer.status_code == 401
    assert answer.json()["code"] == "woocommerce_rest_cannot_edit"
    answer = http.delete("/customers/1", params={"force": "true"})
    assert answer.status_code == 401
    assert answer.json()["code"] == "woocommerce_rest_cannot_delete"


def test_unknown_customer_is_404_and_a_bad_path_is_no_route(http: httpx.Client) -> None:
    assert http.get("/customers/999").status_code == 404
    assert http.get("/customers/999").json()["code"] == "woocommerce_rest_invalid_id"
    answer = http.get("/customers/abc")
    assert answer.status_code == 404
    assert answer.json()["code"] == "rest_no_route"


def test_delete_needs_force_and_answers_the_deleted_customer(http: httpx.Client, sim: WooCommerceSimulator) -> None:
    created = http.post("/customers", json=_new("a@example.cz")).json()
    answer = http.delete(f"/customers/{created['id']}")
    assert answer.status_code == 501
    assert answer.json()["code"] == "woocommerce_rest_trash_not_supported"
    answer = http.delete(f"/customers/{created['id']}", params={"force": "true"})
    assert answer.status_code == 200
    assert answer.json()["id"] == created["id"]
    assert sim.customer(created["id"]) is None


# -- the collection ---------------------------------------------------------------------------


def test_list_pages_with_total_headers_and_the_customer_role_by_default(http: httpx.Client) -> None:
    for i in range(5):
        http.post("/customers", json=_new(f"c{i}@example.cz"))
    answer = http.get("/customers", params={"per_page": 2, "page": 2, "orderby": "id"})
    assert answer.status_code == 200
    assert answer.headers["x-wp-total"] == "5"
    assert answer.headers["x-wp-totalpages"] == "3"
    assert 'rel="next"' in answer.headers["link"] and 'rel="prev"' in answer.headers["link"]
    assert [c["email"] for c in answer.json()] == ["c2@example.cz", "c3@example.cz"]
    # the administrator is not a customer: only role=all shows it
    assert all(c["role"] == "customer" for c in http.get("/customers", params={"per_page": 100}).json())
    assert http.get("/customers", params={"role": "all"}).headers["x-wp-total"] == "6"


@pytest.mark.parametrize("per_page", ["101", "0", "ten"])
def test_per_page_outside_1_to_100_is_an_invalid_parameter(http: httpx.Client, per_page: str) -> None:
    answer = http.get("/customers", params={"per_page": per_page})
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "rest_invalid_param"
    assert "per_page" in body["data"]["params"]


def test_per_page_100_is_accepted(http: httpx.Client) -> None:
    assert http.get("/customers", params={"per_page": 100}).status_code == 200


def test_bad_orderby_and_role_are_refused(http: httpx.Client) -> None:
    assert http.get("/customers", params={"orderby": "date_modified"}).json()["code"] == "rest_invalid_param"
    assert http.get("/customers", params={"role": "nobody"}).status_code == 400


def test_fields_gives_a_cheap_scan(http: httpx.Client) -> None:
    http.post("/customers", json=_new("a@example.cz", billing={"city": "Praha"}))
    rows = http.get("/customers", params={"_fields": "id,date_modified_gmt,billing.city"}).json()
    assert set(rows[0]) == {"id", "date_modified_gmt", "billing"}
    assert rows[0]["billing"] == {"city": "Praha"}


def test_email_filter_is_exact(http: httpx.Client) -> None:
    http.post("/customers", json=_new("a@example.cz"))
    http.post("/customers", json=_new("aa@example.cz"))
    assert [c["email"] for c in http.get("/customers", params={"email": "a@example.cz"}).json()] == ["a@example.cz"]


# -- batch ------------------------------------------------------------------------------------


def test_batch_answers_per_item_with_per_item_errors(http: httpx.Client, sim: WooCommerceSimulator) -> None:
    existing = http.post("/customers", json=_new("old@example.cz")).json()
    doomed = http.post("/customers", json=_new("gone@example.cz")).json()
    answer = http.post(
        "/customers/batch",
        json={
            "create": [_new("new@example.cz"), _new("old@example.cz"), {"email": "broken"}],
            "update": [{"id": existing["id"], "billing": {"city": "Brno"}}, {"id": 999, "first_name": "X"}],
            "delete": [doomed["id"], 998],
        },
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["create"][0]["email"] == "new@example.cz"
    assert body["create"][1]["id"] == 0
    assert body["create"][1]["error"]["code"] == "registration-error-email-exists"
    assert body["create"][2]["error"]["code"] == "customer_invalid_email"
    assert body["update"][0]["billing"]["city"] == "Brno"
    assert body["update"][1] == {"id": 999, "error": body["update"][1]["error"]}
    assert body["update"][1]["error"]["code"] == "woocommerce_rest_invalid_id"
    assert body["delete"][0]["id"] == doomed["id"]  # deleted with force, answered as it was
    assert body["delete"][1]["error"]["data"]["status"] == 404
    assert sim.customer(doomed["id"]) is None
    assert sim.stats_dict()["batch_items"] == 7


def test_batch_over_100_items_is_refused_whole(http: httpx.Client, sim: WooCommerceSimulator) -> None:
    items = [_new(f"b{i}@example.cz") for i in range(60)]
    answer = http.post("/customers/batch", json={"create": items, "delete": list(range(100, 141))})
    assert answer.status_code == 413
    assert answer.json()["code"] == "woocommerce_rest_request_entity_too_large"
    assert sim.customers(role="customer") == []
    assert (
        http.post("/customers/batch", json={"create": items[:50], "delete": list(range(100, 150))}).status_code == 200
    )


# -- webhooks ---------------------------------------------------------------------------------


def _verify(body: bytes, headers: dict[str, str]) -> bool:
    expected = base64.b64encode(hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, headers["x-wc-webhook-signature"])


def test_webhooks_are_signed_and_echo_the_connectors_own_writes(
    served: Any, sim: WooCommerceSimulator, http: httpx.Client
) -> None:
    receiver, url = served[2], served[3]
    for topic in ("customer.created", "customer.updated", "customer.deleted"):
        sim.add_webhook(topic, url, HOOK_SECRET)
    assert len(receiver.received) == 3  # the creation pings, unsigned
    created = http.post("/customers", json=_new("hook@example.cz")).json()
    assert sim.flush_webhooks()
    http.put(f"/customers/{created['id']}", json={"last_name": "Dvořáková"})
    assert sim.flush_webhooks()
    http.delete(f"/customers/{created['id']}", params={"force": "true"})
    assert sim.flush_webhooks()
    signed = receiver.signed()
    assert [h["x-wc-webhook-topic"] for _, h in signed] == ["customer.created", "customer.updated", "customer.deleted"]
    for body, headers in signed:
        assert _verify(body, headers)
        assert headers["x-wc-webhook-resource"] == "customer"
        assert headers["x-wc-webhook-delivery-id"]
        assert headers["x-wc-webhook-source"].endswith("/")
    assert json.loads(signed[0][0])["email"] == "hook@example.cz"
    assert json.loads(signed[1][0])["last_name"] == "Dvořáková"
    assert json.loads(signed[2][0]) == {"id": created["id"]}
    tampered = signed[0][0].replace(b"hook@", b"hack@")
    assert not _verify(tampered, signed[0][1])


def test_a_storefront_registration_fires_the_webhook_and_the_email(served: Any, sim: WooCommerceSimulator) -> None:
    sim.add_webhook("customer.created", served[3], HOOK_SECRET)
    answer = httpx.post(served[1] + "/_sim/register", json=_new("shopper@example.cz"))
    assert answer.status_code == 201
    assert sim.flush_webhooks()
    assert [h["x-wc-webhook-topic"] for _, h in served[2].signed()] == ["customer.created"]
    assert sim.notifications()[0]["customer_id"] == answer.json()["id"]
    again = httpx.post(served[1] + "/_sim/register", json=_new("SHOPPER@example.cz"))
    assert again.status_code == 400
    assert again.json()["code"] == "registration-error-email-exists"


def test_deleting_an_administrator_sends_no_customer_deleted(served: Any, sim: WooCommerceSimulator) -> None:
    sim.add_webhook("customer.deleted", served[3], HOOK_SECRET)
    assert sim.delete(1)
    assert sim.flush_webhooks()
    assert served[2].signed() == []


def test_a_webhook_is_disabled_after_more_than_five_failures(served: Any, sim: WooCommerceSimulator) -> None:
    hook_id = sim.add_webhook("customer.updated", served[3], HOOK_SECRET)
    served[2].status = 500
    customer_id = sim.register(_new("fail@example.cz"))
    for i in range(7):
        sim.edit(customer_id, {"first_name": f"J{i}"})
        assert sim.flush_webhooks()
    assert sim.webhooks[hook_id].status == "disabled"
    assert len(served[2].signed()) == 6


def test_the_ping_must_succeed(served: Any, sim: WooCommerceSimulator) -> None:
    served[2].status = 404
    with pytest.raises(ValueError, match="ping"):
        sim.add_webhook("customer.created", served[3], HOOK_SECRET)


# -- control and faults -----------------------------------------------------------------------


def test_stats_count_requests_per_endpoint_and_writes(
    served: Any, http: httpx.Client, sim: WooCommerceSimulator
) -> None:
    created = http.post("/customers", json=_new("s@example.cz")).json()
    http.get(f"/customers/{created['id']}")
    http.get(f"/customers/{created['id']}")
    stats = httpx.get(served[1] + "/_sim/stats").json()
    assert stats["requests"]["GET /wp-json/wc/v3/customers/{id}"] == 2
    assert stats["requests"]["POST /wp-json/wc/v3/customers"] == 1
    assert stats["writes"] == 1
    assert stats["notifications"] == 1


def test_faults_make_the_collection_unavailable(served: Any, http: httpx.Client) -> None:
    httpx.post(served[1] + "/_sim/faults", json={"error_next": 1, "error_status": 503}).raise_for_status()
    assert http.get("/customers").status_code == 503
    assert http.get("/customers").status_code == 200


def test_an_item_error_rule_refuses_one_record(served: Any, http: httpx.Client) -> None:
    httpx.post(
        served[1] + "/_sim/faults", json={"item_error": [{"field": "billing.city", "equals": "Nowhere"}]}
    ).raise_for_status()
    answer = http.post(
        "/customers/batch", json={"create": [_new("a@x.cz", billing={"city": "Nowhere"}), _new("b@x.cz")]}
    )
    items = answer.json()["create"]
    assert "error" in items[0] and "error" not in items[1]


def test_control_edit_and_list(served: Any, sim: WooCommerceSimulator) -> None:
    customer_id = sim.register(_new("edit@example.cz"))
    answer = httpx.patch(served[1] + f"/_sim/customers/{customer_id}", json={"billing": {"city": "Ostrava"}})
    assert answer.status_code == 200
    listed = httpx.get(served[1] + "/_sim/customers").json()
    assert [c["billing"]["city"] for c in listed if c["id"] == customer_id] == ["Ostrava"]
