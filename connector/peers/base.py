"""The Peer interface: what the sync, the webhook worker and the operator actions need of
either side, whatever the platform behind it. A platform is one module that answers it.

A peer speaks in canonical contacts and its own ids. It keeps its quirks (how a feed pages,
what a cursor is, how a write is batched, what an answer means on the wire) to itself and
returns one `WriteResult` per `PeerWrite`, in order; the rules for what a result means for
the links and the outbox live beside the planner (`connector.sync.rules`), written once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Literal, Protocol, runtime_checkable

from connector.errors import BadData
from connector.model import Contact

SideName = Literal["eshop", "pohoda"]
WriteKind = Literal["create", "update", "link", "delete", "welcome"]
Outcome = Literal["done", "refused", "conflict", "taken"]


class WithoutBreaker:
    """For a peer with no breaker of its own: always available, nothing to probe first; a
    fault surfaces on the call it happens in, and the run sets that side aside."""

    available = True
    unavailable_reason = ""

    def probe(self) -> bool:
        return True


@dataclasses.dataclass(frozen=True)
class PeerRecord:
    """One record as a peer reported it.

    `contact` is the content without ids (None: the record was deleted, a tombstone);
    `other_id` is the id of the other side that the record itself carries (POHODA: the
    e-shop id kept as extId; an e-shop account: the POHODA id it shows once synced).
    """

    record_id: str
    contact: Contact | None
    version: str | None = None
    other_id: str | None = None


@dataclasses.dataclass(frozen=True)
class ChangeBatch:
    """Records read in one page of a pull; `cursor` is where the next pull starts once
    everything up to this batch is persisted (None: not known before a later batch).

    `refused` are the records of the page that could not be read (the peer's data fails
    the schema or the model), each naming the record and the field: the sync sets them
    aside (audited, counted as refused) and goes on with the others.
    """

    records: Sequence[PeerRecord]
    cursor: str | None = None
    refused: Sequence[BadData] = ()


@dataclasses.dataclass(frozen=True)
class PeerWrite:
    """One write to a peer, built from one outbox entry.

    `ref` is the outbox entry's id: peers derive their idempotency from it (POHODA's item
    id, with the record), so a replay after a crash is recognised. `record_id` is this
    side's id (None for a create); `other_id` the other side's id to keep on the record
    (the e-shop id as POHODA's extId, the POHODA id on the e-shop account).
    """

    kind: WriteKind
    ref: int
    record_id: str | None = None
    contact: Contact | None = None
    other_id: str | None = None
    sync_state: str | None = None
    idempotency_key: str | None = None
    send_welcome: bool = False
    expected_version: str | None = None


@dataclasses.dataclass(frozen=True)
class WriteResult:
    """What a peer did with one write.

    - `done`: applied; `record_id` is the record's id on this side (a create's new id).
    - `refused`: not applied; `reason` is the peer's note, `field` the field it named.
    - `conflict`: the record changed since it was read (optimistic concurrency); merge again.
    - `taken`: a create collided with an existing record that holds the same unique key
      (an e-mail); `record_id` is that record's id.
    """

    outcome: Outcome
    record_id: str | None = None
    version: str | None = None
    reason: str | None = None
    field: str | None = None
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    replay: bool = False
    # The other side's id the peer reports the record to carry (e.g. the extId read back).
    other_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "done"


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What a platform does by itself."""

    # The platform e-mails a new account itself (else the connector must).
    sends_welcome_email: bool = True
    # The record can carry the other side's id (POHODA's extId; an e-shop field or meta key).
    stores_external_id: bool = True


@runtime_checkable
class Peer(Protocol):
    """One side of the mirror, as the sync sees it."""

    label: str  # for people: "POHODA mServer", "the e-shop"
    capabilities: Capabilities
    batch_size: int

    @property
    def side(self) -> str:
        """Which side of the mirror: "pohoda" (HQ), "eshop", or "mail" (the connector's mail)."""
        ...

    @property
    def available(self) -> bool:
        """False once the peer failed in this process and is not called again for now."""
        ...

    @property
    def unavailable_reason(self) -> str:
        """Why `available` is False (the last failure), or ""."""
        ...

    def probe(self) -> bool:
        """A quick reachability check without retries; False makes `available` False."""
        ...

    def changes(self, cursor: str | None) -> Iterator[ChangeBatch]:
        """Every change after `cursor` (None: from the start), in batches; the last batch's
        cursor is where the next pull starts."""
        ...

    def snapshot(self) -> Iterator[PeerRecord]:
        """Every existing record, streamed."""
        ...

    def get(self, record_id: str) -> PeerRecord | None:
        """One record by this side's id, or None when the peer does not know it."""
        ...

    def apply(self, writes: Sequence[PeerWrite]) -> list[WriteResult]:
        """Send the writes (batched as the peer likes); one result per write, in order.

        Raises PeerUnreachable when the peer cannot be reached (nothing is known to be
        applied) and PeerRefused when it refuses the whole batch.
        """
        ...

    def close(self) -> None: ...
