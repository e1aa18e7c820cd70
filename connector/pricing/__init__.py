"""The pricing wing: cart model, cart-batch XML, batch pricing engine, worker and push client.

Large B2B carts are priced in one batch per command; the naive mode is the line-by-line reference.
"""

from connector.pricing._codec import (
    CartBatch,
    ConfiguratorCart,
    encode_cart_batch,
    encode_configurator_cart,
    load_catalog,
    load_catalog_file,
    parse_cart_batch,
    parse_configurator_cart,
)
from connector.pricing._engine import Mode, PricingEngine
from connector.pricing._model import (
    AddLine,
    Address,
    Cart,
    CartLine,
    Catalog,
    Command,
    CommandResult,
    LineError,
    OrderCalculate,
    OrderItemAdd,
    OrderItemDisplay,
    OrderItemUpdate,
    OrderPrepare,
    Stats,
    UpdateLine,
)
from connector.pricing._push import DEFAULT_CHUNK, DEFAULT_WORKER_URL, PushReport, push_cart
from connector.pricing._store import CartStore
from connector.pricing._worker import PricingService, create_app

__all__ = [
    "DEFAULT_CHUNK",
    "DEFAULT_WORKER_URL",
    "AddLine",
    "Address",
    "Cart",
    "CartBatch",
    "CartLine",
    "CartStore",
    "Catalog",
    "Command",
    "CommandResult",
    "ConfiguratorCart",
    "LineError",
    "Mode",
    "OrderCalculate",
    "OrderItemAdd",
    "OrderItemDisplay",
    "OrderItemUpdate",
    "OrderPrepare",
    "PricingEngine",
    "PricingService",
    "PushReport",
    "Stats",
    "UpdateLine",
    "create_app",
    "encode_cart_batch",
    "encode_configurator_cart",
    "load_catalog",
    "load_catalog_file",
    "parse_cart_batch",
    "parse_configurator_cart",
    "push_cart",
]
