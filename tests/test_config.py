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
    config = load_config(None, env={"CONNECTOR_WEBHOOK_SECRETS": "old, new ,"})
    assert config.secrets.webhook_secrets == ("old", "new")
