"""Work split over forked processes, for the batch.

Forked, not spawned: a child starts with the parent's memory (the records, read once, are
shared copy-on-write rather than pickled) and with its string-hash salt, so blocking-key
hashes made in a child match the parent's.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

_R = TypeVar("_R")


def available_cpus() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def in_parts(function: Callable[[int, int], _R], parts: int, workers: int) -> list[_R]:
    """[function(part, parts) for part in range(parts)], in that order: here with one worker,
    else in `workers` forked children, each taking the next part when it is done with one (so
    a child on a core shared with another program takes fewer). An exception in a part is
    raised here."""
    if workers <= 1 or parts <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [function(part, parts) for part in range(parts)]  # (no fork on Windows: one process)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=min(workers, parts), mp_context=context) as pool:
        return list(pool.map(function, range(parts), [parts] * parts))


__all__ = ["available_cpus", "in_parts"]
