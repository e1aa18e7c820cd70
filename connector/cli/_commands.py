"""Imports every command module so that each attaches its commands to the root group."""

from connector.cli import (  # noqa: F401
    _audit,
    _check,
    _demo,
    _duplicates,
    _install,
    _pohoda,
    _pricing,
    _reconcile,
    _serve,
    _sim,
    _sim_eshop,
    _sync,
)
