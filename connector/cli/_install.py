"""`connector install --print`: the set-up commands, printed for a person to read and run."""

from __future__ import annotations

from pathlib import Path

import click

from connector.cli._main import fail, root
from connector.install import SourceNotFound, find_source, install_script


@root.command("install")
@click.option("--print", "print_only", is_flag=True, required=True, help="Print the commands (the only mode).")
@click.option(
    "--source",
    type=click.Path(file_okay=False, path_type=Path),
    help="The connector's source tree to copy from (default: beside the package, or the current directory).",
)
@click.option("--root", "root_dir", default="", help="Stage under this directory: no user, no chown.")
@click.option("--user", default="connector", show_default=True, help="The system user cron and systemd run as.")
def install(print_only: bool, source: Path | None, root_dir: str, user: str) -> None:
    """Print what installing next to an e-shop takes, as a shell script (`… | sudo sh`):
    the system user, /var/lib/connector (the store), /var/log/connector (cron's log), the
    configuration, the secrets file, the cron file and the systemd unit."""
    del print_only  # printing is all it does: a person reads it before running it
    try:
        tree = find_source(source)
    except SourceNotFound as exc:
        fail(str(exc))
    click.echo(install_script(tree, root=root_dir, user=user), nl=False)
