"""The one retry policy: what is retried, what is not, and the bound on total time."""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator

import httpx
import pytest

from connector.config import PohodaConfig
from connector.errors import (
    Conflict,
    PeerConfigurationError,
    PeerRefused,
    PohodaUnreachable,
)
from connector.peers.pohoda import PohodaClient
from connector.transport import (
    ResponseTooLarge,
    RetryPolicy,
    make_client,
    parse_retry_after,
    run_deadline,
    run_time_left,
    send,
)

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
    with pytest.raises(PeerConfigurationError, match=f": {status} ") as info:
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


# -- hostile peers over real loopback sockets (issue 12, points 5 and 6) ----------------------


class RawServer:
    """A loopback HTTP/1.1 server that answers each request with `answer(conn)`, byte for
    byte as the test writes it: to drip, stall or send a bomb where uvicorn would not."""

    def __init__(self, answer: Callable[[socket.socket], None]) -> None:
        self._answer = answer
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.requests = 0
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
            headers, _, body = head.partition(b"\r\n\r\n")
            lines = headers.lower().split(b"\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in lines if line.startswith(b"content-length:")), 0)
            while len(body) < length:
                body += conn.recv(65536)
            self.requests += 1
            self._answer(conn)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()


@contextlib.contextmanager
def raw_server(answer: Callable[[socket.socket], None]) -> Iterator[RawServer]:
    server = RawServer(answer)
    try:
        yield server
    finally:
        server.close()


def dripping(every_s: float) -> Callable[[socket.socket], None]:
    """A 200 that promises 100 kB and sends one byte every `every_s` seconds, for ever."""

    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(100_000):
            conn.sendall(b"<")
            time.sleep(every_s)

    return answer


def in_thread(call: Callable[[], object], *, limit_s: float) -> BaseException | object:
    """Run `call` in a thread; fail the test when it has not ended after `limit_s`."""
    outcome: list[BaseException | object] = []

    def target() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit_s)
    assert not thread.is_alive(), f"the call was still running after {limit_s} s"
    return outcome[0]


def test_a_dripping_peer_is_cut_off_by_the_exchange_deadline() -> None:
    # The case: read_timeout_s 20 and retry_max_s 10 held a run for 106 s. Here 2 and
    # 1: every read gets a byte in time, so only a deadline on the whole exchange ends it.
    config = PohodaConfig(url="", user="shop", ico="12345678", read_timeout_s=2.0, retry_max_s=1.0)
    with raw_server(dripping(0.2)) as server:
        client = PohodaClient(dataclasses.replace(config, url=server.url), "pw")
        started = time.monotonic()
        outcome = in_thread(lambda: client.post_xml(b"<x/>"), limit_s=40)
        elapsed = time.monotonic() - started
        client.close()
    assert isinstance(outcome, PohodaUnreachable), outcome
    assert "deadline" in str(outcome)
    # The bound is the retry budget plus one read timeout (3 s); generous for a loaded machine.
    assert elapsed < 15


def test_run_deadline_bounds_retries_and_reads_of_every_exchange() -> None:
    def unavailable(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")

    slow_policy = RetryPolicy(max_total_s=60.0, initial_backoff_s=0.05, max_backoff_s=0.2)
    assert run_time_left() is None
    for answer in (unavailable, dripping(0.2)):
        with raw_server(answer) as server, make_client(server.url, read_timeout_s=60.0) as client:
            started = time.monotonic()

            def call(client: httpx.Client = client) -> object:
                with run_deadline(1.5):
                    left = run_time_left()
                    assert left is not None and 0 < left <= 1.5
                    return run(client, slow_policy)

            outcome = in_thread(call, limit_s=40)
            elapsed = time.monotonic() - started
        assert isinstance(outcome, PohodaUnreachable), outcome
        assert "max_run_s = 1.5 s" in str(outcome)
        assert elapsed < 15
    assert run_time_left() is None


def serving(body: bytes, headers: dict[str, str]) -> Callable[[socket.socket], None]:
    def answer(conn: socket.socket) -> None:
        head = "HTTP/1.1 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        conn.sendall(head.encode("ascii"))
        for start in range(0, len(body), 65536):
            conn.sendall(body[start : start + 65536])

    return answer


def test_answers_are_still_inflated_and_read_whole() -> None:
    text = "".join(f"<r n='{i}'>Žluťoučký kůň {i}</r>" for i in range(20_000)).encode("utf-8")
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    for body, encoding in (
        (text, None),
        (gzip.compress(text), "gzip"),
        (zlib.compress(text), "deflate"),
        (raw_deflate.compress(text) + raw_deflate.flush(), "deflate"),
    ):
        headers = {"Content-Length": str(len(body))} | ({"Content-Encoding": encoding} if encoding else {})
        with raw_server(serving(body, headers)) as server, make_client(server.url) as client:
            assert run(client).content == text


def test_the_size_limit_is_enforced_while_reading_and_inflating() -> None:
    text = os.urandom(3 * 1024 * 1024).hex().encode("ascii")  # compresses about 2:1, no bomb
    cases = {
        "plain, chunked": (text, {"Transfer-Encoding": "chunked"}),
        "gzip": (gzip.compress(text, 1), {"Content-Encoding": "gzip"}),
    }
    for label, (body, headers) in cases.items():
        if "Transfer-Encoding" in headers:
            pieces = (body[i : i + 65536] for i in range(0, len(body), 65536))
            wire = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in pieces) + b"0\r\n\r\n"
        else:
            wire = body
            headers = headers | {"Content-Length": str(len(body))}
        with (
            raw_server(serving(wire, headers)) as server,
            make_client(server.url, max_response_bytes=1024 * 1024) as client,
            pytest.raises(ResponseTooLarge) as info,
        ):
            run(client)
        assert "POHODA" in str(info.value), label
        assert f"limit of {1024 * 1024} bytes" in str(info.value), label


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    with (
        raw_server(serving(b"", {"Content-Length": str(10**12)})) as server,
        make_client(server.url, max_response_bytes=1000) as client,
        pytest.raises(ResponseTooLarge, match="declares"),
    ):
        run(client)


BOMB_CLIENT = """
import json, sys
from connector.config import PohodaConfig
from connector.peers.pohoda import PohodaClient
client = PohodaClient(PohodaConfig(url=sys.argv[1], user="shop", ico="12345678"), "pw")
try:
    client.post_xml(b"<x/>")
    outcome = {"error": None, "message": ""}
except Exception as exc:
    outcome = {"error": type(exc).__name__, "message": str(exc)}
# VmHWM is this process's own peak; ru_maxrss after exec can carry the parent's (pytest's)
# peak, since subprocess forks with vfork and the kernel keeps the larger of the two.
with open("/proc/self/status") as status:
    hwm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
outcome["maxrss_mb"] = hwm_kb / 1024
print(json.dumps(outcome))
"""


def test_a_gzip_bomb_is_refused_while_inflating_with_memory_bounded() -> None:
    # About 1 MB on the wire, about 1 GB inflated: full-flushed deflate blocks of 1 MiB of
    # zeros, repeated (each block is the same bytes, so the bomb costs nothing to build).
    zeros = b"\0" * (1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    bomb = head + block * 1000 + deflate.flush()
    assert len(bomb) < 1_100_000
    headers = {"Content-Type": "text/xml", "Content-Encoding": "gzip", "Content-Length": str(len(bomb))}
    with raw_server(serving(bomb, headers)) as server:
        done = subprocess.run(
            [sys.executable, "-c", BOMB_CLIENT, server.url], capture_output=True, text=True, timeout=300, cwd="/"
        )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["maxrss_mb"] < 300, outcome
    assert outcome["error"] == "ResponseTooLarge", outcome
    assert "POHODA" in outcome["message"]
    assert "compression bomb" in outcome["message"]
