"""Both simulators on loopback ports and a configuration pointing at them.

What `connector demo`, the scenario tests and the benchmarks run the real connector against:
nothing is mocked, the connector talks HTTP to the simulators and keeps a real store.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from connector.config import Config, load_config
from connector.model import Contact
from connector.sim._server import RunningServer
from connector.sim.eshop import EshopSimulator
from connector.sim.pohoda import PohodaSimulator

POHODA_USER = "connector"
POHODA_PASSWORD = "sandbox-pohoda"  # noqa: S105 - loopback simulator credentials
ESHOP_TOKEN = "sandbox-eshop"  # noqa: S105
ICO = "12345678"


class Sandbox:
    """A POHODA simulator, an e-shop simulator and a store directory, ready to sync."""

    def __init__(
        self,
        directory: Path,
        *,
        pohoda_seed: Iterable[Contact] = (),
        eshop_seed: Iterable[Contact | Mapping[str, Any]] = (),
        schema_dir: Path | None = None,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.pohoda_sim = PohodaSimulator(
            user=POHODA_USER, password=POHODA_PASSWORD, ico=ICO, seed_contacts=list(pohoda_seed), schema_dir=schema_dir
        )
        self.eshop_sim = EshopSimulator(token=ESHOP_TOKEN, seed_contacts=list(eshop_seed))
        self.pohoda_server = RunningServer(self.pohoda_sim.app).start()
        self.eshop_server = RunningServer(self.eshop_sim.app).start()
        self.env = {
            "CONNECTOR_POHODA_URL": self.pohoda_server.url,
            "CONNECTOR_POHODA_USER": POHODA_USER,
            "CONNECTOR_POHODA_ICO": ICO,
            "CONNECTOR_POHODA_PASSWORD": POHODA_PASSWORD,
            "CONNECTOR_ESHOP_URL": self.eshop_server.url,
            "CONNECTOR_ESHOP_TOKEN": ESHOP_TOKEN,
            "CONNECTOR_STORE_URL": f"sqlite:///{directory / 'connector.db'}",
            "CONNECTOR_POHODA_RETRY_MAX_S": "2",
            "CONNECTOR_ESHOP_RETRY_MAX_S": "2",
            "CONNECTOR_LOG_LEVEL": "warning",
            **dict(settings or {}),
        }
        self.config: Config = load_config(None, env=self.env)

    def close(self) -> None:
        self.pohoda_server.stop()
        self.eshop_server.stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- what each side holds, read over HTTP like a test or a person would ---------------

    def pohoda_contacts(self) -> list[dict[str, Any]]:
        return _jsonl(httpx.get(f"{self.pohoda_server.url}/_sim/contacts", timeout=60))

    def eshop_contacts(self) -> list[dict[str, Any]]:
        return _jsonl(httpx.get(f"{self.eshop_server.url}/_sim/contacts", timeout=60))

    def notifications(self) -> list[dict[str, Any]]:
        return _jsonl(httpx.get(f"{self.eshop_server.url}/_sim/notifications", timeout=60))

    def register(self, contact: Mapping[str, Any]) -> str:
        """A registration through the storefront's form; returns the e-shop id."""
        answer = httpx.post(f"{self.eshop_server.url}/_sim/register", json=dict(contact), timeout=30)
        answer.raise_for_status()
        return str(answer.json()["id"])

    def edit_on_eshop(self, customer_id: str, **changes: Any) -> None:
        url = f"{self.eshop_server.url}/_sim/customers/{customer_id}"
        httpx.patch(url, json=changes, timeout=30).raise_for_status()

    def add_at_counter(self, contact: Mapping[str, Any]) -> str:
        """A contact created in POHODA by a person at the counter; returns the POHODA id."""
        answer = httpx.post(f"{self.pohoda_server.url}/_sim/contacts", json=dict(contact), timeout=30)
        answer.raise_for_status()
        return str(answer.json()["id"])

    def edit_in_pohoda(self, pohoda_id: str, **changes: Any) -> None:
        httpx.patch(f"{self.pohoda_server.url}/_sim/contacts/{pohoda_id}", json=changes, timeout=30).raise_for_status()

    def pohoda_faults(self, **settings: Any) -> None:
        httpx.post(f"{self.pohoda_server.url}/_sim/faults", json=settings, timeout=30).raise_for_status()

    def eshop_faults(self, **settings: Any) -> None:
        httpx.post(f"{self.eshop_server.url}/_sim/faults", json=settings, timeout=30).raise_for_status()

    def pohoda_stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.pohoda_server.url}/_sim/stats", timeout=30).json())

    def eshop_stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.eshop_server.url}/_sim/stats", timeout=30).json())


def _jsonl(response: httpx.Response) -> list[dict[str, Any]]:
    response.raise_for_status()
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]
