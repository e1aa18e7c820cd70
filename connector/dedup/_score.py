"""Scoring one candidate pair: its comparison vector weighted by the model, one probability, a decision.

The weights are the model's (Fellegi-Sunter, estimated from the data); what this module adds
are the rules that protect precision whatever the weights: vetoes and decisive evidence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

from connector.dedup._compare import (
    BIRTH_DIFFERENT,
    BIRTH_EXACT,
    BIRTH_TYPO,
    COMPANY_DIFFERENT,
    COMPANY_SAME,
    DIFFERENT,
    MISSING,
    NAME_CLOSE,
    NAME_DIFFERENT,
    NAME_EXACT,
    NAME_GARBLED,
    NAME_PART,
    NAME_VARIANT,
    NAME_WEAK,
    PLACE_CITY,
    PLACE_ZIP,
    PLACE_ZIP_TYPO,
    SAME,
    STREET_CLOSE,
    STREET_DIFFERENT,
    STREET_EXACT,
    STREET_SWAPPED,
    Comparison,
    align_tokens,
    birth_level,
    compare_features,
    pattern_levels,
    token_similarity,
)
from connector.dedup._features import Features
from connector.dedup._model import FLOOR, MatchModel

NameShare = Callable[[Sequence[str]], float]

DEFAULT_MODEL = MatchModel()

_FIELD_NAME, _FIELD_BIRTH, _FIELD_STREET, _FIELD_PLACE = 0, 1, 2, 3
_FIELD_EMAIL, _FIELD_PHONE, _FIELD_COMPANY, _FIELD_ICO, _FIELD_TAX = 4, 5, 6, 7, 8


class Evidence(NamedTuple):
    """What a comparison found: the probability, whether it may link, and why."""

    score: float
    linkable: bool
    vetoed: bool
    identifier: bool  # an exact e-mail, phone or company id agrees
    reasons: tuple[str, ...]


class Verdict(NamedTuple):
    """What follows from a comparison vector alone, before the name's frequency is known."""

    weight: float  # log odds, the name's exact-agreement weight left out when `name_exact`
    name_exact: bool
    linkable: bool
    vetoed: bool
    identifier: bool
    reasons: tuple[str, ...]


def name_similarity(a: Sequence[str], b: Sequence[str]) -> tuple[float, float, list[str]]:
    """Order-independent: the mean token similarity, the weakest token's, and the tokens that agreed."""
    if not a or not b:
        return 0.0, 0.0, []
    short, long = (a, b) if (len(a), a) <= (len(b), b) else (b, a)
    similarities, agreed = align_tokens(short, long)
    return sum(similarities) / len(similarities) * 0.97 ** (len(long) - len(short)), min(similarities), agreed


def _reasons(levels: Sequence[int]) -> tuple[str, ...]:
    name, birth, street, place, email, phone, company, ico, tax = levels
    reasons: list[str] = []
    if ico == SAME:
        reasons.append("same ICO")
    elif ico == DIFFERENT:
        reasons.append("different ICO")
    if tax == SAME:
        reasons.append("same DIČ")
    if email == SAME:
        reasons.append("same e-mail")
    if phone == SAME:
        reasons.append("same phone")
    if birth == BIRTH_EXACT:
        reasons.append("same birth date")
    elif birth == BIRTH_TYPO:
        reasons.append("birth date one digit off")
    elif birth == BIRTH_DIFFERENT:
        reasons.append("different birth date")
    if name == NAME_EXACT:
        reasons.append("same name")
    elif name in (NAME_CLOSE, NAME_PART, NAME_VARIANT):
        reasons.append("similar name")
    if company == COMPANY_SAME:
        reasons.append("same company")
    if place in (PLACE_ZIP, PLACE_ZIP_TYPO):
        reasons.append("same zip")
    elif place == PLACE_CITY:
        reasons.append("same city")
    if street in (STREET_EXACT, STREET_CLOSE):
        reasons.append("same street")
    elif street == STREET_SWAPPED:
        reasons.append("same street, house number's digits swapped")
    return tuple(reasons)


def verdict(levels: tuple[int, ...], model: MatchModel) -> Verdict:
    """Weights, vetoes and decisive evidence of one comparison vector under `model` (kept per vector)."""
    found: Verdict | None = model.verdicts.get(levels)
    if found is None:
        found = model.verdicts[levels] = _verdict(levels, model)
    return found


def _verdict(levels: tuple[int, ...], model: MatchModel) -> Verdict:
    weights = model.weights
    weight = model.prior
    for field, level in enumerate(levels):
        if level != MISSING and not (field == _FIELD_NAME and level == NAME_EXACT):
            weight += weights[field][level]
    name, birth, street, place, email, phone, company, ico, tax = levels

    company_id = ico == SAME or tax == SAME
    contact_id = email == SAME or phone == SAME
    # Conflicting strong evidence: another valid IČO, another birth date (beyond one typo).
    vetoed = ico == DIFFERENT or birth == BIRTH_DIFFERENT
    names_agree = name in (NAME_EXACT, NAME_CLOSE, NAME_PART)
    # Two company names are two customers, even of one man at one address ("Stavby Dušek" and
    # "Okna Beroun"): only a company id says they are one.
    names_conflict = name == NAME_DIFFERENT or company == COMPANY_DIFFERENT
    # A link needs decisive evidence besides a high sum, so that no weight the data suggests
    # can link two people on a name and a town: a company id; an e-mail or phone with a name
    # that does not conflict (families share both, so one far-off name token needs the contact
    # and nothing against it); a name (or a rare misspelling of one) with a birth date, but a
    # birth date one digit off only where the streets do not differ (a namesake in another
    # street of one town, born 2000-09-03 and 2000-09-23: two errors in one record are rare,
    # on the tuning split no true pair without a contact rests on both); a name at one street
    # in one place (a house number's two digits swapped included: a typo far more often than a
    # namesake in one street, on the tuning split).
    at_one_address = street in (STREET_EXACT, STREET_CLOSE, STREET_SWAPPED) and place in (
        PLACE_ZIP,
        PLACE_ZIP_TYPO,
        PLACE_CITY,
    )
    decisive = (
        company_id
        or (
            contact_id
            and (
                names_agree
                or name in (NAME_VARIANT, NAME_WEAK, NAME_GARBLED)
                or (name == MISSING and not names_conflict)
            )
        )
        or (
            (names_agree or name == NAME_VARIANT)
            and (birth == BIRTH_EXACT or (birth == BIRTH_TYPO and street != STREET_DIFFERENT))
        )
        or ((names_agree or name == NAME_VARIANT) and at_one_address)
    )
    linkable = not vetoed and decisive and not (names_conflict and not company_id)
    return Verdict(weight, name == NAME_EXACT, linkable, vetoed, company_id or contact_id, _reasons(levels))


def dismissed(a: Features, b: Features) -> bool:
    """Whether the pair is vetoed (another valid IČO, another birth date) with no e-mail, phone
    or company id agreeing: then it is no match at all (`Thresholds.band`), whatever the other
    fields say, so they need not be compared. The same answer as `verdict`, a few fields read."""
    if (a.email and a.email == b.email) or (a.ico and a.ico == b.ico):
        return False
    if a.phones and b.phones and not set(a.phones).isdisjoint(b.phones):
        return False
    if a.taxes and b.taxes and not set(a.taxes).isdisjoint(b.taxes):
        return False
    # Here no e-mail or phone agrees: one that both carry differs.
    differs = bool(a.email and b.email) or bool(a.phones and b.phones)
    return bool(a.ico and b.ico) or birth_level(a.birth, b.birth, contact_differs=differs) == BIRTH_DIFFERENT


def ceiling(others: tuple[int, ...], model: MatchModel) -> float:
    """The highest log odds a pair with these levels of the other fields (`compare_others`)
    reaches with any name level but an exact one: the sum without the name, plus the best
    weight of a name that is not exact (kept per levels)."""
    found: float | None = model.verdicts.get(others)  # 8 levels: no comparison vector's key
    if found is None:
        weights = model.weights
        found = model.prior + max(weights[_FIELD_NAME][NAME_CLOSE:])
        for field, level in enumerate(others, start=1):
            if level != MISSING:
                found += weights[field][level]
        model.verdicts[others] = found
    return found


def name_exact_weight(model: MatchModel, share: float) -> float:
    """Term-frequency adjusted weight of an exact name: log(m / share of records with that name).

    Never below the weight of a close name: agreeing exactly says at least as much as a typo.
    """
    weights = model.weights[_FIELD_NAME]
    exact = math.log(model.m[_FIELD_NAME][NAME_EXACT] / max(share, FLOOR))
    return max(exact, weights[NAME_CLOSE])


def evidence_of(comparison: Comparison, model: MatchModel, name_share: NameShare | None) -> Evidence:
    found = verdict(comparison.levels, model)
    weight = found.weight
    if found.name_exact:
        share = name_share(comparison.agreed) if name_share is not None else model.u[_FIELD_NAME][NAME_EXACT]
        weight += name_exact_weight(model, share)
    score = 1.0 / (1.0 + math.exp(-weight)) if weight > -700 else 0.0
    return Evidence(score, found.linkable, found.vetoed, found.identifier, found.reasons)


def compare(
    a: Features, b: Features, name_share: NameShare | None = None, model: MatchModel = DEFAULT_MODEL
) -> Evidence:
    """Score the pair (a, b); `name_share` gives the share of records carrying a name's tokens."""
    return evidence_of(compare_features(a, b), model, name_share)


__all__ = [
    "DEFAULT_MODEL",
    "Evidence",
    "NameShare",
    "Verdict",
    "ceiling",
    "compare",
    "dismissed",
    "evidence_of",
    "name_exact_weight",
    "name_similarity",
    "pattern_levels",
    "token_similarity",
    "verdict",
]
