"""Each package names its public surface in `__all__`, and holds to it (as httpx does)."""

from __future__ import annotations

import importlib
import types

import pytest

PACKAGES = [
    "connector.actions",
    "connector.codec",
    "connector.dedup",
    "connector.mail",
    "connector.model",
    "connector.peers",
    "connector.plan",
    "connector.pricing",
    "connector.runtime",
    "connector.sim",
    "connector.store",
    "connector.sync",
    "connector.web",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_the_public_surface(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert sorted(exported) == sorted(set(exported)), f"{name}.__all__ repeats a name"
    missing = [member for member in exported if not hasattr(module, member)]
    assert missing == []
    public = {
        member
        for member, value in vars(module).items()
        if not member.startswith("_")
        and not isinstance(value, types.ModuleType)  # submodules show up once imported
        and hasattr(value, "__module__")  # a class or a function (constants are not traceable)
        and value.__module__.startswith(name)  # defined in this package, not imported for use
    }
    assert public <= set(exported), f"public in {name} but not in __all__: {sorted(public - set(exported))}"
