"""Where the project's own XSDs live (`schemas/` at the top of the source tree)."""

from __future__ import annotations

import os
from pathlib import Path

SCHEMAS_ENV = "CONNECTOR_SCHEMAS_DIR"


def schemas_dir() -> Path:
    """The `schemas/` folder: $CONNECTOR_SCHEMAS_DIR, else the one beside the package."""
    override = os.environ.get(SCHEMAS_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "schemas"
