"""Imports every command module so that each attaches its commands to the root group."""

from connector.cli import _audit, _check, _demo, _install, _duplicates, _pohoda, _pricing, _serve, _sim, _sim_eshop, _sync  # noqa: F401
