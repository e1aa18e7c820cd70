"""The platforms' own webhooks through `connector serve` over real HTTP: the WooCommerce and
Shoptet simulators deliver to the app, the worker brings the registration into POHODA; a
forged or missing signature is refused and stores nothing; a repeat is stored once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from connector.config import load_config
from connector.sim._server import RunningServer
from connector.sim.sandbox import Sandbox
from connector.store import Store
from connector.web import WebSettings, create_app

WOO_SECRET = "woo-webhook-secret-0123456789"


class Served:
    """A platform's simulator with its webhook pointed at a running `connector serve`."""

    def __init__(self, directory: Path, platform: str) -> None:
        self.platform = platform
        self.box = Sandbox(directory, platform=platform)
        self.sim = self.box.shop.sim  # type: ignore[attr-defined]
        self.secret = WOO_SECRET if platform == "woocommerce" else self.sim.signature_key
        env = {**self.box.env, "CONNECTOR_WEBHOOK_SECRETS": self.secret}
        self.config = load_config(None, env=env)
        self.server = RunningServer(create_app(self.config, WebSettings(poll_s=0.2))).start()
        self.url = f"{self.server.url}/webhooks/{platform}"
        self.http = httpx.Client(timeout=30)

    def listen(self) -> None:
        """Register the connector's URL at the simulator, as an integrator does once."""
        if self.platform == "woocommerce":
            for topic in ("customer.created", "customer.updated", "customer.deleted"):
                self.sim.add_webhook(topic, self.url, WOO_SECRET)  # pings the URL: must get 200
        else:
            for event in ("customer:create", "customer:update", "customer:delete"):
                self.sim.add_webhook(event, self.url)

    def events(self) -> dict[str, int]:
        store = Store.open(self.config.store_url)
        try:
            return store.event_counts()
        finally:
            store.close()

    def close(self) -> None:
        self.http.close()
        self.server.stop(30)
        self.box.close()


@pytest.fixture(params=["woocommerce", "shoptet"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    setup = Served(tmp_path, request.param)
    try:
        yield setup
    finally:
        setup.close()


def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def pohoda_ext_ids(box: Sandbox) -> list[str]:
    return [str(row["ext_id"]) for row in box.pohoda_contacts()]


def test_a_webhook_brings_a_registration_into_pohoda_within_seconds(served: Served) -> None:
    served.listen()
    customer = served.box.register({"name": "Rychlá Registrace", "email": "rychla@example.cz", "city": "Brno"})
    registered = time.monotonic()
    wait_for(lambda: customer in pohoda_ext_ids(served.box))
    assert time.monotonic() - registered < 5.0
    wait_for(lambda: served.events().get("processed", 0) >= 1)
    assert pohoda_ext_ids(served.box) == [customer]
    # The connector's own write (WooCommerce: POHODA's id into meta_data) comes back as a
    # webhook too; it is an echo, and POHODA still holds one contact.
    served.sim.flush_webhooks()
    wait_for(lambda: served.events().get("received", 0) == 0)
    assert pohoda_ext_ids(served.box) == [customer]


def _forge(served: Served, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if served.platform == "woocommerce":
        headers["X-WC-Webhook-Topic"] = "customer.created"
        if signature is not None:
            headers["X-WC-Webhook-Signature"] = signature
    elif signature is not None:
        headers["Shoptet-Webhook-Signature"] = signature
    return served.http.post(served.url, content=body, headers=headers)


def _body(served: Served) -> bytes:
    if served.platform == "woocommerce":
        return json.dumps({"id": 7, "date_modified_gmt": "2026-12-01T10:00:00"}).encode()
    return json.dumps(
        {
            "eshopId": 1,
            "event": "customer:create",
            "eventCreated": "2026-12-01T10:00:00+0100",
            "eventInstance": "0b5b9a3e-35a4-4b8a-9d3c-1d1e1b1a1c1f",
        }
    ).encode()


def _sign(served: Served, secret: str, body: bytes) -> str:
    if served.platform == "woocommerce":
        return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def test_a_forged_or_missing_signature_gets_401_and_stores_nothing(served: Served) -> None:
    body = _body(served)
    assert _forge(served, body, None).status_code == 401
    assert _forge(served, body, _sign(served, "not-the-secret-0123456789", body)).status_code == 401
    # Signed right, but over other bytes than were sent.
    assert _forge(served, body, _sign(served, served.secret, body + b" ")).status_code == 401
    assert served.events() == {}
    # The same body signed with the secret is taken, once.
    signed = _sign(served, served.secret, body)
    assert _forge(served, body, signed).status_code == 202
    assert _forge(served, body, signed).status_code == 200
    assert sum(served.events().values()) == 1


def test_another_platforms_webhook_is_not_taken(served: Served) -> None:
    other = "shoptet" if served.platform == "woocommerce" else "woocommerce"
    answer = served.http.post(
        f"{served.server.url}/webhooks/{other}", content=b"{}", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 404
    assert served.events() == {}


def test_woocommerce_creation_ping_is_answered_and_stores_nothing(tmp_path: Path) -> None:
    setup = Served(tmp_path, "woocommerce")
    try:
        answer = setup.http.post(setup.url, data={"webhook_id": "12"})
        assert answer.status_code == 200
        assert setup.events() == {}
    finally:
        setup.close()
