"""Normalization for comparison only: folded names, companies, e-mails, phones and company ids.

Stored data stays as entered; these keys exist so that two spellings of one fact compare equal.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import phonenumbers

# Letters that NFKD does not decompose into a base letter and a combining mark.
_UNDECOMPOSABLE = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe", "ı": "i"})
_NON_WORD = re.compile(r"[^0-9a-z]+")
_LATIN_MARKS = re.compile("[\u0300-\u034e\u0350-\u036f]+")  # U+034F is no mark (class 0)
_NON_DIGITS = re.compile(r"\D+")
_NON_ALNUM_UPPER = re.compile(r"[^0-9A-Z]+")

# Academic titles: they come and go between two records of one person. Generational marks
# ("ml."/"st.", "Jr."/"Sr.") are kept as name tokens: "Jan Novák st." and "Jan Novák ml." are two.
_TITLES = frozenset(
    [
        "ing",
        "mgr",
        "bc",
        "bca",
        "phdr",
        "mudr",
        "mvdr",
        "judr",
        "rndr",
        "paeddr",
        "phmr",
        "thdr",
        "dr",
        "phd",
        "csc",
        "drsc",
        "prof",
        "doc",
        "dipl",
        "arch",
        "mba",
        "msc",
        "bsc",
        "pan",
        "pani",
    ]
)

# Legal forms as their letters run together ("spol. s r.o." -> "spolsro"): folded off a company's tail.
_LEGAL_FORMS = frozenset(
    {
        "sro", "spolsro", "spolsrucenimomezenym", "as", "ks", "vos", "zs", "se", "sp",  # CZ, SK
        "spzoo", "sa", "spj", "spk", "ska", "spp",  # PL
        "kft", "bt", "zrt", "nyrt", "rt", "kkt", "ev",  # HU
        "gmbh", "ag", "kg", "ltd", "inc",
    }
)  # fmt: skip
_LEGAL_FORM_MAX_TOKENS = 5

# Providers whose mailboxes ignore dots and a "+tag" in the local part.
_DOTLESS_PROVIDERS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}
# Providers that deliver "user+tag@" to "user@" (dots still count there).
_PLUS_TAG_PROVIDERS = frozenset({"outlook.com", "hotmail.com", "live.com", "icloud.com", "seznam.cz"})

_ICO_WEIGHTS = (8, 7, 6, 5, 4, 3, 2)


@functools.lru_cache(maxsize=65536)
def fold(text: str | None) -> str:
    """Lower case, no diacritics, punctuation runs become one space."""
    if not text:
        return ""
    if text.isascii():
        return " ".join(_NON_WORD.sub(" ", text.lower()).split())  # nothing to decompose or drop
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_UNDECOMPOSABLE))
    # Latin marks are one range: dropped by one regex, and what is left, if ASCII, holds no other
    # combining character. Anything else takes the character-by-character way.
    plain = _LATIN_MARKS.sub("", decomposed)
    if not plain.isascii():
        plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NON_WORD.sub(" ", plain).split())


def name_tokens(name: str | None) -> tuple[str, ...]:
    """A person's name as sorted folded tokens without titles: "Ing. Kováč Ján" == "Jan Kovac"."""
    return tuple(sorted(t for t in fold(name).split() if t not in _TITLES))


def company_key(company: str | None) -> str:
    """A company name folded, its legal form removed: "Stavby Novák, s.r.o." -> "stavby novak"."""
    if not company:
        return ""
    tokens = fold(company).split()
    # Take off the longest tail that spells a legal form; one pass suffices ("X a.s." or "X s.r.o.").
    for size in range(min(_LEGAL_FORM_MAX_TOKENS, len(tokens) - 1), 0, -1):
        if "".join(tokens[-size:]) in _LEGAL_FORMS:
            tokens = tokens[:-size]
            break
    return " ".join(tokens)


def email_key(email: str | None, *, provider_rules: bool = True) -> str | None:
    """Case-folded address; with provider rules, gmail dots and "+tag" parts dropped."""
    if not email:
        return None
    text = email.strip().casefold()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or " " in text:
        return None
    if provider_rules:
        if domain in _DOTLESS_PROVIDERS:
            domain = _DOTLESS_PROVIDERS[domain]
            local = local.split("+", 1)[0].replace(".", "")
        elif domain in _PLUS_TAG_PROVIDERS:
            local = local.split("+", 1)[0]
        if not local:
            return None
    return f"{local}@{domain}"


# Country codes of one region each, with the national number lengths that libphonenumber calls
# possible there: a number written in full in one of these needs no parsing to be keyed.
_PLAIN_COUNTRY_CODES = {"420": (9, 10, 11, 12), "421": (6, 7, 9), "48": (6, 7, 8, 9, 10), "36": (8, 9)}
# Regions whose national numbers have no trunk prefix: nine digits are the national number.
_NO_TRUNK_PREFIX = {"CZ": "+420", "PL": "+48"}
_PHONE_PUNCTUATION = re.compile(r"[ \-./()]+")


def _plain_phone_key(phone: str, region: str) -> str | None:
    """The E.164 form of the commonest spellings without libphonenumber (30 µs a number), or
    None where the number needs it: "+420 603 123 456", "603123456" in CZ."""
    text = _PHONE_PUNCTUATION.sub("", phone)
    if text.startswith("+"):
        digits = text[1:]
        if not digits.isdigit() or not digits.isascii():
            return None
        for code in (digits[:2], digits[:3]):
            lengths = _PLAIN_COUNTRY_CODES.get(code)
            if lengths is not None:
                national = digits[len(code) :]
                if national[:1] not in ("", "0") and len(national) in lengths:
                    return "+" + digits
                return None
        return None
    prefix = _NO_TRUNK_PREFIX.get(region)
    if prefix is not None and len(text) == 9 and text.isdigit() and text.isascii() and text[0] != "0":
        return prefix + text
    return None


@functools.lru_cache(maxsize=131072)
def phone_key(phone: str | None, region: str = "CZ") -> str | None:
    """The number in E.164 ("+420603123456"), read with `region` when it has no country code."""
    if not phone:
        return None
    plain = _plain_phone_key(phone, region)
    if plain is not None:
        return plain
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def ico_check_digit(first_seven: str) -> int:
    """The eighth digit of a CZ or SK IČO (both use the same mod-11 rule)."""
    remainder = sum(int(d) * w for d, w in zip(first_seven, _ICO_WEIGHTS, strict=True)) % 11
    return (11 - remainder) % 10


def ico_key(ico: str | None) -> str | None:
    """A valid IČO as 8 digits ("25 596 641" -> "25596641"); None when the check digit fails."""
    if not ico:
        return None
    digits = _NON_DIGITS.sub("", ico)
    if not 6 <= len(digits) <= 8:
        return None
    digits = digits.zfill(8)
    if digits == "00000000" or ico_check_digit(digits[:7]) != int(digits[7]):
        return None
    return digits


def _valid_birth_number(digits: str) -> bool:
    """A 10-digit Czech/Slovak birth number is divisible by 11 (or ends in 0 with remainder 10)."""
    number = int(digits)
    return number % 11 == 0 or (int(digits[:9]) % 11 == 10 and digits[9] == "0")


def tax_key(value: str | None, country: str | None = None) -> str | None:
    """A valid DIČ or IČ DPH as country + digits ("CZ25596641", "SK2020123456"); else None.

    CZ: 8 digits follow the IČO rule, 10 digits the birth-number rule, 9 digits (born before
    1954) have no check. SK: 10 digits divisible by 11, with or without the "SK" of IČ DPH.
    """
    if not value:
        return None
    text = _NON_ALNUM_UPPER.sub("", value.upper())
    prefix = text[:2] if text[:2].isalpha() else ""
    digits = text[len(prefix) :]
    if not digits.isdigit():
        return None
    land = prefix or (country or "").upper()
    if land == "CZ":
        if len(digits) == 8:
            return f"CZ{digits}" if ico_key(digits) == digits else None
        if len(digits) == 9:
            return f"CZ{digits}"
        if len(digits) == 10 and _valid_birth_number(digits):
            return f"CZ{digits}"
        return None
    if land == "SK":
        return f"SK{digits}" if len(digits) == 10 and int(digits) % 11 == 0 else None
    # Other EU VAT numbers: no check digit known here, so the plain form is the key.
    return f"{land}{digits}" if land and 8 <= len(digits) <= 12 else None


# Words that say what kind of street it is, written out or abbreviated, in the five languages:
# "náměstí Míru"/"nám. Míru", "Fő utca"/"Fő u.", "Church Street"/"Church St" are one street.
_STREET_TYPES = frozenset(
    [
        *("ulice", "ul", "namesti", "nam", "nabrezi", "nabr", "trida", "tr", "ulica", "namestie", "nabrezie"),
        *("plac", "pl", "aleja", "al", "aleje", "os", "osiedle"),
        *("utca", "u", "ut", "ter", "korut", "krt", "sor", "koz"),
        *("street", "st", "road", "rd", "avenue", "ave", "av", "lane", "ln", "drive", "dr", "close", "cl"),
        *("court", "ct", "place", "way"),
    ]
)


# What Czech and Slovak addresses write before a house number: "č.p." (číslo popisné, the
# conscription number), "č.o." (číslo orientační, the number in the street), "č." alone.
_NUMBER_MARKS = frozenset({"cp", "co", "c", "cislo"})
_MARK_LETTERS = frozenset({"p", "o"})


def street_key(street: str | None) -> str:
    """A street folded, its type word dropped: "nám. Míru 5" == "Náměstí Míru 5".

    A house number keeps its letter ("12 a" == "12a") and loses the marks written before it
    ("č.p. 12" == "12"); "1234/12" (conscription / orientation number) becomes "1234 12".
    """
    words = [t for t in fold(street).split() if t not in _STREET_TYPES]
    if all(len(word) > 1 and word not in _NUMBER_MARKS for word in words):
        return " ".join(words)  # the commonest case: no mark, no letter apart
    kept: list[str] = []
    at = 0
    while at < len(words):
        word = words[at]
        # "c p 12", "cp 12", "c 12": a mark, then a number.
        marks = 2 if word == "c" and words[at + 1 : at + 2] and words[at + 1] in _MARK_LETTERS else 1
        after = words[at + marks : at + marks + 1]
        if word in _NUMBER_MARKS and after and after[0][0].isdigit():
            at += marks
            continue
        if len(word) == 1 and word.isalpha() and kept and kept[-1].isdigit():
            kept[-1] += word  # "12 a", "12/A"
        else:
            kept.append(word)
        at += 1
    return " ".join(kept)


def zip_key(zip_code: str | None) -> str:
    """Postal code without spaces or dashes: "040 01" == "04001"."""
    return fold(zip_code).replace(" ", "")


# Spellings that sound alike in Czech, Slovak, Polish and Hungarian names, longest first.
_SOUNDS = (
    ("sch", "s"), ("szcz", "sc"), ("cz", "c"), ("sz", "s"), ("rz", "z"), ("ch", "h"), ("ph", "f"),
    ("th", "t"), ("ck", "k"), ("gy", "d"), ("ny", "n"), ("ly", "l"), ("ts", "c"), ("tz", "c"),
    ("w", "v"), ("y", "i"), ("q", "k"), ("x", "ks"), ("j", "i"),
)  # fmt: skip
_VOWELS = frozenset("aeiou")


@functools.lru_cache(maxsize=65536)
def phonetic(token: str) -> str:
    """A short sound key of one folded token: first letter, then its consonant skeleton.

    "nowak", "novak" and "novák" meet; "kowalski"/"kovalski" too. Six characters at most, so
    a typo late in a long name still lands in the same block.
    """
    if not token:
        return ""
    text = token
    for spelled, sound in _SOUNDS:
        text = text.replace(spelled, sound)
    head, rest = text[0], text[1:]
    skeleton = [head]
    for char in rest:
        if char in _VOWELS or char == skeleton[-1]:
            continue
        skeleton.append(char)
    return "".join(skeleton)[:6]
