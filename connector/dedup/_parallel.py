"""A batch read from a JSON-lines file by several processes at once.

The file is cut at line ends into a few parts per process. Each part is parsed, normalized
and keyed in a forked process, which sends back only what the batch keeps: ids, the packed
features and the sorted key entries. The candidate pairs are then compared in
parallel too (`BatchInput.clusters`). The clusters are those of `find_duplicates` over the
same records, in one process or many.
"""

from __future__ import annotations

import io
import itertools
import os
from array import array
from collections.abc import Collection
from dataclasses import dataclass

from connector.dedup._engine import (
    DEFAULT_BLOCK_CAP,
    PARALLEL_MIN_RECORDS,
    BatchInput,
    Cluster,
    part_entries,
    without_cyclic_gc,
)
from connector.dedup._features import Features, blocking_keys, prepare
from connector.dedup._fork import available_cpus, in_parts
from connector.dedup._model import MatchModel
from connector.errors import InvalidContact
from connector.model import numbered_jsonl

# A file smaller than this (some 20,000 contacts) is read in one process.
_PARALLEL_MIN_BYTES = PARALLEL_MIN_RECORDS * 250
# Parts per process: each process takes the next part when done with one, so that a process
# on a core shared with another program reads fewer.
_PARTS_PER_WORKER = 4
_BLOCK = 1 << 20  # bytes read at a time while the file is cut into parts


@dataclass(frozen=True)
class _Part:
    """What one reader sends back: ids ("" where a record has none), line numbers, packed
    features, sorted key entries (slots from 0), or the error that stopped it."""

    ids: list[str]
    lines: array[int]
    packed: list[str]
    entries: array[int]
    error: tuple[str, str | None, str | None] | None = None


@dataclass(frozen=True)
class _Reading:
    path: str
    bounds: list[tuple[int, int, int]]  # (first byte, end byte, first line) per part
    region: str
    email_provider_rules: bool
    ignore: Collection[str]


_READING: list[_Reading] = []  # what a forked reader reads: set just before the fork


def _read_part(part: int, _parts: int) -> _Part:
    reading = _READING[0]
    start, end, first_line = reading.bounds[part]
    with open(reading.path, "rb") as source:
        source.seek(start)
        chunk = source.read(end - start)
    ids: list[str] = []
    lines = array("l")
    packed: list[str] = []
    hashes, key_slots = array("q"), array("l")
    try:
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = first_line + chunk.count(b"\n", 0, exc.start)
            raise InvalidContact(f"line {line}: not UTF-8 text", record=f"line {line}") from None
        del chunk
        for lineno, contact in numbered_jsonl(io.StringIO(text), ignore=reading.ignore, first_line=first_line):
            features = prepare(contact, region=reading.region, email_provider_rules=reading.email_provider_rules)
            slot = len(ids)
            ids.append(contact.id or "")
            lines.append(lineno)
            packed.append(features.pack())
            before = len(hashes)
            hashes.extend(map(hash, blocking_keys(features)))
            key_slots.extend(itertools.repeat(slot, len(hashes) - before))
    except InvalidContact as exc:  # sent back as plain values: the exception's own pickling is not relied on
        return _Part([], array("l"), [], array("q"), (str(exc), exc.record, exc.field))
    return _Part(ids, lines, packed, part_entries(hashes, key_slots))


def _bounds(path: str, parts: int) -> list[tuple[int, int, int]]:
    """`parts` byte ranges of the file, each ending at a line end, with each one's first line
    number: the file is read once in blocks, never held whole."""
    size = os.path.getsize(path)
    bounds: list[tuple[int, int, int]] = []
    start, first_line = 0, 1  # the part being cut
    line, position = 1, 0  # the line at `position`, where the block read next begins
    targets = [size * (part + 1) // parts for part in range(parts - 1)]
    with open(path, "rb") as source:
        while position < size and targets:
            block = source.read(_BLOCK)
            at = 0
            while targets and (cut := block.find(b"\n", max(at, targets[0] - position))) >= 0:
                line += block.count(b"\n", at, cut + 1)
                end = position + cut + 1
                bounds.append((start, end, first_line))
                start, first_line, at = end, line, cut + 1
                while targets and targets[0] < end:
                    targets.pop(0)
            line += block.count(b"\n", at)
            position += len(block)
    if size > start:
        bounds.append((start, size, first_line))
    return bounds


@without_cyclic_gc
def find_duplicates_in_file(
    path: str | os.PathLike[str],
    *,
    region: str = "CZ",
    link_threshold: float = 0.9,
    review_threshold: float = 0.7,
    email_provider_rules: bool = True,
    block_cap: int = DEFAULT_BLOCK_CAP,
    review: bool = False,
    model: MatchModel | None = None,
    stats: dict[str, int] | None = None,
    workers: int | None = None,
    ignore: Collection[str] = (),
) -> tuple[list[Cluster], int]:
    """`find_duplicates` of the contacts in a JSON-lines file, and how many it read.

    A record's id is its `id`, or "line N" where it has none. A bad line, or an id found
    twice, raises InvalidContact naming the line. `workers` (default: the cores this process
    may use) processes read and compare; a small file is read in this one.
    """
    path = os.fspath(path)
    if workers is None:
        workers = available_cpus()
    if os.path.getsize(path) < _PARALLEL_MIN_BYTES:
        workers = 1
    bounds = _bounds(path, workers * _PARTS_PER_WORKER if workers > 1 else 1)
    _READING[:] = [_Reading(path, bounds, region, email_provider_rules, ignore)]
    try:
        parts = in_parts(_read_part, len(bounds), workers) if bounds else []
    finally:
        _READING.clear()
    batch = BatchInput()
    seen: dict[str, int] = {}
    for part in parts:
        if part.error is not None:
            message, record, field = part.error
            raise InvalidContact(message, record=record, field=field)
        ids = [record_id or f"line {line}" for record_id, line in zip(part.ids, part.lines, strict=True)]
        for record_id, line in zip(ids, part.lines, strict=True):
            if seen.setdefault(record_id, line) != line:
                raise InvalidContact(f"line {line}: id {record_id!r} appears twice", record=record_id, field="id")
        batch.add_part(ids, [Features.unpack(packed) for packed in part.packed], part.entries)
    clusters = batch.clusters(
        link_threshold=link_threshold,
        review_threshold=review_threshold,
        block_cap=block_cap,
        review=review,
        model=model,
        stats=stats,
        workers=workers,
    )
    return clusters, len(batch)


__all__ = ["find_duplicates_in_file"]
