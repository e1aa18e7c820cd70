"""The webhook signature: HMAC-SHA256 over "<timestamp>.<raw body>", sent as `t=…,v1=…`.

`sign` is what the e-shop does (and the tests and the bench); `verify` is the endpoint's check.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Sequence

from connector.errors import ConnectorError

HEADER = "X-Connector-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureError(ConnectorError):
    """The signature header is absent, malformed or does not match; `code` names which."""

    def __init__(self, code: str, message: str, *, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value the e-shop sends with `body`: `t=<unix>,v1=<hex>`."""
    moment = int(time.time()) if timestamp is None else timestamp
    return f"t={moment},{SCHEME}={signature(secret, moment, body)}"


def parse_header(value: str) -> tuple[int, list[str]]:
    """The timestamp and the v1 signatures of a header value.

    Unknown keys are ignored so that a later scheme (v2) can be sent beside v1 during a
    migration; several v1 values are allowed (a sender signing with old and new secret).
    """
    timestamp: int | None = None
    digests: list[str] = []
    for part in value.split(","):
        key, sep, item = part.strip().partition("=")
        if not sep or not key:
            raise SignatureError("signature_malformed", f"{HEADER}: {part.strip()!r} is not key=value", status=400)
        if key == "t":
            if timestamp is not None or not _TIMESTAMP.fullmatch(item):
                raise SignatureError("signature_malformed", f"{HEADER}: t must be one unix timestamp", status=400)
            timestamp = int(item)
        elif key == SCHEME:
            if not _HEX_DIGEST.fullmatch(item):
                raise SignatureError(
                    "signature_malformed", f"{HEADER}: v1 must be 64 lower-case hex digits", status=400
                )
            digests.append(item)
    if timestamp is None or not digests:
        raise SignatureError("signature_malformed", f"{HEADER}: expected t=<unix>,v1=<hex>", status=400)
    return timestamp, digests


def verify(
    header: str | None,
    body: bytes,
    secrets: Sequence[str],
    *,
    now: float | None = None,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> None:
    """Raise SignatureError unless `header` signs `body` with one of `secrets`, in time."""
    if header is None or not header.strip():
        raise SignatureError("signature_missing", f"the {HEADER} header is required", status=401)
    timestamp, digests = parse_header(header)
    moment = time.time() if now is None else now
    # Both ways: a stale timestamp is a replay of an old capture, a future one a clock
    # to fix on the sender; either way the event is not taken.
    if abs(moment - timestamp) > tolerance_s:
        raise SignatureError(
            "timestamp_out_of_tolerance",
            f"{HEADER}: the timestamp is more than {tolerance_s} s away from the server's clock",
            status=401,
        )
    matched = False
    for secret in secrets:
        expected = signature(secret, timestamp, body)
        for digest in digests:
            # No early exit: every comparison runs, each in constant time.
            matched |= hmac.compare_digest(expected, digest)
    if not matched:
        raise SignatureError("signature_mismatch", f"{HEADER}: no active secret produces this signature", status=401)
