"""A contact reduced to what dedup compares, and the blocking keys that find its candidates.

Features pack into one short string, so an index of a million contacts stays small in memory.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from connector.dedup._normalize import (
    company_key,
    email_key,
    fold,
    ico_key,
    name_tokens,
    phone_key,
    phonetic,
    street_key,
    tax_key,
    zip_key,
)
from connector.model import Contact

_FIELD_SEP = "\x1f"

# The version of `prepare` and `blocking_keys` together: an index stored with keys of another
# version must be keyed again (a stored `MatchModel` may be kept: `MatchModel.from_dict` checks it).
KEY_VERSION = 3  # 3: generation marks ("ml.", "Jr.") are name tokens


class Features(NamedTuple):
    """Normalized comparison values of one contact; "" or () means absent."""

    email: str
    phones: tuple[str, ...]
    ico: str
    taxes: tuple[str, ...]
    name: tuple[str, ...]
    company: str
    street: str
    city: str
    zip: str
    birth: str

    def pack(self) -> str:
        """One string for the index; values never contain the separators (they are folded)."""
        return _FIELD_SEP.join(
            (
                self.email,
                " ".join(self.phones),
                self.ico,
                " ".join(self.taxes),
                " ".join(self.name),
                self.company,
                self.street,
                self.city,
                self.zip,
                self.birth,
            )
        )

    @classmethod
    def unpack(cls, packed: str) -> Features:
        email, phones, ico, taxes, name, company, street, city, zip_code, birth = packed.split(_FIELD_SEP)
        return cls(
            email,
            tuple(phones.split()),
            ico,
            tuple(taxes.split()),
            tuple(name.split()),
            company,
            street,
            city,
            zip_code,
            birth,
        )


def prepare(contact: Contact, *, region: str = "CZ", email_provider_rules: bool = True) -> Features:
    """The comparison form of `contact`; a phone without a country code is read in `region`."""
    phone_region = contact.country or region
    phones = _two(
        phone_key(contact.phone, phone_region) if contact.phone else None,
        phone_key(contact.mobile, phone_region) if contact.mobile else None,
    )
    taxes = _two(
        tax_key(contact.dic, contact.country) if contact.dic else None,
        tax_key(contact.ic_dph, contact.country) if contact.ic_dph else None,
    )
    email = (email_key(contact.email, provider_rules=email_provider_rules) or "") if contact.email else ""
    if _FIELD_SEP in email:
        email = email.replace(_FIELD_SEP, "")
    return Features._make(
        (
            email,
            phones,
            (ico_key(contact.ico) or "") if contact.ico else "",
            taxes,
            name_tokens(contact.name),
            company_key(contact.company) if contact.company else "",
            street_key(contact.street),
            fold(contact.city),
            zip_key(contact.zip),
            contact.birth_date or "",
        )
    )


def _two(first: str | None, second: str | None) -> tuple[str, ...]:
    """The distinct values of two, sorted."""
    if first and second and first != second:
        return (first, second) if first < second else (second, first)
    value = first or second
    return (value,) if value else ()


@functools.lru_cache(maxsize=1 << 16)
def _name_parts(name: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The sounds of a name's tokens (initials left out), each with the initials of the others."""
    sounds = tuple(sorted({phonetic(token) for token in name if len(token) > 1}))
    return sounds, tuple((sound, "".join(other[0] for other in sounds if other != sound)) for sound in sounds)


@functools.lru_cache(maxsize=1 << 14)
def _town(city: str) -> str:
    return phonetic(city.replace(" ", "")) if city else ""


@functools.lru_cache(maxsize=1 << 16)
def _street_parts(street: str) -> tuple[str, str]:
    """The house number and the sound of the street's longest word; of "1234/12" the number in
    the street (the last), which is also what is written alone."""
    tokens = street.split()
    house = next((t for t in reversed(tokens) if t[0].isdigit()), "")
    words = [t for t in tokens if not t[0].isdigit() and len(t) > 2]
    return house, phonetic(max(words, key=lambda word: (len(word), word))) if words else ""


@functools.lru_cache(maxsize=1 << 14)
def _sound_heads(sounds: tuple[str, ...]) -> str:
    return "".join(sound[:2] for sound in sounds)


@functools.lru_cache(maxsize=1 << 14)
def _company_sound(company: str) -> str:
    return "".join(sorted(phonetic(token) for token in company.split())[:3])


def blocking_keys(features: Features) -> list[str]:
    """Every key under which a duplicate of this contact may be filed.

    Each key joins two fields, and the keys are chosen so that a typo in any one field (the
    name, the street, the postcode, the town or the birth date) leaves at least one key whole:
    name sound + postcode, name sound + street + town, name initials + town + house number, name sound +
    birth date, birth date + postcode, street sound + house number + town (no name). Identifiers
    (e-mail, phone, company ids) are keys on their own. `KEY_VERSION` names this set of keys.
    """
    email, phones, ico, taxes, name, company, street, city, zip_code, birth = features
    keys: list[str] = ["e" + email] if email else []
    if phones:
        keys.extend(["p" + phone for phone in phones])
    if ico:
        keys.append("i" + ico)
    if taxes:
        keys.extend(["t" + tax for tax in taxes])
    sounds, name_parts = _name_parts(name)
    place = zip_code or city
    town = _town(city)
    house, longest = _street_parts(street)
    for sound, initials in name_parts:
        # Each name token's sound with the initials of the others: a typo in one token, or the
        # order of the tokens, still leaves one key in common.
        if place:
            keys.append(f"n{sound}|{initials}|{place}")
            if initials:
                # And without them: a given name left out, written as an initial or a nickname.
                keys.append(f"n{sound}||{place}")
        if birth:
            keys.append(f"b{birth}|{sound}")
    if sounds and town and house and zip_code:
        # The name sounds' first two letters at one house in one town: a mistyped postcode, with
        # a mistyped name or street beside it.
        keys.append(f"m{_sound_heads(sounds)}|{town}|{house}")
    if birth and zip_code:
        keys.append(f"z{zip_code}|{birth}")
    if longest and town:
        # The street's longest word with the house number and the town, no name and no
        # postcode: one address, whatever happened to the name (a given name dropped, a family
        # name's first letter mistyped) or to the postcode. A block of flats is one block.
        keys.append(f"a{longest}|{house}|{town}")
        if zip_code:
            # Each name token's sound with the others' initials in one street of the town: a
            # mistyped postcode with a mistyped house number beside it.
            for sound, initials in name_parts:
                keys.append(f"o{sound}|{initials}|{town}|{longest}")
    if company:
        keys.append(f"c{_company_sound(company)}|{place}")
    return keys
