"""The WooCommerce simulator as the sandbox drives it (`Sandbox(platform="woocommerce")`).

Speaks canonical contacts to the scenario tests, the demo and the benchmarks, and the
simulator's own wire format (through `connector.codec.woocommerce`) to the simulator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connector.codec import woocommerce as codec
from connector.model import Contact
from connector.sim import _http
from connector.sim._server import RunningServer
from connector.sim.woocommerce import DEFAULT_CONSUMER_KEY, DEFAULT_CONSUMER_SECRET, WooCommerceSimulator

STATE_KEY = f"{codec.DEFAULT_MAPPING.hq_id_key}_sync_state"


def wire_of(contact: Contact | Mapping[str, Any]) -> dict[str, Any]:
    """A canonical contact as the body a storefront registration would carry."""
    found = contact if isinstance(contact, Contact) else Contact.from_dict(dict(contact))
    return codec.encode_customer(found.replace(id=None, ext_id=None))


def canonical(customer: Mapping[str, Any]) -> dict[str, Any]:
    """A customer's JSON as a canonical contact's dict plus `hq_id` and `sync_state`."""
    decoded = codec.decode_customer(dict(customer))
    state = dict(decoded.meta).get(STATE_KEY) or None
    row = decoded.contact.replace(ext_id=None).to_dict()
    row["hq_id"] = decoded.contact.ext_id
    row["sync_state"] = state if decoded.contact.ext_id else None
    return row


class WooCommerceShopBox:
    """A loopback WooCommerce with the default consumer key pair."""

    wire_of = staticmethod(wire_of)  # for `connector sim …` seeding

    def __init__(self, seed: Iterable[Contact | Mapping[str, Any]] = ()) -> None:
        self.sim = WooCommerceSimulator(seed_customers=[wire_of(contact) for contact in seed])
        self.server = RunningServer(self.sim.app).start()
        self.env = {
            "CONNECTOR_ESHOP_PLATFORM": "woocommerce",
            "CONNECTOR_ESHOP_URL": self.server.url,
            "CONNECTOR_ESHOP_KEY": DEFAULT_CONSUMER_KEY,
            "CONNECTOR_ESHOP_SECRET": DEFAULT_CONSUMER_SECRET,
        }

    def _url(self, path: str) -> str:
        return f"{self.server.url}/_sim{path}"

    def contacts(self) -> list[dict[str, Any]]:
        answer = _http.get(self._url("/customers"), params={"role": "customer"}, timeout=60)
        answer.raise_for_status()
        return [canonical(customer) for customer in answer.json()]

    def notifications(self) -> list[dict[str, Any]]:
        answer = _http.get(self._url("/notifications"), timeout=60)
        answer.raise_for_status()
        return [{**row, "customer_id": str(row["customer_id"])} for row in answer.json()]

    def register(self, contact: Mapping[str, Any]) -> str:
        answer = _http.post(self._url("/register"), json=wire_of(contact), timeout=30)
        answer.raise_for_status()
        return str(answer.json()["id"])

    def edit(self, customer_id: str, **changes: Any) -> None:
        current = self.sim.customer(int(customer_id))
        if current is None:
            raise KeyError(customer_id)
        contact = codec.decode_customer(current).contact.replace(**changes)
        body = codec.encode_customer(contact.replace(ext_id=None))
        body.pop("meta_data", None)  # the shopper's form does not touch the connector's keys
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
