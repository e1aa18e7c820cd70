"""Work split over forked processes, for the batch: parts 1.. in children, part 0 here.

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


def in_parts(function: Callable[[int, int], _R], parts: int) -> list[_R]:
    """[function(part, parts) for part in range(parts)]: part 0 in this process while the
    others run in forked children. An exception in any part is raised here."""
    if parts <= 1:
        return [function(0, 1)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=parts - 1, mp_context=context) as pool:
        futures = [pool.submit(function, part, parts) for part in range(1, parts)]
        here = function(0, parts)
        return [here, *(future.result() for future in futures)]


__all__ = ["available_cpus", "in_parts"]
