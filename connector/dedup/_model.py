"""The Fellegi-Sunter model: m and u probabilities per field level, estimated from the data itself.

u (how often two *different* people agree at a level) comes from random pairs of the records;
m (how often one person's two records do) from expectation maximisation over the candidate
pairs, as Splink does. Both start from, and are smoothed towards, generic priors, so that a
small index still gets sensible weights.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from connector.dedup._compare import FIELDS, LEVELS, MISSING, compare_features, pattern_levels
from connector.dedup._features import Features

# Generic priors, one row per field of `FIELDS`, one value per level (agreement first). They
# are what the literature and a glance at any address book suggest, not fitted to one generator:
# m: a person's two records agree exactly most of the time, with a typo now and then;
# u: two strangers share a birth date 1 in ~25,000 times, a postcode 1 in ~1,000.
PRIOR_M: tuple[tuple[float, ...], ...] = (
    (0.55, 0.25, 0.10, 0.05, 0.02, 0.01, 0.02),  # name: exact, close, part, variant, weak, garbled, different
    (0.90, 0.08, 0.02),  # birth: exact, one digit, different
    (0.60, 0.13, 0.02, 0.25),  # street: exact, close, house number's digits swapped, different (people move)
    (0.70, 0.05, 0.05, 0.20),  # place: zip, zip typo, city only, different
    (0.85, 0.15),  # e-mail
    (0.85, 0.15),  # phone
    (0.80, 0.15, 0.05),  # company
    (0.99, 0.01),  # IČO
    (0.98, 0.02),  # DIČ
)
PRIOR_U: tuple[tuple[float, ...], ...] = (
    (2e-4, 2e-4, 1e-3, 2e-4, 3e-3, 1e-3, 0.9944),
    (4e-5, 2e-3, 0.99796),
    (3e-4, 5e-4, 1e-4, 0.9991),
    (1e-3, 2e-3, 0.03, 0.967),
    (1e-6, 1.0 - 1e-6),
    (1e-6, 1.0 - 1e-6),
    (1e-4, 1e-3, 0.9989),
    (1e-6, 1.0 - 1e-6),
    (1e-6, 1.0 - 1e-6),
)
# How many pairs' worth of belief the priors carry against the data's own counts.
PRIOR_PAIRS_U = 10_000.0
PRIOR_PAIRS_M = 200.0
# A probability is never estimated below this: no single level may become infinitely telling.
FLOOR = 1e-7

# The prior odds that a given record is a duplicate of a given other record: a share of the
# records are someone's second record, spread over a population never smaller than this.
DUPLICATE_SHARE = 0.3
MIN_POPULATION = 100_000
# Random pairs drawn for u, and the least candidate pairs worth an EM run.
U_SAMPLE_PAIRS = 15_000
MIN_EM_PAIRS = 500
EM_ITERATIONS = 25

# A name's frequency is estimated with this many pseudo-records in which every token has a
# share of `TOKEN_PRIOR_SHARE` (1 in 200), so a small index does not call every name rare.
TOKEN_PRIOR_SHARE = 5e-3
TOKEN_PRIOR_POPULATION = 1000.0
# A spelling held by this few of at least so many records is rare (see NAME_VARIANT); in fewer
# records an ordinary given name may well occur only once or twice.
RARE_TOKEN_COUNT = 2
MIN_RARE_POPULATION = 5000


@dataclasses.dataclass(frozen=True)
class MatchModel:
    """m and u per field level and the prior; `weights[f][l]` is log(m/u), in nats."""

    m: tuple[tuple[float, ...], ...] = PRIOR_M
    u: tuple[tuple[float, ...], ...] = PRIOR_U
    population: int = MIN_POPULATION
    # What scoring derives from one comparison vector under this model, kept per vector.
    verdicts: dict[tuple[int, ...], Any] = dataclasses.field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    @functools.cached_property
    def weights(self) -> tuple[tuple[float, ...], ...]:
        return tuple(
            tuple(math.log(max(mi, FLOOR) / max(ui, FLOOR)) for mi, ui in zip(mf, uf, strict=True))
            for mf, uf in zip(self.m, self.u, strict=True)
        )

    @property
    def prior(self) -> float:
        """Log prior odds that two records are one person."""
        p = DUPLICATE_SHARE / max(self.population, MIN_POPULATION)
        return math.log(p / (1.0 - p))

    def with_population(self, population: int) -> MatchModel:
        """This model for an index of `population` records (the prior changes, so do the verdicts)."""
        return dataclasses.replace(self, population=population, verdicts={})

    def to_dict(self) -> dict[str, Any]:
        """The fitted model as plain JSON-able values, to be stored and reused instead of refitted."""
        return {"fields": list(FIELDS), "m": [list(row) for row in self.m], "u": [list(row) for row in self.u],
                "population": self.population}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MatchModel:
        """A model stored by `to_dict`; ValueError when it was stored for other fields or levels
        (a newer engine compares differently: fit again)."""
        try:
            fields = tuple(data["fields"])
            m = tuple(tuple(float(v) for v in row) for row in data["m"])
            u = tuple(tuple(float(v) for v in row) for row in data["u"])
            population = int(data["population"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a stored dedup model: {error}") from None
        shape = tuple(len(row) for row in m)
        if fields != FIELDS or shape != LEVELS or tuple(len(row) for row in u) != LEVELS:
            raise ValueError("a dedup model stored for other fields or levels: fit it again")
        if not all(0.0 < v <= 1.0 for row in (*m, *u) for v in row) or population < 0:
            raise ValueError("a stored dedup model with probabilities outside (0, 1]")
        return cls(m, u, population)

    def describe(self) -> dict[str, dict[str, list[float]]]:
        """m, u and weights per field, for the bench and for a person tuning."""
        return {
            field: {
                "m": [round(v, 5) for v in self.m[i]],
                "u": [float(f"{v:.3g}") for v in self.u[i]],
                "w": [round(v, 2) for v in self.weights[i]],
            }
            for i, field in enumerate(FIELDS)
        }


def _smoothed(counts: Sequence[float], prior: Sequence[float], strength: float) -> tuple[float, ...]:
    """Counts per level blended with the prior (a Dirichlet with `strength` pseudo-pairs)."""
    total = sum(counts) + strength
    return tuple(max(FLOOR, (c + strength * p) / total) for c, p in zip(counts, prior, strict=True))


def estimate_u(
    records: Sequence[Features], *, pairs: int = U_SAMPLE_PAIRS, seed: int = 0
) -> tuple[tuple[float, ...], ...]:
    """u per field level from random pairs of `records` (almost all of them two different people)."""
    counts = [[0.0] * size for size in LEVELS]
    if len(records) >= 2:
        rng = random.Random(seed)
        for _ in range(pairs):
            left, right = rng.randrange(len(records)), rng.randrange(len(records))
            if left == right:
                continue
            for field, level in enumerate(compare_features(records[left], records[right]).levels):
                if level != MISSING:
                    counts[field][level] += 1
    return tuple(_smoothed(counts[f], PRIOR_U[f], PRIOR_PAIRS_U) for f in range(len(FIELDS)))


def _match_weight(
    levels: Sequence[int], m: Sequence[Sequence[float]], u: Sequence[Sequence[float]]
) -> tuple[float, float]:
    """log P(levels | match) and log P(levels | non-match), missing fields left out."""
    log_m = log_u = 0.0
    for field, level in enumerate(levels):
        if level != MISSING:
            log_m += math.log(max(m[field][level], FLOOR))
            log_u += math.log(max(u[field][level], FLOOR))
    return log_m, log_u


def train_m(
    patterns: Mapping[int, int],
    u: tuple[tuple[float, ...], ...],
    *,
    start: tuple[tuple[float, ...], ...] = PRIOR_M,
    iterations: int = EM_ITERATIONS,
) -> tuple[tuple[tuple[float, ...], ...], float]:
    """m per field level and the share of matches among the candidate pairs, by EM.

    `patterns` counts the candidate pairs per comparison vector (`pattern_code`). Among
    candidates, strangers agree far more often than random pairs do (blocking chose them for
    agreeing), so EM estimates the candidates' own u alongside m; only m is kept, and scoring
    pairs it with `u` from random pairs (which also starts the candidates' u).
    """
    total = sum(patterns.values())
    if total < MIN_EM_PAIRS:
        return start, 0.0
    decoded = [(pattern_levels(code), count) for code, count in patterns.items()]
    m = start
    u_candidates = tuple(tuple((v + 1.0 / len(row)) / 2.0 for v in row) for row in u)
    share = 0.1
    for _ in range(iterations):
        m_counts = [[0.0] * size for size in LEVELS]
        u_counts = [[0.0] * size for size in LEVELS]
        matched = 0.0
        log_share, log_rest = math.log(share), math.log(1.0 - share)
        for levels, count in decoded:
            log_m, log_u = _match_weight(levels, m, u_candidates)
            odds = log_share + log_m - (log_rest + log_u)
            posterior = 1.0 / (1.0 + math.exp(-odds)) if odds > -50 else 0.0
            weight = posterior * count
            matched += weight
            for field, level in enumerate(levels):
                if level != MISSING:
                    m_counts[field][level] += weight
                    u_counts[field][level] += count - weight
        share = min(0.9, max(1e-6, matched / total))
        m = tuple(_smoothed(m_counts[f], PRIOR_M[f], PRIOR_PAIRS_M) for f in range(len(FIELDS)))
        u_candidates = tuple(_smoothed(u_counts[f], u[f], PRIOR_PAIRS_M) for f in range(len(FIELDS)))
    return m, share


def fit(records: Sequence[Features], candidate_patterns: Mapping[int, int], *, seed: int = 0) -> MatchModel:
    """A model for these records: u from random pairs, m by EM over the candidate pairs."""
    u = estimate_u(records, seed=seed)
    m, _ = train_m(candidate_patterns, u)
    return MatchModel(m, u, len(records))


class NameStatistics:
    """How many records carry each name token: the term frequencies of the name comparison."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.population = 0

    def add(self, features: Features) -> None:
        self.population += 1
        self.counts.update(features.name)

    def remove(self, features: Features) -> None:
        self.population -= 1
        self.counts.subtract(features.name)

    def update(self, many: Iterable[Features]) -> None:
        """`add` each of `many`, counted in one pass."""
        names = [features.name for features in many]
        self.population += len(names)
        self.counts.update(itertools.chain.from_iterable(names))

    def rare(self, token: str) -> bool:
        """Held by at most `RARE_TOKEN_COUNT` records of many: more likely a typo than a name."""
        return self.population >= MIN_RARE_POPULATION and self.counts[token] <= RARE_TOKEN_COUNT

    def rare_test(self) -> Callable[[str], bool] | None:
        """`rare`, where there are enough records to tell a rare spelling from a common one."""
        return self.rare if self.population >= MIN_RARE_POPULATION else None

    def share(self, tokens: Sequence[str]) -> float:
        """The estimated share of records whose name carries all of `tokens` (independence assumed)."""
        result = 1.0
        denominator = self.population + TOKEN_PRIOR_POPULATION
        for token in tokens:
            result *= (self.counts[token] + TOKEN_PRIOR_POPULATION * TOKEN_PRIOR_SHARE) / denominator
        return result
