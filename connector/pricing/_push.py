"""The push client: sends a configurator cart to the worker as OrderItemAdd chunks, then OrderPrepare.

Each chunk carries an idempotency key derived from its content, so a retried chunk is answered
from the worker's record instead of adding its lines twice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from typing import Any

import httpx

from connector.errors import BadData, PricingWorkerUnreachable
from connector.pricing._codec import ConfiguratorCart, encode_cart_batch
from connector.pricing._model import OrderItemAdd, OrderPrepare
from connector.pricing._worker import BATCH_PATH, IDEMPOTENCY_HEADER
from connector.transport import PeerKeys, RetryPolicy, make_client, send

DEFAULT_WORKER_URL = "http://127.0.0.1:8710"
DEFAULT_CHUNK = 500
PEER = "pricing worker"
KEYS = PeerKeys(url="--worker", credentials="the worker's access")


@dataclasses.dataclass
class PushReport:
    """What a push did: chunks sent (and how many were replays), refused lines, the priced cart."""

    cart_id: str
    customer_id: str
    chunks: int = 0
    replayed_chunks: int = 0
    requests: int = 0
    added: int = 0
    # Lines the worker refused; `position` is the line's place in the configurator file.
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    prepare: dict[str, Any] | None = None
    cart: dict[str, Any] | None = None
    elapsed_ms: float = 0.0
    prepare_timing: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def chunk_key(cart_id: str, customer_id: str, index: int, body: bytes) -> str:
    """The same chunk of the same cart always gets the same key; any other chunk another one."""
    digest = hashlib.sha256()
    for part in (cart_id.encode(), customer_id.encode(), str(index).encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()[:40]


def push_cart(
    cart: ConfiguratorCart,
    *,
    worker_url: str = DEFAULT_WORKER_URL,
    chunk_size: int = DEFAULT_CHUNK,
    customer_id: str | None = None,
    policy: RetryPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
    on_chunk: Callable[[int, int], Any] | None = None,
) -> PushReport:
    """Add the cart's lines chunk by chunk (pricing only), then prepare it (everything)."""
    if chunk_size <= 0:
        raise BadData(f"the chunk size must be greater than 0, got {chunk_size}", field="chunk")
    customer = customer_id or cart.customer_id
    policy = policy or RetryPolicy(max_total_s=60.0)
    report = PushReport(cart.cart_id, customer)
    started = time.perf_counter()
    with make_client(worker_url, read_timeout_s=300.0, transport=transport) as client:

        def post(body: bytes, key: str | None) -> dict[str, Any]:
            headers = {"Content-Type": "application/xml"}
            if key:
                headers[IDEMPOTENCY_HEADER] = key

            def attempt() -> httpx.Response:
                report.requests += 1
                return client.post(BATCH_PATH, content=body, headers=headers)

            response = send(attempt, peer=PEER, policy=policy, unreachable=PricingWorkerUnreachable, keys=KEYS)
            answer: dict[str, Any] = response.json()
            return answer

        starts = range(0, len(cart.lines), chunk_size)
        for index, start in enumerate(starts):
            lines = cart.lines[start : start + chunk_size]
            # The recommended split: add with pricing only, prepare with everything. Every
            # chunk carries all addresses, so each chunk stands on its own.
            body = encode_cart_batch(
                cart.cart_id, customer, [OrderItemAdd(lines, cart.addresses, do_price=True, do_inventory=False)]
            )
            answer = post(body, chunk_key(cart.cart_id, customer, index, body))
            report.chunks += 1
            report.replayed_chunks += bool(answer.get("replayed"))
            (result,) = answer["results"]
            report.added += len(result["added"])
            for error in result["errors"]:
                if error.get("position") is not None:
                    error = {**error, "position": start + error["position"]}
                report.errors.append(error)
            if on_chunk is not None:
                on_chunk(min(start + chunk_size, len(cart.lines)), len(cart.lines))
        # OrderPrepare has no key: running it again is harmless and must see fresh prices.
        answer = post(encode_cart_batch(cart.cart_id, customer, [OrderPrepare()]), None)
        (prepared,) = answer["results"]
        report.prepare = prepared
        report.errors.extend(prepared["errors"])
        report.cart = answer["cart"]
        report.prepare_timing = answer.get("timing")
    report.elapsed_ms = (time.perf_counter() - started) * 1000
    return report
