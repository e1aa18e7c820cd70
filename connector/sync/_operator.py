"""The operator's tools over the audit log: what happened to an operation, and sending a
refused one again once its data was corrected.
"""

from __future__ import annotations

import dataclasses
import uuid

from connector.config import Config
from connector.errors import BadData
from connector.model import hash_content
from connector.peers.eshop import EshopClient
from connector.peers.pohoda import PohodaClient
from connector.store import AuditEntry, OutboxEntry, RunLockHeld, Store
from connector.sync._run import LOCK_NAME, SyncRun


class OperationNotFound(BadData):
    """No audit row or operation with that id."""


@dataclasses.dataclass(frozen=True)
class OperationHistory:
    """One audit row, the operation it belongs to, and everything logged for that customer."""

    row: AuditEntry
    operation: OutboxEntry | None
    history: list[AuditEntry]


def operation_history(store: Store, audit_id: int) -> OperationHistory:
    row = store.audit_entry(audit_id)
    if row is None:
        raise OperationNotFound(f"no audit row {audit_id} (see `connector audit list`)", record=str(audit_id))
    operation = store.outbox_entry(row.outbox_id) if row.outbox_id is not None else None
    customer = row.eshop_id or row.pohoda_id
    history = store.audit_entries(customer=customer, limit=50) if customer else [row]
    return OperationHistory(row=row, operation=operation, history=sorted(history, key=lambda a: a.id))


@dataclasses.dataclass(frozen=True)
class RetryOutcome:
    new_operation: OutboxEntry
    delivered: bool
    note: str


def retry_operation(config: Config, audit_id: int) -> RetryOutcome:
    """Send a refused operation again with the customer's current data, now.

    The data is read afresh from the side it came from (the e-shop for a write to POHODA),
    so a correction made there is what goes out; the refused operation is marked superseded.
    """
    config.require("pohoda.url", "pohoda.user", "pohoda.ico", "pohoda_password", "eshop.url", "eshop_token")
    from connector.sync import plan_settings

    store = Store.open(config.store_url)
    try:
        found = operation_history(store, audit_id)
        entry = found.operation
        if entry is None:
            raise OperationNotFound(f"audit row {audit_id} is not about an operation that can be sent again")
        if entry.state != "refused":
            raise BadData(f"operation {entry.id} is {entry.state}; only a refused operation is sent again")
        link = store.link(entry.link_id)
        assert link is not None
        with PohodaClient.from_config(config) as pohoda, EshopClient.from_config(config) as eshop:
            if entry.side == "pohoda":
                if link.eshop_id is None:
                    raise BadData(f"operation {entry.id}: the customer has no e-shop account to read from")
                customer = eshop.get(link.eshop_id)
                if customer is None:
                    raise BadData(f"operation {entry.id}: e-shop customer {link.eshop_id} no longer exists")
                content = customer.contact.content()
                kind = "update" if link.pohoda_id is not None else "create"
                payload: dict[str, object] = {"contact": content}
            else:
                source = pohoda.get(pohoda_id=link.pohoda_id) if link.pohoda_id else None
                if source is None:
                    raise BadData(f"operation {entry.id}: POHODA contact {link.pohoda_id} cannot be read")
                content = source.content()
                kind = entry.kind
                payload = {**entry.payload, "contact": content}
                if kind == "update" and link.eshop_id is not None:
                    current = eshop.get(link.eshop_id)
                    payload["expected_version"] = current.version if current else None
            with store.transaction() as conn:
                Store.supersede(conn, [entry.id], f"sent again by an operator (audit row {audit_id})")
                new_id = Store.enqueue(
                    conn, run_id=f"retry-{audit_id}", link_id=link.id, side=entry.side, kind=kind, payload=payload
                )
                Store.set_base(conn, link.id, content, hash_content(content))
                Store.add_audit(
                    conn,
                    operation="retry",
                    result="pending",
                    run_id=f"retry-{audit_id}",
                    link_id=link.id,
                    outbox_id=new_id,
                    eshop_id=link.eshop_id,
                    pohoda_id=link.pohoda_id,
                    side=entry.side,
                    after_hash=hash_content(content),
                    note=f"operation {entry.id} sent again as {new_id}",
                )
            run = SyncRun(store, pohoda, eshop, plan_settings(config), run_id=f"retry-{uuid.uuid4().hex[:8]}")
            try:
                store.acquire_lock(LOCK_NAME, run.run_id)
            except RunLockHeld as exc:
                new = store.outbox_entry(new_id)
                assert new is not None
                return RetryOutcome(new, False, f"queued; a running sync delivers it ({exc})")
            try:
                run.deliver()
            finally:
                store.release_lock(LOCK_NAME, run.run_id)
        new = store.outbox_entry(new_id)
        assert new is not None
        return RetryOutcome(new, new.state == "done", new.last_error or new.state)
    finally:
        store.close()
