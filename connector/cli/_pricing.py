"""`connector pricing serve` and `connector carts push`: the pricing worker and its client.

Thin: arguments in, one library call, the priced cart out (a rich table, or JSON with --json).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from connector.cli._main import EXIT_FAILED, AppContext, handle_errors, root, table_console
from connector.errors import BadData
from connector.pricing import (
    DEFAULT_CHUNK,
    DEFAULT_WORKER_URL,
    CartStore,
    PricingService,
    PushReport,
    create_app,
    load_catalog_file,
    parse_configurator_cart,
    push_cart,
)
from connector.store import open_engine
from connector.transport import RetryPolicy


@root.group("pricing")
def pricing() -> None:
    """The pricing worker: prices large carts in one batch per command."""


@pricing.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8710, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option(
    "--catalog",
    "catalog_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Catalog XML (schemas/pricing/catalog.xsd).",
)
@click.option(
    "--mode",
    type=click.Choice(["optimized", "naive"]),
    default="optimized",
    show_default=True,
    help="naive prices line by line: the reference, for comparisons only.",
)
@click.pass_obj
@handle_errors
def serve(app: AppContext, host: str, port: int, catalog_path: str, mode: str) -> None:
    """Run the pricing worker; carts live in the configured store and survive a restart."""
    import uvicorn

    config = app.config()
    catalog = load_catalog_file(catalog_path)
    service = PricingService(catalog, CartStore(open_engine(config.store_url)), mode=mode)  # type: ignore[arg-type]
    click.echo(f"pricing worker on http://{host}:{port} ({len(catalog.entries)} catalog entries, {mode})", err=True)
    uvicorn.run(create_app(service), host=host, port=port, log_level="warning", access_log=False)


@root.group("carts")
def carts() -> None:
    """Carts on the pricing worker."""


@carts.command("push")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--worker",
    default=DEFAULT_WORKER_URL,
    show_default=True,
    envvar="CONNECTOR_PRICING_WORKER",
    help="The pricing worker's URL (or $CONNECTOR_PRICING_WORKER).",
)
@click.option("--chunk", default=DEFAULT_CHUNK, show_default=True, type=click.IntRange(min=1), help="Lines per add.")
@click.option("--customer", help="Price for this customer instead of the one the file names.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(0.5, 3600),
    default=10.0,
    show_default=True,
    help="Give up when the worker cannot be reached for this many seconds.",
)
@handle_errors
def push(file: str, worker: str, chunk: int, customer: str | None, as_json: bool, timeout_s: float) -> None:
    """Send a configurator cart to the worker (adds in chunks, then OrderPrepare); print it priced.

    Exit 1 when a line was refused; the others are priced all the same.
    """
    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        raise BadData(f"{file}: cannot read the cart ({exc.strerror})", record=file) from None
    cart = parse_configurator_cart(data, what=file)
    # A person waits: the retries stop at --timeout, not at the cron runs' minute.
    policy = RetryPolicy(max_total_s=timeout_s)
    if as_json:
        report = push_cart(cart, worker_url=worker, chunk_size=chunk, customer_id=customer, policy=policy)
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task(f"pushing {cart.cart_id}", total=len(cart.lines) or 1)
            report = push_cart(
                cart,
                worker_url=worker,
                chunk_size=chunk,
                customer_id=customer,
                policy=policy,
                on_chunk=lambda done, _total: progress.update(task, completed=done),
            )
        _print_report(report, file)
    if report.errors:
        sys.exit(EXIT_FAILED)


def _print_report(report: PushReport, file: str) -> None:
    console = table_console()
    cart: dict[str, Any] = report.cart or {}
    table = Table(title=f"cart {report.cart_id} for {report.customer_id}")
    for heading in ("line", "part number", "qty", "ship mode", "address", "FFC", "unit price", "total", "stock"):
        table.add_column(heading, justify="right" if heading in ("line", "qty", "unit price", "total") else "left")
    for line in cart.get("lines", []):
        table.add_row(
            str(line["lineId"]),
            line["partNumber"],
            str(line["quantity"]),
            line["shipMode"],
            line["address"],
            line["fulfillmentCenter"],
            line["unitPrice"] or "-",
            line["lineTotal"] or "-",
            line["inventory"] or "-",
        )
    console.print(table)
    summary = cart.get("summary") or {}
    if summary:
        currency = summary.get("currency", "")
        for label in ("subtotal", "shipping", "tax", "total"):
            console.print(f"{label:>9}: {summary.get(label) or '-'} {currency}")
    console.print(
        f"{report.chunks} chunk(s), {report.replayed_chunks} answered from the worker's record, "
        f"{report.added} line(s) added, {report.elapsed_ms:.0f} ms"
    )
    for error in report.errors:
        where = f"line {error['position']} of {file}" if error.get("position") else f"cart line {error.get('lineId')}"
        console.print(
            f"[red]refused[/red] {where} ({error.get('partNumber') or '?'}), field {error['field']}: {error['message']}"
        )
