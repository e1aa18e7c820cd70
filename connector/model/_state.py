"""The sync's own state as plain values: links, mirror records, outbox entries, audit rows,
review items and webhook events. The store maps them to rows; the planner reads them.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class Link:
    id: int
    eshop_id: str | None
    pohoda_id: str | None
    temp_hq_id: str | None
    state: str
    # A second account's POHODA contact (its pohoda_id stays None: see links.contact_of).
    contact_of: str | None = None


@dataclasses.dataclass(frozen=True)
class MirrorRecord:
    side: str
    record_id: str
    content: dict[str, Any]
    content_hash: str
    version: str | None
    ext_id: str | None
    deleted: bool


@dataclasses.dataclass(frozen=True)
class OutboxEntry:
    id: int
    run_id: str
    link_id: int
    side: str
    kind: str
    payload: dict[str, Any]
    state: str
    attempts: int
    last_error: str | None
    created_at: str


@dataclasses.dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    run_id: str | None
    link_id: int | None
    outbox_id: int | None
    eshop_id: str | None
    pohoda_id: str | None
    operation: str
    side: str | None
    before_hash: str | None
    after_hash: str | None
    result: str
    note: str | None
    detail: dict[str, Any] | None


@dataclasses.dataclass(frozen=True)
class ReviewItem:
    id: int
    side: str
    record_id: str
    candidate_side: str
    candidate_id: str
    score: float
    reasons: list[str]
    state: str
    created_at: str


@dataclasses.dataclass(frozen=True)
class WebhookEvent:
    id: int
    event_id: str
    type: str
    customer_id: str
    received_at: str
    received_ts: float
    state: str
    attempts: int
