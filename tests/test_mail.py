"""The welcome e-mail sent to a real SMTP server on loopback (aiosmtpd) and read back."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from connector.errors import BadData, ConfigError, PeerConfigurationError, PeerRefused, RetryableTransportError
from connector.mail import (
    MailAuthenticationFailed,
    MailDeferred,
    MailRejected,
    MailServerUnreachable,
    SmtpSettings,
    WelcomeMailer,
    WelcomeSettings,
    build_welcome,
    welcome_message_id,
)
from connector.model import Contact
from connector.sim._server import free_port

SENDER = "Obchod <noreply@obchod.example>"
WELCOME = WelcomeSettings(
    shop_name="Obchod U Lípy",
    shop_url="https://obchod.example/",
    reset_url="https://obchod.example/en/password-recovery",
    reset_urls={"cs": "https://obchod.example/cs/obnova-hesla", "sk": "https://obchod.example/sk/obnova-hesla"},
    sender=SENDER,
)


class Mailbox:
    """An aiosmtpd handler that keeps what it receives and answers what a test tells it to."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[misc]
            for _, _, raw in self.received
        ]


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"right-password"
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticator,
        auth_require_tls=False,
        auth_required=False,
    )
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[Mailbox, int]) -> Mailbox:
    box = smtp_server[0]
    box.received.clear()
    box.rcpt_reply = box.data_reply = None
    return box


@pytest.fixture
def mailer(smtp_server: tuple[Mailbox, int]) -> WelcomeMailer:
    return WelcomeMailer(SmtpSettings(url=f"smtp://127.0.0.1:{smtp_server[1]}", sender=SENDER), WELCOME)


def contact(country: str | None, **extra: Any) -> Contact:
    return Contact(id="41", name="Jana Nováková", email="jana@example.cz", country=country, **extra)


def bodies(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    rich = message.get_body(preferencelist=("html",))
    assert plain is not None and rich is not None
    return plain.get_content(), rich.get_content()


@pytest.mark.parametrize(
    ("country", "language", "subject", "greeting", "reset"),
    [
        ("CZ", "cs", "Vítejte v obchodě Obchod U Lípy", "Dobrý den, Jana Nováková,", "/cs/obnova-hesla"),
        ("SK", "sk", "Vitajte v obchode Obchod U Lípy", "Dobrý deň, Jana Nováková,", "/sk/obnova-hesla"),
        ("AT", "en", "Welcome to Obchod U Lípy", "Hello Jana Nováková,", "/en/password-recovery"),
        (None, "en", "Welcome to Obchod U Lípy", "Hello Jana Nováková,", "/en/password-recovery"),
    ],
)
def test_language_follows_the_country_and_both_bodies_carry_the_reset_link(
    mailer: WelcomeMailer,
    mailbox: Mailbox,
    country: str | None,
    language: str,
    subject: str,
    greeting: str,
    reset: str,
) -> None:
    sent = mailer.send(contact(country), account_id="41")
    assert sent.language == language
    [received] = mailbox.messages()
    assert received["Subject"] == subject
    assert received["Content-Language"] == language
    assert received["Message-ID"] == sent.message_id
    plain, rich = bodies(received)
    assert plain.startswith(greeting)
    assert f"https://obchod.example{reset}" in plain
    assert f'href="https://obchod.example{reset}"' in rich
    assert "jana@example.cz" in plain and "jana@example.cz" in rich
    assert mailbox.received[0][0] == "noreply@obchod.example"
    assert mailbox.received[0][1] == ["jana@example.cz"]


def test_a_resend_carries_the_same_message_id_and_another_account_another(
    mailer: WelcomeMailer, mailbox: Mailbox
) -> None:
    first = mailer.send(contact("CZ"), account_id="41")
    again = mailer.send(contact("CZ"), account_id="41")
    other = mailer.send(contact("CZ", ext_id="x"), account_id="42")
    assert first.message_id == again.message_id == welcome_message_id("41", domain="obchod.example")
    assert other.message_id != first.message_id
    assert first.message_id.endswith("@obchod.example>")
    assert re.fullmatch(r"<welcome\.[0-9a-f]{40}@obchod\.example>", first.message_id)  # a hash, not the id
    assert [m["Message-ID"] for m in mailbox.messages()] == [first.message_id, first.message_id, other.message_id]


def test_the_html_body_escapes_what_comes_from_the_shop_and_the_contact() -> None:
    settings = WelcomeSettings(
        shop_name="A&B <Shop>",
        shop_url="https://shop.example/",
        reset_url="https://shop.example/reset?a=1&b=2",
        sender=SENDER,
    )
    message = build_welcome(
        Contact(name="Jan <b>Novák</b>", email="jan@example.cz", country="CZ"), account_id="7", settings=settings
    )
    plain, rich = bodies(message)
    assert "A&amp;B &lt;Shop&gt;" in rich and "<b>Novák</b>" not in rich
    assert 'href="https://shop.example/reset?a=1&amp;b=2"' in rich
    assert "A&B <Shop>" in plain


def test_a_greeting_without_a_name_and_a_contact_without_email() -> None:
    message = build_welcome(Contact(email="x@example.sk", country="SK"), account_id="8", settings=WELCOME)
    assert bodies(message)[0].startswith("Dobrý deň,\n")
    with pytest.raises(BadData) as refused:
        build_welcome(Contact(name="Jana Nováková", country="CZ"), account_id="9", settings=WELCOME)
    assert refused.value.field == "email" and refused.value.record == "9"


def test_a_4xx_answer_is_retryable_and_names_no_address(mailer: WelcomeMailer, mailbox: Mailbox) -> None:
    mailbox.rcpt_reply = "451 4.7.1 Greylisted, try again later <jana@example.cz>"
    with pytest.raises(MailDeferred) as deferred:
        mailer.send(contact("CZ"), account_id="41")
    assert isinstance(deferred.value, RetryableTransportError)
    assert deferred.value.status_code == 451
    assert "4.7.1" in str(deferred.value)
    assert "jana" not in str(deferred.value)
    assert mailbox.received == []


def test_a_5xx_answer_is_a_permanent_refusal(mailer: WelcomeMailer, mailbox: Mailbox) -> None:
    mailbox.rcpt_reply = "550 5.1.1 <jana@example.cz>: Recipient address rejected"
    with pytest.raises(MailRejected) as rejected:
        mailer.send(contact("CZ"), account_id="41")
    assert isinstance(rejected.value, PeerRefused)
    assert not isinstance(rejected.value, RetryableTransportError)
    assert rejected.value.status_code == 550
    assert "jana" not in str(rejected.value)


def test_a_4xx_and_a_5xx_after_the_data_map_the_same_way(mailer: WelcomeMailer, mailbox: Mailbox) -> None:
    mailbox.data_reply = "452 4.3.1 Insufficient system storage"
    with pytest.raises(MailDeferred) as deferred:
        mailer.send(contact("CZ"), account_id="41")
    assert deferred.value.status_code == 452
    mailbox.data_reply = "554 5.7.1 Message rejected as spam"
    with pytest.raises(MailRejected) as rejected:
        mailer.send(contact("CZ"), account_id="41")
    assert rejected.value.status_code == 554


def test_login_with_the_password_and_a_refused_login_is_a_configuration_error(
    smtp_server: tuple[Mailbox, int], mailbox: Mailbox
) -> None:
    url = f"smtp://127.0.0.1:{smtp_server[1]}"
    WelcomeMailer(SmtpSettings(url=url, sender=SENDER, password="right-password"), WELCOME).send(
        contact("CZ"), account_id="41"
    )
    assert len(mailbox.received) == 1
    with pytest.raises(MailAuthenticationFailed) as refused:
        WelcomeMailer(SmtpSettings(url=url, sender=SENDER, password="wrong"), WELCOME).send(
            contact("CZ"), account_id="41"
        )
    assert isinstance(refused.value, PeerConfigurationError)
    assert refused.value.status_code == 535
    assert len(mailbox.received) == 1


def test_a_server_that_is_not_there_is_retryable() -> None:
    mailer = WelcomeMailer(SmtpSettings(url=f"smtp://127.0.0.1:{free_port()}", sender=SENDER, timeout_s=2), WELCOME)
    with pytest.raises(MailServerUnreachable) as unreachable:
        mailer.send(contact("CZ"), account_id="41")
    assert isinstance(unreachable.value, RetryableTransportError)


@pytest.mark.parametrize(
    "url",
    ["http://mail.example:25", "smtp://", "smtp://user:pw@mail.example:25", "smtp://mail.example:99999"],
)
def test_a_bad_smtp_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigError):
        SmtpSettings(url=url, sender=SENDER)


def test_default_ports_and_tls_by_scheme() -> None:
    assert SmtpSettings(url="smtps://mail.example", sender=SENDER).port == 465
    assert SmtpSettings(url="smtps://mail.example", sender=SENDER).implicit_tls
    plain = SmtpSettings(url="smtp://mail.example:587", sender=SENDER, starttls=True)
    assert (plain.port, plain.implicit_tls, plain.login) == (587, False, "noreply@obchod.example")
