"""Configuration: file, environment overrides, secrets only from the environment, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import load_config
from connector.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "connector.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_configuration_loads_and_documents_every_key() -> None:
    example = REPO / "config" / "connector.example.toml"
    config = load_config(example, env={})
    assert config.pohoda.url == "http://pohoda.example.internal:444"
    assert config.sync.create_mode == "sync"
    text = example.read_text(encoding="utf-8")
    from typing import get_type_hints

    from connector.config import _SECTIONS

    for section, cls in _SECTIONS.items():
        for key in get_type_hints(cls):
            assert f"{key} =" in text, f"[{section}] {key} is not documented in the example"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[pohoda]\nurl = "http://file:444"\nbatch_size = 50\n')
    config = load_config(path, env={"CONNECTOR_POHODA_URL": "http://env:444", "CONNECTOR_POHODA_BATCH_SIZE": "20"})
    assert config.pohoda.url == "http://env:444"
    assert config.pohoda.batch_size == 20


def test_file_is_optional_when_the_environment_gives_every_required_key() -> None:
    env = {
        "CONNECTOR_POHODA_URL": "http://env:444",
        "CONNECTOR_POHODA_USER": "admin",
        "CONNECTOR_POHODA_ICO": "12345678",
        "CONNECTOR_POHODA_PASSWORD": "s3cret",
    }
    config = load_config(None, env=env)
    config.require("pohoda.url", "pohoda.user", "pohoda.ico", "pohoda_password")
    assert config.secrets.pohoda_password == "s3cret"
    assert "s3cret" not in repr(config)


def test_config_path_from_environment_variable(tmp_path: Path) -> None:
    path = write(tmp_path, '[eshop]\nurl = "http://shop"\n')
    config = load_config(None, env={"CONNECTOR_CONFIG": str(path)})
    assert config.eshop.url == "http://shop"
    assert config.store_url == f"sqlite:///{(tmp_path / 'connector.db').resolve()}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[pohoda]\nbatch_size = "many"\n', "[pohoda] batch_size: must be a whole number"),
        ("[pohoda]\nbatch_size = 0\n", "[pohoda] batch_size: must be greater than 0"),
        ('[sync]\ncreate_mode = "later"\n', "[sync] create_mode: must be one of 'sync', 'async'"),
        ('[pohoda]\nurll = "x"\n', "[pohoda] unknown key 'urll'"),
        ('[pohodaa]\nurl = "x"\n', "unknown section [pohodaa]"),
        ('[pohoda]\npassword = "x"\n', "password is a secret and may not be in a file; set CONNECTOR_POHODA_PASSWORD"),
        ("[pohoda\nurl=", "not valid TOML"),
        ("[dedup]\nlink_threshold = 1.5\n", "[dedup] link_threshold: must be between 0 and 1"),
        ("[dedup]\nlink_threshold = 0.6\nreview_threshold = 0.8\n", "review_threshold (0.8) must not be above"),
    ],
)
def test_errors_name_the_file_the_key_and_the_problem(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="environment CONNECTOR_POHODA_GZIP: must be true or false"):
        load_config(None, env={"CONNECTOR_POHODA_GZIP": "maybe"})


def test_missing_required_key_and_secret(tmp_path: Path) -> None:
    path = write(tmp_path, "[pohoda]\n")
    config = load_config(path, env={})
    with pytest.raises(ConfigError, match=r"\[pohoda\] url is required .*CONNECTOR_POHODA_URL"):
        config.require("pohoda.url")
    with pytest.raises(ConfigError, match="CONNECTOR_POHODA_PASSWORD is not set"):
        config.require("pohoda_password")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_webhook_secrets_are_comma_separated() -> None:
    old, new = "old-secret-0123456789", "new-secret-0123456789"
    config = load_config(None, env={"CONNECTOR_WEBHOOK_SECRETS": f"{old}, {new} ,"})
    assert config.secrets.webhook_secrets == (old, new)


# -- issue 12, point 9: values that load but cannot work are refused at load -------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[pohoda]\nurl = "ftp://pohoda.example:444"\n', "[pohoda] url: must be an http:// or https:// URL"),
        ('[pohoda]\nurl = "not a url"\n', "[pohoda] url: must be an http:// or https:// URL"),
        ('[eshop]\nurl = "http://shop.example:99999/api"\n', "[eshop] url: the port in"),
        ('[log]\nlevel = "verbose"\n', "[log] level: must be one of debug, info, warning, error, critical"),
        ('[sync]\ndefault_region = "XX"\n', "[sync] default_region: must be a region"),
        ("[sync]\nmax_run_s = 0.5\n", "[sync] max_run_s: must be from 1 to"),
        ("[web]\nport = 99999\n", "[web] port: must be from 1 to 65535, got 99999"),
        ("[web]\nmax_body_bytes = 10\n", "[web] max_body_bytes: must be from 256 to"),
        ("[web]\nbody_timeout_s = 100000\n", "[web] body_timeout_s: must be from 0.1 to 600"),
        ("[eshop]\nbatch_size = 5000\n", "[eshop] batch_size: must be from 1 to 1000, got 5000"),
    ],
)
def test_values_that_cannot_work_are_refused_at_load(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_sane_values_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[pohoda]\nurl = "https://pohoda.example:444/"\n[log]\nlevel = "DEBUG"\n'
        '[sync]\ndefault_region = "SK"\nmax_run_s = 600\n[web]\nport = 65535\nbody_timeout_s = 2.5\n',
    )
    config = load_config(path, env={})
    assert config.sync.max_run_s == 600.0
    assert config.web.body_timeout_s == 2.5
    assert load_config(None, env={}).sync.max_run_s == 3600.0


def test_an_environment_value_is_checked_too() -> None:
    with pytest.raises(ConfigError, match="environment CONNECTOR_WEB_PORT: must be from 1 to 65535"):
        load_config(None, env={"CONNECTOR_WEB_PORT": "70000"})


@pytest.mark.parametrize("variable", ["CONNECTOR_WEBHOOK_SECRETS", "CONNECTOR_ADMIN_TOKEN"])
def test_short_secrets_are_refused(variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, env={variable: "long-enough-secret-42,x" if "SECRETS" in variable else "x"})
    assert variable in str(info.value)
    assert "at least 16 bytes" in str(info.value)
    assert "long-enough" not in str(info.value)
    load_config(None, env={variable: "0123456789abcdef"})


@pytest.mark.parametrize("where", ["under_a_file", "a_directory"])
def test_a_store_path_that_cannot_be_opened_names_store_url(tmp_path: Path, where: str) -> None:
    import os
    import subprocess
    import sys

    blocker = tmp_path / "plain-file"
    blocker.write_text("not a directory", encoding="utf-8")
    (tmp_path / "dir.db").mkdir()
    database = blocker / "sub" / "connector.db" if where == "under_a_file" else tmp_path / "dir.db"
    path = write(tmp_path, f'[store]\nurl = "sqlite:///{database}"\n')
    done = subprocess.run(
        [sys.executable, "-m", "connector", "--config", str(path), "audit", "list"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")},
    )
    assert done.returncode == 2, done.stderr
    assert "[store] url" in done.stderr
    assert str(database) in done.stderr
    assert "Traceback" not in done.stderr
