"""The HTML reconcile report opens in a real browser (headless Chromium): it renders, its
summary counts are in the DOM, and its search box filters the differences.

Skipped, with the reason, where Chromium is not installed (CI installs it: `.ci/run`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from reconcile_seed import apply_to, divergence

from connector.reconcile import KINDS, reconcile, render
from connector.runtime import Runtime
from connector.sim.sandbox import Sandbox

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium); the HTML report is not opened"
)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_html_report_opens_offline_with_its_counts(tmp_path: Path) -> None:
    seeded = divergence(400)
    box = Sandbox(tmp_path / "box", pohoda_seed=seeded.pohoda_seed, eshop_seed=seeded.eshop_seed)
    with box, Runtime(box.config) as runtime:
        apply_to(box, runtime.store, seeded)
        result = reconcile(runtime)
    page = tmp_path / "report.html"
    page.write_text(render(result, "html"), encoding="utf-8")
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), "the report loads nothing from the network"

    shot = tmp_path / "report.png"
    taken = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri())
    assert shot.is_file() and shot.stat().st_size > 10_000, taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    counts = dict(re.findall(r'id="count-(\w+)"[^>]*>(\d+)<', dom))
    expected = {kind: str(seeded.expected.get(kind, 0)) for kind in KINDS}
    assert {kind: counts[kind] for kind in KINDS} == expected
    assert counts["differences"] == str(sum(seeded.expected.values()))
    assert counts["pohoda_read"] == str(len(seeded.pohoda_seed) - len(seeded.deleted_in_pohoda))
    assert dom.count('class="finding"') == sum(seeded.expected.values())
    # The differences are grouped by kind, each group named by its kind.
    assert all(f'id="kind-{kind}"' in dom for kind in seeded.expected)

    # The search box filters in the page itself (a few lines of inline JS).
    one = next(f for f in result.comparison.findings if f.kind == "field_difference")
    assert one.eshop_id is not None
    searched = chromium(tmp_path, "--dump-dom", f"{page.as_uri()}#search={one.eshop_id}").stdout
    assert re.search(r'id="shown">1<', searched), "searching one id shows its one difference"
