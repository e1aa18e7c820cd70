"""`connector reconcile`: compare both address books in full, report, and repair on request.

The comparison, the repairs and the report live in `connector.reconcile`; this parses the
options, draws the progress on a terminal and prints or writes the report.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from connector.cli._main import EXIT_USAGE, AppContext, fail, handle_errors, root
from connector.errors import RunLockHeld
from connector.reconcile import REPORT_FORMATS, ReadProgress, render, run_reconcile

_LABELS = {"pohoda": "POHODA", "eshop": "e-shop"}


@contextmanager
def _progress_display() -> Iterator[ReadProgress | None]:
    """Records read per side, their rate and the time left, on stderr; nothing when stderr
    is not a terminal (cron, a pipe, a test)."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("{task.description:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[progress.data.speed]{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, tuple[TaskID, float]] = {}

        def report(side: str, done: int, total: int) -> None:
            if side not in tasks:
                tasks[side] = bar.add_task(_LABELS.get(side, side), total=total or None, rate=""), time.monotonic()
            task, since = tasks[side]
            elapsed = time.monotonic() - since
            rate = f"{done / elapsed:,.0f} rec/s" if done and elapsed > 0 else ""
            bar.update(task, completed=done, total=max(total, done) or None, rate=rate)

        yield report


@root.command("reconcile")
@click.option(
    "--fix", is_flag=True, help="Repair what differs, through the outbox (audited; a person's cases go to review)."
)
@click.option(
    "--report",
    "form",
    type=click.Choice(REPORT_FORMATS),
    default="text",
    show_default=True,
    help="text for people, json for machines, html: one file to open offline (it holds personal data).",
)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report here, not to stdout.")
@click.pass_obj
@handle_errors
def reconcile_command(app: AppContext, fix: bool, form: str, output: Path | None) -> None:
    """Compare both address books in full and report every difference; --fix repairs them.

    Exit 0 when both sides agree (with --fix: when every difference was repaired), 1 when
    differences remain, 2 on a configuration error.
    """
    config = app.config()
    try:
        with _progress_display() as progress:
            result = run_reconcile(config, fix=fix, progress=progress)
    except RunLockHeld as exc:
        fail(f"a sync run holds the lock; try again when it has finished ({exc})", 1)
    text = render(result, form)
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"--output: cannot write {output}: {exc.strerror}", EXIT_USAGE)
        click.echo(f"report written to {output}", err=True)
    else:
        sys.stdout.write(text)
    sys.exit(result.exit_code)
