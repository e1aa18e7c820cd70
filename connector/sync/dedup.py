"""Registration dedup, first version: is this new customer already on the other side?

Exact keys (e-mail case-folded, ICO, phone in E.164) make a sure match; a similar name at
the same zip and street makes a sure or an unsure one. A later version deepens the scoring.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from typing import Literal

import phonenumbers
from rapidfuzz import fuzz

from connector.model import Contact

Band = Literal["link", "review"]

_NON_DIGITS = re.compile(r"\D+")
_LEGAL_FORMS = re.compile(r"\b(s\.?\s?r\.?\s?o\.?|spol\.? s r\.? ?o\.?|a\.?\s?s\.?|k\.?\s?s\.?|v\.?\s?o\.?\s?s\.?)$")


def fold(text: str | None) -> str:
    """Lower case without diacritics or punctuation runs: for comparison only."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", plain).split())


def email_key(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.strip().casefold()


def phone_key(phone: str | None, region: str) -> str | None:
    if not phone:
        return None
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def ico_key(ico: str | None) -> str | None:
    if not ico:
        return None
    digits = _NON_DIGITS.sub("", ico)
    return digits if 6 <= len(digits) <= 10 else None


def name_key(name: str | None) -> str:
    """Name tokens in a fixed order, so "Kováč Ján" and "Jan Kovac" meet."""
    return " ".join(sorted(fold(name).split()))


@dataclasses.dataclass(frozen=True)
class Match:
    candidate_id: str
    score: float
    band: Band
    reasons: tuple[str, ...]


class DedupIndex:
    """An index of one side's contacts, by each key a duplicate can share."""

    def __init__(self, contacts: Iterable[tuple[str, Contact]], *, region: str = "CZ") -> None:
        self.region = region
        self._contacts: dict[str, Contact] = {}
        self._by_email: dict[str, set[str]] = defaultdict(set)
        self._by_phone: dict[str, set[str]] = defaultdict(set)
        self._by_ico: dict[str, set[str]] = defaultdict(set)
        self._by_zip: dict[str, set[str]] = defaultdict(set)
        for record_id, contact in contacts:
            self.add(record_id, contact)

    def __len__(self) -> int:
        return len(self._contacts)

    def add(self, record_id: str, contact: Contact) -> None:
        self.remove(record_id)
        self._contacts[record_id] = contact
        for key, table in self._keys(contact):
            table[key].add(record_id)

    def remove(self, record_id: str) -> None:
        old = self._contacts.pop(record_id, None)
        if old is None:
            return
        for key, table in self._keys(old):
            table[key].discard(record_id)

    def _keys(self, contact: Contact) -> list[tuple[str, dict[str, set[str]]]]:
        keys: list[tuple[str, dict[str, set[str]]]] = []
        if (email := email_key(contact.email)) is not None:
            keys.append((email, self._by_email))
        for phone in (contact.phone, contact.mobile):
            if (key := phone_key(phone, self.region)) is not None:
                keys.append((key, self._by_phone))
        if (ico := ico_key(contact.ico)) is not None:
            keys.append((ico, self._by_ico))
        if contact.zip:
            keys.append((_NON_DIGITS.sub("", contact.zip) or fold(contact.zip), self._by_zip))
        return keys

    def best_match(self, contact: Contact) -> Match | None:
        """The most likely duplicate of `contact` in the index, or None."""
        candidates: set[str] = set()
        for key, table in self._keys(contact):
            candidates |= table.get(key, set())
        best: Match | None = None
        for candidate_id in candidates:
            match = self._score(contact, candidate_id)
            if match is not None and (best is None or match.score > best.score):
                best = match
        return best

    def _score(self, contact: Contact, candidate_id: str) -> Match | None:
        other = self._contacts[candidate_id]
        reasons: list[str] = []
        ico_a, ico_b = ico_key(contact.ico), ico_key(other.ico)
        if ico_a and ico_b and ico_a != ico_b:
            # Two different company ids are two different companies, whatever else agrees.
            return None
        if ico_a and ico_a == ico_b:
            reasons.append("same ICO")
        email_a = email_key(contact.email)
        if email_a and email_a == email_key(other.email):
            reasons.append("same e-mail")
        phones_a = {phone_key(p, self.region) for p in (contact.phone, contact.mobile)} - {None}
        phones_b = {phone_key(p, self.region) for p in (other.phone, other.mobile)} - {None}
        if phones_a & phones_b:
            reasons.append("same phone")
        if reasons:
            return Match(candidate_id, 1.0, "link", tuple(reasons))
        name_a, name_b = name_key(contact.name or contact.company), name_key(other.name or other.company)
        if not name_a or not name_b:
            return None
        name_score = fuzz.token_sort_ratio(name_a, name_b) / 100
        same_zip = bool(contact.zip and other.zip) and _NON_DIGITS.sub("", contact.zip or "") == _NON_DIGITS.sub(
            "", other.zip or ""
        )
        street_score = fuzz.token_sort_ratio(fold(contact.street), fold(other.street)) / 100
        if not same_zip or name_score < 0.85:
            return None
        if name_score >= 0.9 and street_score >= 0.85:
            return Match(candidate_id, 0.9 + 0.1 * (name_score + street_score) / 2, "link", ("same name and address",))
        return Match(
            candidate_id, 0.5 + 0.4 * name_score * max(street_score, 0.5), "review", ("similar name, same zip",)
        )
