"""`connector demo`: the whole mirror against both simulators, on a throwaway SQLite store.

Seeds an e-shop and a POHODA that grew apart (shared customers written differently,
contacts only in POHODA), runs the sync twice, and checks that both sides converged.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connector.actions import run_sync
from connector.model import CONTACT_FIELDS, Contact
from connector.runtime import Runtime
from connector.sim.generate import generate_contacts
from connector.sim.sandbox import PrestaShopBox, Sandbox
from connector.sync import RunSummary

MAPPED = [f for f in CONTACT_FIELDS if f not in ("id", "ext_id")]


@dataclasses.dataclass
class DemoReport:
    runs: list[RunSummary]
    eshop_customers: int
    pohoda_contacts: int
    linked: int
    pohoda_only: int
    differences: list[str]
    duplicates: int
    welcome_emails: int
    seconds: float

    @property
    def converged(self) -> bool:
        return not self.differences and self.duplicates == 0


def demo_data(seed: int = 2026) -> tuple[list[Contact], list[Contact]]:
    """(e-shop customers, POHODA contacts): 12 shared people written differently, 25 e-shop
    only, 15 POHODA only of which 5 without an e-mail (they stay in POHODA)."""
    rng = random.Random(seed)
    shared = list(generate_contacts(12, seed=seed, start=0))
    eshop_only = list(generate_contacts(25, seed=seed + 1, start=100))
    pohoda_only = list(generate_contacts(15, seed=seed + 2, start=200))
    eshop = [*shared, *eshop_only]
    pohoda: list[Contact] = []
    for contact in shared:
        # The same person as POHODA has them: e-mail in capitals, phone without spaces or prefix.
        twin = contact.replace(
            email=(contact.email or "").upper() if rng.random() < 0.5 else contact.email,
            phone=(contact.phone or "").replace(" ", ""),
            note="Zákazník z prodejny",
        )
        pohoda.append(twin)
    for number, contact in enumerate(pohoda_only):
        pohoda.append(contact.replace(email=None) if number % 3 == 0 else contact)
    return eshop, pohoda


def run_demo(
    directory: Path, *, on_run: Callable[[int, RunSummary], None] | None = None, platform: str = "connector"
) -> DemoReport:
    """`platform` is a sandbox platform name (`connector.sim.sandbox.SHOP_BOXES`)."""
    started = time.monotonic()
    eshop_seed, pohoda_seed = demo_data()
    fields = MAPPED
    if platform.startswith("prestashop"):
        # PrestaShop holds no notes, birth dates, groups or consents, one VAT number, and
        # delivery addresses without flags: the two sides are compared on what it holds.
        fields = PRESTASHOP_HELD
    with Sandbox(directory, eshop_seed=eshop_seed, pohoda_seed=pohoda_seed, platform=platform) as box:
        runs = []
        for number in (1, 2):
            summary = run_sync(box.config)
            runs.append(summary)
            if on_run is not None:
                on_run(number, summary)
        eshop, pohoda = box.eshop_contacts(), box.pohoda_contacts()
        # The platform's own welcome e-mails, or (PrestaShop sends none) the connector's.
        welcome = len(box.notifications()) + len(box.shop.mails() if isinstance(box.shop, PrestaShopBox) else [])
        with Runtime(box.config, parts=("shop",)) as runtime:
            # A platform that cannot hold every field is compared on what it holds.
            held = getattr(runtime.shop, "storable_content", None)
    if platform.startswith("prestashop"):
        # The shop keeps no POHODA id: the pair is POHODA's extId (the shop's id).
        hq_of = {row["ext_id"]: row["id"] for row in pohoda if row.get("ext_id")}
        eshop = [{**row, "hq_id": hq_of.get(row["id"])} for row in eshop]
    return _compare(runs, eshop, pohoda, welcome, time.monotonic() - started, fields=fields, held=held)


PRESTASHOP_HELD = ["company", "name", "email", "phone", "mobile", "street", "city", "zip", "country", "ico", "dic"]


def _compare(
    runs: list[RunSummary],
    eshop: list[dict[str, Any]],
    pohoda: list[dict[str, Any]],
    welcome: int,
    seconds: float,
    *,
    fields: list[str] = MAPPED,
    held: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> DemoReport:
    pohoda_by_id = {row["id"]: row for row in pohoda}
    # A platform without a field for POHODA's id (Shoptet) is paired by POHODA's extId.
    pohoda_by_ext = {row["ext_id"]: row for row in pohoda if row.get("ext_id")}
    differences: list[str] = []
    linked = 0
    for customer in eshop:
        twin = pohoda_by_id.get(customer.get("hq_id") or "") or pohoda_by_ext.get(customer["id"])
        if twin is not None and held is not None:
            shown = held({f: twin[f] for f in MAPPED})
            twin = {**twin, **shown}
        if twin is None:
            differences.append(f"e-shop customer {customer['id']} has no POHODA contact")
            continue
        linked += 1
        for field in fields:
            if customer[field] != twin[field]:
                differences.append(f"e-shop {customer['id']} / POHODA {twin['id']}: {field} differs")
    emails = [str(row["email"]).casefold() for row in eshop if row.get("email")]
    duplicates = len(emails) - len(set(emails))
    ext_ids = [row["ext_id"] for row in pohoda if row.get("ext_id")]
    duplicates += len(ext_ids) - len(set(ext_ids))
    return DemoReport(
        runs=runs,
        eshop_customers=len(eshop),
        pohoda_contacts=len(pohoda),
        linked=linked,
        pohoda_only=len(pohoda) - linked,
        differences=differences,
        duplicates=duplicates,
        welcome_emails=welcome,
        seconds=round(seconds, 2),
    )
