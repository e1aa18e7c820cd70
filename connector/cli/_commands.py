"""Imports every command module so that each attaches its commands to the root group."""

import connector.cli._reconcile  # noqa: F401
from connector.cli import _audit, _demo, _duplicates, _pohoda, _pricing, _serve, _sim, _sim_eshop, _sync  # noqa: F401
