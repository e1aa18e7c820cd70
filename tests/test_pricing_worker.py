"""The worker over real loopback HTTP, its store, and the push client with idempotent chunks."""

from __future__ import annotations

import httpx
import pytest

from connector.errors import PeerRefused, PricingWorkerUnreachable
from connector.pricing import AddLine, OrderItemAdd, encode_cart_batch, parse_configurator_cart
from connector.pricing._codec import load_catalog
from connector.pricing._generate import generate_cart, generate_catalog
from connector.pricing._push import push_cart
from connector.pricing._store import CartStore, cart_lines
from connector.pricing._worker import BATCH_PATH, PricingService, create_app
from connector.sim._server import serve_in_thread
from connector.store import open_engine
from connector.transport import RetryPolicy
from tests.pricing_helpers import EXAMPLE_CART, example_catalog

FAST_RETRY = RetryPolicy(max_total_s=5.0, initial_backoff_s=0.01, max_backoff_s=0.05)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture()
def store_url(tmp_path):
    return f"sqlite:///{tmp_path / 'carts.db'}"


def service_for(store_url, catalog=None, clock=None, mode="optimized"):
    return PricingService(
        catalog or example_catalog(), CartStore(open_engine(store_url)), mode=mode, clock=clock or Clock()
    )


class LoseFirstAnswer(httpx.HTTPTransport):
    """The worker handles the first keyed request, then the connection drops before the answer."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if self.lost == 0 and "Idempotency-Key" in request.headers:
            response.read()
            response.close()
            self.lost += 1
            raise httpx.ReadError("connection reset after the worker answered")
        return response


def test_push_prices_the_example_cart_end_to_end(store_url):
    cart = parse_configurator_cart(EXAMPLE_CART.read_bytes())
    with serve_in_thread(create_app(service_for(store_url))) as server:
        report = push_cart(cart, worker_url=server.url, chunk_size=4, policy=FAST_RETRY)

    assert (report.chunks, report.added, report.errors) == (2, 6, [])
    assert report.cart is not None and len(report.cart["lines"]) == 6
    summary = report.cart["summary"]
    assert summary["total"] == "9568.03" and summary["shipping"] == "682.00"
    # 100 screws from FC2, which has 50.
    assert [line["inventory"] for line in report.cart["lines"]] == ["allocated"] * 5 + ["backordered"]


def test_a_chunk_sent_twice_after_a_lost_answer_adds_its_lines_once(store_url):
    cart = parse_configurator_cart(EXAMPLE_CART.read_bytes())
    lossy = LoseFirstAnswer()
    with serve_in_thread(create_app(service_for(store_url))) as server:
        report = push_cart(cart, worker_url=server.url, chunk_size=4, policy=FAST_RETRY, transport=lossy)

    assert lossy.lost == 1
    assert report.replayed_chunks == 1 and report.requests == 4  # 2 chunks + 1 resend + prepare
    assert [line["lineId"] for line in report.cart["lines"]] == [1, 2, 3, 4, 5, 6]
    with open_engine(store_url).connect() as conn:
        assert conn.execute(cart_lines.select()).fetchall().__len__() == 6


def test_pushing_the_same_cart_again_adds_nothing(store_url):
    cart = parse_configurator_cart(EXAMPLE_CART.read_bytes())
    with serve_in_thread(create_app(service_for(store_url))) as server:
        first = push_cart(cart, worker_url=server.url, chunk_size=4, policy=FAST_RETRY)
        second = push_cart(cart, worker_url=server.url, chunk_size=4, policy=FAST_RETRY)

    assert second.replayed_chunks == 2
    assert second.cart["lines"] == first.cart["lines"]


def test_a_restarted_worker_keeps_its_carts(store_url):
    cart = parse_configurator_cart(EXAMPLE_CART.read_bytes())
    with serve_in_thread(create_app(service_for(store_url))) as server:
        pushed = push_cart(cart, worker_url=server.url, policy=FAST_RETRY)

    with serve_in_thread(create_app(service_for(store_url))) as server:
        kept = httpx.get(f"{server.url}/carts/{cart.cart_id}").json()
        # The replayed chunk is answered from the store of the new process too.
        again = push_cart(cart, worker_url=server.url, policy=FAST_RETRY)

    assert kept == pushed.cart
    assert again.replayed_chunks == 1 and len(again.cart["lines"]) == 6


def test_one_thousand_lines_make_one_hundred_part_number_resolutions_through_the_worker(store_url):
    catalog = load_catalog(generate_catalog(items=150, products=0, jurisdictions=20, jurisdiction_groups=5))
    cart = generate_cart(catalog, lines=1000, distinct=100)
    with serve_in_thread(create_app(service_for(store_url, catalog))) as server:
        report = push_cart(cart, worker_url=server.url, chunk_size=1000, policy=FAST_RETRY)
        added = httpx.get(f"{server.url}/carts/{cart.cart_id}").json()

    assert report.added == 1000 and not report.errors
    assert len(added["lines"]) == 1000
    assert report.prepare["stats"]["lines_priced"] == 0
    assert report.prepare["stats"]["shipping_rule_lookups"] == len(report.cart["summary"]["shippingGroups"])


def test_bad_lines_come_back_with_their_place_in_the_file(store_url):
    body = EXAMPLE_CART.read_bytes().replace(b'partNumber="BOLT" quantity="12"', b'partNumber="BOLT" quantity="-12"')
    body = body.replace(b'catentryId="11"', b'partNumber="NO-SUCH-PART"')
    cart = parse_configurator_cart(body)
    with serve_in_thread(create_app(service_for(store_url))) as server:
        report = push_cart(cart, worker_url=server.url, chunk_size=3, policy=FAST_RETRY)

    refused = {(e["position"], e["field"]): e for e in report.errors}
    assert set(refused) == {(4, "quantity"), (5, "partNumber")}
    assert refused[(4, "quantity")]["partNumber"] == "BOLT"
    assert refused[(5, "partNumber")]["partNumber"] == "NO-SUCH-PART"
    assert report.added == 4


def test_malformed_and_invalid_batches_are_refused_with_the_reason(store_url):
    with serve_in_thread(create_app(service_for(store_url))) as server:
        broken = httpx.post(server.url + BATCH_PATH, content=b"<cartBatch><OrderPrepare></cartBatch>")
        invalid = httpx.post(
            server.url + BATCH_PATH,
            content=b'<cartBatch xmlns="urn:connector:pricing:cart-batch:1" cart="X" customer="C">'
            b'<OrderItemAdd><line partNumber="SCREW" quantity="two"/></OrderItemAdd></cartBatch>',
        )
        hostile = httpx.post(
            server.url + BATCH_PATH,
            content=b'<!DOCTYPE x [<!ENTITY a "aaaa">]><cartBatch>&a;</cartBatch>',
        )

    assert broken.status_code == 400 and "not well-formed" in broken.json()["error"]
    assert invalid.status_code == 400 and "quantity" in invalid.json()["error"]
    assert hostile.status_code == 400 and "DOCTYPE" in hostile.json()["error"]


def test_a_cart_cannot_change_its_customer(store_url):
    cart = parse_configurator_cart(EXAMPLE_CART.read_bytes())
    with serve_in_thread(create_app(service_for(store_url))) as server:
        push_cart(cart, worker_url=server.url, policy=FAST_RETRY)
        with pytest.raises(PeerRefused, match="belongs to customer 'ACME'"):
            push_cart(cart, worker_url=server.url, policy=FAST_RETRY, customer_id="SHOP")


def test_a_key_reused_for_another_batch_is_refused(store_url):
    def batch(quantity: int) -> bytes:
        return encode_cart_batch("K", "ACME", [OrderItemAdd((AddLine(1, quantity, part_number="SCREW"),))])

    with serve_in_thread(create_app(service_for(store_url))) as server:
        first = httpx.post(server.url + BATCH_PATH, content=batch(1), headers={"Idempotency-Key": "k1"})
        reused = httpx.post(server.url + BATCH_PATH, content=batch(2), headers={"Idempotency-Key": "k1"})
        cart = httpx.get(f"{server.url}/carts/K").json()

    assert first.status_code == 200
    assert reused.status_code == 422 and "used for another batch" in reused.json()["error"]
    assert [line["quantity"] for line in cart["lines"]] == [1]


def test_an_unreachable_worker_is_reported_as_such():
    cart = parse_configurator_cart(EXAMPLE_CART.read_bytes())
    with pytest.raises(PricingWorkerUnreachable):
        push_cart(cart, worker_url="http://127.0.0.1:9", policy=RetryPolicy(max_total_s=0.3, initial_backoff_s=0.01))
