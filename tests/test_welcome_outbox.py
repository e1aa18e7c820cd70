"""The welcome e-mail sent by the connector, from the outbox: once per auto-registered
account, received by a real SMTP server on loopback, none for a linked duplicate, kept for
the next run while the mail server is away, and a clear error without `[mail] url`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from test_mail import Mailbox

from connector.actions import run_sync
from connector.config import load_config
from connector.errors import ConfigError
from connector.mail import welcome_message_id
from connector.sim._server import free_port
from connector.sim.sandbox import Sandbox
from connector.store import Store


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def mail_settings(port: int) -> dict[str, str]:
    return {
        "CONNECTOR_MAIL_WELCOME": "connector",
        "CONNECTOR_MAIL_URL": f"smtp://127.0.0.1:{port}",
        "CONNECTOR_MAIL_SENDER": "Obchod <noreply@obchod.example>",
        "CONNECTOR_MAIL_RESET_URL": "https://obchod.example/password-recovery",
        "CONNECTOR_MAIL_SHOP_NAME": "Obchod U Lípy",
    }


def test_each_auto_registered_account_gets_one_welcome_from_the_connector(
    tmp_path: Path, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp
    with Sandbox(tmp_path / "box", settings=mail_settings(port)) as box:
        counter = [
            box.add_at_counter({"name": f"Pultová {n}", "email": f"pult{n}@example.cz", "country": "CZ"})
            for n in range(3)
        ]
        # Registered on the e-shop already with the same e-mail: linked, no welcome for her.
        box.register({"name": "Eva Již Registrovaná", "email": "eva@example.cz"})
        box.add_at_counter({"name": "Eva Již Registrovaná", "email": "EVA@example.cz"})
        first = run_sync(box.config)
        run_sync(box.config)
        run_sync(box.config)
        assert first.delivered.get("mail.welcome") == 3
        accounts = {c["hq_id"]: c["id"] for c in box.eshop_contacts()}
        messages = mailbox.messages()
        assert sorted(m["To"].addresses[0].addr_spec for m in messages) == [f"pult{n}@example.cz" for n in range(3)]
        assert len({m["Message-ID"] for m in messages}) == 3
        assert all("Obchod U Lípy" in m.get_body(("plain",)).get_content() for m in messages)  # type: ignore[union-attr]
        assert box.notifications() == []  # the e-shop was asked to send none itself
        # Each message names the account it welcomes (its Message-ID is derived from it).
        ids = sorted(accounts[pohoda_id] for pohoda_id in counter)
        assert sorted(m["Message-ID"] for m in messages) == sorted(
            welcome_message_id(account, domain="obchod.example") for account in ids
        )


def test_a_mail_server_away_keeps_the_welcome_for_the_next_run(tmp_path: Path, smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    dead = free_port()  # nothing listens here
    with Sandbox(tmp_path / "box", settings=mail_settings(dead)) as box:
        box.add_at_counter({"name": "Pavel Pult", "email": "pavel@example.cz"})
        summary = run_sync(box.config)
        assert summary.peer_errors.get("mail") and mailbox.received == []
        with Store.open(box.config.store_url) as store:
            assert [e.kind for e in store.pending("mail")] == ["welcome"]
        # The server is back (the same store, now pointed at the live one).
        config = load_config(None, env={**box.env, "CONNECTOR_MAIL_URL": f"smtp://127.0.0.1:{port}"})
        run_sync(config)
        run_sync(config)
        assert [m["To"].addresses[0].addr_spec for m in mailbox.messages()] == ["pavel@example.cz"]


def test_a_platform_that_sends_no_welcome_needs_mail_url(tmp_path: Path) -> None:
    settings = {"CONNECTOR_MAIL_WELCOME": "connector"}
    with Sandbox(tmp_path / "box", settings=settings) as box, pytest.raises(ConfigError, match=r"\[mail\] url"):
        run_sync(box.config)
