"""Fixtures shared by every test module: the official POHODA XSDs, loopback servers and
the store's backends (SQLite always; PostgreSQL where CONNECTOR_TEST_POSTGRES_URL names one)."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager as contextlib_contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
OFFICIAL_XSD_DIR = REPO.parent / "shared" / "pohoda-xsd"


# httpx's shortcuts (`httpx.get`, `httpx.post`, ...) build a client, and with it a TLS context
# that loads the CA bundle, on every call: 30-200 ms each on this machine, though every URL the
# tests and `connector.sim.Sandbox` reach that way is plain http:// on loopback. A scenario test
# makes hundreds of such calls (each registration, each /_sim read). The test process shares one
# context instead, as connector.transport does for the connector's own clients; nothing of what
# a request sends or receives changes.
_HTTPX_SHORTCUTS = ("request", "get", "post", "put", "patch", "delete", "head", "options", "stream")


def _with_shared_tls_context(shortcut: Callable[..., Any], context: Any) -> Callable[..., Any]:
    @functools.wraps(shortcut)
    def call(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("verify", context)
        return shortcut(*args, **kwargs)

    return call


@pytest.fixture(scope="session", autouse=True)
def _httpx_shortcuts_share_one_tls_context() -> Iterator[None]:
    from connector.transport import tls_context  # the connector's own clients share it too

    context = tls_context()
    with pytest.MonkeyPatch.context() as patch:
        for name in _HTTPX_SHORTCUTS:
            patch.setattr(httpx, name, _with_shared_tls_context(getattr(httpx, name), context))
        yield


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


# A PostgreSQL server for the store's tests (.ci/run starts one): a URL whose user may create
# schemas, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/connector_test.
POSTGRES_ENV = "CONNECTOR_TEST_POSTGRES_URL"
# What connector.sim.Sandbox builds its configuration's store URL from.
SANDBOX_STORE_ENV = "CONNECTOR_SANDBOX_STORE_URL"


def postgres_url_or_skip() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"no PostgreSQL server: set {POSTGRES_ENV} (.ci/run starts one) to run the PostgreSQL cases")
    return url


@contextlib_contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A fresh schema in the test database, and a store URL whose search_path is that schema:
    each test (and each xdist worker) has its own tables and run locks, dropped after."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in base_url else "?"
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            # Sessions a killed test left behind must not keep the schema's locks.
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The store's URL, once per backend; every Sandbox the test builds uses that backend
    too, each with a store of its own (a file in its directory, a schema of its own)."""
    if request.param == "sqlite":
        (tmp_path / "store").mkdir(exist_ok=True)  # the store creates no directory itself
        # Each Sandbox keeps its SQLite file in its own directory (several per test are apart).
        monkeypatch.delenv(SANDBOX_STORE_ENV, raising=False)
        yield f"sqlite:///{tmp_path / 'store' / 'connector.db'}"
        return
    base = postgres_url_or_skip()
    # Each Sandbox makes its own schema in that database; the test's own store is another.
    monkeypatch.setenv(SANDBOX_STORE_ENV, base)
    with postgres_schema(base) as url:
        yield url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long scenarios first: xdist hands tests out in this order, so the last ones to run
    are short and both workers finish together, instead of one running a minute-long crash
    scenario while the other waits. A stable sort: every worker collects the same order."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
