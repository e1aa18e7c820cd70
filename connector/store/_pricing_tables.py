"""The pricing worker's tables, as the store defines and migrates them (migration 3)."""

from connector.store._schema import cart_addresses, cart_lines, cart_requests, carts

__all__ = ["cart_addresses", "cart_lines", "cart_requests", "carts"]
