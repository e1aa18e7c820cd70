"""The full comparison of both address books (`connector reconcile`): compare, report, repair.

`compare` streams both sides through the links and the last synced versions; `reconcile`
adds the repairs through the outbox; `render` writes the report as text, JSON or HTML.
"""

from connector.codec import fingerprint
from connector.reconcile._compare import (
    KINDS,
    Comparison,
    Finding,
    ReadProgress,
    SideRead,
    compare,
)
from connector.reconcile._fix import FixOutcome, repair_plan
from connector.reconcile._report import REPORT_FORMATS, render, render_html, render_text, report_data
from connector.reconcile._run import ReconcileResult, reconcile, run_reconcile

__all__ = [
    "KINDS",
    "REPORT_FORMATS",
    "Comparison",
    "Finding",
    "FixOutcome",
    "ReadProgress",
    "ReconcileResult",
    "SideRead",
    "compare",
    "fingerprint",
    "reconcile",
    "render",
    "render_html",
    "render_text",
    "repair_plan",
    "report_data",
    "run_reconcile",
]
