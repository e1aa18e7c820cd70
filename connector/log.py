"""Logging: structlog set up once, with personal data masked in every event.

JSON lines when stdout is not a terminal (cron, systemd), readable console output when it is.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from connector.model import PERSONAL_FIELDS

# Keys whose values are personal data wherever they appear in an event: the contact's
# personal fields (the model's field table) and the names other formats give them.
PERSONAL_KEYS: frozenset[str] = PERSONAL_FIELDS | {"mobil", "first_name", "last_name", "surname", "address"}

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# A run of 7+ digits, possibly with +, spaces, dashes, dots or brackets between them.
_PHONE = re.compile(r"(?<![\w])\+?\(?\d[\d ()./-]{5,}\d(?![\w])")


def mask_value(value: str) -> str:
    """A stable pseudonym: the same value gives the same mask, so logs can still be correlated."""
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]
    return f"<masked:{digest}>"


def mask_text(text: str) -> str:
    """Free text with every e-mail address and phone number in it masked (for messages that
    leave the process other than as log events: the CLI's `error:` lines, uvicorn's log)."""
    text = _EMAIL.sub(lambda m: mask_value(m.group(0)), text)
    return _PHONE.sub(_mask_phone, text)



def _mask_phone(match: re.Match[str]) -> str:
    found = match.group(0)
    return mask_value(found) if sum(c.isdigit() for c in found) >= 7 else found


def _mask(key: str | None, value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if key is not None and key.lower() in PERSONAL_KEYS:
        if isinstance(value, (list, tuple)):
            return [_mask(key, v) for v in value]
        if isinstance(value, Mapping):
            return {k: _mask(k, v) for k, v in value.items()}
        return mask_value(str(value))
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: _mask(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask(None, v) for v in value]
    return value


def mask_personal_data(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: personal fields by key, e-mails and phone numbers anywhere in text."""
    for key in list(event_dict):
        event_dict[key] = _mask(key, event_dict[key])
    return event_dict


_PRE_CHAIN: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    # The traceback becomes text first, so that the masker sees it: a renderer that
    # formats exc_info itself would print the exception's message in clear.
    structlog.processors.format_exc_info,
    mask_personal_data,
]
_use_json = True


def _renderer() -> Any:
    return structlog.processors.JSONRenderer() if _use_json else structlog.dev.ConsoleRenderer()


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """Set up structlog (and the stdlib root logger it feeds) for the whole process."""
    global _use_json
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    _use_json = fmt == "json" or (fmt != "console" and not sys.stderr.isatty())
    structlog.configure(
        processors=[*_PRE_CHAIN, _renderer()],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def _add_logger_name(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    record = event_dict.get("_record")
    if record is not None:
        event_dict.setdefault("logger", record.name)
    return event_dict


class MaskingFormatter(structlog.stdlib.ProcessorFormatter):
    """A stdlib formatter for uvicorn's own loggers: each record goes through the same
    processors as the connector's events (masked, JSON lines or console as configured),
    so `connector serve` writes one format, never uvicorn's plain `INFO:` lines."""

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        super().__init__(processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _renderer(),
        ], foreign_pre_chain=[_add_logger_name, *_PRE_CHAIN])


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's logging set-up for `connector serve`: its messages and tracebacks on stderr,
    through structlog's processors (masked; uvicorn's default prints an app's exception in clear)."""
    formatter = {"()": f"{__name__}.MaskingFormatter"}
    handler = {"class": "logging.StreamHandler", "formatter": "masked", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"masked": formatter},
        "handlers": {"masked": handler},
        "loggers": {
            "uvicorn": {"handlers": ["masked"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["masked"], "level": "INFO", "propagate": False},
        },
    }


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name) if name else structlog.get_logger()
