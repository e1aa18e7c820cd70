"""`connector sync`, `connector status` and `connector review …`: the mirror for people and cron."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from connector.actions import decide_review, deliver_outbox, open_reviews, run_sync, status_report
from connector.cli._main import EXIT_FAILED, EXIT_OK, AppContext, handle_errors, root, table_console
from connector.store import Store
from connector.sync import RunSummary

console = Console(stderr=True)


@contextmanager
def progress_reporter(enabled: bool) -> Iterator[Any]:
    """A rich progress bar on a terminal; nothing in cron or with --json."""
    if not enabled or not console.is_terminal:
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total or None)
            bar.update(tasks[stage], completed=done, total=total or None)

        yield report


def summary_table(summary: RunSummary) -> Table:
    table = Table(title=f"sync run {summary.run_id}: {summary.state}", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("records read from the e-shop", _read(summary.pulled_eshop, summary.echoes_eshop))
    table.add_row("records read from POHODA", _read(summary.pulled_pohoda, summary.echoes_pohoda))
    for key, value in sorted(summary.delivered.items()):
        side, kind = key.split(".")
        table.add_row(f"{kind} delivered to {'POHODA' if side == 'pohoda' else 'the e-shop'}", str(value))
    table.add_row("linked as duplicates", str(summary.linked))
    table.add_row("conflicts (resolved by policy)", str(summary.conflicts))
    table.add_row("held for review", str(summary.reviews))
    table.add_row("refused", str(summary.refused))
    table.add_row("still pending", str(summary.pending))
    table.add_row("seconds", f"{summary.seconds:.2f}")
    return table


def _read(pulled: int, echoes: int) -> str:
    # What a run wrote comes back in the next pull: shown apart, it is not taken for news.
    return f"{pulled} read, {echoes} our own writes" if echoes else str(pulled)


def run_exit_code(summary: RunSummary) -> int:
    if summary.state == "skipped":
        return EXIT_OK
    if summary.refused or summary.pohoda_unreachable or summary.eshop_unreachable or summary.state == "failed":
        return EXIT_FAILED
    return EXIT_OK


@root.command("sync")
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as one JSON object.")
@click.pass_obj
@handle_errors
def sync(app: AppContext, as_json: bool) -> None:
    """Pull both sides, plan, and deliver: one run of the two-way mirror.

    Exit 0 when done (or when another run is active), 1 when some records were refused or
    a side could not be reached (the work waits in the outbox), 2 on a configuration error.
    """
    config = app.config()
    with progress_reporter(not as_json) as report:
        summary = run_sync(config, progress=report)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), ensure_ascii=False))
    elif summary.state == "skipped":
        click.echo(f"nothing to do: {summary.message}")
    else:
        table_console().print(summary_table(summary))
        for side, label in (("pohoda", "POHODA"), ("eshop", "The e-shop")):
            if getattr(summary, f"{side}_unreachable"):
                why = summary.peer_errors.get(side, "it could not be reached")
                click.echo(f"{label} failed ({why}); its work waits in the outbox for the next run.", err=True)
    sys.exit(run_exit_code(summary))


@root.command("convert")
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as one JSON object.")
@click.pass_obj
@handle_errors
def convert(app: AppContext, as_json: bool) -> None:
    """Create the customers pending in POHODA and replace their temporary ids (part of every sync).

    Reads POHODA only (new POHODA contacts are matched against the pending customers, so none
    is created twice); the e-shop's feed is left for the next `connector sync`.
    """
    config = app.stored_config()
    with progress_reporter(not as_json) as report:
        summary = run_sync(config, progress=report, convert_only=True)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), ensure_ascii=False))
    elif summary.state == "skipped":
        click.echo(f"nothing to do: {summary.message}")
    else:
        table_console().print(summary_table(summary))
    sys.exit(run_exit_code(summary))


@root.command("deliver")
@click.option("--until-empty", is_flag=True, help="Go on until nothing is pending, through store outages.")
@click.option("--max-s", type=float, default=None, help="Stop after this many seconds at the latest.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.pass_obj
@handle_errors
def deliver(app: AppContext, until_empty: bool, max_s: float | None, as_json: bool) -> None:
    """Send what the outbox holds, without pulling: safe on many hosts at once (PostgreSQL)."""
    summary = deliver_outbox(app.config(), until_empty=until_empty, max_s=max_s)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), ensure_ascii=False))
    else:
        delivered = sum(summary.delivered.values())
        console.print(f"delivered {delivered} operations in {summary.seconds:.2f} s; {summary.pending} pending")
    sys.exit(EXIT_FAILED if summary.peer_errors or summary.state != "done" else EXIT_OK)


@root.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
@handle_errors
def status(app: AppContext, as_json: bool) -> None:
    """The last run, and what waits: pending, in review, refused; the cursors."""
    config = app.stored_config()
    with Store.open(config.store_url) as store:
        report = status_report(store)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    out = table_console()
    last = report["last_run"]
    if last is None:
        out.print("No sync run yet.")
    else:
        out.print(f"Last run {last['id']}: {last['state']}, {last['started_at']} to {last['finished_at']}")
    table = Table(show_header=False)
    table.add_row("customers pending in POHODA", str(report["pending_customers"]))
    if report["oldest_pending_age_s"] is not None:
        table.add_row("oldest pending customer waits", _age(report["oldest_pending_age_s"]))
    for key in ("pending", "in_review", "refused", "conflicts_recorded"):
        label = "operations pending" if key == "pending" else key.replace("_", " ")
        table.add_row(label, str(report[key]))
    for name, value in sorted(report["cursors"].items()):
        table.add_row(f"cursor {name}", value)
    out.print(table)


def _age(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


@root.group("review")
def review() -> None:
    """Likely duplicates that wait for a person: list, accept (link) or reject (create)."""


@review.command("list")
@click.option("--all", "everything", is_flag=True, help="Decided items too (accepted, rejected, applied).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines.")
@click.pass_obj
@handle_errors
def review_list(app: AppContext, everything: bool, as_json: bool) -> None:
    """The review items that wait for a person (with --all, the decided ones too)."""
    with Store.open(app.stored_config().store_url) as store:
        views = open_reviews(store, include_decided=everything)
    if as_json:
        for view in views:
            click.echo(json.dumps(view.item.__dict__, ensure_ascii=False))
        return
    title = f"{len(views)} review item(s)" if everything else f"{len(views)} open review item(s)"
    table = Table(title=title)
    for column in ("id", "state", "new record", "looks like", "score", "why"):
        table.add_column(column)
    for view in views:
        item = view.item
        table.add_row(
            str(item.id),
            item.state,
            f"{item.side} {item.record_id}: {_who(view.record)}",
            f"{item.candidate_side} {item.candidate_id}: {_who(view.candidate)}",
            f"{item.score:.2f}",
            ", ".join(item.reasons),
        )
    table_console().print(table)


def _who(content: dict[str, Any]) -> str:
    return " / ".join(str(content[k]) for k in ("name", "company", "city") if content.get(k)) or "?"


def _decide(app: AppContext, review_id: int, state: str) -> None:
    with Store.open(app.stored_config().store_url) as store:
        decide_review(store, review_id, state)
    click.echo(f"review item {review_id} {state}; the next `connector sync` applies it")


@review.command("accept")
@click.argument("review_id", type=int)
@click.pass_obj
@handle_errors
def review_accept(app: AppContext, review_id: int) -> None:
    """The two records are the same customer: link them."""
    _decide(app, review_id, "accepted")


@review.command("reject")
@click.argument("review_id", type=int)
@click.pass_obj
@handle_errors
def review_reject(app: AppContext, review_id: int) -> None:
    """Two different customers: create the new one on the other side."""
    _decide(app, review_id, "rejected")
