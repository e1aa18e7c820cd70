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
    phones = {p for p in (phone_key(contact.phone, phone_region), phone_key(contact.mobile, phone_region)) if p}
    taxes = {t for t in (tax_key(contact.dic, contact.country), tax_key(contact.ic_dph, contact.country)) if t}
    email = email_key(contact.email, provider_rules=email_provider_rules) or ""
    return Features(
        email=email.replace(_FIELD_SEP, ""),
        phones=tuple(sorted(phones)),
        ico=ico_key(contact.ico) or "",
        taxes=tuple(sorted(taxes)),
        name=name_tokens(contact.name),
        company=company_key(contact.company),
        street=street_key(contact.street),
        city=fold(contact.city),
        zip=zip_key(contact.zip),
        birth=contact.birth_date or "",
    )


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


def blocking_keys(features: Features) -> list[str]:
    """Every key under which a duplicate of this contact may be filed.

    Each key joins two fields, and the keys are chosen so that a typo in any one field (the
    name, the street, the postcode, the town or the birth date) leaves at least one key whole:
    name sound + postcode, name sound + street + town, name initials + town + house number, name sound +
    birth date, birth date + postcode, street sound + house number + town (no name). Identifiers
    (e-mail, phone, company ids) are keys on their own. `KEY_VERSION` names this set of keys.
    """
    keys: list[str] = []
    if features.email:
        keys.append("e" + features.email)
    keys.extend("p" + phone for phone in features.phones)
    if features.ico:
        keys.append("i" + features.ico)
    keys.extend("t" + tax for tax in features.taxes)
    sounds, name_parts = _name_parts(features.name)
    place = features.zip or features.city
    town = _town(features.city)
    house, longest = _street_parts(features.street)
    for sound, initials in name_parts:
        # Each name token's sound with the initials of the others: a typo in one token, or the
        # order of the tokens, still leaves one key in common.
        if place:
            keys.append(f"n{sound}|{initials}|{place}")
            if initials:
                # And without them: a given name left out, written as an initial or a nickname.
                keys.append(f"n{sound}||{place}")
        if features.birth:
            keys.append(f"b{features.birth}|{sound}")
    if sounds and town and house and features.zip:
        # The name sounds' first two letters at one house in one town: a mistyped postcode, with
        # a mistyped name or street beside it.
        keys.append(f"m{''.join(sound[:2] for sound in sounds)}|{town}|{house}")
    if features.birth and features.zip:
        keys.append(f"z{features.zip}|{features.birth}")
    if longest and town:
        # The street's longest word with the house number and the town, no name and no
        # postcode: one address, whatever happened to the name (a given name dropped, a family
        # name's first letter mistyped) or to the postcode. A block of flats is one block.
        keys.append(f"a{longest}|{house}|{town}")
        if features.zip:
            # Each name token's sound with the others' initials in one street of the town: a
            # mistyped postcode with a mistyped house number beside it.
            for sound, initials in name_parts:
                keys.append(f"o{sound}|{initials}|{town}|{longest}")
    if features.company:
        company_sound = "".join(sorted(phonetic(token) for token in features.company.split())[:3])
        keys.append(f"c{company_sound}|{place}")
    return keys
