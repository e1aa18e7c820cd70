"""The layers stay apart: what each package may import, and what importing it loads.

The data flow (DESIGN.md) runs model -> codec -> transport -> peers -> plan -> store ->
sync -> runtime/actions -> web/cli; a lower layer never imports a higher one, and no
module reaches into another package's private (`_`) module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import connector

ROOT = Path(connector.__file__).parent

# package -> packages (first component below connector) it must never import
FORBIDDEN: dict[str, set[str]] = {
    "model": {"codec", "transport", "peers", "plan", "store", "sync", "runtime", "actions", "web", "cli", "sim"},
    "codec": {"transport", "peers", "plan", "store", "sync", "runtime", "actions", "web", "cli", "sim"},
    "transport": {"codec", "peers", "plan", "store", "sync", "runtime", "actions", "web", "cli", "sim"},
    "dedup": {"codec", "transport", "peers", "plan", "store", "sync", "runtime", "actions", "web", "cli", "sim"},
    "peers": {"plan", "store", "sync", "runtime", "actions", "web", "cli", "sim"},
    "plan": {"store", "sync", "runtime", "actions", "web", "cli", "sim", "transport"},
    "store": {"peers", "plan", "sync", "runtime", "actions", "web", "cli", "sim"},
    "sync": {"runtime", "actions", "web", "cli", "sim"},
    "web": {"cli", "sim"},
    "pricing": {"sync", "plan", "peers", "web", "cli", "sim"},
    "mail": {"plan", "store", "sync", "runtime", "actions", "web", "cli", "sim"},
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return [name for name in found if name == "connector" or name.startswith("connector.")]


def _package_of(path: Path) -> str:
    relative = path.relative_to(ROOT)
    return relative.parts[0].removesuffix(".py") if len(relative.parts) > 1 else relative.stem


def _modules() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def test_no_module_imports_another_packages_private_module() -> None:
    offences = []
    for path in _modules():
        own = _package_of(path)
        for name in _imports(path):
            parts = name.split(".")
            if len(parts) >= 3 and parts[2].startswith("_") and parts[1] != own:
                offences.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offences == []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_package_imports_a_layer_above_it(package: str) -> None:
    offences = []
    for path in _modules():
        if _package_of(path) != package:
            continue
        for name in _imports(path):
            parts = name.split(".")
            if len(parts) >= 2 and parts[1] in FORBIDDEN[package]:
                offences.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offences == []


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_the_web_server_loads_neither_click_nor_rich() -> None:
    loaded = _loaded_after("import connector.web")
    assert "click" not in loaded and "rich" not in loaded


def test_the_planner_loads_no_sqlalchemy() -> None:
    for module in ("connector.plan._plan", "connector.plan"):
        assert "sqlalchemy" not in _loaded_after(f"import {module}"), module
