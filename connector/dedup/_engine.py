"""The dedup engine: an online index (one registration against everything known) and batch clusters.

Both modes share normalization, blocking and scoring; only how candidates are found differs.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import gc
import itertools
import math
import operator
import random
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Literal, ParamSpec, TypeVar

from connector.dedup._compare import (
    BIRTH_DIFFERENT,
    CLOSE_TOKEN,
    NAME_DIFFERENT,
    NAME_EXACT,
    NAME_WEAK,
    Comparison,
    RareToken,
    compare_birth,
    compare_features,
    compare_names,
    compare_others,
    pattern_code,
    pattern_levels,
    token_similarity,
)
from connector.dedup._features import Features, blocking_keys, prepare
from connector.dedup._fork import in_parts
from connector.dedup._model import MatchModel, NameStatistics, estimate_u, train_m
from connector.dedup._score import DEFAULT_MODEL, Evidence, ceiling, dismissed, evidence_of, name_exact_weight, verdict
from connector.model import Contact

Band = Literal["link", "review"]
_P = ParamSpec("_P")
_R = TypeVar("_R")

# An index entry is one int: 39 bits of the key's hash above 24 bits of the record's slot.
# Sorted, a million contacts' keys take ~60 MB; a hash collision only adds a candidate that
# scoring then rejects.
_SLOT_BITS = 24
_MAX_SLOTS = 1 << _SLOT_BITS
_HASH_MASK = (1 << 39) - 1
_BUCKET_SHIFT = 63 - 12  # 4,096 buckets when sorting entries without a list of millions of ints
# Keys added since the last compaction live in a dict; past this many they join the sorted array.
_DELTA_LIMIT = 50_000
# Up to this many entries (a batch of some 350,000 records) are sorted as one list of ints.
_SORT_AT_ONCE = 1 << 22
# At most this many records are read per key: a block bigger than that (a surname in a big
# town) is not telling on its own, and the other keys still find real duplicates.
DEFAULT_BLOCK_CAP = 50


@dataclasses.dataclass(frozen=True)
class Match:
    """The best candidate for a contact: its id, the score, the band and the reasons."""

    candidate_id: str
    score: float
    band: Band
    reasons: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Cluster:
    """Records that are one customer (band link), or a question for a person (review): are the
    first two ids one customer? The ids after them are already linked to one of the two."""

    ids: tuple[str, ...]
    score: float
    band: Band

    def to_dict(self) -> dict[str, object]:
        return {"ids": list(self.ids), "score": round(self.score, 4), "band": self.band}


def _key_hash(key: str) -> int:
    """The index's hash of a key: the same in every process (Python's own `hash` of a str is
    salted per process), so an index's entries may be stored and read back. CRC-32 with the
    key's length; a collision only adds a candidate."""
    data = key.encode()
    return (zlib.crc32(data) << 7) | (len(data) & 127)


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """One score, two thresholds: link at or above `link`, review at or above `review`."""

    link: float = 0.9
    review: float = 0.7

    def band(self, evidence: Evidence) -> tuple[Band, float] | None:
        """The band of a comparison and the score to report (below `link` unless linkable)."""
        if evidence.linkable and evidence.score >= self.link:
            return "link", evidence.score
        if evidence.vetoed and not evidence.identifier:
            return None  # e.g. same name, different birth date: a different person, not a question
        if evidence.score >= self.review:
            return "review", min(evidence.score, self.link - 0.01)
        return None


# An index (or a batch) smaller than this keeps the prior model: too few pairs to learn from.
MIN_FIT_RECORDS = 1000
# Records whose candidates train m online, and records sampled for u.
FIT_QUERIES = 3000
FIT_U_RECORDS = 50_000


class DedupEngine:
    """An index of contacts by every blocking key, answering "is this one already here?".

    Records are stored packed (one string each) and keys as sorted ints, so a million
    contacts fit in a few hundred megabytes; `add` after the bulk build goes to a small
    dict that is folded into the sorted array now and then.
    """

    def __init__(
        self,
        contacts: Iterable[tuple[str, Contact]] = (),
        *,
        region: str = "CZ",
        link_threshold: float = 0.9,
        review_threshold: float = 0.7,
        email_provider_rules: bool = True,
        block_cap: int = DEFAULT_BLOCK_CAP,
        model: MatchModel | None = None,
    ) -> None:
        """With a `model` (one fitted before, e.g. `MatchModel.from_dict` of a stored one), the
        index uses it and never fits its own: building is then only normalizing and keying."""
        self.region = region
        self.email_provider_rules = email_provider_rules
        self.thresholds = Thresholds(link_threshold, review_threshold)
        self.block_cap = block_cap
        self.names = NameStatistics()
        self.model: MatchModel = DEFAULT_MODEL if model is None else model
        self._given_model = model is not None
        self._ids: list[str | None] = []
        self._packed: list[str | None] = []
        self._slot_of: dict[str, int] = {}
        self._sorted = array("q")
        self._delta: dict[int, list[int]] = {}
        self._delta_size = 0
        self.build(contacts)

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._slot_of

    def prepare(self, contact: Contact) -> Features:
        return prepare(contact, region=self.region, email_provider_rules=self.email_provider_rules)

    # -- building ---------------------------------------------------------------------------

    def build(self, contacts: Iterable[tuple[str, Contact]]) -> None:
        """Add many contacts at once: their keys go straight into the sorted array."""
        self.build_features((record_id, self.prepare(contact)) for record_id, contact in contacts)

    def build_features(self, items: Iterable[tuple[str, Features]]) -> None:
        entries = array("q", self._sorted)
        for record_id, features in items:
            slot = self._store(record_id, features)
            entries.extend(_key_hash(key) << _SLOT_BITS | slot for key in blocking_keys(features))
        self._sorted = _sort_entries(entries)
        if self._given_model:
            self.model = self.model.with_population(len(self))
        else:
            self.fit()

    def fit(self, *, seed: int = 0) -> MatchModel:
        """Estimate the model from the index itself: u from random pairs of its records, m by EM
        over the candidates that a sample of its own records finds (each one left out of its own query).

        `build` calls it unless the index was given a model; call it again when the index has
        grown or changed much since.
        """
        live = [slot for slot, packed in enumerate(self._packed) if packed is not None]
        if len(live) < MIN_FIT_RECORDS:
            self.model = dataclasses.replace(DEFAULT_MODEL, population=len(live))
            return self.model
        rng = random.Random(seed)
        # Only as many records as the random pairs for u can use are unpacked.
        sample = [Features.unpack(self._packed[s] or "") for s in rng.sample(live, min(len(live), FIT_U_RECORDS))]
        u = estimate_u(sample, seed=seed)
        patterns: Counter[int] = Counter()
        rare = self.names.rare_test()
        for slot in rng.sample(live, min(len(live), FIT_QUERIES)):
            features = Features.unpack(self._packed[slot] or "")
            for other in self.candidates(features):
                if other != slot:
                    other_features = Features.unpack(self._packed[other] or "")
                    patterns[pattern_code(compare_features(features, other_features, rare).levels)] += 1
        m, _ = train_m(patterns, u)
        self.model = MatchModel(m, u, len(live))
        return self.model

    def add(self, record_id: str, contact: Contact) -> None:
        self.add_features(record_id, self.prepare(contact))

    def add_features(self, record_id: str, features: Features) -> None:
        slot = self._store(record_id, features)
        for key in blocking_keys(features):
            self._delta.setdefault(_key_hash(key), []).append(slot)
            self._delta_size += 1
        if self._delta_size > _DELTA_LIMIT:
            self._compact()

    def _store(self, record_id: str, features: Features) -> int:
        self.remove(record_id)
        slot = len(self._ids)
        if slot >= _MAX_SLOTS:
            raise OverflowError(f"a dedup index holds at most {_MAX_SLOTS} records")
        self._ids.append(record_id)
        self._packed.append(features.pack())
        self._slot_of[record_id] = slot
        self.names.add(features)
        return slot

    def remove(self, record_id: str) -> None:
        """Forget a record; its stale index entries point at an empty slot and are skipped."""
        slot = self._slot_of.pop(record_id, None)
        if slot is None:
            return
        packed = self._packed[slot]
        if packed is not None:
            self.names.remove(Features.unpack(packed))
        self._ids[slot] = None
        self._packed[slot] = None

    def _compact(self) -> None:
        """Fold the added keys into the sorted array by merging, not sorting it all again: a
        million contacts' keys are copied in runs between the new entries' places (memcpy), so
        an `add` that triggers this costs a fraction of a second, not a rebuild."""
        added = sorted(key_hash << _SLOT_BITS | slot for key_hash, slots in self._delta.items() for slot in slots)
        self._delta.clear()
        self._delta_size = 0
        old = self._sorted
        merged = array("q")
        at = 0
        for entry in added:
            place = bisect.bisect_left(old, entry, at)
            merged.extend(old[at:place])
            merged.append(entry)
            at = place
        merged.extend(old[at:])
        self._sorted = merged
        self.model = self.model.with_population(len(self))

    # -- online queries ---------------------------------------------------------------------

    def candidates(self, features: Features) -> list[int]:
        """Slots of live records sharing at least one blocking key whose block is small enough.

        A key that `block_cap` records or more already share (a common name in a big town) is
        not telling on its own and is skipped, as a batch skips such a block: the other keys
        still reach real duplicates, and a lookup stays a few dozen comparisons.
        """
        found: dict[int, None] = {}
        entries = self._sorted
        packed = self._packed
        delta = self._delta
        cap = self.block_cap
        size = len(entries)
        slot_mask = _MAX_SLOTS - 1
        bisect_left = bisect.bisect_left
        for key in blocking_keys(features):
            key_hash = _key_hash(key)
            # Live records only count towards the cap: a removed record's entries stay behind.
            added = delta.get(key_hash)
            block = [slot for slot in added if packed[slot] is not None] if added else []
            at = bisect_left(entries, key_hash << _SLOT_BITS)
            while at < size and entries[at] >> _SLOT_BITS == key_hash:
                slot = entries[at] & slot_mask
                if packed[slot] is not None:
                    block.append(slot)
                    if len(block) >= cap:
                        break
                at += 1
            if len(block) < cap:
                for slot in block:
                    found[slot] = None
        return list(found)

    def matches(self, contact: Contact | Features, *, exclude: str | None = None) -> Iterator[Match]:
        """Every candidate in the link or review band, in no particular order."""
        features = contact if isinstance(contact, Features) else self.prepare(contact)
        for match, _, _ in self._matches(features, exclude):
            yield match

    def _matches(self, features: Features, exclude: str | None) -> Iterator[tuple[Match, Features, bool]]:
        rare = self.names.rare_test()
        # The log odds below which a score is in no band (a little below: rounding).
        lowest = min(self.thresholds.link, self.thresholds.review)
        floor = math.log(lowest / (1.0 - lowest)) - 1e-9 if 0.0 < lowest < 1.0 else -math.inf
        for slot in self.candidates(features):
            record_id, packed = self._ids[slot], self._packed[slot]
            if record_id is None or packed is None or record_id == exclude:
                continue
            other = Features.unpack(packed)
            if dismissed(features, other):
                continue  # vetoed, nothing to say it is one customer: no band
            if features.name and other.name and features.name != other.name:
                # The name is not exact: the other fields first, and the name only where some
                # name level could still bring the pair to a band.
                others = compare_others(features, other)
                if ceiling(others, self.model) < floor:
                    continue
                name, agreed = compare_names(features.name, other.name, rare)
                comparison = Comparison((name, *others), agreed)
            else:
                comparison = compare_features(features, other, rare)
            evidence = evidence_of(comparison, self.model, self.names.share)
            banded = self.thresholds.band(evidence)
            if banded is not None:
                yield Match(record_id, banded[1], banded[0], evidence.reasons), other, evidence.identifier

    def best_match(self, contact: Contact | Features, *, exclude: str | None = None) -> Match | None:
        """The most likely duplicate of `contact` in the index (a link before a review), or None.

        A contact without a birth date that links to two records with two birth dates (a father
        and a son of one name at one address) is a question for a person, not a link, unless an
        e-mail, a phone or a company id says which of them it is.
        """
        features = contact if isinstance(contact, Features) else self.prepare(contact)
        best: Match | None = None
        best_sure = False
        linked_births: list[str] = []
        sure_births: list[str] = []
        for match, other, identifier in self._matches(features, exclude):
            if match.band == "link" and other.birth:
                linked_births.append(other.birth)
                if identifier:
                    sure_births.append(other.birth)
            if best is None or (match.band == "link", match.score, best.candidate_id) > (
                best.band == "link",
                best.score,
                match.candidate_id,
            ):
                best, best_sure = match, identifier  # of two equally good, the smaller id
        if (
            best is not None
            and best.band == "link"
            and not features.birth
            and conflicting_births(linked_births)
            and not (best_sure and not conflicting_births(sure_births))
        ):
            best = dataclasses.replace(best, band="review", score=min(best.score, self.thresholds.link - 0.01))
        return best


def two_names(a: tuple[str, ...], b: tuple[str, ...], rare: RareToken | None) -> bool:
    """Two people's names: one name token each that the other lacks, both whole words and both
    common spellings ("Filip Dzurilla" and "Rastislav Dzurilla"); or, with a name part more on
    one side or more tokens apart, each name carrying a whole, common token that nothing in the
    other comes close to ("Joshua Johnson" and "Charles John Johnson": "Joshua" is not there).
    Where there are too few records to tell a common spelling from a typo (`rare` is None),
    never: a mistyped given name is no second person."""
    if rare is None or min(len(a), len(b)) < 2:
        return False
    only_a, only_b = set(a) - set(b), set(b) - set(a)
    if not only_a or not only_b:
        return False
    if len(a) == len(b) and len(only_a) == 1 and len(only_b) == 1:
        (x,), (y,) = only_a, only_b
        return len(x) > 1 and len(y) > 1 and not rare(x) and not rare(y)
    return _unexplained(only_a, b, rare) and _unexplained(only_b, a, rare)


def _unexplained(tokens: Iterable[str], other: tuple[str, ...], rare: RareToken) -> bool:
    """Some whole, common token of `tokens` that no token of `other` is close to (a typo, a
    nickname, an initial it begins)."""
    return any(
        len(x) > 1 and not rare(x) and all(token_similarity(x, y, rare) < CLOSE_TOKEN for y in other) for x in tokens
    )


def conflicting_births(births: Iterable[str]) -> bool:
    """Two of these birth dates are two people (they differ by more than one typo)."""
    known = sorted(set(births))
    return any(compare_birth(x, y) == BIRTH_DIFFERENT for i, x in enumerate(known) for y in known[i + 1 :])


def _sort_entries(entries: array[int]) -> array[int]:
    """Sort index entries: a few million at once, more bucket by bucket (never a list of every
    entry of a big index at once)."""
    if len(entries) < _SORT_AT_ONCE:
        return array("q", sorted(entries))
    buckets: dict[int, array[int]] = {}
    for entry in entries:
        bucket = buckets.get(entry >> _BUCKET_SHIFT)
        if bucket is None:
            bucket = buckets[entry >> _BUCKET_SHIFT] = array("q")
        bucket.append(entry)
    del entries
    result = array("q")
    for bucket_id in sorted(buckets):
        result.extend(sorted(buckets.pop(bucket_id)))
    return result


# -- batch ------------------------------------------------------------------------------------


def _blocks(entries: array[int], block_cap: int) -> Iterator[list[int]]:
    """The slots of each run of one key hash in sorted `entries`, runs of 2 to `block_cap` only."""
    slot_mask = _MAX_SLOTS - 1
    # Most keys are one record's alone: the places where an entry's key equals the next one's are
    # found in C (maps, compress), and only those few are walked in Python.
    shift = itertools.repeat(_SLOT_BITS)
    keys = map(operator.rshift, entries, shift)
    following = map(operator.rshift, itertools.islice(entries, 1, None), shift)
    start = last = -2
    for at in itertools.compress(itertools.count(), map(operator.eq, keys, following)):
        if at != last + 1:
            if start >= 0 and last + 2 - start <= block_cap:
                yield [entry & slot_mask for entry in entries[start : last + 2]]
            start = at
        last = at
    if start >= 0 and last + 2 - start <= block_cap:
        yield [entry & slot_mask for entry in entries[start : last + 2]]


def without_cyclic_gc(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """`function` run with the cyclic garbage collector off, and switched back on after.

    A batch makes millions of small objects and keeps most of them to its end, none of them in
    a reference cycle: the collector would walk the whole batch again and again for nothing (a
    fifth of the time of 100,000 records)."""

    @functools.wraps(function)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return run


@without_cyclic_gc
def find_duplicates(
    records: Iterable[tuple[str, Contact]] | Iterable[tuple[str, Features]],
    *,
    region: str = "CZ",
    link_threshold: float = 0.9,
    review_threshold: float = 0.7,
    email_provider_rules: bool = True,
    block_cap: int = DEFAULT_BLOCK_CAP,
    review: bool = False,
    model: MatchModel | None = None,
    stats: dict[str, int] | None = None,
    workers: int = 1,
) -> list[Cluster]:
    """Clusters of one customer among `records` (connected through links), and with `review`
    the pairs in the review band that no link already joins.

    Without a `model`, one is estimated from the records themselves: u from random pairs,
    m by EM over the candidate pairs. `stats`, when given, receives the work done in counts
    that do not depend on the machine: records, keys, blocks, pairs compared. With `workers`
    above 1 the candidate pairs are compared in that many forked processes (the answer is the
    same: see `BatchInput.clusters`); `connector.dedup.find_duplicates_in_file` also reads
    and normalizes a file in parallel.
    """
    batch = BatchInput()
    for record_id, item in records:
        prepared = (
            item
            if isinstance(item, Features)
            else prepare(item, region=region, email_provider_rules=email_provider_rules)
        )
        batch.add(record_id, prepared, blocking_keys(prepared))
    return batch.clusters(
        link_threshold=link_threshold,
        review_threshold=review_threshold,
        block_cap=block_cap,
        review=review,
        model=model,
        stats=stats,
        workers=workers,
    )


class BatchInput:
    """The records of one batch, normalized, with their blocking keys' hashes."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.features: list[Features] = []
        # Blocks as one sorted array of (key hash, slot) ints, not a dict of lists: a hundred
        # thousand records have a million keys, most of them held by one record alone.
        self._hashes = array("q")
        self._key_slots = array("l")
        self._runs: list[array[int]] = []  # parts' entries, each sorted already

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, record_id: str, features: Features, keys: Iterable[str]) -> None:
        slot = len(self.ids)
        if slot >= _MAX_SLOTS:
            raise OverflowError(f"a dedup batch holds at most {_MAX_SLOTS} records")
        self.ids.append(record_id)
        self.features.append(features)
        before = len(self._hashes)
        self._hashes.extend(map(hash, keys))
        self._key_slots.extend(itertools.repeat(slot, len(self._hashes) - before))

    def add_part(self, ids: list[str], features: list[Features], entries: array[int]) -> None:
        """Records normalized elsewhere (a forked reader: string hashes are salted per process
        family). `entries` are `part_entries` of them, their slots counted from 0."""
        offset = len(self.ids)
        if offset + len(ids) > _MAX_SLOTS:
            raise OverflowError(f"a dedup batch holds at most {_MAX_SLOTS} records")
        self.ids.extend(ids)
        self.features.extend(features)
        # Adding the offset to every entry keeps the run sorted: it only moves the slot bits.
        self._runs.append(array("q", map(operator.add, entries, itertools.repeat(offset))) if offset else entries)

    def take_entries(self) -> array[int]:
        """Every (key hash << slot bits | slot), sorted; the keys added so far are let go."""
        runs = self._runs
        if self._hashes or not runs:
            runs.append(part_entries(self._hashes, self._key_slots))
        self._hashes, self._key_slots, self._runs = array("q"), array("l"), []
        if len(runs) == 1:
            return runs[0]
        joined = array("q")
        while runs:
            joined.extend(runs.pop())
        return _sort_entries(joined)  # Timsort merges the sorted runs in one pass each

    @without_cyclic_gc
    def clusters(
        self,
        *,
        link_threshold: float = 0.9,
        review_threshold: float = 0.7,
        block_cap: int = DEFAULT_BLOCK_CAP,
        review: bool = False,
        model: MatchModel | None = None,
        stats: dict[str, int] | None = None,
        workers: int = 1,
    ) -> list[Cluster]:
        """`find_duplicates` of these records. The candidate pairs are found here and, when
        there are enough records to pay for the forks, compared in parts by `workers` processes;
        the parts' answers are put back in the pairs' order, so that the clusters, their scores
        and the review questions do not depend on how many processes compared them."""
        return _clusters(
            self.ids,
            self.features,
            self.take_entries(),
            thresholds=Thresholds(link_threshold, review_threshold),
            block_cap=block_cap,
            review=review,
            model=model,
            stats=stats,
            workers=workers,
        )


def part_entries(hashes: array[int], key_slots: array[int]) -> array[int]:
    """Sorted index entries (key hash << slot bits | slot) of these keys' hashes and slots."""
    # Each entry made in C, a million at once.
    masked = map(operator.and_, hashes, itertools.repeat(_HASH_MASK))
    return _sort_entries(
        array("q", map(operator.or_, map(operator.lshift, masked, itertools.repeat(_SLOT_BITS)), key_slots))
    )


# A batch smaller than this is compared in one process: forking costs more than it saves.
PARALLEL_MIN_RECORDS = 20_000
# Pairs handed to a forked comparer at a time: parts small enough that a process on a core
# shared with a neighbour takes fewer of them, and no core waits long for the slowest.
_PAIRS_PER_PART = 10_000


def _candidate_pairs(entries: array[int], count: int, block_cap: int) -> tuple[array[int], array[int]]:
    """Every candidate pair once, in the order the blocks first give it."""
    seen: set[int] = set()
    lefts, rights = array("i"), array("i")
    for block in _blocks(entries, block_cap):
        for i, left in enumerate(block):
            for right in block[i + 1 :]:
                pair = left * count + right if left < right else right * count + left
                if pair in seen or left == right:
                    continue
                seen.add(pair)
                lefts.append(left)
                rights.append(right)
    return lefts, rights


@dataclasses.dataclass(frozen=True)
class _Comparing:
    """What a comparer reads: in a fork, the parent's own objects (set just before it forks)."""

    features: list[Features]
    rare: RareToken | None
    names: NameStatistics
    lefts: array[int]
    rights: array[int]


_COMPARING: list[_Comparing] = []


def _compare_part(part: int, parts: int) -> tuple[array[int], array[float], dict[int, int]]:
    """The comparison vector's code of each pair of the part, the name's frequency where it
    agreed, and the count of each code."""
    job = _COMPARING[0]
    features, rare, names = job.features, job.rare, job.names
    size = len(job.lefts)
    start, end = size * part // parts, size * (part + 1) // parts
    codes, shares = array("q"), array("d")
    patterns: Counter[int] = Counter()
    code_of: dict[tuple[int, ...], int] = {}
    for left, right in zip(job.lefts[start:end], job.rights[start:end], strict=True):
        comparison = compare_features(features[left], features[right], rare)
        code = code_of.get(comparison.levels)
        if code is None:
            code = code_of[comparison.levels] = pattern_code(comparison.levels)
        patterns[code] += 1
        codes.append(code)
        shares.append(names.share(comparison.agreed) if comparison.levels[0] == NAME_EXACT else 1.0)
    return codes, shares, dict(patterns)


def _compare_all(
    entries: array[int], features: list[Features], rare: RareToken | None, names: NameStatistics,
    block_cap: int, workers: int,
) -> tuple[array[int], array[int], array[int], array[float], Counter[int]]:
    """The candidate pairs, compared here or, in parts, by `workers` forked processes."""
    lefts, rights = _candidate_pairs(entries, len(features), block_cap)
    parallel = workers > 1 and len(features) >= PARALLEL_MIN_RECORDS
    parts = max(workers, len(lefts) // _PAIRS_PER_PART) if parallel else 1
    _COMPARING[:] = [_Comparing(features, rare, names, lefts, rights)]
    try:
        results = in_parts(_compare_part, parts, workers if parallel else 1)
    finally:
        _COMPARING.clear()
    codes, shares = array("q"), array("d")
    patterns: Counter[int] = Counter()
    for part_codes, part_shares, part_patterns in results:
        codes.extend(part_codes)
        shares.extend(part_shares)
        patterns.update(part_patterns)
    # The parts' counts merged in the parts' order keep each code where one process would
    # have met it first: EM sums the counts in that order, to the last bit the same.
    return lefts, rights, codes, shares, patterns


def _clusters(
    ids: list[str],
    features: list[Features],
    entries: array[int],
    *,
    thresholds: Thresholds,
    block_cap: int,
    review: bool,
    model: MatchModel | None,
    stats: dict[str, int] | None,
    workers: int,
) -> list[Cluster]:
    names = NameStatistics()
    keys = len(entries)
    names.update(features)

    count = len(ids)
    rare = names.rare_test()
    lefts, rights, codes, shares, patterns = _compare_all(entries, features, rare, names, block_cap, workers)
    if stats is not None:
        stats.update(records=count, keys=keys, pairs_compared=len(lefts))
    del entries

    if model is None:
        if count >= MIN_FIT_RECORDS:
            u = estimate_u(features)
            m, _ = train_m(patterns, u)
            model = MatchModel(m, u, count)
        else:
            model = dataclasses.replace(DEFAULT_MODEL, population=count)

    parent = list(range(count))
    weakest: dict[int, float] = {}
    reviews: list[tuple[int, int, float]] = []

    def root(slot: int) -> int:
        while parent[slot] != slot:
            parent[slot] = parent[parent[slot]]
            slot = parent[slot]
        return slot

    levels_of: dict[int, tuple[int, ...]] = {}
    links: list[tuple[float, int, int]] = []
    backed: set[tuple[int, int]] = set()  # links an e-mail, a phone or a company id agrees on
    unlike: list[tuple[int, int]] = []  # two names, nothing that says one person: maybe apart
    for left, right, code, share in zip(lefts, rights, codes, shares, strict=True):
        levels = levels_of.get(code)
        if levels is None:
            levels = levels_of[code] = pattern_levels(code)
        found = verdict(levels, model)
        if levels[0] in (NAME_WEAK, NAME_DIFFERENT) and not found.identifier:
            unlike.append((left, right))
        weight = found.weight + (name_exact_weight(model, share) if found.name_exact else 0.0)
        score = 1.0 / (1.0 + math.exp(-weight)) if weight > -700 else 0.0
        banded = thresholds.band(Evidence(score, found.linkable, found.vetoed, found.identifier, found.reasons))
        if banded is None:
            continue
        band, score = banded
        if band == "link":
            links.append((score, left, right))
            if found.identifier:
                backed.add((min(left, right), max(left, right)))
        elif review:
            reviews.append((left, right, score))
    del lefts, rights, codes, shares

    # Two names that are two people's, nothing that says one person: these two never end in
    # one cluster (twins reached through a third record that left the given name out). Only
    # records that some link touches can be joined, so only their pairs are asked.
    linked_slots = {slot for _, left, right in links for slot in (left, right)}
    apart: dict[int, set[int]] = {}
    for left, right in unlike:
        if (
            left in linked_slots
            and right in linked_slots
            and two_names(features[left].name, features[right].name, rare)
        ):
            apart.setdefault(left, set()).add(right)
            apart.setdefault(right, set()).add(left)
    del unlike, linked_slots

    # A record without a birth date linked to two records with two birth dates (a father and
    # a son of one name at one address), or linked to twins, cannot say which one it is: those
    # links go to a person, unless an e-mail, a phone or a company id says which (then only the
    # others go).
    partners: dict[int, list[int]] = {}
    for _, left, right in links:
        partners.setdefault(left, []).append(right)
        partners.setdefault(right, []).append(left)
    ambiguous: dict[int, bool] = {}  # slot -> whether its identifier-backed links stay
    for slot, others in partners.items():
        if len(others) > 1 and (
            (not features[slot].birth and conflicting_births(features[o].birth for o in others if features[o].birth))
            # Or linked to two records of two names (twins), itself without a given name.
            or (apart and any(not apart.get(o, set()).isdisjoint(others) for o in others))
        ):
            sure = [o for o in others if (min(slot, o), max(slot, o)) in backed]
            ambiguous[slot] = bool(sure) and not conflicting_births(
                features[o].birth for o in sure if features[o].birth
            )
    del partners

    def doubtful(slot: int, pair: tuple[int, int]) -> bool:
        return slot in ambiguous and not (ambiguous[slot] and pair in backed)

    if ambiguous:
        kept: list[tuple[float, int, int]] = []
        for score, left, right in links:
            both = (min(left, right), max(left, right))
            if doubtful(left, both) or doubtful(right, both):
                if review:
                    reviews.append((left, right, min(score, thresholds.link - 0.01)))
            else:
                kept.append((score, left, right))
        links = kept

    # Strongest links first, and never one that would put two birth dates or two IČOs into one
    # cluster: whatever links slipped past the check above still cannot join two people.
    marks: dict[int, tuple[frozenset[str], frozenset[str]]] = {}

    def marks_of(top: int) -> tuple[frozenset[str], frozenset[str]]:
        found = marks.get(top)
        if found is None:
            f = features[top]
            found = (frozenset((f.birth,)) if f.birth else frozenset(), frozenset((f.ico,)) if f.ico else frozenset())
        return found

    links.sort(reverse=True)
    grouped: dict[int, list[int]] = {}  # a cluster's records, for the clusters someone is apart from

    def group_of(top: int) -> list[int]:
        return grouped.get(top) or [top]

    for score, left, right in links:
        a, b = root(left), root(right)
        if a == b:
            weakest[a] = min(score, weakest.get(a, 1.0))
            continue
        (births_a, icos_a), (births_b, icos_b) = marks_of(a), marks_of(b)
        # Compatible when one side knows no birth date or some pair is within one typo (a
        # cluster may already hold a date and its typo), and no two records of the two were
        # found to carry two names.
        group_a, group_b = group_of(a), group_of(b)
        if (
            len(icos_a | icos_b) > 1
            or (
                births_a
                and births_b
                and all(compare_birth(x, y) == BIRTH_DIFFERENT for x in births_a for y in births_b)
            )
            or (apart and any(not apart.get(x, set()).isdisjoint(group_b) for x in group_a))
        ):
            if review:
                reviews.append((left, right, min(score, thresholds.link - 0.01)))
            continue
        parent[b] = a
        marks[a] = (births_a | births_b, icos_a | icos_b)
        marks.pop(b, None)
        grouped[a] = group_a + group_b
        grouped.pop(b, None)
        weakest[a] = min(score, weakest.get(a, 1.0), weakest.get(b, 1.0))
        weakest.pop(b, None)
    del links

    members: dict[int, list[int]] = {}
    for slot in range(count):
        members.setdefault(root(slot), []).append(slot)
    clusters = [
        Cluster(tuple(ids[s] for s in group), weakest.get(top, 1.0), "link")
        for top, group in members.items()
        if len(group) > 1
    ]
    # One question per two clusters, asked with the strongest pair and naming every record of
    # both: accepting it makes them one customer, so the records already linked to either side
    # are part of the answer.
    seen_review: set[tuple[int, int]] = set()
    reviews.sort(key=lambda review: -review[2])
    for left, right, score in reviews:
        a, b = root(left), root(right)
        if a == b or (min(a, b), max(a, b)) in seen_review:
            continue
        seen_review.add((min(a, b), max(a, b)))
        linked = [ids[s] for s in (*members[a], *members[b]) if s not in (left, right)]
        clusters.append(Cluster((ids[left], ids[right], *linked), score, "review"))
    return clusters
