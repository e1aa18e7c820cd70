"""`connector demo`: the whole mirror against the built-in simulators, no set-up."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from connector.cli._main import EXIT_FAILED, handle_errors, root
from connector.cli._sync import summary_table
from connector.demo import run_demo
from connector.log import configure_logging
from connector.sim.sandbox import SHOP_BOXES
from connector.sync import RunSummary


@root.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's SQLite store here (default: a temporary directory, removed after).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option(
    "--platform",
    type=click.Choice(sorted(SHOP_BOXES)),
    default="connector",
    show_default=True,
    help="The shop platform to simulate: connector, WooCommerce, Shoptet, PrestaShop (8; prestashop-1.7 for 1.7).",
)
@handle_errors
def demo(directory: Path | None, as_json: bool, platform: str) -> None:
    """Run the two-way mirror against simulated POHODA and e-shop, twice, and check convergence.

    Seeds an e-shop and a POHODA that grew apart (shared customers written differently,
    contacts only in POHODA), runs `connector sync` twice on an embedded SQLite store and
    shows that both address books agree. Exit 0 when they do.
    """
    configure_logging("error", "console")
    out = Console()

    def show(number: int, summary: RunSummary) -> None:
        if not as_json:
            out.print(summary_table(summary))

    if not as_json:
        out.print(f"[bold]connector demo[/bold]: simulated POHODA mServer and e-shop ({platform}) on loopback ports")
    if directory is None:
        with tempfile.TemporaryDirectory(prefix="connector-demo-") as tmp:
            report = run_demo(Path(tmp), on_run=show, platform=platform)
    else:
        report = run_demo(directory, on_run=show, platform=platform)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "converged": report.converged,
                    "eshop_customers": report.eshop_customers,
                    "pohoda_contacts": report.pohoda_contacts,
                    "linked": report.linked,
                    "pohoda_only": report.pohoda_only,
                    "welcome_emails": report.welcome_emails,
                    "differences": report.differences,
                    "duplicates": report.duplicates,
                    "seconds": report.seconds,
                    "runs": [r.to_dict() for r in report.runs],
                },
                ensure_ascii=False,
            )
        )
    else:
        table = Table(title="both sides after two runs")
        table.add_column("what")
        table.add_column("count", justify="right")
        table.add_row("e-shop customers", str(report.eshop_customers))
        table.add_row("POHODA contacts", str(report.pohoda_contacts))
        table.add_row("linked pairs, equal on every mapped field", str(report.linked - len(report.differences)))
        table.add_row("POHODA contacts without e-mail (kept in POHODA only)", str(report.pohoda_only))
        table.add_row("welcome e-mails sent (by the e-shop, or by the connector)", str(report.welcome_emails))
        table.add_row("customers that exist twice", str(report.duplicates))
        out.print(table)
        verdict = "[green]converged[/green]" if report.converged else "[red]NOT converged[/red]"
        out.print(f"{verdict} in {report.seconds:.1f} s")
        for line in report.differences[:20]:
            out.print(f"  {line}")
    if not report.converged:
        sys.exit(EXIT_FAILED)
