"""Fixtures shared by every test module: the official POHODA XSDs and loopback servers."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
OFFICIAL_XSD_DIR = REPO.parent / "shared" / "pohoda-xsd"


@pytest.fixture(scope="session")
def official_xsd_dir() -> Path:
    """STORMWARE's official XSDs from ../shared/pohoda-xsd; the test skips where it is absent."""
    if not (OFFICIAL_XSD_DIR / "data.xsd").is_file():
        pytest.skip(f"STORMWARE's XSDs are not at {OFFICIAL_XSD_DIR} (a clone outside CI); conformance not checked")
    return OFFICIAL_XSD_DIR


@pytest.fixture(scope="session")
def sim_schema_dir() -> Path | None:
    """The XSDs the POHODA simulator checks incoming dataPacks against: STORMWARE's where
    ../shared is present (CI), else the project's own schemas/pohoda (the test still runs)."""
    return OFFICIAL_XSD_DIR if (OFFICIAL_XSD_DIR / "data.xsd").is_file() else None
