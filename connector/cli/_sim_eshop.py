"""`connector sim eshop`: run the e-shop simulator in the foreground.

A thin layer over `connector.sim.eshop.EshopSimulator`; attaches itself to the `sim` group.
"""

from __future__ import annotations

from pathlib import Path

import click

from connector.cli._main import handle_errors
from connector.cli._sim import fault_seed_option, listen_options, seed_option, serve_app, sim
from connector.sim import eshop as eshop_sim


@sim.command("eshop")
@listen_options
@seed_option("JSON lines of customers to start with (canonical contacts; may carry id, hq_id, sync_state).")
@click.option(
    "--token",
    default=eshop_sim.DEFAULT_TOKEN,
    envvar="CONNECTOR_ESHOP_TOKEN",
    help="Bearer token the e-shop accepts (default: $CONNECTOR_ESHOP_TOKEN, else 'eshop-token').",
)
@click.option(
    "--allow-duplicate-emails",
    is_flag=True,
    help="Let two customers share an e-mail address (by default refused, as e-shops do).",
)
@fault_seed_option
@handle_errors
def sim_eshop(
    host: str, port: int, seed_file: Path | None, token: str, allow_duplicate_emails: bool, fault_seed: int
) -> None:
    """Run an e-shop simulator: the e-shop protocol (docs/eshop-protocol.md), control under /_sim."""
    seeds = []
    if seed_file is not None:
        with seed_file.open(encoding="utf-8") as stream:
            seeds = eshop_sim.read_seed_jsonl(stream)
    simulator = eshop_sim.EshopSimulator(
        token=token, seed_contacts=seeds, unique_emails=not allow_duplicate_emails, seed=fault_seed
    )
    click.echo(
        f"e-shop simulator on http://{host}:{port} ({len(seeds)} seed customers, bearer token from "
        f"{'--token/$CONNECTOR_ESHOP_TOKEN' if token != eshop_sim.DEFAULT_TOKEN else 'the default'}); Ctrl+C stops it",
        err=True,
    )
    serve_app(simulator.app, host, port)
