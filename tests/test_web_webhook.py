"""POST /webhooks/eshop: a valid event is stored before its 202; every bad request gets its
4xx with a clear JSON body, and nothing is stored (the worker is off: nothing could run)."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.config import load_config
from connector.sim._server import serve_in_thread
from connector.store import Store
from connector.web import HEADER, WebSettings, create_app, sign

# Every case runs on SQLite and on PostgreSQL (skipped without a server).
pytestmark = pytest.mark.usefixtures("store_backend")

SECRET = "whsec-current-0123456789"
OLD_SECRET = "whsec-previous-0123456789"
URL = "/webhooks/eshop"


def environment(tmp_path: Path, store_url: str | None = None, **extra: str) -> dict[str, str]:
    # Peers that are never called: the worker is off in these tests.
    return {
        "CONNECTOR_POHODA_URL": "http://127.0.0.1:9",
        "CONNECTOR_POHODA_USER": "u",
        "CONNECTOR_POHODA_ICO": "12345678",
        "CONNECTOR_POHODA_PASSWORD": "p",
        "CONNECTOR_ESHOP_URL": "http://127.0.0.1:9",
        "CONNECTOR_ESHOP_TOKEN": "t",
        "CONNECTOR_STORE_URL": store_url or f"sqlite:///{tmp_path / 'connector.db'}",
        "CONNECTOR_WEBHOOK_SECRETS": f"{SECRET},{OLD_SECRET}",
        "CONNECTOR_ADMIN_TOKEN": "admin-token-0123456789",
        **extra,
    }


@pytest.fixture
def store_url(store_backend: str) -> str:
    return store_backend


@pytest.fixture
def client(tmp_path: Path, store_url: str) -> Iterator[httpx.Client]:
    config = load_config(None, env=environment(tmp_path, store_url))
    app = create_app(config, WebSettings(run_worker=False))
    with serve_in_thread(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def event(event_id: str = "evt-1", kind: str = "customer.created", customer_id: str = "1041") -> bytes:
    return json.dumps({"event_id": event_id, "type": kind, "customer_id": customer_id}).encode()


def post(
    client: httpx.Client,
    body: bytes,
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    signature: str | None = "sign",
    content_type: str = "application/json",
) -> Any:
    headers = {"content-type": content_type}
    if signature == "sign":
        headers[HEADER] = sign(secret, body, timestamp)
    elif signature is not None:
        headers[HEADER] = signature
    return client.post(URL, content=body, headers=headers)


def stored(store_url: str) -> dict[str, int]:
    # A store of its own: what is committed, as another process would see it.
    store = Store.open(store_url)
    try:
        return store.event_counts()
    finally:
        store.close()


def assert_rejected(answer: Any, status: int, code: str, store_url: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"] == code
    assert body["message"]
    assert stored(store_url) == {}


def rejected_total(client: httpx.Client, reason: str) -> float:
    text = client.get("/metrics").text
    line = f'connector_webhook_events_rejected_total{{reason="{reason}"}}'
    values = [float(row.split()[-1]) for row in text.splitlines() if row.startswith(line)]
    return values[0] if values else 0.0


# -- accepted ---------------------------------------------------------------------------------


def test_a_valid_event_is_stored_before_the_202(client: httpx.Client, store_url: str) -> None:
    answer = post(client, event())
    assert answer.status_code == 202
    assert answer.json() == {"status": "accepted", "event_id": "evt-1"}
    # Committed by the time the answer arrived, seen from another connection.
    assert stored(store_url) == {"received": 1}
    store = Store.open(store_url)
    try:
        (row,) = store.events_to_process()
    finally:
        store.close()
    assert (row.event_id, row.type, row.customer_id, row.attempts) == ("evt-1", "customer.created", "1041", 0)


def test_a_replayed_event_id_answers_200_and_does_nothing(client: httpx.Client, store_url: str) -> None:
    assert post(client, event()).status_code == 202
    again = post(client, event(kind="customer.updated"))  # same id, even with another body
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "event_id": "evt-1"}
    assert stored(store_url) == {"received": 1}
    assert "connector_webhook_events_duplicate_total 1.0" in client.get("/metrics").text


def test_every_active_secret_is_accepted_while_rotating(client: httpx.Client, store_url: str) -> None:
    assert post(client, event("evt-new"), secret=SECRET).status_code == 202
    assert post(client, event("evt-old"), secret=OLD_SECRET).status_code == 202
    assert stored(store_url) == {"received": 2}


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"])
def test_json_content_type_with_parameters_is_accepted(client: httpx.Client, content_type: str) -> None:
    assert post(client, event(), content_type=content_type).status_code == 202


def test_all_three_event_types_are_accepted(client: httpx.Client, store_url: str) -> None:
    for number, kind in enumerate(("customer.created", "customer.updated", "customer.deleted")):
        assert post(client, event(f"evt-{number}", kind)).status_code == 202
    assert stored(store_url) == {"received": 3}


# -- refused: one test per case ---------------------------------------------------------------


def test_missing_signature_is_401(client: httpx.Client, store_url: str) -> None:
    assert_rejected(post(client, event(), signature=None), 401, "signature_missing", store_url)
    assert rejected_total(client, "signature_missing") == 1


@pytest.mark.parametrize(
    "header",
    [
        "v1=" + "a" * 64,  # no timestamp
        "t=1700000000",  # no signature
        "t=soon,v1=" + "a" * 64,  # timestamp not a number
        "t=1700000000,v1=xyz",  # not hex
        "t=1700000000,v1=" + "A" * 64,  # upper-case hex
        "t=1700000000;v1=" + "a" * 64,  # wrong separator
        "t=1,t=2,v1=" + "a" * 64,  # two timestamps
        "garbage",
    ],
)
def test_malformed_signature_header_is_400(client: httpx.Client, store_url: str, header: str) -> None:
    assert_rejected(post(client, event(), signature=header), 400, "signature_malformed", store_url)


def test_signature_with_a_wrong_secret_is_401(client: httpx.Client, store_url: str) -> None:
    assert_rejected(post(client, event(), secret="not-ours"), 401, "signature_mismatch", store_url)


def test_signature_over_another_body_is_401(client: httpx.Client, store_url: str) -> None:
    header = sign(SECRET, event(customer_id="1"))
    answer = post(client, event(customer_id="2"), signature=header)
    assert_rejected(answer, 401, "signature_mismatch", store_url)


def test_stale_timestamp_is_401(client: httpx.Client, store_url: str) -> None:
    answer = post(client, event(), timestamp=int(time.time()) - 310)
    assert_rejected(answer, 401, "timestamp_out_of_tolerance", store_url)


def test_future_timestamp_is_401(client: httpx.Client, store_url: str) -> None:
    answer = post(client, event(), timestamp=int(time.time()) + 310)
    assert_rejected(answer, 401, "timestamp_out_of_tolerance", store_url)


def test_timestamp_inside_the_tolerance_is_accepted(client: httpx.Client) -> None:
    assert post(client, event("a"), timestamp=int(time.time()) - 290).status_code == 202
    assert post(client, event("b"), timestamp=int(time.time()) + 290).status_code == 202


def test_oversized_body_is_413(client: httpx.Client, store_url: str) -> None:
    big = json.dumps({"event_id": "e", "type": "customer.created", "customer_id": "1", "pad": "x" * 70_000}).encode()
    assert_rejected(post(client, big), 413, "body_too_large", store_url)


def test_oversized_chunked_body_is_413_without_reading_it_all(client: httpx.Client, store_url: str) -> None:
    """200 MB announced by nothing but the stream itself (chunked, no Content-Length): the
    answer comes while the sender is still sending, and nothing is stored."""
    url = httpx.URL(str(client.base_url))
    chunk = b" " * 65_536
    sent = 0
    answer = b""
    with socket.create_connection((url.host, url.port), timeout=30) as sock:
        head = (
            f"POST {URL} HTTP/1.1\r\nHost: {url.host}\r\nContent-Type: application/json\r\n"
            f"{HEADER}: {sign(SECRET, b'')}\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sock.sendall(head.encode())
        try:
            while sent < 200 * 1024 * 1024:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                if select.select([sock], [], [], 0)[0]:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection after its answer
        while not answer.endswith(b"}"):
            data = sock.recv(65_536)
            if not data:
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"body_too_large" in answer
    assert sent < 10 * 1024 * 1024  # stopped long before the 200 MB
    assert stored(store_url) == {}


def test_wrong_content_type_is_415(client: httpx.Client, store_url: str) -> None:
    answer = post(client, event(), content_type="application/x-www-form-urlencoded")
    assert_rejected(answer, 415, "unsupported_media_type", store_url)


def test_missing_content_type_is_415(client: httpx.Client, store_url: str) -> None:
    body = event()
    answer = client.post(URL, content=body, headers={HEADER: sign(SECRET, body)})
    assert_rejected(answer, 415, "unsupported_media_type", store_url)


def test_malformed_json_is_400(client: httpx.Client, store_url: str) -> None:
    assert_rejected(post(client, b'{"event_id": "e1", "type": '), 400, "malformed_json", store_url)


def test_json_nested_too_deep_is_400(client: httpx.Client, store_url: str) -> None:
    assert_rejected(post(client, b"[" * 30_000 + b"]" * 30_000), 400, "malformed_json", store_url)


def test_body_not_utf8_is_400(client: httpx.Client, store_url: str) -> None:
    assert_rejected(post(client, b'{"event_id": "\xff"}'), 400, "malformed_json", store_url)


def test_unknown_event_type_is_422(client: httpx.Client, store_url: str) -> None:
    answer = post(client, event(kind="customer.exploded"))
    assert_rejected(answer, 422, "unknown_event_type", store_url)
    assert "customer.created" in answer.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "customer.created", "customer_id": "1"},  # no event_id
        {"event_id": "e", "type": "customer.created"},  # no customer_id
        {"event_id": "e", "customer_id": "1"},  # no type
        {"event_id": "e", "type": "customer.created", "customer_id": 1041},  # a number
        {"event_id": "e", "type": "customer.created", "customer_id": "../admin"},  # not an id
        {"event_id": "e" * 129, "type": "customer.created", "customer_id": "1"},
        ["e", "customer.created", "1"],
    ],
)
def test_invalid_event_fields_are_422(client: httpx.Client, store_url: str, body: Any) -> None:
    assert_rejected(post(client, json.dumps(body).encode()), 422, "invalid_event", store_url)


def test_the_signature_is_checked_before_the_body_is_judged(client: httpx.Client, store_url: str) -> None:
    # An unsigned caller learns nothing about what a valid body looks like.
    answer = post(client, b"not json", secret="not-ours")
    assert_rejected(answer, 401, "signature_mismatch", store_url)


# -- issue 12, point 10: bodies that never arrive ---------------------------------------------


def stalled_post(url: httpx.URL, *, declared: int = 200) -> socket.socket:
    """A connection that sends a webhook's headers and the start of its body, then nothing."""
    sock = socket.create_connection((url.host, url.port), timeout=30)
    head = (
        f"POST {URL} HTTP/1.1\r\nHost: {url.host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    sock.sendall(head.encode("ascii") + b'{"event_id": "evt-')
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_body_that_never_arrives_is_answered_408_and_closed(tmp_path: Path, store_url: str) -> None:
    config = load_config(None, env=environment(tmp_path, store_url))
    app = create_app(config, WebSettings(run_worker=False, body_timeout_s=1.0))
    with serve_in_thread(app) as server:
        url = httpx.URL(server.url)
        started = time.monotonic()
        socks = [stalled_post(url) for _ in range(30)]
        try:
            answers = [read_until_closed(sock) for sock in socks]  # each times out after 30 s on its own
        finally:
            for sock in socks:
                sock.close()
        elapsed = time.monotonic() - started
        for answer in answers:
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
            assert b'"body_timeout"' in answer
        assert elapsed < 25
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert rejected_total(http, "body_timeout") == 30
            assert post(http, event("evt-after")).status_code == 202


def test_bodies_being_received_at_once_are_bounded(tmp_path: Path, store_url: str) -> None:
    config = load_config(None, env=environment(tmp_path, store_url))
    app = create_app(config, WebSettings(run_worker=False, body_timeout_s=60.0, max_pending_bodies=5))
    with serve_in_thread(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        socks = [stalled_post(httpx.URL(server.url)) for _ in range(5)]
        try:
            deadline = time.monotonic() + 20
            answer = post(http, event("evt-busy"))
            while answer.status_code != 503 and time.monotonic() < deadline:
                # Until the five stalled requests are all in their handlers.
                time.sleep(0.1)
                answer = post(http, event("evt-busy"))
            assert answer.status_code == 503
            assert answer.json()["error"] == "too_many_pending_bodies"
        finally:
            for sock in socks:
                sock.close()
        deadline = time.monotonic() + 20
        answer = post(http, event("evt-later"))
        while answer.status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.1)
            answer = post(http, event("evt-later"))
        assert answer.status_code == 202
