"""`connector audit list|show|retry`: the audit log as an operator's tool."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import sys

import click
from rich.table import Table

from connector.actions import audit_rows, operation_history, parse_customer, retry_operation
from connector.checks import interactive
from connector.cli._main import EXIT_FAILED, AppContext, fail, handle_errors, root, table_console
from connector.model import AuditEntry
from connector.store import Store

_AGO = re.compile(r"^(\d+)([mhd])$")


def _since(value: str | None) -> str | None:
    """`--since` as an ISO time: an ISO date/time, or an age like 30m, 12h, 7d."""
    if value is None:
        return None
    match = _AGO.match(value)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        delta = {"m": dt.timedelta(minutes=amount), "h": dt.timedelta(hours=amount), "d": dt.timedelta(days=amount)}
        return (dt.datetime.now(dt.UTC) - delta[unit]).isoformat(timespec="milliseconds")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        fail(f"--since: give an ISO date or time, or an age like 30m, 12h, 7d (got {value!r})")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def _when(stamp: str) -> str:
    """An audit time for people: UTC to the second."""
    return stamp[:19].replace("T", " ")


def _row(entry: AuditEntry) -> dict[str, object]:
    return dataclasses.asdict(entry)


@root.group("audit")
def audit() -> None:
    """Every operation, its result and POHODA's note for a refusal; send a refused one again."""


@audit.command("list")
@click.option("--customer", help="One customer: eshop:ID (the e-shop's id) or pohoda:ID (POHODA's).")
@click.option(
    "--state",
    type=click.Choice(["refused", "pending", "done", "conflict", "review", "skipped"]),
    help="Only rows with this result.",
)
@click.option("--since", help="Only rows since then: an ISO date/time, or an age like 30m, 12h, 7d.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines.")
@click.pass_obj
@handle_errors
def audit_list(
    app: AppContext, customer: str | None, state: str | None, since: str | None, limit: int, as_json: bool
) -> None:
    """Audit rows, newest first."""
    if customer is not None:
        parse_customer(customer)  # before the store is opened: a usage error first
    with Store.open(app.stored_config().store_url) as store:
        rows = audit_rows(store, customer=customer, result=state, since=_since(since), limit=limit)
    if as_json:
        for entry in rows:
            click.echo(json.dumps(_row(entry), ensure_ascii=False))
        return
    table = Table(title=f"{len(rows)} audit row(s)")
    for column in ("id", "when", "e-shop id", "POHODA id", "operation", "side", "result", "note"):
        table.add_column(column)
    for entry in rows:
        table.add_row(
            str(entry.id),
            _when(entry.at),
            entry.eshop_id or "",
            entry.pohoda_id or "",
            entry.operation,
            entry.side or "",
            entry.result,
            entry.note or "",
        )
    table_console().print(table)


@audit.command("show")
@click.argument("audit_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_obj
@handle_errors
def audit_show(app: AppContext, audit_id: int, as_json: bool) -> None:
    """One row in full, its operation, and the customer's history."""
    with Store.open(app.stored_config().store_url) as store:
        found = operation_history(store, audit_id)
    operation = dataclasses.asdict(found.operation) if found.operation else None
    if as_json:
        click.echo(
            json.dumps(
                {"row": _row(found.row), "operation": operation, "history": [_row(h) for h in found.history]},
                ensure_ascii=False,
            )
        )
        return
    out = table_console()
    row = found.row
    out.print(f"[bold]audit row {row.id}[/bold] at {row.at}: {row.operation} on {row.side or '-'} -> {row.result}")
    out.print(f"customer: e-shop {row.eshop_id or '-'}, POHODA {row.pohoda_id or '-'}; run {row.run_id or '-'}")
    out.print(f"content hash before {row.before_hash or '-'}, after {row.after_hash or '-'}")
    if row.note:
        out.print(f"note: {row.note}")
    if row.detail:
        out.print(f"detail: {json.dumps(row.detail, ensure_ascii=False)}")
    if found.operation is not None:
        op = found.operation
        out.print(
            f"operation {op.id}: {op.kind} to {op.side}, {op.state}, {op.attempts} attempt(s)"
            + (f", last error: {op.last_error}" if op.last_error else "")
        )
    table = Table(title="history of this customer")
    for column in ("id", "when", "operation", "side", "result", "note"):
        table.add_column(column)
    for entry in found.history:
        table.add_row(str(entry.id), entry.at, entry.operation, entry.side or "", entry.result, (entry.note or "")[:70])
    out.print(table)


@audit.command("retry")
@click.argument("audit_id", type=int)
@click.pass_obj
@handle_errors
def audit_retry(app: AppContext, audit_id: int) -> None:
    """Send a refused operation again, with the customer's current (corrected) data."""
    # A person waits for the answer: a short retry budget, not cron's.
    outcome = retry_operation(interactive(app.stored_config()), audit_id)
    click.echo(outcome.describe())
    if not outcome.delivered:
        sys.exit(EXIT_FAILED)
