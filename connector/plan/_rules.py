"""What a delivery result means: the outbox entry's end, the link's new ids, the writes that
follow, the audit row. Pure functions of (entry, link, result), written once for both sides.

`write_for` turns an outbox entry into the peer's write; `interpret` turns the peer's answer
into a `Delivery` that the run only records. Neither touches a network or a database.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from connector.model import Contact, Link, OutboxEntry, hash_content
from connector.peers.base import PeerWrite, SideName, WriteResult

HQ: SideName = "pohoda"
SHOP: SideName = "eshop"
# The connector's own outgoing mail (the welcome e-mail), delivered from the outbox too.
MAIL = "mail"


def other(side: SideName) -> SideName:
    return HQ if side == SHOP else SHOP


def id_on(link: Link, side: SideName) -> str | None:
    """The link's record id on `side`."""
    return link.pohoda_id if side == HQ else link.eshop_id


def with_id(link: Link, side: SideName, record_id: str) -> Link:
    """The link once `side`'s record is known to be `record_id`."""
    if side == HQ:
        return dataclasses.replace(link, pohoda_id=record_id)
    return dataclasses.replace(link, eshop_id=record_id)


@dataclasses.dataclass(frozen=True)
class FollowUp:
    """A write queued because of a result (the other side learns an id, say)."""

    side: str  # a SideName, or MAIL
    kind: str
    payload: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Delivery:
    """Everything one result changes; the run writes it in the chunk's transaction."""

    outbox_state: str  # done | refused | superseded
    audit: dict[str, Any]
    error: str | None = None
    link_values: dict[str, Any] = dataclasses.field(default_factory=dict)
    follow_ups: tuple[FollowUp, ...] = ()
    # The run's counter this result adds one to: delivered | refused | conflicts | None.
    counter: str | None = None
    # A registration HQ refused: it gets its temporary id and "Pending sync" on the e-shop.
    goes_pending: bool = False


def write_for(entry: OutboxEntry, link: Link) -> PeerWrite:
    """The peer write of one outbox entry, with the ids the link knows now.

    A create or update for a record the side does not have yet is a create (POHODA: an
    upsert keyed by the e-shop id, so a lost answer or a replay makes no second contact).
    """
    payload = entry.payload
    if entry.side == MAIL:
        # The account it welcomes, and the contact to write to.
        return PeerWrite(
            kind="welcome", ref=entry.id, record_id=payload["account_id"], contact=Contact.from_dict(payload["contact"])
        )
    side: SideName = HQ if entry.side == HQ else SHOP
    record_id = id_on(link, side)
    contact = Contact.from_dict(payload["contact"]) if "contact" in payload else None
    kind = entry.kind
    if kind in ("create", "update") and record_id is None:
        kind = "create"
    return PeerWrite(
        kind=kind,  # type: ignore[arg-type]
        ref=entry.id,
        record_id=record_id,
        contact=contact,
        other_id=payload.get("hq_id") if side == SHOP else link.eshop_id,
        sync_state=payload.get("sync_state"),
        idempotency_key=payload.get("idempotency_key"),
        send_welcome=bool(payload.get("send_welcome", False)),
        expected_version=payload.get("expected_version"),
    )


def _tell(side: SideName, link: Link, entry: OutboxEntry, *, hq_id: str | None) -> FollowUp:
    """The write that gives `side`'s record the other side's id: the e-shop account its
    POHODA id (a link write), POHODA's contact the e-shop id (an update, carried as extId)."""
    if side == SHOP:
        return FollowUp(SHOP, "link", {"hq_id": hq_id, "sync_state": "synced"})
    return FollowUp(HQ, "update", {"contact": entry.payload["contact"]})


def interpret(entry: OutboxEntry, link: Link, result: WriteResult, *, taken_is_linked: bool = False) -> Delivery:
    """What `result` (the answer to `entry`'s write) means for the link, the outbox and the audit.

    `taken_is_linked`: for a `taken` result, whether the record holding the key is already
    linked to another customer (then the create is refused, never linked to it).
    """
    if entry.side == MAIL:
        return _mail_delivery(entry, result)
    side: SideName = HQ if entry.side == HQ else SHOP
    after = hash_content(entry.payload["contact"]) if "contact" in entry.payload else None
    audit: dict[str, Any] = {"operation": entry.kind, "side": side, "after_hash": after}
    known = id_on(link, side)

    if result.outcome == "conflict":
        # The record changed after it was read: the next run merges again.
        return Delivery(
            "superseded",
            {**audit, "result": "conflict", "note": f"the {_label(side)} record changed after it was read; "
             "merged again by the next run"},
            error=result.reason,
            counter="conflicts",
        )

    if result.outcome == "taken" and entry.kind == "create" and known is None and result.record_id and not (
        taken_is_linked
    ):
        # Someone holds this unique key (an e-mail) on that side already: the same person, so
        # link, don't copy; both records then learn each other's id.
        taken = result.record_id
        linked = with_id(link, side, taken)
        return Delivery(
            "superseded",
            {
                **audit,
                f"{side}_id": taken,
                "operation": "match",
                "result": "done",
                "after_hash": None,
                "note": f"linked as the same customer: the e-mail already has an {_label(side)} account",
            },
            error=result.reason,
            link_values={f"{side}_id": taken, "state": "linked"},
            follow_ups=(
                _tell(side, linked, entry, hq_id=linked.pohoda_id),
                _tell(other(side), linked, entry, hq_id=linked.pohoda_id),
            ),
        )

    if not result.ok:
        reason = result.reason or "refused"
        return Delivery(
            "refused",
            {
                **audit,
                "result": "refused",
                "note": reason,
                "detail": {"errors": list(result.errors), "field": result.field},
            },
            error=reason,
            counter="refused",
            goes_pending=(
                side == HQ and link.pohoda_id is None and link.temp_hq_id is None and link.eshop_id is not None
            ),
        )

    new_id = result.record_id or known
    values: dict[str, Any] = {}
    follow_ups: tuple[FollowUp, ...] = ()
    if known is None and new_id is not None:
        values = {f"{side}_id": new_id, "state": "linked"}
        linked = with_id(link, side, new_id)
        if id_on(link, other(side)) is not None:
            follow_ups = (_tell(other(side), linked, entry, hq_id=linked.pohoda_id),)
        if side == SHOP and entry.kind == "create" and entry.payload.get("welcome") == "connector":
            # The account exists now: its welcome e-mail is the connector's to send, queued in
            # the same transaction as this result, so it is queued exactly once.
            welcome = {"contact": entry.payload["contact"], "account_id": new_id}
            follow_ups = (*follow_ups, FollowUp(MAIL, "welcome", welcome))
    notes = list(result.warnings)
    note = "; ".join(notes) if notes else None
    if note is None and entry.payload.get("send_welcome"):
        note = "welcome e-mail requested"
    if note is None and result.replay:
        note = "already imported (replay)"
    return Delivery(
        "done",
        {**audit, f"{side}_id": new_id, "result": "done", "note": note},
        link_values=values,
        follow_ups=follow_ups,
        counter="delivered",
    )


def _mail_delivery(entry: OutboxEntry, result: WriteResult) -> Delivery:
    audit: dict[str, Any] = {"operation": entry.kind, "side": MAIL, "eshop_id": entry.payload.get("account_id")}
    if not result.ok:
        reason = result.reason or "refused"
        return Delivery(
            "refused",
            {**audit, "result": "refused", "note": reason, "detail": {"field": result.field}},
            error=reason,
            counter="refused",
        )
    note = "welcome e-mail sent" + (f" ({result.version})" if result.version else "")
    return Delivery("done", {**audit, "result": "done", "note": note}, counter="delivered")


def _label(side: SideName) -> str:
    return "e-shop" if side == SHOP else "POHODA"
