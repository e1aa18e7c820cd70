"""The root command group, shared options and the mapping of errors to exit codes."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from connector import __version__
from connector.checks import require_existing_store
from connector.config import Config, load_config
from connector.errors import BadData, ConfigError, ConnectorError, PeerConfigurationError
from connector.log import configure_logging, mask_text

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


@dataclasses.dataclass
class AppContext:
    """What the root group hands to every command: where the config is, loaded on demand."""

    config_path: str | None
    _config: Config | None = None

    def config(self, *required: str) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
            configure_logging(self._config.log.level, self._config.log.format)
        self._config.require(*required)
        return self._config

    def stored_config(self, *required: str) -> Config:
        """The configuration of a command that reads the sync's state: it refuses a store
        it would have to create (an empty one would report "all clear")."""
        config = self.config(*required)
        require_existing_store(config)
        return config


def table_console() -> Console:
    """Where tables for people go (stdout): a terminal's width, or in a pipe the full width
    of each row (rich would cut them to 80 columns); `--json` is the format for machines."""
    console = Console()
    return console if console.is_terminal else Console(width=100_000)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One line on stderr, then exit with `code`; masked like a log line, since an error can
    quote what a peer or a file said about a person."""
    click.echo(f"error: {mask_text(message)}", err=True)
    sys.exit(code)


def exit_code_for(exc: ConnectorError) -> int:
    if isinstance(exc, (ConfigError, PeerConfigurationError, BadData)):
        return EXIT_USAGE
    return EXIT_FAILED


def handle_errors(func: F) -> F:
    """Turn the connector's errors into a one-line message and a meaningful exit code."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConnectorError as exc:
            fail(str(exc), exit_code_for(exc))

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    wrapper.__dict__.update(func.__dict__)
    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="CONNECTOR_CONFIG",
    help="TOML configuration file (default: $CONNECTOR_CONFIG; optional when the environment sets every key).",
)
@click.version_option(__version__, prog_name="connector")
@click.pass_context
def root(ctx: click.Context, config_path: str | None) -> None:
    """Keep an e-shop's customers and POHODA's address book in step, both ways."""
    ctx.obj = AppContext(config_path=config_path)
    # Before any configuration is read (some commands read none): JSON lines when stderr is
    # not a terminal, as [log] format = "auto" says; the configuration refines it later.
    configure_logging(os.environ.get("CONNECTOR_LOG_LEVEL", "info"), os.environ.get("CONNECTOR_LOG_FORMAT", "auto"))


def _register_commands() -> None:
    # Imported here so that each command module can import `root` helpers without a cycle.
    from connector.cli import _commands  # noqa: F401


def main(argv: list[str] | None = None) -> None:
    _register_commands()
    try:
        root.main(args=argv, prog_name="connector", standalone_mode=True)
    except ConnectorError as exc:  # pragma: no cover - commands handle their own
        fail(str(exc), exit_code_for(exc))
