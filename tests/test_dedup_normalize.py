"""Normalization for comparison: IČO/DIČ check digits, phones, e-mails, legal forms, names."""

from __future__ import annotations

import random
import unicodedata

import phonenumbers
import pytest

from connector.dedup import (
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
from connector.dedup._normalize import _NON_WORD, _UNDECOMPOSABLE, _plain_phone_key


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("25596641", "25596641"),
        ("25 596 641", "25596641"),
        ("00023205", "00023205"),  # leading zeros are part of an IČO
        ("23205", None),  # too short to be one
        ("45274649", "45274649"),
        ("25596642", None),  # wrong check digit: not evidence
        ("00000000", None),
        ("", None),
        (None, None),
    ],
)
def test_ico_check_digit(raw: str | None, key: str | None) -> None:
    assert ico_key(raw) == key


@pytest.mark.parametrize(
    ("raw", "country", "key"),
    [
        ("CZ25596641", None, "CZ25596641"),
        ("CZ 255 96 641", None, "CZ25596641"),
        ("CZ25596642", None, None),  # an IČO-based DIČ with a wrong check digit
        ("25596641", "CZ", "CZ25596641"),
        ("CZ7103192745", None, "CZ7103192745"),  # a birth number, divisible by 11
        ("CZ7103192746", None, None),
        ("SK2020273893", None, "SK2020273893"),  # IČ DPH: ten digits divisible by 11
        ("2020273893", "SK", "SK2020273893"),  # the same number as a Slovak DIČ
        ("SK2020273894", None, None),
    ],
)
def test_tax_ids_in_cz_and_sk_form(raw: str, country: str | None, key: str | None) -> None:
    assert tax_key(raw, country) == key


@pytest.mark.parametrize(
    ("raw", "region", "key"),
    [
        ("603123456", "CZ", "+420603123456"),
        ("+420 603 123 456", "CZ", "+420603123456"),
        ("00420 603-123-456", "CZ", "+420603123456"),
        ("0905 123 456", "SK", "+421905123456"),
        ("+421 905 123 456", "CZ", "+421905123456"),
        ("601 222 333", "PL", "+48601222333"),
        ("12", "CZ", None),
        ("not a phone", "CZ", None),
    ],
)
def test_phones_become_e164_in_the_default_region(raw: str, region: str, key: str | None) -> None:
    assert phone_key(raw, region) == key


def test_email_case_and_provider_rules() -> None:
    assert email_key("  Marta.Kovacs@Example.HU ") == "marta.kovacs@example.hu"
    assert email_key("Jan.Novak+shop@gmail.com") == "jannovak@gmail.com"
    assert email_key("jan.novak@googlemail.com") == "jannovak@gmail.com"
    # Dots matter everywhere else; the rules can be switched off.
    assert email_key("jan.novak@seznam.cz") != email_key("jannovak@seznam.cz")
    assert email_key("jan.novak+x@seznam.cz") == "jan.novak@seznam.cz"
    assert email_key("Jan.Novak+shop@gmail.com", provider_rules=False) == "jan.novak+shop@gmail.com"
    assert email_key("no-at-sign") is None
    assert email_key("@example.cz") is None


@pytest.mark.parametrize(
    "written",
    [
        "Stavby Novák s.r.o.",
        "STAVBY NOVÁK, s. r. o.",
        "Stavby Novák spol. s r.o.",
        "Stavby Novák a.s.",
        "Stavby Novák k.s.",
        "Stavby Novák v.o.s.",
        "Stavby Novák sp. z o.o.",
        "Stavby Novák Kft.",
        "Stavby Novák sro",
        "Stavby Novák",
    ],
)
def test_legal_forms_are_folded(written: str) -> None:
    assert company_key(written) == "stavby novak"


def test_a_company_that_is_only_a_legal_form_keeps_its_name() -> None:
    assert company_key("A.S.") == "a s"


def test_names_fold_diacritics_case_order_and_titles() -> None:
    assert name_tokens("Kováč Ján") == name_tokens("Jan Kovac") == ("jan", "kovac")
    assert name_tokens("Ing. Ján KOVÁČ, PhD.") == ("jan", "kovac")
    assert name_tokens("Łukasz Wiśniewski") == ("lukasz", "wisniewski")
    assert name_tokens("Győző Fűzfa") == ("fuzfa", "gyozo")
    assert fold("Ľudmila Ďurica-Šimko") == "ludmila durica simko"
    assert zip_key("040 01") == zip_key("04001") == "04001"


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("Husova č.p. 12", "husova 12"),
        ("Husova č. p. 12", "husova 12"),
        ("Na Ořechovce č.o. 7", "na orechovce 7"),
        ("čp. 45", "45"),
        ("Husova 1234/12", "husova 1234 12"),
        ("Husova 12 a", "husova 12a"),
        ("Husova 12/A", "husova 12a"),
        ("ul. Husova 12", "husova 12"),
        ("C. Sklenáře 4", "c sklenare 4"),  # a street named after someone, no mark
    ],
)
def test_house_numbers_lose_their_marks_and_keep_their_letter(written: str, key: str) -> None:
    assert street_key(written) == key


def test_phonetic_key_meets_spellings_of_one_name() -> None:
    assert phonetic("nowak") == phonetic("novak")
    assert phonetic("kowalski") == phonetic("kovalski")
    assert phonetic("szabo") == phonetic("sabo")
    assert phonetic("novak") != phonetic("dvorak")


def _libphonenumber_key(phone: str, region: str) -> str | None:
    """What `phone_key` answers when it asks libphonenumber (its fallback), for comparison."""
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def test_the_fast_phone_path_agrees_with_libphonenumber() -> None:
    rng = random.Random(5)
    formats = ("{cc}{n}", "{cc} {a} {b} {c}", "{cc}-{a}-{b}{c}", "({cc}) {n}", "{n}", "{a} {b} {c}", "{a}/{b}{c}")
    tried = fast = 0
    for _ in range(6000):
        code = rng.choice(("+420", "+421", "+48", "+36", "+43", "+1", "00420", "+4200"))
        national = "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 13)))
        a, b, c = national[:3], national[3:6], national[6:]
        raw = rng.choice(formats).format(cc=code, n=national, a=a, b=b, c=c)
        for region in ("CZ", "SK", "PL", "HU"):
            tried += 1
            fast += _plain_phone_key(raw, region) is not None
            assert phone_key(raw, region) == _libphonenumber_key(raw, region), (raw, region)
    assert tried == 24000 and fast > 2000  # the fast path answered a good share itself


def test_folding_drops_exactly_the_combining_marks() -> None:
    # The fast way (one regex over the Latin marks) against the definition, on odd mixtures.
    rng = random.Random(3)
    alphabet = "aáäčďéěíĺľňóôöőŕřšťúůüűýžąćęłńśźżAÁZŽ Ωж-.,\u034f\u0301\u0308\u20d7ß1"
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_UNDECOMPOSABLE))
        plain = "".join(c for c in decomposed if not unicodedata.combining(c))
        assert fold(text) == " ".join(_NON_WORD.sub(" ", plain).split()), text
