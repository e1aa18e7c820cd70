"""Sends a message over SMTP (smtplib) and maps every failure into connector.errors.

4xx answers and a server that cannot be reached are retryable (RetryableTransportError),
5xx answers are refusals (PeerRefused), a refused login is a configuration error. Messages
carry the SMTP code and its enhanced status, never the server's text (it often quotes the
recipient's address).
"""

from __future__ import annotations

import dataclasses
import re
import smtplib
import ssl
import urllib.parse
from email.message import EmailMessage
from email.utils import parseaddr

from connector.errors import ConfigError, PeerConfigurationError, PeerRefused, RetryableTransportError

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}


# Mail errors: subclasses of the project's tree, so a retry policy acts on the class.


class MailDeferred(RetryableTransportError):
    """The mail server answered 4xx (greylisting, a full queue, a rate limit): try again later."""


class MailServerUnreachable(RetryableTransportError):
    """The mail server could not be reached, timed out or dropped the connection."""


class MailRejected(PeerRefused):
    """The mail server answered 5xx for this message or recipient: retrying will not help."""


class MailAuthenticationFailed(PeerConfigurationError):
    """The mail server refused the login (535 and friends): the credentials are wrong."""


@dataclasses.dataclass(frozen=True)
class SmtpSettings:
    """Where and as whom to send: `smtp://host:port` (plain, STARTTLS when `starttls`) or
    `smtps://host:port` (TLS from the first byte). `username` defaults to the sender's address;
    without a password nothing is logged in."""

    url: str
    sender: str
    password: str | None = None
    username: str | None = None
    starttls: bool = False
    timeout_s: float = 30.0
    tls_context: ssl.SSLContext | None = dataclasses.field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ConfigError("mail url must look like smtp://host:port or smtps://host:port")
        if parts.username or parts.password:
            raise ConfigError("mail url must not carry credentials; set the mail password separately")
        try:
            _ = parts.port
        except ValueError:
            raise ConfigError("mail url has an invalid port") from None
        if "@" not in parseaddr(self.sender)[1]:
            raise ConfigError("mail sender must be an e-mail address")

    @property
    def host(self) -> str:
        host = urllib.parse.urlsplit(self.url).hostname
        assert host is not None
        return host

    @property
    def port(self) -> int:
        parts = urllib.parse.urlsplit(self.url)
        return parts.port or DEFAULT_PORTS[parts.scheme]

    @property
    def implicit_tls(self) -> bool:
        return urllib.parse.urlsplit(self.url).scheme == "smtps"

    @property
    def login(self) -> str:
        return self.username or parseaddr(self.sender)[1]


_ENHANCED = re.compile(rb"^\s*([245]\.\d{1,3}\.\d{1,3})")


def _code_text(code: int, reply: bytes | str | None) -> str:
    """'550 (5.1.1)': the code and the enhanced status only."""
    raw = reply.encode("utf-8", "replace") if isinstance(reply, str) else (reply or b"")
    match = _ENHANCED.match(raw)
    return f"{code} ({match.group(1).decode()})" if match else str(code)


def _by_code(code: int, reply: bytes | str | None, stage: str) -> Exception:
    text = f"the mail server answered {_code_text(code, reply)} to {stage}"
    if 400 <= code < 500:
        return MailDeferred(text, status_code=code)
    if code in (530, 534, 535, 538) and stage == "the login":
        return MailAuthenticationFailed(text, status_code=code)
    return MailRejected(text, status_code=code)


def send_message(message: EmailMessage, settings: SmtpSettings) -> None:
    """Send one message to its To: recipients; raise a connector error on any failure."""
    context = settings.tls_context or ssl.create_default_context()
    stage = "the connection"
    try:
        client: smtplib.SMTP
        if settings.implicit_tls:
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout_s, context=context)
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
        with client:
            stage = "the greeting"
            client.ehlo()
            if settings.starttls and not settings.implicit_tls:
                stage = "STARTTLS"
                client.starttls(context=context)
                client.ehlo()
            if settings.password:
                stage = "the login"
                client.login(settings.login, settings.password)
            stage = "the message"
            client.send_message(message, from_addr=parseaddr(settings.sender)[1])
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()), (550, b""))
        raise _by_code(code, reply, "the recipient") from None
    except smtplib.SMTPAuthenticationError as exc:
        raise MailAuthenticationFailed(
            f"the mail server refused the login ({_code_text(exc.smtp_code, exc.smtp_error)})",
            status_code=exc.smtp_code,
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise PeerConfigurationError(f"the mail server does not support {stage}") from None
    except smtplib.SMTPResponseException as exc:
        # SMTPSenderRefused, SMTPDataError, SMTPHeloError, SMTPConnectError and the rest.
        raise _by_code(exc.smtp_code, exc.smtp_error, stage) from None
    except smtplib.SMTPServerDisconnected:
        raise MailServerUnreachable(f"the mail server closed the connection during {stage}") from None
    except TimeoutError:
        raise MailServerUnreachable(f"the mail server did not answer in time during {stage}") from None
    except ssl.SSLError as exc:
        raise PeerConfigurationError(f"TLS with the mail server failed during {stage} ({exc.reason})") from None
    except OSError as exc:
        raise MailServerUnreachable(
            f"the mail server could not be reached ({type(exc).__name__}, errno {exc.errno})"
        ) from None
