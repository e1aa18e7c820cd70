"""Imports every command module so that each attaches its commands to the root group."""

import importlib

# Each module registers its commands on `root` when imported; a wing that is not present
# in this build (e.g. during development) is skipped.
for _name in ("_pohoda", "_sim", "_pricing"):
    try:
        importlib.import_module(f"connector.cli.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"connector.cli.{_name}":
            raise
