"""Scoring one candidate pair: field agreements weighted by how telling they are, one score.

Weights are log-odds (Fellegi-Sunter style); the sum goes through a logistic into [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler

from connector.dedup._features import Features

# Log-odds weights. The prior says two records in one block are different people until some
# evidence says otherwise; an exact identifier outweighs it, a name alone only with help.
PRIOR = -4.0
SAME_ICO = 10.0
SAME_TAX_ID = 10.0
DIFFERENT_TAX_ID = -3.0
SAME_EMAIL = 9.0
DIFFERENT_EMAIL = -1.0  # people keep several mailboxes: weak evidence against
SAME_PHONE = 8.0
DIFFERENT_PHONE = -0.5
SAME_BIRTH_DATE = 7.0  # two people share one by chance 1 in ~20,000 times
SAME_NAME = 4.0  # times the name's rarity (0.5 for the commonest names, 1.6 for rare ones)
SIMILAR_NAME = 2.0  # times the rarity
UNLIKE_NAME = -1.5
DIFFERENT_NAME = -4.0
SAME_COMPANY = 3.0
SIMILAR_COMPANY = 1.0
DIFFERENT_COMPANY = -2.0
SAME_ZIP = 2.0
DIFFERENT_ZIP = -0.3  # a move is common
SAME_CITY = 0.5
SAME_STREET = 2.5
DIFFERENT_STREET = -0.3

SAME_NAME_AT = 0.93
SIMILAR_NAME_AT = 0.85
UNLIKE_NAME_AT = 0.7
SIMILAR_TOKEN_AT = 0.8
SAME_STREET_AT = 0.9

# Rarity: a token held by 1 in 1,000 records is worth 1.0; the smoothing (a prior population
# where every token has a 1-in-1,000 share) keeps a small index from calling every name rare.
_RARITY_BASE = math.log(1000.0)
_PRIOR_POPULATION = 1000.0
MIN_RARITY = 0.5
MAX_RARITY = 1.6

# Feminine and masculine forms of one family name ("Novák"/"Nováková", "Kowalski"/"Kowalska")
# are two people, usually a couple: as tokens they must not count as a typo of each other.
# So are "Jan"/"Jana", "Martin"/"Martina": a given name that only gained an "a".
_GENDER_ENDINGS = (
    ("", "a"),
    ("", "ova"),
    ("a", "ova"),
    ("y", "a"),
    ("i", "a"),
    ("ski", "ska"),
    ("cki", "cka"),
    ("dzki", "dzka"),
)


class Evidence(NamedTuple):
    """What a comparison found: the probability, whether it may link, and why."""

    score: float
    linkable: bool
    vetoed: bool
    identifier: bool  # an exact e-mail, phone or company id agrees
    reasons: tuple[str, ...]


def rarity(count: int, population: int) -> float:
    """How telling a shared name token is, from how many of `population` records carry it."""
    share = (count + 1.0) / (population + _PRIOR_POPULATION)
    return min(MAX_RARITY, max(MIN_RARITY, -math.log(share) / _RARITY_BASE))


def _gendered_pair(a: str, b: str) -> bool:
    for masculine, feminine in _GENDER_ENDINGS:
        for x, y in ((a, b), (b, a)):
            if (
                y.endswith(feminine)
                and x.endswith(masculine)
                and len(x) >= 3
                and x[: len(x) - len(masculine)] == y[: len(y) - len(feminine)]
            ):
                return True
    return False


def token_similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if len(a) == 1 or len(b) == 1:
        # An initial ("Marta K.") agrees with any token it begins, but never fully.
        return 0.9 if a[0] == b[0] else 0.0
    if _gendered_pair(a, b):
        return 0.4
    return JaroWinkler.normalized_similarity(a, b)


def name_similarity(a: Sequence[str], b: Sequence[str]) -> tuple[float, float, list[str]]:
    """Order-independent: each token of the shorter name meets its best partner in the other.

    Returns the mean similarity, the weakest token's, and the tokens that agreed (for their rarity).
    """
    if (len(a), a) > (len(b), b):  # one fixed order: the score of (a, b) is the score of (b, a)
        a, b = b, a
    used: set[int] = set()
    total = 0.0
    weakest = 1.0
    agreed: list[str] = []
    for token in a:
        best, best_at = 0.0, -1
        for at, other in enumerate(b):
            if at not in used:
                similarity = token_similarity(token, other)
                if similarity > best:
                    best, best_at = similarity, at
        if best_at >= 0:
            used.add(best_at)
        total += best
        weakest = min(weakest, best)
        if best >= 0.9 and len(token) > 1:
            agreed.append(token)
    # A middle name on one side only is common; each one costs a little.
    return total / len(a) * 0.97 ** (len(b) - len(a)), weakest, agreed


def within_one_typo(a: Sequence[str], b: Sequence[str]) -> bool:
    """Each token of one name is the other's token up to one typo (OSA distance 1)."""
    if len(a) != len(b):
        return False
    left, right = list(a), list(b)
    for token in left:
        partner = next((other for other in right if OSA.distance(token, other, score_cutoff=1) <= 1), None)
        if partner is None or _gendered_pair(token, partner):
            return False
        right.remove(partner)
    return True


def street_similarity(a: str, b: str) -> float:
    """House numbers must agree exactly (neighbours differ in nothing else); words may be fuzzy."""
    numbers_a = [t for t in a.split() if t[0].isdigit()]
    numbers_b = [t for t in b.split() if t[0].isdigit()]
    words = fuzz.token_sort_ratio(a, b, processor=None) / 100.0
    if numbers_a and numbers_b and numbers_a != numbers_b:
        return min(words, 0.5)
    return words


def compare(a: Features, b: Features, name_rarity: Callable[[Sequence[str]], float]) -> Evidence:
    """Score the pair (a, b); `name_rarity` turns the agreeing name tokens into a weight factor."""
    weight = PRIOR
    reasons: list[str] = []
    vetoed = False
    company_id = contact_id = False
    if a.ico and b.ico:
        if a.ico == b.ico:
            weight += SAME_ICO
            reasons.append("same ICO")
            company_id = True
        else:
            vetoed = True
            reasons.append("different ICO")
    if a.taxes and b.taxes:
        if set(a.taxes) & set(b.taxes):
            weight += SAME_TAX_ID
            reasons.append("same DIČ")
            company_id = True
        else:
            weight += DIFFERENT_TAX_ID
    if a.email and b.email:
        if a.email == b.email:
            weight += SAME_EMAIL
            reasons.append("same e-mail")
            contact_id = True
        else:
            weight += DIFFERENT_EMAIL
    if a.phones and b.phones:
        if set(a.phones) & set(b.phones):
            weight += SAME_PHONE
            reasons.append("same phone")
            contact_id = True
        else:
            weight += DIFFERENT_PHONE
    same_birth = False
    if a.birth and b.birth:
        if a.birth == b.birth:
            weight += SAME_BIRTH_DATE
            reasons.append("same birth date")
            same_birth = True
        else:
            vetoed = True
            reasons.append("different birth date")

    same_name = name_agrees = False
    names_conflict = False
    if a.name and b.name:
        similarity, weakest, agreed = name_similarity(a.name, b.name)
        if weakest < SIMILAR_TOKEN_AT:
            # One token far off (Krystyna/Krzysztof) is another person, however close the rest.
            similarity = min(similarity, UNLIKE_NAME_AT)
        if similarity >= SAME_NAME_AT:
            weight += SAME_NAME * name_rarity(agreed)
            reasons.append("same name")
            same_name = name_agrees = True
        elif similarity >= SIMILAR_NAME_AT:
            weight += SIMILAR_NAME * name_rarity(agreed)
            reasons.append("similar name")
            name_agrees = True
        elif similarity >= UNLIKE_NAME_AT:
            weight += UNLIKE_NAME
            names_conflict = True
        else:
            weight += DIFFERENT_NAME
            names_conflict = True
    if a.company and b.company:
        similarity = fuzz.token_sort_ratio(a.company, b.company, processor=None) / 100.0
        if similarity >= SAME_NAME_AT:
            weight += SAME_COMPANY
            reasons.append("same company")
        elif similarity >= SIMILAR_NAME_AT:
            weight += SIMILAR_COMPANY
        elif similarity < UNLIKE_NAME_AT:
            weight += DIFFERENT_COMPANY
            if not (a.name and b.name):
                names_conflict = True

    same_place = False
    if a.zip and b.zip:
        if a.zip == b.zip:
            weight += SAME_ZIP
            reasons.append("same zip")
            same_place = True
        else:
            weight += DIFFERENT_ZIP
    if a.city and b.city and a.city == b.city:
        weight += SAME_CITY
        same_place = same_place or not (a.zip and b.zip)
    same_street = False
    if a.street and b.street:
        if street_similarity(a.street, b.street) >= SAME_STREET_AT:
            weight += SAME_STREET
            reasons.append("same street")
            same_street = True
        else:
            weight += DIFFERENT_STREET

    # A link needs decisive evidence, not just a high sum: a company id; an e-mail or phone
    # with a name that agrees (families share both); or a name with a birth date; or a name
    # within one typo with a full address (two edits at one address is often a relative:
    # Andrea and András). Conflicting strong evidence vetoes a link whatever the sum.
    linkable = not vetoed and (
        company_id
        or (contact_id and (name_agrees or (not names_conflict and not (a.name and b.name))))
        or (same_name and same_birth)
        or (same_name and same_street and same_place and within_one_typo(a.name, b.name))
    )
    score = 1.0 / (1.0 + math.exp(-weight))
    return Evidence(score, linkable, vetoed, company_id or contact_id, tuple(reasons))
