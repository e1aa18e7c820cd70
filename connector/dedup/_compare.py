"""Field comparisons: a candidate pair becomes one agreement level per field (its comparison vector).

Levels are ordered from full agreement (0) to disagreement; a field missing on either side is
`MISSING` and carries no weight either way. What a level is worth is the model's business.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import NamedTuple

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler

from connector.dedup._features import Features

MISSING = -1

# Whether a name token is rare in the records at hand; None where there are too few to tell.
RareToken = Callable[[str], bool]

# One comparison vector's fields, in this order; `LEVELS[i]` is how many levels field i has.
FIELDS = ("name", "birth", "street", "place", "email", "phone", "company", "ico", "tax")
LEVELS = (7, 3, 4, 4, 2, 2, 3, 2, 2)

# NAME_VARIANT: one token far off, but one of the two spellings is rare in the data (a typo of a
# name, "Filckp"/"Filip"); NAME_WEAK: one token far off and both spellings common (Marek/Marta:
# two names, twins perhaps); NAME_GARBLED: one token far off and too far for a typo of the other,
# but a rare spelling, the rest close ("Adsrn Urban"/"Adam Urban"): decisive only with a contact.
NAME_EXACT, NAME_CLOSE, NAME_PART, NAME_VARIANT, NAME_WEAK, NAME_GARBLED, NAME_DIFFERENT = range(7)
BIRTH_EXACT, BIRTH_TYPO, BIRTH_DIFFERENT = range(3)
# STREET_SWAPPED: one street, the house number's digits transposed: a typo, or the neighbours.
STREET_EXACT, STREET_CLOSE, STREET_SWAPPED, STREET_DIFFERENT = range(4)
PLACE_ZIP, PLACE_ZIP_TYPO, PLACE_CITY, PLACE_DIFFERENT = range(4)
SAME, DIFFERENT = 0, 1  # e-mail, phone, IČO, DIČ
COMPANY_SAME, COMPANY_SIMILAR, COMPANY_DIFFERENT = range(3)

# Jaro-Winkler at or above which two name tokens are one spelled twice; below WEAK they are two names.
CLOSE_TOKEN = 0.88
WEAK_TOKEN = 0.72
CLOSE_TEXT = 0.85
# What a nickname, or an initial that begins its partner, scores.
NICKNAME_TOKEN = 0.95
# An initial that does not begin its partner: below VARIANT_TOKEN, at least WEAK_TOKEN.
INITIAL_MISMATCH = 0.73
# A far-off token is a rare misspelling (NAME_VARIANT) only this close to its partner, and a
# garbled one (NAME_GARBLED) at least this close.
VARIANT_TOKEN = 0.75
GARBLED_TOKEN = 0.5

# Feminine and masculine forms of one family name ("Novák"/"Nováková", "Kowalski"/"Kowalska")
# are two people, usually a couple; so are "Jan"/"Jana", "Martin"/"Martina". Never a typo.
_GENDER_ENDINGS = (
    ("", "a"),
    ("el", "la"),  # Pavel/Pavla, Karel/Karla
    ("in", "a"),  # Martin/Marta
    ("", "ova"),
    ("a", "ova"),
    ("y", "a"),
    ("i", "a"),
    ("ek", "kova"),
    ("ec", "cova"),
    ("ski", "ska"),
    ("cki", "cka"),
    ("dzki", "dzka"),
)

# Diminutives people register under instead of their given name (folded). Either side may carry
# either form; a pair here is as good as one typo, not as an exact name.
_NICKNAMES: dict[str, frozenset[str]] = {}


def _nicknames(groups: Sequence[str]) -> None:
    for group in groups:
        names = group.split()
        for name in names:
            _NICKNAMES[name] = _NICKNAMES.get(name, frozenset()) | frozenset(names)


# fmt: off
_nicknames([
    "jan honza jenik janko jano", "josef pepa pepik joza jozef jozo jozko", "jiri jirka jura", "petr peta petrik",
    "peter palo peto", "pavel pavol palo", "antonin tonda tonik", "jindrich jindra", "frantisek franta fero",
    "vaclav vasek", "ludovit ludo", "jaroslav jarda jaro", "vladimir vlada vlado", "stanislav standa stano",
    "katerina katka", "katarina katka", "magdalena magda", "kristyna tyna", "barbora bara", "maria marie majka",
    "alzbeta beta", "zuzana zuzka", "piotr piotrek", "tomasz tomek", "przemyslaw przemek", "jaroslaw jarek",
    "katarzyna kasia", "malgorzata gosia", "aleksandra ola", "alicja ala", "krzysztof krzys", "wojciech wojtek",
    "laszlo laci", "istvan pisti", "miklos miki", "gyula gyuszi", "janos jani", "katalin kati", "zsofia zsofi",
    "erzsebet erzsi", "james jim jimmy", "john jack johnny", "robert bob rob bobby", "michael mike mick",
    "william bill will billy", "richard dick rick", "joseph joe joey", "thomas tom tommy", "charles charlie chuck",
    "christopher chris", "daniel dan danny", "anthony tony", "andrew andy drew", "edward ted ed eddie",
    "kenneth ken kenny", "steven steve", "matthew matt", "joshua josh", "elizabeth liz beth betty lizzy",
    "margaret peggy maggie meg", "patricia pat patty", "jennifer jenny jen", "susan sue susie", "rebecca becky",
    "kimberly kim", "dorothy dot dottie", "amanda mandy", "michelle shelly", "sandra sandy",
])
# fmt: on


class Comparison(NamedTuple):
    """A pair's comparison vector and the name tokens that agreed exactly (for their frequency)."""

    levels: tuple[int, ...]
    agreed: tuple[str, ...]


def gendered_pair(a: str, b: str) -> bool:
    """One name in its masculine and feminine form: two people, not a typo."""
    if a[:2] != b[:2] or abs(len(a) - len(b)) > 3:
        return False  # every ending pair keeps a stem of two letters or more, and differs by <= 3
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


def token_similarity(a: str, b: str, rare: RareToken | None = None) -> float:
    """1.0 for one token, 0.95 for a nickname or an initial it begins, else Jaro-Winkler.

    A masculine and a feminine form score 0, unless `rare` says one of them is a rare spelling:
    "Gergela" is a typo of "Gergely", not its feminine.
    """
    if a == b:
        return 1.0
    similarity, gendered = _token_similarity(a, b) if a < b else _token_similarity(b, a)
    if gendered and not (rare is not None and (rare(a) or rare(b))):
        return 0.0
    return similarity


@functools.lru_cache(maxsize=1 << 17)
def _token_similarity(a: str, b: str) -> tuple[float, bool]:
    """The similarity of two different tokens and whether they are one name's two genders (kept:
    the same given and family names meet again and again)."""
    if len(a) == 1 or len(b) == 1:
        # An initial agrees with any token it begins, nearly fully; one that does not says little
        # (a mistyped or misread letter), so it is a weak disagreement, never a different name.
        return (NICKNAME_TOKEN if a[0] == b[0] else INITIAL_MISMATCH), False
    if b in _NICKNAMES.get(a, ()):
        return NICKNAME_TOKEN, False
    similarity = JaroWinkler.normalized_similarity(a, b)
    if similarity < CLOSE_TOKEN and min(len(a), len(b)) >= 4 and OSA.distance(a, b, score_cutoff=1) <= 1:
        # One edit in a short name ("Petr"/"Ptr") is a typo even where Jaro-Winkler is harsh on it.
        similarity = CLOSE_TOKEN
    return similarity, gendered_pair(a, b)


def align_tokens(short: Sequence[str], long: Sequence[str]) -> tuple[list[float], list[str]]:
    """Each token of `short` with its best unused partner in `long`: the similarities, the exact tokens."""
    pairs = _pairs(short, long)
    return [similarity for similarity, _, _ in pairs], [
        x for similarity, x, _ in pairs if similarity == 1.0 and len(x) > 1
    ]


def _pairs(short: Sequence[str], long: Sequence[str], rare: RareToken | None = None) -> list[tuple[float, str, str]]:
    """The assignment of `short`'s tokens to `long`'s with the best total similarity.

    Whole tokens count before initials do ("M." must not take "Miller" from "Myller"); names
    have few tokens, so every assignment is tried (a greedy one past four tokens).
    """
    if len(short) == 2 and len(long) == 2:
        # The commonest case (given and family name on both sides), without the general search:
        # the same choice, ties going to the first assignment as there.
        (a, b), (c, d) = short, long
        ac, ad, bc, bd = (token_similarity(a, c, rare), token_similarity(a, d, rare),
                          token_similarity(b, c, rare), token_similarity(b, d, rare))  # fmt: skip
        initial_a, initial_b = len(a) == 1, len(b) == 1
        initial_c, initial_d = len(c) == 1, len(d) == 1
        straight = (ac - (0.5 if initial_a or initial_c else 0.0)) + (bd - (0.5 if initial_b or initial_d else 0.0))
        crossed = (ad - (0.5 if initial_a or initial_d else 0.0)) + (bc - (0.5 if initial_b or initial_c else 0.0))
        if crossed > straight + 1e-12:
            return [(ad, a, d), (bc, b, c)]
        return [(ac, a, c), (bd, b, d)]
    table = [[token_similarity(x, y, rare) for y in long] for x in short]
    if len(long) > 4:
        return _greedy_pairs(short, long, table)
    priority = [
        [s - (0.5 if len(x) == 1 or len(y) == 1 else 0.0) for y, s in zip(long, row, strict=True)]
        for x, row in zip(short, table, strict=True)
    ]
    best: tuple[int, ...] = ()
    best_total = -1.0
    for chosen in itertools.permutations(range(len(long)), len(short)):
        total = sum(priority[i][j] for i, j in enumerate(chosen))
        if total > best_total + 1e-12:
            best, best_total = chosen, total
    return [(table[i][j], short[i], long[j]) for i, j in enumerate(best)]


def _greedy_pairs(short: Sequence[str], long: Sequence[str], table: list[list[float]]) -> list[tuple[float, str, str]]:
    scored = sorted(
        (
            (table[i][j] - (0.5 if len(x) == 1 or len(y) == 1 else 0.0), table[i][j], i, j)
            for i, x in enumerate(short)
            for j, y in enumerate(long)
        ),
        reverse=True,
    )
    used_short: set[int] = set()
    used_long: set[int] = set()
    pairs: list[tuple[float, str, str]] = []
    for _, similarity, i, j in scored:
        if i in used_short or j in used_long:
            continue
        used_short.add(i)
        used_long.add(j)
        pairs.append((similarity, short[i], long[j]))
    return pairs


def compare_names(a: Sequence[str], b: Sequence[str], rare: RareToken | None = None) -> tuple[int, tuple[str, ...]]:
    """The name level and the tokens both names carry exactly; token order does not matter.

    With `rare` (enough records to know which spellings are common), two different spellings
    that are both common are two names however alike (Pavel/Pavla, Tomas/Tamas), and a far-off
    token that is rare is likely a typo (NAME_VARIANT).
    """
    if not a or not b:
        return MISSING, ()
    if a == b:
        return NAME_EXACT, tuple(t for t in a if len(t) > 1)
    short, long = (tuple(a), tuple(b)) if (len(a), a) <= (len(b), b) else (tuple(b), tuple(a))
    pairs = _pairs(short, long)
    level, agreed, depends = _name_level(pairs, short, long, None)
    if rare is None or not depends:
        return level, agreed
    # Only where the answer turns on it: which tokens are rare.
    rare_ones = frozenset(t for t in (*short, *long) if rare(t))
    is_rare = rare_ones.__contains__
    if rare_ones and any(
        x != y and (x in rare_ones or y in rare_ones) and _gendered(x, y) for x in short for y in long
    ):
        # A rare spelling may be a typo where two common ones are two genders: the best
        # assignment may then be another one.
        pairs = _pairs(short, long, is_rare)
    level, agreed, _ = _name_level(pairs, short, long, is_rare)
    return level, agreed


def _name_level(
    pairs: Sequence[tuple[float, str, str]], short: tuple[str, ...], long: tuple[str, ...], rare: RareToken | None
) -> tuple[int, tuple[str, ...], bool]:
    """The level of an assignment, the exact tokens, and whether knowing which tokens are rare
    could change it."""
    agreed: list[str] = []
    depends = False
    close = 0
    weakest: tuple[float, str, str] | None = None
    for similarity, x, y in pairs:
        if x == y:
            if len(x) > 1:
                agreed.append(x)
        else:
            if not depends and (GARBLED_TOKEN <= similarity < NICKNAME_TOKEN or _gendered(x, y)):
                depends = True
            if rare is not None and VARIANT_TOKEN <= similarity < NICKNAME_TOKEN and not rare(x) and not rare(y):
                similarity = VARIANT_TOKEN  # two common spellings: two names however alike
        if similarity >= CLOSE_TOKEN:
            close += 1
        if weakest is None or (similarity, x, y) < weakest:
            weakest = (similarity, x, y)
    assert weakest is not None
    lowest, odd_x, odd_y = weakest
    found = tuple(agreed)
    if lowest < CLOSE_TOKEN:
        # One token far off, the rest close: a bad typo, or another name (Marek/Marta).
        if close != len(short) - 1 or len(short) < 2:
            return NAME_DIFFERENT, found, depends
        if len(short) != len(long):
            # A name part left out besides ("Matthew Cyrtcr"/"Matthew Robert Carter"): never more
            # than a contact may confirm (garbled or weak), whatever the odd token's spelling.
            if rare is not None and (rare(odd_x) or rare(odd_y)) and lowest >= GARBLED_TOKEN:
                return NAME_GARBLED, found, depends
            return (NAME_WEAK if lowest >= WEAK_TOKEN else NAME_DIFFERENT), found, depends
        if rare is not None and (rare(odd_x) or rare(odd_y)):
            if lowest > VARIANT_TOKEN:
                return NAME_VARIANT, found, depends
            if lowest >= GARBLED_TOKEN:
                return NAME_GARBLED, found, depends
        return (NAME_WEAK if lowest >= WEAK_TOKEN else NAME_DIFFERENT), found, depends
    if len(short) == len(long) and all(len(t) > 1 for t in (*short, *long)):
        return NAME_CLOSE, found, depends
    # A given name left out, a middle name on one side, an initial: consistent but less said.
    return NAME_PART, found, depends


@functools.lru_cache(maxsize=1 << 16)
def _gendered(a: str, b: str) -> bool:
    return gendered_pair(a, b)


def _one_typo(a: str, b: str) -> bool:
    """One substitution, insertion, deletion or adjacent transposition."""
    return OSA.distance(a, b, score_cutoff=1) <= 1


def generation_apart(a: str, b: str) -> bool:
    """One day and month, years a generation apart (1979-08-09 / 1949-08-09): one digit's typo,
    or a parent and a child. `birth_level` reads it as the second where a contact differs."""
    return (
        len(a) == 10 and len(b) == 10 and a[4:] == b[4:] and a[:4].isdigit() and b[:4].isdigit()
        and 15 <= abs(int(a[:4]) - int(b[:4])) <= 60
    )  # fmt: skip


def birth_level(a: str, b: str, *, contact_differs: bool) -> int:
    """`compare_birth`, but a typo that leaves two birth dates a generation apart is two people
    where an e-mail or a phone of the two differs and none agrees (`contact_differs`): a father
    and a son of one name at one address, each with his own e-mail."""
    level = compare_birth(a, b)
    if level == BIRTH_TYPO and contact_differs and generation_apart(a, b):
        return BIRTH_DIFFERENT
    return level


def compare_birth(a: str, b: str) -> int:
    if not a or not b:
        return MISSING
    if a == b:
        return BIRTH_EXACT
    if _one_typo(a, b):
        return BIRTH_TYPO
    # Day and month swapped: the American order typed into a European form.
    if len(a) == 10 and len(b) == 10 and a[:4] == b[:4] and a[5:7] == b[8:10] and a[8:10] == b[5:7]:
        return BIRTH_TYPO
    return BIRTH_DIFFERENT


@functools.lru_cache(maxsize=1 << 16)
def _split_street(street: str) -> tuple[str, str]:
    words: list[str] = []
    numbers: list[str] = []
    for token in street.split():
        (numbers if token[0].isdigit() else words).append(token)
    return " ".join(words), " ".join(numbers)


def compare_street(a: str, b: str) -> int:
    """House numbers must agree (up to a transposed digit, or one of "1234/12" written alone):
    neighbours differ in nothing else."""
    if not a or not b:
        return MISSING
    if a == b:
        return STREET_EXACT
    words_a, number_a = _split_street(a)
    words_b, number_b = _split_street(b)
    swapped = False
    if (" " in number_a) != (" " in number_b) and (number_a in number_b.split() or number_b in number_a.split()):
        # "1234/12" and "12": a conscription and an orientation number, one of them written
        # (two pairs must agree: in Poland "12/3" and "12/4" are two flats of one house).
        number_a = number_b
    if number_a != number_b:
        # Two adjacent digits swapped ("130"/"310") may be a typo; any other difference a neighbour.
        swapped = (
            len(number_a) == len(number_b)
            and sorted(number_a) == sorted(number_b)
            and OSA.distance(number_a, number_b, score_cutoff=1) <= 1
        )
        if not swapped:
            return STREET_DIFFERENT
    if words_a == words_b or _close_words(words_a, words_b):
        return STREET_SWAPPED if swapped else STREET_CLOSE
    return STREET_DIFFERENT


def _close_words(a: str, b: str) -> bool:
    if not a or not b:
        return not a and not b
    if _one_typo(a, b):
        return True  # Jaro-Winkler is harsh on short words ("bem"/"bme" scores 0.56)
    similarity = max(JaroWinkler.normalized_similarity(a, b), fuzz.token_sort_ratio(a, b, processor=None) / 100.0)
    return similarity >= CLOSE_TEXT


def compare_place(a: Features, b: Features) -> int:
    """Postcode and town as one field: they say nearly the same, so they are not counted twice."""
    if a.zip and a.zip == b.zip:
        return PLACE_ZIP
    city = MISSING
    if a.city and b.city:
        city = 0 if a.city == b.city or JaroWinkler.normalized_similarity(a.city, b.city) >= 0.9 else 1
    if a.zip and b.zip:
        if len(a.zip) >= 4 and _one_typo(a.zip, b.zip) and city != 1:
            return PLACE_ZIP_TYPO
        return PLACE_CITY if city == 0 else PLACE_DIFFERENT
    if city == MISSING:
        return MISSING
    return PLACE_CITY if city == 0 else PLACE_DIFFERENT


def compare_features(a: Features, b: Features, rare: RareToken | None = None) -> Comparison:
    """The comparison vector of (a, b); symmetric: (b, a) gives the same."""
    name, agreed = compare_names(a.name, b.name, rare)
    return Comparison((name, *compare_others(a, b)), agreed)


def compare_others(a: Features, b: Features) -> tuple[int, ...]:
    """The levels of every field but the name (`FIELDS[1:]`): a few string comparisons, cheap
    beside the name's token assignment."""
    company = MISSING
    if a.company and b.company:
        similarity = fuzz.token_sort_ratio(a.company, b.company, processor=None) / 100.0
        company = (
            COMPANY_SAME if similarity >= 0.93 else COMPANY_SIMILAR if similarity >= CLOSE_TEXT else COMPANY_DIFFERENT
        )
    email = MISSING if not (a.email and b.email) else SAME if a.email == b.email else DIFFERENT
    phone = _shared(a.phones, b.phones)
    differs = DIFFERENT in (email, phone) and SAME not in (email, phone)
    return (
        birth_level(a.birth, b.birth, contact_differs=differs),
        compare_street(a.street, b.street),
        compare_place(a, b),
        email,
        phone,
        company,
        MISSING if not (a.ico and b.ico) else SAME if a.ico == b.ico else DIFFERENT,
        _shared(a.taxes, b.taxes),
    )


def _shared(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    """SAME where the two share a value, MISSING where either has none."""
    if not a or not b:
        return MISSING
    return SAME if any(value in b for value in a) else DIFFERENT


def pattern_code(levels: Sequence[int]) -> int:
    """One int per comparison vector (missing counts as a level of its own), for counting patterns."""
    code = 0
    for level, size in zip(levels, LEVELS, strict=True):
        code = code * (size + 1) + level + 1
    return code


def pattern_levels(code: int) -> tuple[int, ...]:
    levels: list[int] = []
    for size in reversed(LEVELS):
        code, digit = divmod(code, size + 1)
        levels.append(digit - 1)
    return tuple(reversed(levels))
