"""The welcome e-mail as the sync's third outbox side: one write, one message.

Sent one at a time, each recorded in its own transaction by the run, so that a crash can
repeat at most the one message in flight (under the same Message-ID, which the receiving
side can recognise), never a batch. A server that defers or cannot be reached leaves the
message in the outbox for the next run; one that refuses it for good has it refused.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from connector.config import Config
from connector.errors import BadData, ConfigError, PeerRefused, PeerUnreachable, RetryableTransportError
from connector.log import get_logger
from connector.mail._mailer import WelcomeMailer
from connector.mail._message import WelcomeSettings
from connector.mail._smtp import SmtpSettings
from connector.peers.base import Capabilities, ChangeBatch, PeerRecord, PeerWrite, WriteResult

log = get_logger(__name__)


class MailUnreachable(PeerUnreachable):
    """The mail server deferred the message or could not be reached; it waits in the outbox."""


class WelcomeMail:
    """Sends `welcome` writes through a WelcomeMailer (SMTP)."""

    side = "mail"
    label = "the mail server"
    capabilities = Capabilities(sends_welcome_email=False, stores_external_id=False)
    batch_size = 1

    def __init__(self, mailer: WelcomeMailer) -> None:
        self.mailer = mailer
        self._failed = ""

    @classmethod
    def from_config(cls, config: Config) -> WelcomeMail:
        mail = config.mail
        missing = [key for key in ("url", "sender", "reset_url") if not getattr(mail, key)]
        if missing:
            keys = ", ".join(f"[mail] {key}" for key in missing)
            raise ConfigError(f"{config.source}: the welcome e-mail is the connector's to send, so {keys} must be set")
        assert mail.url and mail.sender and mail.reset_url
        smtp = SmtpSettings(
            url=mail.url, sender=mail.sender, password=config.secrets.mail_password, starttls=mail.starttls
        )
        welcome = WelcomeSettings(
            shop_name=mail.shop_name,
            shop_url=mail.shop_url or mail.reset_url,
            reset_url=mail.reset_url,
            sender=mail.sender,
        )
        return cls(WelcomeMailer(smtp, welcome))

    @property
    def available(self) -> bool:
        return not self._failed

    @property
    def unavailable_reason(self) -> str:
        return self._failed

    def probe(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def changes(self, cursor: str | None) -> Iterator[ChangeBatch]:
        return iter(())

    def snapshot(self) -> Iterator[PeerRecord]:
        return iter(())

    def get(self, record_id: str) -> PeerRecord | None:
        return None

    def apply(self, writes: Sequence[PeerWrite]) -> list[WriteResult]:
        results = []
        for write in writes:
            assert write.kind == "welcome" and write.contact is not None and write.record_id is not None
            try:
                sent = self.mailer.send(write.contact, account_id=write.record_id)
            except RetryableTransportError as exc:
                self._failed = str(exc)
                raise MailUnreachable(f"the welcome e-mail waits: {exc}") from exc
            except (PeerRefused, BadData) as exc:
                field = exc.field if isinstance(exc, BadData) else None
                results.append(WriteResult("refused", reason=f"the welcome e-mail was refused: {exc}", field=field))
                continue
            log.info("mail.welcome_sent", account=write.record_id, language=sent.language)
            results.append(WriteResult("done", record_id=write.record_id, version=sent.message_id))
        return results
