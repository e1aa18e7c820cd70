"""What installing next to an e-shop takes, as a shell script: the `connector` system
user, the store's and the log's directories, the configuration, secrets and cron files.

`connector install --print` prints it; the README's install section runs it.
"""

from __future__ import annotations

import shlex
from pathlib import Path

__all__ = ["SourceNotFound", "find_source", "install_script"]

_PACKAGE = Path(__file__).resolve().parent
# Relative to the source tree: what the script copies.
FILES = ("config/connector.example.toml", "config/connector.service", "cron.d/connector")


class SourceNotFound(Exception):
    """Neither the tree beside the package nor the given directory holds config/ and cron.d/."""


def find_source(given: Path | None = None) -> Path:
    """The source tree to copy from: `given`, else the one beside the package (an editable
    install or a clone), else the current directory (`pip install .` run in a clone)."""
    candidates = [given] if given is not None else [_PACKAGE.parent, Path.cwd()]
    for candidate in candidates:
        if all((candidate / name).is_file() for name in FILES):
            return candidate.resolve()
    where = ", ".join(str(c) for c in candidates)
    raise SourceNotFound(f"no {', '.join(FILES)} in {where}: run it in the connector's clone, or give --source")


def install_script(source: Path, *, root: str = "", user: str = "connector") -> str:
    """A POSIX sh script that sets the connector up; `root` stages it under a directory
    (no user is created and nothing is chowned there: a package does that)."""
    staged = bool(root)
    q = shlex.quote

    def at(path: str) -> str:
        return q(f"{root.rstrip('/')}{path}")

    def own(owner: str, group: str) -> str:
        return "" if staged else f" -o {owner} -g {group}"

    src = {name: q(str(source / name)) for name in FILES}
    lines = [
        "#!/bin/sh",
        f"# connector: its system user, directories and files (copied from {source}). Run as root.",
        "set -eu",
    ]
    if not staged:
        lines += [
            "# The user cron's line and the systemd unit run as; it owns the store and the log.",
            f"id -u {q(user)} >/dev/null 2>&1 || useradd --system --user-group --home-dir /var/lib/connector "
            f"--shell /usr/sbin/nologin {q(user)}",
        ]
    lines += [
        f"install -d -m 0755 {at('/etc/connector')} {at('/etc/cron.d')} {at('/etc/systemd/system')}",
        "# The store: [store] url = \"sqlite:////var/lib/connector/connector.db\" (SQLite writes -wal and -shm",
        "# files beside it, so the directory itself must be writable).",
        f"install -d -m 0750{own(user, user)} {at('/var/lib/connector')}",
        "# Where cron's line appends the sync's log (>> /var/log/connector/sync.log).",
        f"install -d -m 0750{own(user, user)} {at('/var/log/connector')}",
        "# The configuration (fill in the URLs, the user and the IČO) and the secrets, one NAME=value",
        "# a line: readable by the connector's group (cron's line sources it as that user), by no one else.",
        f"[ -e {at('/etc/connector/connector.toml')} ] || install -m 0640{own('root', user)} "
        f"{src['config/connector.example.toml']} {at('/etc/connector/connector.toml')}",
        f"[ -e {at('/etc/connector/secrets.env')} ] || install -m 0640{own('root', user)} /dev/null "
        f"{at('/etc/connector/secrets.env')}",
        "# cron runs `connector sync` every five minutes; the unit runs `connector serve` (webhooks).",
        f"install -m 0644 {src['cron.d/connector']} {at('/etc/cron.d/connector')}",
        f"install -m 0644 {src['config/connector.service']} {at('/etc/systemd/system/connector.service')}",
    ]
    return "\n".join(lines) + "\n"
