"""Sends welcome e-mails: one SMTP set-up and one shop's texts."""

from __future__ import annotations

import dataclasses

from connector.mail._message import WelcomeSettings, build_welcome, language_for
from connector.mail._smtp import SmtpSettings, send_message
from connector.mail._templates import Language
from connector.model import Contact


@dataclasses.dataclass(frozen=True)
class SentWelcome:
    """What was sent: the Message-ID (the same on a resend) and the language."""

    message_id: str
    language: Language


class WelcomeMailer:
    """Sends welcome e-mails with one SMTP set-up and one shop's texts."""

    def __init__(self, smtp: SmtpSettings, welcome: WelcomeSettings) -> None:
        self.smtp = smtp
        self.welcome = welcome

    def send(self, contact: Contact, *, account_id: str) -> SentWelcome:
        """Send the welcome e-mail for `account_id`; raises MailDeferred (4xx) or
        MailServerUnreachable (retry later), MailRejected (5xx), MailAuthenticationFailed,
        or BadData when the contact has no usable e-mail."""
        message = build_welcome(contact, account_id=account_id, settings=self.welcome)
        send_message(message, self.smtp)
        return SentWelcome(str(message["Message-ID"]), language_for(contact))
