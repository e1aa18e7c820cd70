"""The pricing worker's tables: carts, their addresses and lines, and answered idempotency keys.

SQLAlchemy Core on the engine from `connector.store.open_engine`, so a restarted worker keeps its
carts; the tables are defined and migrated by the store (`connector.store.pricing_tables`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from connector.pricing._model import Address, Cart, CartLine
from connector.store import Store
from connector.store import pricing_tables as tables

carts = tables.carts
cart_addresses = tables.cart_addresses
cart_lines = tables.cart_lines
cart_requests = tables.cart_requests

# The columns in the order of CartLine.state().
_STATE_COLUMNS = (
    "part_number",
    "catentry_id",
    "quantity",
    "attributes",
    "ship_mode",
    "address_id",
    "ffc",
    "unit_price",
    "line_total",
    "price_refreshed",
    "last_priced_ms",
    "inventory",
    "error",
)


def _line_row(cart_id: str, line: CartLine) -> dict[str, Any]:
    return {
        "cart_id": cart_id,
        "line_id": line.line_id,
        "part_number": line.part_number,
        "catentry_id": line.catentry_id,
        "quantity": line.quantity,
        "attributes": json.dumps([list(pair) for pair in line.attributes]),
        "ship_mode": line.ship_mode,
        "address_id": line.address_id,
        "ffc": line.ffc,
        "unit_price": None if line.unit_price is None else str(line.unit_price),
        "line_total": None if line.line_total is None else str(line.line_total),
        "price_refreshed": line.price_refreshed,
        "last_priced_ms": line.last_priced_ms,
        "inventory": line.inventory,
        "error": line.error,
    }


def _line_from(row: Any) -> CartLine:
    return CartLine(
        line_id=row.line_id,
        part_number=row.part_number,
        catentry_id=row.catentry_id,
        quantity=row.quantity,
        attributes=tuple((name, value) for name, value in json.loads(row.attributes)),
        ship_mode=row.ship_mode,
        address_id=row.address_id,
        ffc=row.ffc,
        unit_price=None if row.unit_price is None else Decimal(row.unit_price),
        line_total=None if row.line_total is None else Decimal(row.line_total),
        price_refreshed=bool(row.price_refreshed),
        last_priced_ms=row.last_priced_ms,
        inventory=row.inventory,
        error=row.error,
    )


class CartStore:
    """Loads and saves carts; a command's changes and its answer are written in one transaction."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        # The pricing tables are the store's migration 3: one schema, one version history.
        Store(engine).migrate()

    def load(self, cart_id: str) -> Cart | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(carts).where(carts.c.cart_id == cart_id)).first()
            if row is None:
                return None
            cart = Cart(
                cart_id=row.cart_id,
                customer_id=row.customer_id,
                next_line_id=row.next_line_id,
                summary=json.loads(row.summary) if row.summary else None,
            )
            for a in conn.execute(sa.select(cart_addresses).where(cart_addresses.c.cart_id == cart_id)):
                cart.addresses[a.address_id] = Address(a.address_id, a.country, a.region)
            query = sa.select(cart_lines).where(cart_lines.c.cart_id == cart_id).order_by(cart_lines.c.line_id)
            for line_row in conn.execute(query):
                line = _line_from(line_row)
                cart.lines[line.line_id] = line
        return cart

    def answered(self, cart_id: str, key: str) -> tuple[str, dict[str, Any]] | None:
        """The request hash and the stored answer of an idempotency key already handled."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(cart_requests.c.request_hash, cart_requests.c.response).where(
                    cart_requests.c.cart_id == cart_id, cart_requests.c.idempotency_key == key
                )
            ).first()
        if row is None:
            return None
        return row.request_hash, json.loads(row.response)

    def save(
        self,
        cart: Cart,
        *,
        new_lines: list[CartLine],
        changed_lines: list[tuple[CartLine, tuple[Any, ...]]],
        addresses_changed: bool,
        is_new_cart: bool,
        now_ms: int,
        request: tuple[str, str, dict[str, Any]] | None = None,
    ) -> None:
        """Write what a batch changed; `request` (key, hash, answer) makes a retried batch a replay.

        `changed_lines` pairs each changed line with its `state()` before the batch.
        """
        cart_row = {
            "customer_id": cart.customer_id,
            "next_line_id": cart.next_line_id,
            "summary": json.dumps(cart.summary) if cart.summary is not None else None,
            "updated_ms": now_ms,
        }
        with self.engine.begin() as conn:
            if is_new_cart:
                conn.execute(sa.insert(carts).values(cart_id=cart.cart_id, **cart_row))
            else:
                conn.execute(sa.update(carts).where(carts.c.cart_id == cart.cart_id).values(**cart_row))
            if addresses_changed:
                conn.execute(sa.delete(cart_addresses).where(cart_addresses.c.cart_id == cart.cart_id))
                if cart.addresses:
                    conn.execute(
                        sa.insert(cart_addresses),
                        [
                            {
                                "cart_id": cart.cart_id,
                                "address_id": a.address_id,
                                "country": a.country,
                                "region": a.region,
                            }
                            for a in cart.addresses.values()
                        ],
                    )
            if new_lines:
                conn.execute(sa.insert(cart_lines), [_line_row(cart.cart_id, line) for line in new_lines])
            # A batch usually changes one or two fields of many lines (an OrderPrepare: the
            # allocation): write only those, one statement per set of changed fields.
            by_fields: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for line, before in changed_lines:
                fields = tuple(
                    name for name, old, new in zip(_STATE_COLUMNS, before, line.state(), strict=True) if old != new
                )
                if not fields:
                    continue
                row = _line_row(cart.cart_id, line)
                params = {f"v_{name}": row[name] for name in fields}
                params.update(b_cart_id=cart.cart_id, b_line_id=line.line_id)
                by_fields.setdefault(fields, []).append(params)
            for fields, rows in by_fields.items():
                statement = (
                    sa.update(cart_lines)
                    .where(cart_lines.c.cart_id == sa.bindparam("b_cart_id"))
                    .where(cart_lines.c.line_id == sa.bindparam("b_line_id"))
                    .values({name: sa.bindparam(f"v_{name}") for name in fields})
                )
                conn.execute(statement, rows)
            if request is not None:
                key, request_hash, answer = request
                conn.execute(
                    sa.insert(cart_requests).values(
                        cart_id=cart.cart_id,
                        idempotency_key=key,
                        request_hash=request_hash,
                        response=json.dumps(answer),
                        created_ms=now_ms,
                    )
                )
