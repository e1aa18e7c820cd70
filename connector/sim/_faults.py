"""Fault injection for the loopback simulators: outages, 5xx, dropped connections, delays.

Shared by the POHODA and the e-shop simulators; deterministic for a given seed and request order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from connector.errors import ConnectorError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class FaultConfigError(ConnectorError, ValueError):
    """A fault configuration that cannot be applied; the message names the key."""


@dataclasses.dataclass(frozen=True)
class ItemErrorRule:
    """Refuse a record whose `field` contains (or equals) a value, with `note` as the reason."""

    field: str
    note: str = "refused by a fault rule"
    contains: str | None = None
    equals: str | None = None

    def matches(self, record: Mapping[str, Any]) -> bool:
        value = record.get(self.field)
        if value is None:
            return False
        text = value if isinstance(value, str) else str(value)
        if self.equals is not None and text != self.equals:
            return False
        return not (self.contains is not None and self.contains not in text)

    @classmethod
    def from_dict(cls, data: Any, *, index: int) -> ItemErrorRule:
        where = f"item_error[{index}]"
        if not isinstance(data, Mapping):
            raise FaultConfigError(f"{where} must be an object like {{'field': 'email', 'contains': '@x'}}")
        unknown = sorted(set(data) - {"field", "note", "contains", "equals"})
        if unknown:
            raise FaultConfigError(f"{where}: unknown key {unknown[0]!r}")
        for key in ("field", "note", "contains", "equals"):
            if key in data and data[key] is not None and not isinstance(data[key], str):
                raise FaultConfigError(f"{where}.{key} must be a string")
        if not data.get("field"):
            raise FaultConfigError(f"{where}.field is required")
        if data.get("contains") is None and data.get("equals") is None:
            # A rule without a condition would refuse every record that has the field: make
            # that explicit (contains="") rather than the result of a typo in a key.
            raise FaultConfigError(f"{where} needs 'contains' or 'equals'")
        return cls(
            field=data["field"],
            note=data.get("note") or f"refused by a fault rule on {data['field']}",
            contains=data.get("contains"),
            equals=data.get("equals"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclasses.dataclass
class FaultSettings:
    """What is currently injected. Rates are fractions of the business requests (0..1)."""

    down: bool = False  # every endpoint but the control ones answers 503
    error_rate: float = 0.0  # business requests answered `error_status`
    error_next: int = 0  # the next N business requests answered `error_status`, then normal
    error_status: int = 503
    delay_ms: int = 0  # added to each business request (the simulator decides where)
    reset_rate: float = 0.0  # connections dropped without a complete answer
    reset_next: int = 0  # the next N business requests dropped
    reset_after: bool = False  # drop after the request was processed (the answer is lost)
    malformed: bool = False  # business answers are cut in half (broken XML)
    item_error: tuple[ItemErrorRule, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["item_error"] = [rule.to_dict() for rule in self.item_error]
        return data


_FIELDS = {f.name: f for f in dataclasses.fields(FaultSettings)}


def _coerce(key: str, value: Any) -> Any:
    """Check one setting's type and range; the message names the key."""
    if key == "item_error":
        if isinstance(value, Mapping):
            value = [value]
        if not isinstance(value, list):
            raise FaultConfigError("item_error must be a list of rules")
        return tuple(ItemErrorRule.from_dict(rule, index=i) for i, rule in enumerate(value))
    if key in ("down", "malformed", "reset_after"):
        if not isinstance(value, bool):
            raise FaultConfigError(f"{key} must be true or false")
        return value
    if key in ("error_rate", "reset_rate"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise FaultConfigError(f"{key} must be a number between 0 and 1")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FaultConfigError(f"{key} must be a non-negative integer")
    if key == "error_status" and not 400 <= value <= 599:
        raise FaultConfigError("error_status must be an HTTP error status (400..599)")
    return value


class Faults:
    """The current fault settings and the seeded random source that decides each request.

    Thread-safe: the control endpoints, the test thread and the server may all touch it.
    """

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.settings = FaultSettings()

    def configure(self, changes: Mapping[str, Any]) -> FaultSettings:
        """Apply the given keys and keep the others; an unknown key or bad value changes nothing."""
        unknown = sorted(set(changes) - set(_FIELDS) - {"seed"})
        if unknown:
            raise FaultConfigError(f"unknown fault {unknown[0]!r}; known: {', '.join(sorted(_FIELDS))}, seed")
        values = {key: _coerce(key, value) for key, value in changes.items() if key != "seed"}
        seed = changes.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise FaultConfigError("seed must be an integer")
        with self._lock:
            self.settings = dataclasses.replace(self.settings, **values)
            if seed is not None:
                self._seed = seed
                self._rng = random.Random(seed)
            return self.settings

    def clear(self) -> None:
        """No faults, and the random source back at the start of its seed."""
        with self._lock:
            self.settings = FaultSettings()
            self._rng = random.Random(self._seed)

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {**self.settings.to_dict(), "seed": self._seed}

    def decide(self) -> str | None:
        """For one business request: "down", "error", "reset" or None (answer normally).

        The random source is drawn exactly twice per request whatever the settings, so a seed
        gives the same sequence of decisions for the same sequence of requests.
        """
        with self._lock:
            s = self.settings
            error_draw, reset_draw = self._rng.random(), self._rng.random()
            if s.down:
                return "down"
            if s.error_next > 0:
                s.error_next -= 1
                return "error"
            if s.reset_next > 0:
                s.reset_next -= 1
                return "reset"
            if error_draw < s.error_rate:
                return "error"
            if reset_draw < s.reset_rate:
                return "reset"
            return None

    async def delay(self) -> None:
        """Sleep for the configured delay (call it where the peer would be slow)."""
        ms = self.settings.delay_ms
        if ms:
            await asyncio.sleep(ms / 1000)

    def item_error_for(self, record: Mapping[str, Any]) -> str | None:
        """The note of the first item_error rule that matches this record, if any."""
        for rule in self.settings.item_error:
            if rule.matches(record):
                return rule.note
        return None

    def corrupt(self, body: bytes) -> bytes:
        """The body cut in half when `malformed` is on: a parser sees broken XML."""
        if not self.settings.malformed:
            return body
        return body[: max(1, len(body) // 2)]


@dataclasses.dataclass
class TrafficStats:
    """Requests received by endpoint and faults injected by kind."""

    requests: Counter[str] = dataclasses.field(default_factory=Counter)
    faults: Counter[str] = dataclasses.field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"requests": dict(self.requests), "faults": dict(self.faults)}


_NUMERIC_SEGMENT = re.compile(r"/\d+(?=/|$)")


def endpoint_key(method: str, path: str) -> str:
    """'GET /_sim/contacts/{id}' for '/_sim/contacts/17': one counter per route, not per record."""
    return f"{method} {_NUMERIC_SEGMENT.sub('/{id}', path)}"


class FaultInjection:
    """ASGI middleware: counts every request and injects outages, errors and dropped connections.

    Paths under `control_prefix` are never faulted (tests must always reach them). `down`
    applies to every other path; errors and resets only to `business_paths`, the endpoints
    a client does its work on.
    """

    def __init__(
        self,
        app: ASGIApp,
        faults: Faults,
        *,
        business_paths: Iterable[str],
        control_prefix: str = "/_sim",
        stats: TrafficStats | None = None,
    ) -> None:
        self.app = app
        self.faults = faults
        self.business_paths = frozenset(business_paths)
        self.control_prefix = control_prefix
        self.stats = stats if stats is not None else TrafficStats()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        self.stats.requests[endpoint_key(scope["method"], path)] += 1
        if path == self.control_prefix or path.startswith(self.control_prefix + "/"):
            await self.app(scope, receive, send)
            return
        if path in self.business_paths:
            decision = self.faults.decide()
        else:
            decision = "down" if self.faults.settings.down else None
        if decision is None:
            await self.app(scope, receive, send)
            return
        self.stats.faults[decision] += 1
        if decision in ("down", "error"):
            status = 503 if decision == "down" else self.faults.settings.error_status
            await _plain(send, status, b"Service Unavailable (simulated)\n", retry_after=decision == "down")
            return
        if self.faults.settings.reset_after:
            # Let the request be processed, but swallow its answer: the client never learns
            # whether its writes were applied (what an idempotent client must survive).
            async def _discard(message: Message) -> None:
                return None

            await self.app(scope, receive, _discard)
        await _drop(send)


async def _plain(send: Send, status: int, body: bytes, *, retry_after: bool = False) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    if retry_after:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drop(send: Send) -> None:
    """Break the connection mid-answer.

    ASGI has no portable "close the socket" message; announcing a body and returning without
    sending it makes any server close the connection, and the client sees an incomplete
    response (httpx: RemoteProtocolError) instead of an answer.
    """
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/xml"), (b"content-length", b"4096")],
        }
    )
