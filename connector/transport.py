"""The one way the connector talks HTTP: a client factory and one retry policy.

Every peer (POHODA mServer, the e-shop, the pricing worker) goes through `send`, which maps
httpx's errors and HTTP statuses into `connector.errors` and retries what is worth retrying:
connection errors, timeouts, 408, 429 (honouring Retry-After) and 5xx, with exponential
backoff and jitter, under a bounded total time. 400/401/403/404/405 are never retried.

Every exchange (one request with all its retries, and the reading of every body) ends by a
deadline, and `run_deadline` bounds all the exchanges of one sync run; an answer's size is
counted while it is read and while it is inflated, so a peer can neither drip an answer for
ever nor make the connector hold more than the limit.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import dataclasses
import email.utils
import functools
import random
import ssl
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

import httpx
import tenacity

from connector import __version__
from connector.errors import (
    Conflict,
    MalformedXML,
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
# The largest answer (after inflating) a client takes unless told otherwise: the default of
# [pohoda] max_response_mb.
DEFAULT_MAX_RESPONSE_BYTES = 512 * 1024 * 1024
# An answer that inflates more than this many times its compressed size, once past
# BOMB_CHECK_BYTES, is a compression bomb, not XML (XML gzips 5-30x; zeros ~1000x). Apache
# POI's zip-bomb guard draws the same kind of line (its default ratio is 100).
MAX_INFLATE_RATIO = 200
BOMB_CHECK_BYTES = 16 * 1024 * 1024
# Inflate in pieces of at most this much, so one small compressed chunk never becomes one
# huge buffer before it is counted.
_INFLATE_PIECE = 1024 * 1024


class ResponseTooLarge(MalformedXML):
    """A peer's answer is larger than the limit, or inflates like a compression bomb."""


class _DeadlinePassed(httpx.TimeoutException):
    """The exchange's or the run's deadline passed before the answer was read in full."""


@dataclasses.dataclass
class _Exchange:
    """One call of `send`: its peer, when its retries stop, and when it must be over."""

    peer: str
    retry_deadline: float
    # Fixed at the first request: the retry budget plus one full read timeout, so the
    # first attempt of a policy without retries (max_total_s = 0) still gets its timeout.
    hard_deadline: float | None = None


_exchange: contextvars.ContextVar[_Exchange | None] = contextvars.ContextVar("connector_exchange", default=None)
_run_end: contextvars.ContextVar[tuple[float, float] | None] = contextvars.ContextVar(
    "connector_run_deadline", default=None
)


@contextlib.contextmanager
def run_deadline(max_run_s: float) -> Iterator[None]:
    """Bound every exchange made inside the block (in this thread or context) to end within
    `max_run_s` seconds from now ([sync] max_run_s): retries stop and reads are cut there,
    and `send` raises the peer's unreachable class saying the run's deadline passed.

    Nested blocks keep the earlier deadline. `run_time_left()` tells what is left.
    """
    end = time.monotonic() + max_run_s
    outer = _run_end.get()
    if outer is not None and outer[0] <= end:
        end, max_run_s = outer
    token = _run_end.set((end, max_run_s))
    try:
        yield
    finally:
        _run_end.reset(token)


def run_time_left() -> float | None:
    """Seconds left before the run's deadline (0 once passed); None outside `run_deadline`."""
    current = _run_end.get()
    return None if current is None else max(0.0, current[0] - time.monotonic())


def _deadline(request: httpx.Request | None = None) -> float | None:
    """The moment the current exchange must be over: its own deadline or the run's."""
    candidates: list[float] = []
    exchange = _exchange.get()
    if exchange is not None:
        if exchange.hard_deadline is None and request is not None:
            read = request.extensions.get("timeout", {}).get("read")
            exchange.hard_deadline = exchange.retry_deadline + (float(read) if read is not None else 0.0)
        if exchange.hard_deadline is not None:
            candidates.append(exchange.hard_deadline)
    run = _run_end.get()
    if run is not None:
        candidates.append(run[0])
    return min(candidates) if candidates else None


def _peer_name() -> str:
    exchange = _exchange.get()
    return exchange.peer if exchange is not None else "the peer"


def _clamp_timeouts(request: httpx.Request) -> None:
    """httpx hook: no connect, write or read of this request may wait past the deadline."""
    deadline = _deadline(request)
    if deadline is None:
        return
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _DeadlinePassed(f"{_peer_name()}: the deadline passed before the request was sent", request=request)
    timeouts = dict(request.extensions.get("timeout", {}))
    for key in ("connect", "read", "write", "pool"):
        value = timeouts.get(key)
        timeouts[key] = remaining if value is None else min(float(value), remaining)
    request.extensions["timeout"] = timeouts


class _Inflater:
    """gzip or deflate (zlib-wrapped or raw, as servers send both), inflated piece by piece."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)
        self._first = True

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            piece = self._zlib.decompress(data, _INFLATE_PIECE)
        except zlib.error:
            if self._gzip or not self._first:
                raise
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            piece = self._zlib.decompress(data, _INFLATE_PIECE)
        self._first = False
        yield piece
        while self._zlib.unconsumed_tail:
            yield self._zlib.decompress(self._zlib.unconsumed_tail, _INFLATE_PIECE)

    def flush(self) -> bytes:
        return self._zlib.flush()


class _BoundedStream(httpx.SyncByteStream):
    """A response body read under the deadline and the size limit, inflated here (not by
    httpx, which would inflate a whole network chunk at once, unbounded)."""

    def __init__(
        self, inner: httpx.SyncByteStream, *, request: httpx.Request, encoding: str | None, max_bytes: int
    ) -> None:
        self._inner = inner
        self._request = request
        self._inflater = _Inflater(encoding) if encoding else None
        self._max_bytes = max_bytes
        self._deadline = _deadline(request)
        self._peer = _peer_name()

    def __iter__(self) -> Iterator[bytes]:
        raw = decoded = 0
        try:
            for chunk in self._inner:
                if self._deadline is not None and time.monotonic() > self._deadline:
                    raise _DeadlinePassed(f"{self._peer}: the answer was not read in full by the deadline")
                raw += len(chunk)
                if self._inflater is None:
                    decoded = raw
                    self._check(decoded, raw)
                    yield chunk
                    continue
                for piece in self._inflater.feed(chunk):
                    decoded += len(piece)
                    self._check(decoded, raw)
                    yield piece
            if self._inflater is not None:
                tail = self._inflater.flush()
                decoded += len(tail)
                self._check(decoded, raw)
                yield tail
        except zlib.error as exc:
            raise httpx.DecodingError(f"{self._peer}: the answer's compression is broken ({exc})") from None

    def _check(self, decoded: int, raw: int) -> None:
        if decoded > self._max_bytes:
            raise ResponseTooLarge(
                f"{self._peer}: the answer is larger than the limit of {self._max_bytes} bytes; not read further"
            )
        if raw and decoded > BOMB_CHECK_BYTES and decoded > MAX_INFLATE_RATIO * raw:
            raise ResponseTooLarge(
                f"{self._peer}: the answer inflates more than {MAX_INFLATE_RATIO} times its compressed size "
                f"({raw} bytes to over {decoded}): a compression bomb, not read further"
            )

    def close(self) -> None:
        self._inner.close()


def _bound_response(max_bytes: int) -> Callable[[httpx.Response], None]:
    def hook(response: httpx.Response) -> None:
        """httpx hook, before the body is read: count and inflate it ourselves, under limits."""
        declared = response.headers.get("content-length", "")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "", "gzip", "x-gzip", "deflate"):
            # Only gzip and deflate are asked for (Accept-Encoding); anything else could not
            # be inflated under the limit.
            response.close()
            raise httpx.DecodingError(f"{_peer_name()}: the answer uses Content-Encoding {encoding!r}, not asked for")
        if declared.isdigit() and int(declared) > max_bytes:
            response.close()
            raise ResponseTooLarge(
                f"{_peer_name()}: the answer declares {declared} bytes, more than the limit of {max_bytes} bytes"
            )
        inflate = encoding not in ("identity", "")
        if inflate:
            # Inflated by _BoundedStream; httpx must not inflate it a second time.
            del response.headers["content-encoding"]
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _BoundedStream(
            response.stream, request=response.request, encoding=encoding if inflate else None, max_bytes=max_bytes
        )

    return hook


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry; the total time is a hard bound."""

    max_total_s: float = 60.0
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 10.0
    # Retry-After beyond this is not waited for: the peer is treated as unreachable.
    max_retry_after_s: float = 120.0


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's one TLS context. Loading the system's CA certificates takes a few hundred
    milliseconds; every client of the process (the connector's, and the simulators' own calls)
    shares this one instead of building its own."""
    return ssl.create_default_context()


def make_client(
    base_url: str,
    *,
    connect_timeout_s: float = 5.0,
    read_timeout_s: float = 30.0,
    headers: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> httpx.Client:
    """An httpx client with the connector's timeouts and User-Agent (the one factory).

    Its answers are read under the exchange's deadline (see `send` and `run_deadline`) and
    refused with ResponseTooLarge once more than `max_response_bytes` have been inflated.
    """
    timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
    # Only what _BoundedStream can inflate under the limit (httpx would add br and zstd).
    all_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}
    all_headers.update(headers or {})
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        headers=all_headers,
        transport=transport,
        follow_redirects=False,
        verify=tls_context(),
        event_hooks={"request": [_clamp_timeouts], "response": [_bound_response(max_response_bytes)]},
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


@dataclasses.dataclass(frozen=True)
class PeerKeys:
    """The configuration a peer's errors point at: each peer says which keys are its own,
    so that a 401 or a wrong URL names exactly what to change (never a secret's value)."""

    # The key that holds the base URL, e.g. "[eshop] url".
    url: str = "the peer's URL"
    # What authenticates: "the token (CONNECTOR_ESHOP_TOKEN)", or a user and a password.
    credentials: str = "the credentials"
    # The 401 hint; the default suits a peer signing in with a user name and a password.
    rejected: str = "check the user name and the password"


GENERIC_KEYS = PeerKeys()


def safe_url(url: httpx.URL | str) -> str:
    """A URL for an error message: no user name, password, query or fragment (a query can
    carry an API key, as WooCommerce's does)."""
    parsed = httpx.URL(str(url))
    port = f":{parsed.port}" if parsed.port else ""
    path = "" if parsed.path == "/" else parsed.path
    return f"{parsed.scheme}://{parsed.host}{port}{path}"


def check_status(response: httpx.Response, *, peer: str, keys: PeerKeys = GENERIC_KEYS) -> httpx.Response:
    """Raise the error class a status means; return the response when it is a success.

    The message names the URL asked (without secrets) and the keys to fix (`keys`)."""
    status = response.status_code
    if status < 400:
        return response
    where = safe_url(response.request.url)
    if status in CONFIGURATION_STATUSES:
        hint = {
            401: f"{keys.rejected} ({keys.credentials})",
            403: f"check that {keys.credentials} has the rights for this agenda and company",
            404: f"check the URL ({keys.url})",
            405: f"check the URL ({keys.url}; the endpoint does not take this method)",
        }[status]
        raise PeerConfigurationError(
            f"{peer} at {where}: {status} {response.reason_phrase}: {hint}", status_code=status
        )
    if status in RETRYABLE_STATUSES or status >= 500:
        raise RetryableTransportError(
            f"{peer} at {where} answered HTTP {status} {response.reason_phrase}",
            status_code=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if status in (409, 412):
        raise Conflict(f"{peer} answered HTTP {status}: the record changed meanwhile", status_code=status)
    body = response.text[:300] if response.content else ""
    raise PeerRefused(f"{peer} at {where} refused the request: HTTP {status} {body}".rstrip(), status_code=status)


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
    keys: PeerKeys = GENERIC_KEYS,
) -> httpx.Response:
    """Run `attempt` (one HTTP exchange) under the retry policy and map every failure.

    Returns a successful response; raises PeerConfigurationError, PeerRefused/Conflict at
    once, or `unreachable` once the retryable failures outlast the policy's total time.
    """
    deadline = time.monotonic() + policy.max_total_s
    run = _run_end.get()
    if run is not None:
        deadline = min(deadline, run[0])
    exchange = _Exchange(peer=peer, retry_deadline=deadline)

    def one() -> httpx.Response:
        token = _exchange.set(exchange)
        try:
            response = attempt()
        except _DeadlinePassed as exc:
            raise RetryableTransportError(f"{peer} did not finish its answer by the deadline ({exc})") from exc
        except httpx.TimeoutException as exc:
            raise RetryableTransportError(
                f"{peer} at {_asked(exc)} did not answer in time ({type(exc).__name__}); check {keys.url}"
            ) from exc
        except httpx.TransportError as exc:
            raise RetryableTransportError(
                f"{peer} at {_asked(exc)} could not be reached ({type(exc).__name__}: {exc}); "
                f"check {keys.url} and that it is running"
            ) from exc
        except httpx.DecodingError as exc:
            raise MalformedXML(f"{peer}: the answer could not be decoded ({exc})") from exc
        finally:
            _exchange.reset(token)
        return check_status(response, peer=peer, keys=keys)

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
        if run is not None and time.monotonic() >= run[0]:
            raise unreachable(
                f"{peer} unreachable: the run's deadline ([sync] max_run_s = {run[1]:g} s) passed "
                f"after {attempts} attempts: {last}",
                attempts=attempts,
            ) from last
        raise unreachable(
            f"{peer} unreachable after {attempts} attempts over {policy.max_total_s:g} s: {last}",
            attempts=attempts,
        ) from last


def _asked(exc: httpx.HTTPError) -> str:
    """The URL a failed request went to, without secrets (or "its URL" when not known)."""
    try:
        return safe_url(exc.request.url)
    except RuntimeError:  # an error raised before a request existed
        return "its URL"


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


_K = TypeVar("_K")


class RequestAhead(Generic[_K]):
    """One paged read's next request made ahead of its turn (POHODA's export and the e-shop's feed).

    `guess(key)` sends the request for `key` in a thread of its own, in the caller's context
    (the same retry policy and deadline); `fetch(key)` then takes its answer when `key` is
    the one guessed, and else drops it and sends the request for `key` now. A request made
    ahead that failed raises in `fetch`, where the plain call would have raised; a dropped
    one says nothing. At most one request is ahead, so at most two pages are held: the one
    being read and the one arriving. Not `enabled`: `guess` sends nothing.
    """

    def __init__(self, request: Callable[[_K], bytes], *, enabled: bool, name: str) -> None:
        self._request = request
        self._enabled = enabled
        self._name = name
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: tuple[_K, concurrent.futures.Future[bytes]] | None = None
        self.dropped = 0  # answers not used: the page said another key than the guess

    def guess(self, key: _K | None) -> None:
        if not self._enabled or key is None:
            return
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
        self._pending = (key, self._pool.submit(contextvars.copy_context().run, self._request, key))

    def fetch(self, key: _K) -> bytes:
        pending, self._pending = self._pending, None
        if pending is not None:
            if pending[0] == key:
                return pending[1].result()
            self._drop(pending[1])
        return self._request(key)

    def _drop(self, future: concurrent.futures.Future[bytes]) -> None:
        self.dropped += 1
        if not future.cancel():
            # Under way: let it end (its answer and any error go unread) before the next
            # request, so requests still go one at a time.
            concurrent.futures.wait([future])

    def close(self) -> None:
        """Drop what is still ahead (the read ended early, or it failed)."""
        if self._pending is not None:
            self._drop(self._pending[1])
            self.dropped -= 1  # not a wrong guess: nobody asked for it
            self._pending = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
