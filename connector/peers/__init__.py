"""The peers behind one interface (`base.Peer`): POHODA mServer as HQ, and one module per
e-shop platform, chosen by `[eshop] platform` from the registry below.

A new platform is a module under `peers/` with a factory `(config) -> Peer`, and one
`register_platform` line (here for the built-in ones, or at import time of a plug-in).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from connector.config import Config
from connector.errors import ConfigError
from connector.peers.base import (
    Capabilities,
    ChangeBatch,
    Outcome,
    Peer,
    PeerRecord,
    PeerWrite,
    SideName,
    WithoutBreaker,
    WriteKind,
    WriteResult,
)

PeerFactory = Callable[[Config], Peer]

# name -> "module:factory", imported when chosen, so an unused platform costs nothing.
_BUILT_IN: dict[str, str] = {
    "connector": "connector.peers.eshop:ConnectorShop.from_config",
    "prestashop": "connector.peers.prestashop:PrestaShopShop.from_config",
    "woocommerce": "connector.peers.woocommerce:WooCommerceShop.from_config",
    "shoptet": "connector.peers.shoptet:ShoptetShop.from_config",
}
_REGISTERED: dict[str, PeerFactory] = {}


def register_platform(name: str, factory: PeerFactory) -> None:
    """Make `[eshop] platform = name` build the shop peer with `factory(config)`."""
    _REGISTERED[name] = factory


def platforms() -> list[str]:
    """The platform names `[eshop] platform` accepts."""
    return sorted({*_BUILT_IN, *_REGISTERED})


def shop_factory(name: str) -> PeerFactory:
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in _BUILT_IN:
        raise ConfigError(f"[eshop] platform: unknown platform {name!r} (known: {', '.join(platforms())})")
    module_name, _, attribute = _BUILT_IN[name].partition(":")
    target: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target  # type: ignore[return-value]


def shop_peer(config: Config) -> Peer:
    """The e-shop side of the configured platform."""
    return shop_factory(config.eshop.platform)(config)


__all__ = [
    "Capabilities",
    "ChangeBatch",
    "Outcome",
    "Peer",
    "PeerFactory",
    "PeerRecord",
    "PeerWrite",
    "SideName",
    "WithoutBreaker",
    "WriteKind",
    "WriteResult",
    "platforms",
    "register_platform",
    "shop_factory",
    "shop_peer",
]
