"""The Shoptet simulator as the sandbox drives it (`Sandbox(platform="shoptet")`).

Speaks canonical contacts to the scenario tests, the demo and the benchmarks, and the
simulator's own wire format (through `connector.codec.shoptet`) to the simulator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connector.codec import shoptet as codec
from connector.model import Contact
from connector.sim import _http
from connector.sim._server import RunningServer
from connector.sim.shoptet import DEFAULT_TOKEN, ShoptetSimulator, seed_customers


def wire_of(contact: Contact | Mapping[str, Any]) -> dict[str, Any]:
    """A canonical contact as the `data` of a storefront registration."""
    found = contact if isinstance(contact, Contact) else Contact.from_dict(dict(contact))
    data: dict[str, Any] = codec.encode_create(found.replace(id=None, ext_id=None))["data"]
    return data


def canonical(customer: Mapping[str, Any]) -> dict[str, Any]:
    """A customer's JSON as a canonical contact's dict; Shoptet shows no POHODA id."""
    envelope = {"data": {"customer": dict(customer)}, "errors": None, "metadata": {"requestId": "sim"}}
    decoded = codec.decode_customer(envelope)
    row = decoded.contact.to_dict()
    row["hq_id"] = None
    row["sync_state"] = None
    return row


class ShoptetShopBox:
    """A loopback Shoptet with the simulator's default private API token."""

    wire_of = staticmethod(wire_of)  # for `connector sim …` seeding

    def __init__(self, seed: Iterable[Contact | Mapping[str, Any]] = ()) -> None:
        self.sim = ShoptetSimulator()
        seed_customers(self.sim, [wire_of(contact) for contact in seed])
        self.server = RunningServer(self.sim.app).start()
        self.env = {
            "CONNECTOR_ESHOP_PLATFORM": "shoptet",
            "CONNECTOR_ESHOP_URL": self.server.url,
            "CONNECTOR_ESHOP_TOKEN": DEFAULT_TOKEN,
        }

    def _url(self, path: str) -> str:
        return f"{self.server.url}/_sim{path}"

    def contacts(self) -> list[dict[str, Any]]:
        answer = _http.get(self._url("/customers"), timeout=60)
        answer.raise_for_status()
        return [canonical(customer) for customer in answer.json()]

    def notifications(self) -> list[dict[str, Any]]:
        answer = _http.get(self._url("/notifications"), timeout=60)
        answer.raise_for_status()
        return [{**row, "customer_id": row["guid"]} for row in answer.json()]

    def register(self, contact: Mapping[str, Any]) -> str:
        answer = _http.post(self._url("/register"), json=wire_of(contact), timeout=30)
        answer.raise_for_status()
        return str(answer.json()["guid"])

    def edit(self, customer_id: str, **changes: Any) -> None:
        current = self.sim.customer(customer_id)
        if current is None:
            raise KeyError(customer_id)
        contact = canonical(current)
        contact.update(changes)
        target = Contact.from_dict({k: v for k, v in contact.items() if k not in ("hq_id", "sync_state")})
        body: dict[str, Any] = codec.encode_customer_patch(target)["data"]
        account = codec.encode_account_patch(target)["data"]
        body.update({k: account[k] for k in ("email", "phone") if k in account})
        answer = _http.patch(self._url(f"/customers/{customer_id}"), json=body, timeout=30)
        answer.raise_for_status()

    def delete(self, customer_id: str) -> None:
        _http.delete(self._url(f"/customers/{customer_id}"), timeout=30).raise_for_status()

    def faults(self, **settings: Any) -> None:
        _http.post(self._url("/faults"), json=settings, timeout=30).raise_for_status()

    def stats(self) -> dict[str, Any]:
        return dict(_http.get(self._url("/stats"), timeout=30).json())

    def close(self) -> None:
        self.server.stop()
