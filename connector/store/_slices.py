"""Keys read or written in slices: a statement's `IN (…)` list (or batch of rows) stays short
enough for every database's parameter limit (SQLite's is the smallest) and planner."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

SLICE = 500

_T = TypeVar("_T")


def slices(values: Sequence[_T], size: int = SLICE) -> Iterator[Sequence[_T]]:
    """`values` in consecutive slices of at most `size`."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
