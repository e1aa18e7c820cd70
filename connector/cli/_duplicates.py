"""`connector duplicates find`: batch deduplication of a JSON-lines file or a stored snapshot.

A thin layer over `connector.dedup.find_duplicates`; clusters go out as JSON lines.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import IO, TypedDict

import click

from connector.cli._main import AppContext, fail, handle_errors, root
from connector.dedup import Cluster, find_duplicates, find_duplicates_in_file
from connector.errors import InvalidContact
from connector.model import Contact, numbered_jsonl
from connector.store import Store


@root.group("duplicates")
def duplicates() -> None:
    """Find customers recorded more than once."""


# What the simulators' /_sim/contacts (and the sandbox's shop boxes) print beside a contact:
# the account's link to POHODA, not the contact's data. Read past, not refused.
ACCOUNT_KEYS = ("hq_id", "sync_state")


def _from_file(stream: IO[str], counted: list[int]) -> Iterator[tuple[str, Contact]]:
    """A stream's contacts, as `find_duplicates_in_file` reads a file's (ids, errors)."""
    seen: set[str] = set()
    for number, contact in numbered_jsonl(stream, ignore=ACCOUNT_KEYS):
        counted[0] += 1
        record_id = contact.id or f"line {number}"
        if record_id in seen:
            raise InvalidContact(f"line {number}: id {record_id!r} appears twice", record=record_id, field="id")
        seen.add(record_id)
        yield record_id, contact


def _from_store(store_url: str, side: str, counted: list[int]) -> Iterator[tuple[str, Contact]]:
    with Store.open(store_url) as store:
        records = sorted(store.mirror_of(side).items())
    for record_id, record in records:
        if not record.deleted:
            counted[0] += 1
            yield record_id, Contact.from_dict(record.content, record=record_id)


class _Options(TypedDict):
    region: str
    link_threshold: float
    review_threshold: float
    email_provider_rules: bool
    review: bool


@duplicates.command("find")
@click.option("--input", "input_file", type=click.File("r", encoding="utf-8"), help="Contacts, one JSON per line.")
@click.option(
    "--side",
    type=click.Choice(["eshop", "pohoda"]),
    help="Read this side's stored snapshot instead of a file.",
)
@click.option(
    "--output",
    "output_file",
    type=click.File("w", encoding="utf-8"),
    default="-",
    show_default=True,
    help="Clusters, one JSON object per line.",
)
@click.option("--review", is_flag=True, help="Also write the pairs a person should look at (band review).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes that read and compare a large input file at once.  [default: the cores available]",
)
@click.pass_obj
@handle_errors
def find(
    app: AppContext,
    input_file: IO[str] | None,
    side: str | None,
    output_file: IO[str],
    review: bool,
    workers: int | None,
) -> None:
    """Cluster the records that are one customer: {"ids": [...], "score": s, "band": "link"|"review"}."""
    if (input_file is None) == (side is None):
        fail("give exactly one of --input FILE or --side eshop|pohoda")
    config = app.config() if input_file is not None else app.stored_config()
    options: _Options = {
        "region": config.sync.default_region,
        "link_threshold": config.dedup.link_threshold,
        "review_threshold": config.dedup.review_threshold,
        "email_provider_rules": config.dedup.email_provider_rules,
        "review": review,
    }
    counted = [0]
    started = time.perf_counter()
    path = getattr(input_file, "name", None)
    if input_file is not None and isinstance(path, str) and os.path.isfile(path):
        # A file on disk is cut into parts that several processes read and compare.
        input_file.close()
        source = path
        clusters, counted[0] = find_duplicates_in_file(path, workers=workers, ignore=ACCOUNT_KEYS, **options)
    else:
        if input_file is not None:
            records = _from_file(input_file, counted)
            source = path if isinstance(path, str) else "the input"
        else:
            records = _from_store(config.store_url, side or "", counted)
            source = f"the store's snapshot of {'POHODA' if side == 'pohoda' else 'the e-shop'}"
        clusters = find_duplicates(records, workers=workers or 1, **options)
    clusters.sort(key=_order)
    for cluster in clusters:
        output_file.write(json.dumps(cluster.to_dict(), ensure_ascii=False) + "\n")
    linked = [c for c in clusters if c.band == "link"]
    read = f"{counted[0]} record(s) read from {source}"
    if counted[0] == 0 and input_file is None:
        read += " (empty: a `connector sync` fills it)"
    click.echo(read, err=True)
    click.echo(
        f"{len(linked)} clusters of one customer ({sum(len(c.ids) for c in linked)} records)"
        + (f", {len(clusters) - len(linked)} pairs for review" if review else "")
        + f" in {time.perf_counter() - started:.1f} s",
        err=True,
    )


def _order(cluster: Cluster) -> tuple[bool, float, tuple[str, ...]]:
    return cluster.band != "link", -cluster.score, cluster.ids
