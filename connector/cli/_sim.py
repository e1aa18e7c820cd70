"""`connector sim …`: run a loopback simulator in the foreground (POHODA mServer, WooCommerce, Shoptet, PrestaShop)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from connector.cli._main import EXIT_USAGE, fail, handle_errors, root
from connector.model import Contact, read_jsonl
from connector.peers.prestashop import KEY_LENGTH
from connector.sim import pohoda as pohoda_sim
from connector.sim import prestashop as prestashop_sim

F = TypeVar("F", bound=Callable[..., Any])


def listen_options(command: F) -> F:
    """--host and --port of a simulator command."""
    command = click.option("--port", type=click.IntRange(1, 65535), required=True, help="Port to listen on.")(command)
    return click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")(command)


def fault_seed_option(command: F) -> F:
    return click.option(
        "--fault-seed", type=int, default=0, show_default=True, help="Seed of the fault injection's randomness."
    )(command)


def seed_option(help_text: str) -> Callable[[F], F]:
    """--seed FILE: JSON lines to start the simulator with."""
    return click.option(
        "--seed", "seed_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help=help_text
    )


def read_seed(seed_file: Path | None) -> list[Contact]:
    if seed_file is None:
        return []
    with seed_file.open(encoding="utf-8") as stream:
        return list(read_jsonl(stream))


def serve_app(app: Any, host: str, port: int) -> None:
    """Serve a simulator in the foreground until Ctrl+C."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@root.group()
def sim() -> None:
    """Loopback simulators of the peers, with fault injection (for tests and demos)."""


@sim.command("pohoda")
@listen_options
@seed_option("JSON lines of contacts to start the address book with (ids 1, 2, … in order).")
@click.option("--user", default=pohoda_sim.DEFAULT_USER, show_default=True, help="mServer user.")
@click.option(
    "--password",
    default=pohoda_sim.DEFAULT_PASSWORD,
    envvar="CONNECTOR_POHODA_PASSWORD",
    help="mServer password (default: $CONNECTOR_POHODA_PASSWORD, else 'admin').",
)
@click.option("--ico", default=pohoda_sim.DEFAULT_ICO, show_default=True, help="The company's IČO (dataPack@ico).")
@click.option(
    "--ex-system",
    default=pohoda_sim.DEFAULT_EX_SYSTEM,
    show_default=True,
    help="External system whose extId the seed's ext_id is and /_sim/contacts shows.",
)
@click.option(
    "--schema-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="XSDs to validate dataPacks against (data.xsd); default: the project's schemas/pohoda/ if present.",
)
@fault_seed_option
@handle_errors
def sim_pohoda(
    host: str,
    port: int,
    seed_file: Path | None,
    user: str,
    password: str,
    ico: str,
    ex_system: str,
    schema_dir: Path | None,
    fault_seed: int,
) -> None:
    """Run a POHODA mServer simulator: POST /xml, GET /status, control under /_sim."""
    contacts = read_seed(seed_file)
    try:
        simulator = pohoda_sim.PohodaSimulator(
            user=user,
            password=password,
            ico=ico,
            seed_contacts=contacts,
            schema_dir=schema_dir,
            ex_system=ex_system,
            seed=fault_seed,
        )
    except FileNotFoundError as exc:
        fail(str(exc), EXIT_USAGE)
    validation = f"validating against {simulator.schema_dir}" if simulator.schema_dir else "no schema validation"
    click.echo(
        f"POHODA simulator on http://{host}:{port} (user {user!r}, IČO {ico}, "
        f"{len(contacts)} seed contacts, {validation}); Ctrl+C stops it",
        err=True,
    )
    serve_app(simulator.app, host, port)


@sim.command("prestashop")
@listen_options
@click.option(
    "--version",
    "version",
    type=click.Choice(["1.7", "8"]),
    default="8",
    show_default=True,
    help="PrestaShop version to play: 8 has PATCH, 1.7 only the full-replace PUT.",
)
@click.option(
    "--key",
    default=prestashop_sim.DEFAULT_KEY,
    envvar="CONNECTOR_ESHOP_KEY",
    help="The 32-character webservice key (default: $CONNECTOR_ESHOP_KEY, else the simulator's).",
)
@fault_seed_option
@handle_errors
def sim_prestashop(host: str, port: int, version: str, key: str, fault_seed: int) -> None:
    """Run a PrestaShop webservice simulator: /api/customers, /api/addresses, /api/countries."""
    if len(key) != KEY_LENGTH:
        fail("--key: a PrestaShop webservice key has 32 characters", EXIT_USAGE)
    simulator = prestashop_sim.PrestaShopSimulator(
        version="8" if version == "8" else "1.7", key=key, base_url=f"http://{host}:{port}", seed=fault_seed
    )
    click.echo(
        f"PrestaShop {simulator.version} simulator on http://{host}:{port}/api/; Ctrl+C stops it",
        err=True,
    )
    serve_app(simulator.app, host, port)


@sim.command("woocommerce")
@listen_options
@seed_option("JSON lines of contacts to start the shop with (customer ids 1, 2, … in order).")
@click.option("--key", default=None, help="Consumer key (default: $CONNECTOR_ESHOP_KEY, else the simulator's).")
@click.option(
    "--secret", default=None, help="Consumer secret (default: $CONNECTOR_ESHOP_SECRET, else the simulator's)."
)
@handle_errors
def sim_woocommerce(host: str, port: int, seed_file: Path | None, key: str | None, secret: str | None) -> None:
    """Run a WooCommerce simulator: /wp-json/wc/v3/customers…, control under /_sim."""
    import os

    from connector.sim import woocommerce as woo_sim
    from connector.sim.sandbox import WooCommerceShopBox

    contacts = [WooCommerceShopBox.wire_of(contact) for contact in read_seed(seed_file)]
    simulator = woo_sim.WooCommerceSimulator(
        consumer_key=key or os.environ.get("CONNECTOR_ESHOP_KEY") or woo_sim.DEFAULT_CONSUMER_KEY,
        consumer_secret=secret or os.environ.get("CONNECTOR_ESHOP_SECRET") or woo_sim.DEFAULT_CONSUMER_SECRET,
        seed_customers=contacts,
    )
    click.echo(
        f"WooCommerce simulator on http://{host}:{port}{woo_sim.API} ({len(contacts)} seed customers); Ctrl+C stops it",
        err=True,
    )
    serve_app(simulator.app, host, port)


@sim.command("shoptet")
@listen_options
@seed_option("JSON lines of contacts to start the shop with.")
@click.option(
    "--token", default=None, help="Private API token (default: $CONNECTOR_ESHOP_TOKEN, else the simulator's)."
)
@handle_errors
def sim_shoptet(host: str, port: int, seed_file: Path | None, token: str | None) -> None:
    """Run a Shoptet simulator: /api/customers…, control under /_sim."""
    import os

    from connector.sim import shoptet as shoptet_sim
    from connector.sim.sandbox import ShoptetShopBox

    simulator = shoptet_sim.ShoptetSimulator(
        token=token or os.environ.get("CONNECTOR_ESHOP_TOKEN") or shoptet_sim.DEFAULT_TOKEN
    )
    seeds = [ShoptetShopBox.wire_of(contact) for contact in read_seed(seed_file)]
    count = len(shoptet_sim.seed_customers(simulator, seeds)) if seeds else 0
    click.echo(
        f"Shoptet simulator on http://{host}:{port} ({count} seed customers, webhook signature key "
        f"{simulator.signature_key}); Ctrl+C stops it",
        err=True,
    )
    serve_app(simulator.app, host, port)
