"""The one way the connector talks HTTP: a client factory and one retry policy.

Every peer (POHODA mServer, the e-shop, the pricing worker) goes through `send`, which maps
httpx's errors and HTTP statuses into `connector.errors` and retries what is worth retrying:
connection errors, timeouts, 408, 429 (honouring Retry-After) and 5xx, with exponential
backoff and jitter, under a bounded total time. 400/401/403/404/405 are never retried.
"""

from __future__ import annotations

import dataclasses
import email.utils
import functools
import random
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import tenacity

from connector import __version__
from connector.errors import (
    Conflict,
    PeerConfigurationError,
    PeerRefused,
    PeerUnreachable,
    RetryableTransportError,
)
from connector.log import get_logger

log = get_logger(__name__)

USER_AGENT = f"connector/{__version__}"
CONFIGURATION_STATUSES = frozenset({401, 403, 404, 405})
RETRYABLE_STATUSES = frozenset({408, 429})


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry; the total time is a hard bound."""

    max_total_s: float = 60.0
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 10.0
    # Retry-After beyond this is not waited for: the peer is treated as unreachable.
    max_retry_after_s: float = 120.0


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the system's CA certificates takes a few hundred milliseconds; every client of
    # the process shares one context instead of building its own.
    return ssl.create_default_context()


def make_client(
    base_url: str,
    *,
    connect_timeout_s: float = 5.0,
    read_timeout_s: float = 30.0,
    headers: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An httpx client with the connector's timeouts and User-Agent (the one factory)."""
    timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
    all_headers = {"User-Agent": USER_AGENT}
    all_headers.update(headers or {})
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        headers=all_headers,
        transport=transport,
        follow_redirects=False,
        verify=_tls_context(),
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def check_status(response: httpx.Response, *, peer: str) -> httpx.Response:
    """Raise the error class a status means; return the response when it is a success."""
    status = response.status_code
    if status < 400:
        return response
    if status in CONFIGURATION_STATUSES:
        hint = {
            401: "check the user name and the password (environment)",
            403: "check that the user has the rights for this agenda and company",
            404: "check the URL",
            405: "check the URL (the endpoint does not take this method)",
        }[status]
        raise PeerConfigurationError(
            f"{peer} answered HTTP {status} {response.reason_phrase}: {hint}", status_code=status
        )
    if status in RETRYABLE_STATUSES or status >= 500:
        raise RetryableTransportError(
            f"{peer} answered HTTP {status} {response.reason_phrase}",
            status_code=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if status in (409, 412):
        raise Conflict(f"{peer} answered HTTP {status}: the record changed meanwhile", status_code=status)
    body = response.text[:300] if response.content else ""
    raise PeerRefused(f"{peer} refused the request: HTTP {status} {body}".rstrip(), status_code=status)


class _Wait(tenacity.wait.wait_base):
    """Exponential backoff with full jitter, or the peer's Retry-After when it gave one."""

    def __init__(self, policy: RetryPolicy, deadline: float) -> None:
        self.policy = policy
        self.deadline = deadline

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        remaining = max(0.0, self.deadline - time.monotonic())
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), remaining)
        ceiling = min(self.policy.max_backoff_s, self.policy.initial_backoff_s * 2 ** (retry_state.attempt_number - 1))
        return min(random.uniform(0, ceiling) + self.policy.initial_backoff_s / 2, remaining)


def send(
    attempt: Callable[[], httpx.Response],
    *,
    peer: str,
    policy: RetryPolicy,
    unreachable: type[PeerUnreachable] = PeerUnreachable,
    on_retry: Callable[[int, BaseException], Any] | None = None,
) -> httpx.Response:
    """Run `attempt` (one HTTP exchange) under the retry policy and map every failure.

    Returns a successful response; raises PeerConfigurationError, PeerRefused/Conflict at
    once, or `unreachable` once the retryable failures outlast the policy's total time.
    """
    deadline = time.monotonic() + policy.max_total_s

    def one() -> httpx.Response:
        try:
            response = attempt()
        except httpx.TimeoutException as exc:
            raise RetryableTransportError(f"{peer} did not answer in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise RetryableTransportError(f"{peer} could not be reached ({type(exc).__name__}: {exc})") from exc
        return check_status(response, peer=peer)

    def give_up_now(retry_state: tenacity.RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None and retry_after > policy.max_retry_after_s:
            return True
        return time.monotonic() >= deadline

    def before_sleep(retry_state: tenacity.RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        log.warning("transport.retry", peer=peer, attempt=retry_state.attempt_number, error=str(exc))
        if on_retry is not None and exc is not None:
            on_retry(retry_state.attempt_number, exc)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(RetryableTransportError),
        stop=give_up_now,
        wait=_Wait(policy, deadline),
        before_sleep=before_sleep,
        reraise=False,
    )
    try:
        return retrying(one)
    except tenacity.RetryError as exc:
        last = exc.last_attempt.exception()
        attempts = exc.last_attempt.attempt_number
        raise unreachable(
            f"{peer} unreachable after {attempts} attempts over {policy.max_total_s:g} s: {last}",
            attempts=attempts,
        ) from last


class CircuitBreaker:
    """After a peer failed, fail fast instead of waiting out the retry policy call by call.

    Open for `cooldown_s` seconds after a failure (None: until `reset()`, i.e. for the rest
    of one sync run); the next call after the cooldown tries the peer again.
    """

    def __init__(self, cooldown_s: float | None = None) -> None:
        self.cooldown_s = cooldown_s
        self._open_until: float | None = None
        self.reason = ""

    @property
    def is_open(self) -> bool:
        if self._open_until is None:
            return False
        if time.monotonic() >= self._open_until:
            self._open_until = None
            return False
        return True

    def trip(self, reason: str) -> None:
        self.reason = reason
        self._open_until = float("inf") if self.cooldown_s is None else time.monotonic() + self.cooldown_s

    def reset(self) -> None:
        self._open_until = None
        self.reason = ""
