"""The one retry policy: what is retried, what is not, and the bound on total time."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from connector.errors import (
    Conflict,
    PeerConfigurationError,
    PeerRefused,
    PohodaUnreachable,
)
from connector.transport import RetryPolicy, make_client, parse_retry_after, send

FAST = RetryPolicy(max_total_s=2.0, initial_backoff_s=0.01, max_backoff_s=0.05)


def scripted(*answers: int | type[Exception], headers: dict[str, str] | None = None) -> tuple[httpx.Client, list[int]]:
    """A client whose transport answers with the given statuses (or raises) in order."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        answer = answers[min(len(calls) - 1, len(answers) - 1)]
        if isinstance(answer, type):
            raise answer("scripted failure", request=request)
        return httpx.Response(answer, headers=headers or {}, text="body")

    return make_client("http://peer.test", transport=httpx.MockTransport(handler)), calls


def run(client: httpx.Client, policy: RetryPolicy = FAST) -> httpx.Response:
    attempt: Callable[[], httpx.Response] = lambda: client.post("/xml", content=b"x")  # noqa: E731
    return send(attempt, peer="POHODA", policy=policy, unreachable=PohodaUnreachable)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_until_success(status: int) -> None:
    client, calls = scripted(status, status, 200)
    assert run(client).status_code == 200
    assert len(calls) == 3


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_connection_errors_and_timeouts_are_retried(error: type[Exception]) -> None:
    client, calls = scripted(error, 200)
    assert run(client).status_code == 200
    assert len(calls) == 2


@pytest.mark.parametrize("status", [401, 403, 404, 405])
def test_configuration_statuses_fail_at_once(status: int) -> None:
    client, calls = scripted(status)
    with pytest.raises(PeerConfigurationError, match=f"HTTP {status}") as info:
        run(client)
    assert info.value.status_code == status
    assert len(calls) == 1


def test_bad_request_is_not_retried() -> None:
    client, calls = scripted(400)
    with pytest.raises(PeerRefused):
        run(client)
    assert len(calls) == 1


def test_conflict_is_its_own_class() -> None:
    client, calls = scripted(409)
    with pytest.raises(Conflict):
        run(client)
    assert len(calls) == 1


def test_gives_up_after_the_bounded_total_time() -> None:
    client, calls = scripted(httpx.ConnectError)
    policy = RetryPolicy(max_total_s=0.5, initial_backoff_s=0.01, max_backoff_s=0.05)
    started = time.monotonic()
    with pytest.raises(PohodaUnreachable) as info:
        run(client, policy)
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 1.5
    assert info.value.attempts == len(calls) > 2


def test_retry_after_is_honoured() -> None:
    client, calls = scripted(429, 200, headers={"Retry-After": "0.3"})
    started = time.monotonic()
    assert run(client).status_code == 200
    assert time.monotonic() - started >= 0.3
    assert len(calls) == 2


def test_retry_after_beyond_the_budget_gives_up_at_once() -> None:
    client, calls = scripted(503, headers={"Retry-After": "3600"})
    policy = RetryPolicy(max_total_s=5, initial_backoff_s=0.01, max_retry_after_s=60)
    with pytest.raises(PohodaUnreachable):
        run(client, policy)
    assert len(calls) == 1


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
