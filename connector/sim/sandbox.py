"""Both simulators on loopback ports and a configuration pointing at them.

What `connector demo`, the scenario tests and the benchmarks run the real connector against:
nothing is mocked, the connector talks HTTP to the simulators and keeps a real store.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx

from connector.config import Config, load_config
from connector.model import Contact
from connector.sim import _http
from connector.sim._sandbox_prestashop import PRESTASHOP_BOXES
from connector.sim._sandbox_prestashop import PrestaShopBox as PrestaShopBox  # the PrestaShop box, public here
from connector.sim._sandbox_shoptet import ShoptetShopBox as ShoptetShopBox  # public here, for `connector sim`
from connector.sim._sandbox_woocommerce import WooCommerceShopBox as WooCommerceShopBox
from connector.sim._server import RunningServer
from connector.sim.eshop import EshopSimulator
from connector.sim.pohoda import PohodaSimulator

POHODA_USER = "connector"
POHODA_PASSWORD = "sandbox-pohoda"  # noqa: S105 - loopback simulator credentials
ESHOP_TOKEN = "sandbox-eshop"  # noqa: S105
ICO = "12345678"
SANDBOX_STORE_ENV = "CONNECTOR_SANDBOX_STORE_URL"


class ShopBox(Protocol):
    """One e-shop platform's simulator as the sandbox drives it, in canonical terms.

    A platform adds a class with this shape and a line in SHOP_BOXES; the scenario tests,
    the demo and the benchmarks then run against it unchanged (`Sandbox(platform=...)`).
    """

    server: RunningServer
    # CONNECTOR_* variables that point the connector at this simulator ([eshop] platform too).
    env: dict[str, str]

    def contacts(self) -> list[dict[str, Any]]:
        """Every customer as a canonical contact's dict plus `hq_id` and `sync_state`."""
        ...

    def notifications(self) -> list[dict[str, Any]]:
        """Welcome e-mails the platform itself sent, each with `customer_id`."""
        ...

    def register(self, contact: Mapping[str, Any]) -> str:
        """A registration through the storefront; returns the shop's id."""
        ...

    def edit(self, customer_id: str, **changes: Any) -> None: ...

    def delete(self, customer_id: str) -> None: ...

    def faults(self, **settings: Any) -> None: ...

    def stats(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class ConnectorShopBox:
    """The project's own e-shop protocol (`platform = "connector"`)."""

    def __init__(self, seed: Iterable[Contact | Mapping[str, Any]] = ()) -> None:
        self.sim = EshopSimulator(token=ESHOP_TOKEN, seed_contacts=list(seed))
        self.server = RunningServer(self.sim.app).start()
        self.env = {
            "CONNECTOR_ESHOP_PLATFORM": "connector",
            "CONNECTOR_ESHOP_URL": self.server.url,
            "CONNECTOR_ESHOP_TOKEN": ESHOP_TOKEN,
        }

    def contacts(self) -> list[dict[str, Any]]:
        return _jsonl(_http.get(f"{self.server.url}/_sim/contacts", timeout=60))

    def notifications(self) -> list[dict[str, Any]]:
        return _jsonl(_http.get(f"{self.server.url}/_sim/notifications", timeout=60))

    def register(self, contact: Mapping[str, Any]) -> str:
        answer = _http.post(f"{self.server.url}/_sim/register", json=dict(contact), timeout=30)
        answer.raise_for_status()
        return str(answer.json()["id"])

    def edit(self, customer_id: str, **changes: Any) -> None:
        _http.patch(f"{self.server.url}/_sim/customers/{customer_id}", json=changes, timeout=30).raise_for_status()

    def delete(self, customer_id: str) -> None:
        _http.delete(f"{self.server.url}/_sim/customers/{customer_id}", timeout=30).raise_for_status()

    def faults(self, **settings: Any) -> None:
        _http.post(f"{self.server.url}/_sim/faults", json=settings, timeout=30).raise_for_status()

    def stats(self) -> dict[str, Any]:
        return dict(_http.get(f"{self.server.url}/_sim/stats", timeout=30).json())

    def close(self) -> None:
        self.server.stop()


# platform -> the box that simulates it (a class taking the seed contacts)
SHOP_BOXES: dict[str, Callable[[Iterable[Contact | Mapping[str, Any]]], ShopBox]] = {
    "connector": ConnectorShopBox,
    **PRESTASHOP_BOXES,  # "prestashop" (8), "prestashop-8", "prestashop-1.7"
    "woocommerce": WooCommerceShopBox,
    "shoptet": ShoptetShopBox,
}


class Sandbox:
    """A POHODA simulator, an e-shop platform's simulator and a store directory, ready to sync."""

    def __init__(
        self,
        directory: Path,
        *,
        pohoda_seed: Iterable[Contact] = (),
        eshop_seed: Iterable[Contact | Mapping[str, Any]] = (),
        schema_dir: Path | None = None,
        settings: Mapping[str, str] | None = None,
        platform: str = "connector",
    ) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.pohoda_sim = PohodaSimulator(
            user=POHODA_USER, password=POHODA_PASSWORD, ico=ICO, seed_contacts=list(pohoda_seed), schema_dir=schema_dir
        )
        self.platform = platform
        self.shop: ShopBox = SHOP_BOXES[platform](list(eshop_seed))
        self.pohoda_server = RunningServer(self.pohoda_sim.app).start()
        self.eshop_server = self.shop.server
        self.env = {
            "CONNECTOR_POHODA_URL": self.pohoda_server.url,
            "CONNECTOR_POHODA_USER": POHODA_USER,
            "CONNECTOR_POHODA_ICO": ICO,
            "CONNECTOR_POHODA_PASSWORD": POHODA_PASSWORD,
            **self.shop.env,
            "CONNECTOR_STORE_URL": self._store_url(directory),
            "CONNECTOR_POHODA_RETRY_MAX_S": "2",
            "CONNECTOR_ESHOP_RETRY_MAX_S": "2",
            "CONNECTOR_LOG_LEVEL": "warning",
            **dict(settings or {}),
        }
        self.config: Config = load_config(None, env=self.env)

    @property
    def eshop_sim(self) -> EshopSimulator:
        """The protocol simulator itself (platform "connector" only), for its Python controls."""
        assert isinstance(self.shop, ConnectorShopBox), f"the {self.platform} sandbox has no protocol simulator"
        return self.shop.sim

    def _store_url(self, directory: Path) -> str:
        """A SQLite file in the directory, or, when CONNECTOR_SANDBOX_STORE_URL names a
        PostgreSQL database, a schema of its own there (dropped on close), as fresh as a file."""
        self._drop_schema: Callable[[], None] | None = None
        base = os.environ.get(SANDBOX_STORE_ENV)
        if not base or not base.startswith("postgresql"):
            return base or f"sqlite:///{directory / 'connector.db'}"
        import sqlalchemy as sa  # only where a sandbox runs on PostgreSQL

        schema = f"sandbox_{uuid.uuid4().hex[:16]}"
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()

        self._drop_schema = drop
        return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"

    def close(self) -> None:
        self.pohoda_server.stop()
        self.shop.close()
        if self._drop_schema is not None:
            self._drop_schema()
            self._drop_schema = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- what each side holds, read over HTTP like a test or a person would ---------------

    def pohoda_contacts(self) -> list[dict[str, Any]]:
        return _jsonl(_http.get(f"{self.pohoda_server.url}/_sim/contacts", timeout=60))

    def eshop_contacts(self) -> list[dict[str, Any]]:
        return self.shop.contacts()

    def notifications(self) -> list[dict[str, Any]]:
        return self.shop.notifications()

    def register(self, contact: Mapping[str, Any]) -> str:
        """A registration through the storefront's form; returns the e-shop id."""
        return self.shop.register(contact)

    def edit_on_eshop(self, customer_id: str, **changes: Any) -> None:
        self.shop.edit(customer_id, **changes)

    def delete_on_eshop(self, customer_id: str) -> None:
        self.shop.delete(customer_id)

    def add_at_counter(self, contact: Mapping[str, Any]) -> str:
        """A contact created in POHODA by a person at the counter; returns the POHODA id."""
        answer = _http.post(f"{self.pohoda_server.url}/_sim/contacts", json=dict(contact), timeout=30)
        answer.raise_for_status()
        return str(answer.json()["id"])

    def edit_in_pohoda(self, pohoda_id: str, **changes: Any) -> None:
        _http.patch(f"{self.pohoda_server.url}/_sim/contacts/{pohoda_id}", json=changes, timeout=30).raise_for_status()

    def pohoda_faults(self, **settings: Any) -> None:
        _http.post(f"{self.pohoda_server.url}/_sim/faults", json=settings, timeout=30).raise_for_status()

    def eshop_faults(self, **settings: Any) -> None:
        self.shop.faults(**settings)

    def pohoda_stats(self) -> dict[str, Any]:
        return dict(_http.get(f"{self.pohoda_server.url}/_sim/stats", timeout=30).json())

    def eshop_stats(self) -> dict[str, Any]:
        return self.shop.stats()


def _jsonl(response: httpx.Response) -> list[dict[str, Any]]:
    response.raise_for_status()
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]
