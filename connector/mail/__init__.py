"""The welcome e-mail, for platforms that send none themselves (PrestaShop's webservice).

Builds it in the contact's language (CZ -> Czech, SK -> Slovak, else English), plain text and
HTML with the shop's password-reset link, under a Message-ID derived from the account, and
sends it over SMTP; failures are connector errors a retry policy can act on.
"""

from __future__ import annotations

from connector.mail._mailer import SentWelcome, WelcomeMailer
from connector.mail._message import WelcomeSettings, build_welcome, language_for, welcome_message_id
from connector.mail._peer import MailUnreachable, WelcomeMail
from connector.mail._smtp import (
    MailAuthenticationFailed,
    MailDeferred,
    MailRejected,
    MailServerUnreachable,
    SmtpSettings,
    send_message,
)
from connector.mail._templates import Language

__all__ = [
    "Language",
    "MailAuthenticationFailed",
    "MailDeferred",
    "MailRejected",
    "MailServerUnreachable",
    "MailUnreachable",
    "SentWelcome",
    "SmtpSettings",
    "WelcomeMail",
    "WelcomeMailer",
    "WelcomeSettings",
    "build_welcome",
    "language_for",
    "send_message",
    "welcome_message_id",
]
