"""Builds the welcome e-mail for one account: language, both bodies, a stable Message-ID.

No network here: `_smtp` sends what this builds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from string import Template

from connector.errors import BadData, ConfigError
from connector.mail._templates import HTML_PARTS, TEMPLATES, Language
from connector.model import Contact

# The contact's country decides the language; everything else gets English.
_LANGUAGE_BY_COUNTRY: dict[str, Language] = {"CZ": "cs", "SK": "sk"}


def language_for(contact: Contact) -> Language:
    """cs for a Czech contact, sk for a Slovak one, en for any other or no country."""
    return _LANGUAGE_BY_COUNTRY.get((contact.country or "").upper(), "en")


@dataclasses.dataclass(frozen=True)
class WelcomeSettings:
    """What the welcome e-mail says about the shop and where it sends the shopper.

    `reset_url` is the shop's password-reset page (PrestaShop: `…/password-recovery`, or
    `index.php?controller=password`): a webservice-created account has a random password, and
    the shopper sets their own through "forgot password" (eshop-platforms.md §1).
    `reset_urls` may give a page per language (cs, sk, en); `reset_url` is the fallback.
    """

    shop_name: str
    shop_url: str
    reset_url: str
    sender: str  # "Obchod <noreply@obchod.cz>" or "noreply@obchod.cz"
    reply_to: str | None = None
    reset_urls: dict[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        _, address = parseaddr(self.sender)
        if "@" not in address:
            raise ConfigError("mail sender must be an e-mail address (e.g. 'Shop <noreply@shop.cz>')")
        for key, url in {"reset_url": self.reset_url, "shop_url": self.shop_url, **self.reset_urls}.items():
            if not url.startswith(("https://", "http://")):
                raise ConfigError(f"mail {key}: the link must be an http(s) URL")

    @property
    def sender_domain(self) -> str:
        return parseaddr(self.sender)[1].rsplit("@", 1)[1].lower()

    def reset_link(self, language: Language) -> str:
        return self.reset_urls.get(language, self.reset_url)


def welcome_message_id(account_id: str, *, domain: str) -> str:
    """A Message-ID derived from the account: a resend of the same account's welcome carries
    the same id, so the mail server, the client and the audit log see it as the same message.
    The account id is hashed so the header says nothing about the account."""
    digest = hashlib.sha256(f"connector-welcome\x00{account_id}".encode()).hexdigest()[:40]
    return f"<welcome.{digest}@{domain}>"


def build_welcome(contact: Contact, *, account_id: str, settings: WelcomeSettings) -> EmailMessage:
    """The welcome e-mail for one account, plain text and HTML, in the contact's language."""
    if not contact.email:
        raise BadData(
            f"account {account_id}: the welcome e-mail needs the contact's e-mail", record=account_id, field="email"
        )
    language = language_for(contact)
    template = TEMPLATES[language]
    reset_url = settings.reset_link(language)
    greeting = template.greeting_named.substitute(name=contact.name) if contact.name else template.greeting_plain
    values = {
        "shop_name": settings.shop_name,
        "shop_url": settings.shop_url,
        "email": contact.email,
        "reset_url": reset_url,
    }
    subject = template.subject.substitute(values)
    text = template.text.substitute(values, greeting=greeting)
    escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
    parts = {key: _fill(part, escaped) for key, part in HTML_PARTS[language].items()}
    body = template.html.substitute(
        escaped, **parts, greeting=html.escape(greeting), subject=html.escape(subject), lang=language
    )

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.sender
    try:
        message["To"] = Address(display_name=contact.name or "", addr_spec=contact.email)
    except (ValueError, IndexError):
        raise BadData(
            f"account {account_id}: the contact's e-mail is not a deliverable address", record=account_id, field="email"
        ) from None
    if settings.reply_to:
        message["Reply-To"] = settings.reply_to
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = welcome_message_id(account_id, domain=settings.sender_domain)
    # Marks the mail as automatic (RFC 3834): no out-of-office answers to the shop's sender.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, subtype="plain", charset="utf-8")
    message.add_alternative(body, subtype="html", charset="utf-8")
    # After the bodies: set_content() clears every Content-* header set before it.
    message["Content-Language"] = language
    return message


def _fill(part: str, escaped: dict[str, str]) -> str:
    return Template(part).substitute(escaped)
