"""Where the project's own XSDs live (`schemas/` at the top of the source tree).

A wheel carries the same files as `connector/_schemas` (a link to `schemas/` in the tree).
"""

from __future__ import annotations

import os
from pathlib import Path

SCHEMAS_ENV = "CONNECTOR_SCHEMAS_DIR"
_PACKAGE = Path(__file__).resolve().parent


def schemas_dir() -> Path:
    """$CONNECTOR_SCHEMAS_DIR, else `schemas/` of the source tree, else the installed copy."""
    override = os.environ.get(SCHEMAS_ENV)
    if override:
        return Path(override)
    tree = _PACKAGE.parent / "schemas"
    if tree.is_dir():
        return tree
    return _PACKAGE / "_schemas"
