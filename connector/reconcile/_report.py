"""The reconcile report in three forms: text for people, JSON for machines, and one
self-contained HTML file a merchant opens offline.

Text and JSON carry ids, kinds and field names only; the HTML file alone shows the records'
values (personal data), because it is the merchant's own copy, never a log.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

from connector.reconcile._compare import KINDS, Comparison
from connector.reconcile._run import ReconcileResult

REPORT_FORMATS = ("text", "json", "html")


def report_data(result: ReconcileResult) -> dict[str, Any]:
    """The report as plain data (what the JSON form prints): no personal data."""
    comparison = result.comparison
    return {
        "agreed": comparison.agreed,
        "exit_code": result.exit_code,
        "summary": _summary(comparison),
        "counts": comparison.counts(),
        "differences": [finding.to_dict() for finding in comparison.findings],
        "fix": result.fix.to_dict() if result.fix is not None else None,
    }


def _summary(comparison: Comparison) -> dict[str, Any]:
    return {
        "pohoda_read": comparison.reads["pohoda"].records,
        "eshop_read": comparison.reads["eshop"].records,
        "pohoda_complete": comparison.reads["pohoda"].complete,
        "eshop_complete": comparison.reads["eshop"].complete,
        "read_errors": {side: read.error for side, read in comparison.reads.items() if read.error},
        "linked": comparison.linked,
        "agree": comparison.agree,
        "differences": len(comparison.findings),
        "withheld": comparison.withheld,
        "pohoda_only_kept": comparison.pohoda_only_kept,
        "seconds": comparison.seconds,
    }


def render(result: ReconcileResult, form: str) -> str:
    if form == "json":
        return json.dumps(report_data(result), ensure_ascii=False, indent=2) + "\n"
    if form == "html":
        return render_html(result)
    if form == "text":
        return render_text(result)
    raise ValueError(f"unknown report form {form!r} (one of {', '.join(REPORT_FORMATS)})")


# -- text -------------------------------------------------------------------------------


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        lines.append(
            "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
        )
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def render_text(result: ReconcileResult) -> str:
    comparison = result.comparison
    summary = _summary(comparison)
    lines = ["connector reconcile", ""]
    rows: list[tuple[str, ...]] = [("", "count")]
    rows += [
        ("POHODA records read", str(summary["pohoda_read"]) + ("" if summary["pohoda_complete"] else " (incomplete)")),
        ("e-shop records read", str(summary["eshop_read"]) + ("" if summary["eshop_complete"] else " (incomplete)")),
        ("links compared", str(summary["linked"])),
        ("agree", str(summary["agree"])),
    ]
    rows += [(kind.replace("_", " "), str(count)) for kind, count in comparison.counts().items()]
    lines += _table(rows)
    for side, error in summary["read_errors"].items():
        lines.append(f"! {side} was not read to its end ({error}); absences on it are not reported")
    if comparison.withheld:
        lines.append(f"! {comparison.withheld} finding(s) withheld: they rest on a side not read to its end")
    if summary["pohoda_only_kept"]:
        lines.append(
            f"({summary['pohoda_only_kept']} POHODA contact(s) without an e-mail stay in POHODA only, "
            "as the policy says)"
        )
    lines.append("")
    if comparison.findings:
        lines.append("Differences")
        rows = [("kind", "e-shop id", "POHODA id", "fields", "changed on", "note")]
        for finding in comparison.findings:
            rows.append(
                (
                    finding.kind,
                    finding.eshop_id or "-",
                    finding.pohoda_id or "-",
                    ",".join(finding.fields) or "-",
                    finding.changed_on or "-",
                    finding.note or "-",
                )
            )
        lines += _table(rows)
    else:
        lines.append("Both address books agree." if comparison.complete else "No differences among what was read.")
    if result.fix is not None:
        fix = result.fix
        lines += [
            "",
            f"Fixed (run {fix.run_id}): {sum(fix.planned.values())} operation(s) queued, "
            f"{sum(fix.delivered.values())} delivered, {fix.refused} refused, {fix.conflicts} conflict(s), "
            f"{fix.reviews} for a person (connector review), {fix.links_marked} link(s) marked",
        ]
        for side, error in fix.peer_errors.items():
            lines.append(f"! {side}: {error}")
    return "\n".join(lines) + "\n"


# -- HTML -------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1d2330;background:#fafbfc}
h1{font-size:1.5rem;margin:0 0 .3rem}h2{font-size:1.15rem;margin:2rem 0 .5rem}
.meta{color:#5b6475;margin-bottom:1.2rem}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0001}
th,td{border:1px solid #dde1e8;padding:.3rem .6rem;text-align:left;vertical-align:top;font-size:.9rem}
th{background:#eef1f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1c7a3a}.bad{color:#b3261e}.warn{color:#8a5a00}
input[type=search]{font-size:1rem;padding:.4rem .6rem;width:24rem;margin:.5rem 0 1rem}
details{margin:.4rem 0}summary{cursor:pointer;font-weight:600}
.vals{font-size:.82rem;color:#3a4254}.vals b{color:#1d2330}
"""

_SCRIPT = """
(function(){
  var box=document.getElementById('search');
  function filter(){
    var q=box.value.toLowerCase(),shown=0;
    document.querySelectorAll('tr.finding').forEach(function(tr){
      var hit=!q||tr.textContent.toLowerCase().indexOf(q)>=0;
      tr.style.display=hit?'':'none'; if(hit){shown++;}
    });
    document.getElementById('shown').textContent=shown;
  }
  box.addEventListener('input',filter);
  // report.html#search=… opens with that search (a link to share within the office).
  var m=location.hash.match(/^#search=(.*)$/);
  if(m){box.value=decodeURIComponent(m[1]);filter();}
})();
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _values(values: Mapping[str, Any]) -> str:
    parts = []
    for side, label in (("eshop", "e-shop"), ("pohoda", "POHODA"), ("base", "last synced")):
        content = values.get(side)
        if not content:
            continue
        shown = "; ".join(
            f"{_e(field)}: {_e(json.dumps(value, ensure_ascii=False))}" for field, value in content.items()
        )
        parts.append(f"<div><b>{label}</b> {shown}</div>")
    return f'<div class="vals">{"".join(parts)}</div>' if parts else ""


def render_html(result: ReconcileResult) -> str:
    """One file, no external resources: summary counts, the differences grouped by kind,
    a search box (a few lines of inline JS) and, per difference, the records' values."""
    comparison = result.comparison
    summary = _summary(comparison)
    counts = comparison.counts()
    state = (
        '<span class="ok">Both address books agree.</span>'
        if comparison.agreed
        else (f'<span class="bad">{len(comparison.findings)} difference(s).</span>')
    )
    head = [
        ("POHODA records read", "pohoda_read", summary["pohoda_read"]),
        ("e-shop records read", "eshop_read", summary["eshop_read"]),
        ("links compared", "linked", summary["linked"]),
        ("agree", "agree", summary["agree"]),
        ("differences", "differences", summary["differences"]),
    ]
    rows = [f'<tr><th>{_e(label)}</th><td class="n" id="count-{key}">{value}</td></tr>' for label, key, value in head]
    rows += [
        f'<tr><th>{_e(kind.replace("_", " "))}</th><td class="n" id="count-{kind}">{counts[kind]}</td></tr>'
        for kind in KINDS
    ]
    warnings = [
        f'<p class="warn">{_e(side)} was not read to its end ({_e(error)}); absences on it are not reported.</p>'
        for side, error in summary["read_errors"].items()
    ]
    groups = []
    for kind, repair in KINDS.items():
        found = [f for f in comparison.findings if f.kind == kind]
        if not found:
            continue
        body = "".join(
            f'<tr class="finding" data-kind="{_e(kind)}"><td>{_e(f.eshop_id or "-")}</td>'
            f"<td>{_e(f.pohoda_id or '-')}</td>"
            f"<td>{_e(', '.join(f.fields) or '-')}</td><td>{_e(f.changed_on or '-')}</td>"
            f"<td>{_e(f.note)}{_values(f.values)}</td></tr>"
            for f in found
        )
        groups.append(
            f'<details open id="kind-{_e(kind)}"><summary>{_e(kind.replace("_", " "))} ({len(found)}) — '
            f"<small>--fix: {_e(repair)}</small></summary>"
            "<table><thead><tr><th>e-shop id</th><th>POHODA id</th><th>fields</th><th>changed on</th>"
            f"<th>details</th></tr></thead><tbody>{body}</tbody></table></details>"
        )
    fixed = ""
    if result.fix is not None:
        fix = result.fix
        fixed = (
            f"<h2>Repairs</h2><p id='fix'>Run {_e(fix.run_id)}: {sum(fix.planned.values())} operation(s) queued, "
            f"{sum(fix.delivered.values())} delivered, {fix.refused} refused, {fix.reviews} for a person.</p>"
        )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>connector reconcile report</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>connector reconcile</h1>"
        f"<div class='meta'>{state} Read in {summary['seconds']} s. This file holds customers' personal data: "
        "keep it as you keep the address book.</div>"
        f"<h2>Summary</h2><table id='summary'>{''.join(rows)}</table>{''.join(warnings)}"
        f"{fixed}<h2>Differences</h2>"
        "<input type='search' id='search' placeholder='Search ids, fields, names, e-mails…' aria-label='search'>"
        f" <span id='shown'>{len(comparison.findings)}</span> shown"
        f"{''.join(groups) or '<p>None.</p>'}"
        f"<script>{_SCRIPT}</script></body></html>\n"
    )
