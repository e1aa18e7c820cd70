"""The parts of one process, built once from the configuration: the store, the two peers,
the planner's settings. The CLI, `connector serve`, the operator actions and the tests all
take their parts from a `Runtime`, which closes what it opened.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from connector.config import Config
from connector.mail import WelcomeMail
from connector.peers import Peer, shop_factory
from connector.peers.pohoda import PohodaPeer
from connector.plan import PlanSettings, plan_settings
from connector.store import Store
from connector.sync import SyncRun

__all__ = ["REQUIRED", "Runtime"]

# What each part needs of the configuration, checked once when the runtime is built.
REQUIRED: dict[str, tuple[str, ...]] = {
    "hq": ("pohoda.url", "pohoda.user", "pohoda.ico", "pohoda_password"),
    "shop": (),  # each platform's factory asks for its own keys (a URL, a token, a key pair)
}


class Runtime:
    """Store, HQ peer and shop peer of one configuration, each opened on first use.

    `parts` names what the caller will use ("store", "hq", "shop"): their configuration
    is checked at once, so a missing key stops the command before anything is opened.
    `hq_options` go to the POHODA client (a shared circuit breaker, a transport in tests).
    """

    def __init__(
        self,
        config: Config,
        *,
        parts: Sequence[str] = ("store", "hq", "shop"),
        hq_options: dict[str, Any] | None = None,
        store: Store | None = None,
    ) -> None:
        self.config = config
        for part in parts:
            config.require(*REQUIRED.get(part, ()))
        if "shop" in parts:
            shop_factory(config.eshop.platform)  # an unknown platform fails here, by name
        self._hq_options = hq_options or {}
        self._uses_store = "store" in parts or store is not None
        self._store = store
        self._owns_store = store is None
        self._hq: Peer | None = None
        self._shop: Peer | None = None
        self._mail: Peer | None = None
        self._settings: PlanSettings | None = None

    @property
    def settings(self) -> PlanSettings:
        """The planner's settings; whether the connector sends the welcome e-mail follows
        from the shop platform (does it send one?) and `[mail] welcome`."""
        if self._settings is None:
            by_connector = self.config.mail.welcome == "connector" or not self.shop.capabilities.sends_welcome_email
            self._settings = dataclasses.replace(
                plan_settings(self.config), welcome_by_connector=by_connector and self.config.sync.auto_register
            )
        return self._settings

    @property
    def mail(self) -> Peer | None:
        """The welcome e-mail's sender, when the connector sends it (else None)."""
        if self._mail is None and self.settings.welcome_by_connector:
            self._mail = WelcomeMail.from_config(self.config)
        return self._mail

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.config.store_url, lease_s=self.config.store.lease_s)
        return self._store

    @property
    def hq(self) -> Peer:
        if self._hq is None:
            self._hq = self._new_hq(lambda: self.store)
        return self._hq

    def hq_for_child(self) -> Peer:
        """The HQ peer for a forked child of this process (call it in the child): built anew
        from this configuration and options, its mServer gate on the child's own connections
        to the store, so that nothing of the parent's, HTTP or database, is used there."""
        child_store = self.store.for_child() if self._uses_store else None
        return self._new_hq(None if child_store is None else lambda: child_store)

    def _new_hq(self, store: Callable[[], Store] | None) -> Peer:
        config = self.config
        config.require(*REQUIRED["hq"])
        options = dict(self._hq_options)
        if store is not None:
            # mServer serves one request at a time: one in flight across every process
            # that shares this store, not just this one's threads.
            key = f"mserver:{(config.pohoda.url or '').rstrip('/')}"
            options.setdefault("gate", lambda: store().one_at_a_time(key))
        return PohodaPeer.from_config(config, **options)

    @property
    def shop(self) -> Peer:
        if self._shop is None:
            self.config.require(*REQUIRED["shop"])
            self._shop = shop_factory(self.config.eshop.platform)(self.config)
        return self._shop

    def sync_run(self, **options: Any) -> SyncRun:
        """A run of the mirror over this runtime's store and peers."""
        options.setdefault("max_run_s", self.config.sync.max_run_s)
        return SyncRun(self.store, self.hq, self.shop, self.settings, mail=self.mail, **options)

    def close(self) -> None:
        for peer in (self._hq, self._shop, self._mail):
            if peer is not None:
                peer.close()
        self._hq = self._shop = self._mail = None
        if self._store is not None and self._owns_store:
            self._store.close()
            self._store = None

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
