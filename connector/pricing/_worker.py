"""The pricing worker: runs cart batches against the store, and its ASGI app (Starlette).

A batch with an Idempotency-Key that was already answered gets the stored answer, not a rerun.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connector.errors import BadData, Conflict
from connector.log import get_logger
from connector.pricing._codec import MAX_CART_BYTES, parse_cart_batch
from connector.pricing._engine import Mode, PricingEngine
from connector.pricing._model import Cart, Catalog, OrderCalculate, OrderItemDisplay, OrderPrepare
from connector.pricing._store import CartStore

log = get_logger(__name__)

BATCH_PATH = "/cart-batches"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def _now_ms() -> int:
    return int(time.time() * 1000)


class PricingService:
    """Applies cart batches to carts kept in the store, with a write-through cache in memory."""

    def __init__(
        self,
        catalog: Catalog,
        store: CartStore,
        *,
        mode: Mode = "optimized",
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self.engine = PricingEngine(catalog, mode=mode)
        self.store = store
        self.clock = clock
        self._carts: dict[str, Cart] = {}
        # One batch at a time: batches on one cart must not interleave, and the worker is
        # CPU-bound anyway, so a finer lock would buy nothing.
        self._lock = threading.Lock()

    def cart(self, cart_id: str) -> Cart | None:
        with self._lock:
            return self._cached(cart_id)

    def _cached(self, cart_id: str) -> Cart | None:
        cart = self._carts.get(cart_id)
        if cart is None:
            cart = self.store.load(cart_id)
            if cart is not None:
                self._carts[cart_id] = cart
        return cart

    def handle(self, body: bytes, idempotency_key: str | None = None) -> dict[str, Any]:
        """Run one cart batch; the answer holds each command's result and, when asked, the cart."""
        started = time.perf_counter()
        batch = parse_cart_batch(body)
        request_hash = hashlib.sha256(body).hexdigest()
        with self._lock:
            if idempotency_key:
                answered = self.store.answered(batch.cart_id, idempotency_key)
                if answered is not None:
                    stored_hash, recorded = answered
                    if stored_hash != request_hash:
                        raise Conflict(
                            f"cart {batch.cart_id}: the idempotency key {idempotency_key!r} was used for another batch"
                        )
                    log.info("pricing.replay", cart=batch.cart_id, key=idempotency_key)
                    recorded["replayed"] = True
                    return recorded
            cart = self._cached(batch.cart_id)
            is_new = cart is None
            if cart is None:
                cart = Cart(batch.cart_id, batch.customer_id)
            elif cart.customer_id != batch.customer_id:
                raise Conflict(
                    f"cart {batch.cart_id} belongs to customer {cart.customer_id!r}, not {batch.customer_id!r}"
                )
            before = {line_id: line.state() for line_id, line in cart.lines.items()}
            addresses_before = dict(cart.addresses)

            now = self.clock()
            engine_started = time.perf_counter()
            results = [self.engine.apply(cart, command, now_ms=now) for command in batch.commands]
            engine_ms = (time.perf_counter() - engine_started) * 1000

            new_lines = [line for line_id, line in cart.lines.items() if line_id not in before]
            changed = [
                (line, before[line_id])
                for line_id, line in cart.lines.items()
                if line_id in before and before[line_id] != line.state()
            ]
            shows_cart = any(isinstance(c, (OrderItemDisplay, OrderCalculate, OrderPrepare)) for c in batch.commands)
            answer: dict[str, Any] = {
                "cartId": cart.cart_id,
                "customer": cart.customer_id,
                "replayed": False,
                "results": [r.to_dict() for r in results],
                "cart": cart.to_dict() if shows_cart else None,
            }
            store_started = time.perf_counter()
            try:
                self.store.save(
                    cart,
                    new_lines=new_lines,
                    changed_lines=changed,
                    addresses_changed=cart.addresses != addresses_before,
                    is_new_cart=is_new,
                    now_ms=now,
                    request=(idempotency_key, request_hash, answer) if idempotency_key else None,
                )
            except Exception:
                # The cached cart is ahead of the store now: forget it, the store is the truth.
                self._carts.pop(cart.cart_id, None)
                raise
            self._carts[cart.cart_id] = cart
            store_ms = (time.perf_counter() - store_started) * 1000
        answer["timing"] = {
            "engine_ms": round(engine_ms, 3),
            "store_ms": round(store_ms, 3),
            "total_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        return answer


def _error(status: int, exc: Exception) -> JSONResponse:
    body: dict[str, Any] = {"error": str(exc)}
    if isinstance(exc, BadData):
        body.update(record=exc.record, field=exc.field)
    return JSONResponse(body, status_code=status)


def create_app(service: PricingService) -> Starlette:
    """The worker's HTTP face: POST a cartBatch, GET a cart, GET /health."""

    async def post_batch(request: Request) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_CART_BYTES:
            return JSONResponse({"error": f"a cart batch may not exceed {MAX_CART_BYTES} bytes"}, status_code=413)
        body = await request.body()
        try:
            answer = await run_in_threadpool(service.handle, body, request.headers.get(IDEMPOTENCY_HEADER))
        except BadData as exc:
            return _error(400, exc)
        except Conflict as exc:
            # 422, not 409: the transport reads 409 as a lost optimistic race and drops the
            # body, while this refusal's reason is what the operator needs to see.
            return _error(422, exc)
        return JSONResponse(answer)

    async def get_cart(request: Request) -> JSONResponse:
        cart = await run_in_threadpool(service.cart, request.path_params["cart_id"])
        if cart is None:
            return JSONResponse({"error": "no such cart"}, status_code=404)
        return JSONResponse(cart.to_dict())

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "mode": service.engine.mode})

    return Starlette(
        routes=[
            Route(BATCH_PATH, post_batch, methods=["POST"]),
            Route("/carts/{cart_id}", get_cart, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
        ]
    )
