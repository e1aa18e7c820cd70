"""`connector check`: every configured part in one go, one line each (the library decides)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from connector.checks import INTERACTIVE_TIMEOUT_S, CheckResult, run_checks
from connector.cli._main import EXIT_FAILED, EXIT_OK, AppContext, root
from connector.log import configure_logging

_MARK = {"ok": "ok  ", "fail": "FAIL", "skip": "skip"}


@root.command("check")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per part, one a line.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(0.5, 600),
    default=INTERACTIVE_TIMEOUT_S,
    show_default=True,
    help="Seconds each peer gets to answer.",
)
@click.option(
    "--root",
    "root_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/"),
    help="Check an installation staged under this directory (the cron file; default /).",
)
@click.pass_obj
def check(app: AppContext, as_json: bool, timeout_s: float, root_dir: Path) -> None:
    """Configuration, store, POHODA, the e-shop, mail, cron and secrets: ok, or what to do.

    Exit 0 only when every part passes (a part not configured is skipped), 1 otherwise.
    """
    configure_logging("error", "json")  # the retries' warnings would drown the report

    def show(result: CheckResult) -> None:
        if as_json:
            click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
            return
        line = f"{_MARK[result.state]} {result.name}: {result.detail}"
        if result.fix and result.state == "fail":
            line += f"\n       -> {result.fix}"
        # No masking: these lines hold URLs, keys and the company's IČO, no person's data.
        click.echo(line)

    results = run_checks(app.config_path, timeout_s=timeout_s, root=root_dir, on_result=show)
    failed = [r for r in results if r.state == "fail"]
    if not as_json:
        click.echo("all ok" if not failed else f"{len(failed)} part(s) need attention")
    sys.exit(EXIT_FAILED if failed else EXIT_OK)
