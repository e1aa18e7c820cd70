"""A labeled generator of Czech, Slovak, Polish and Hungarian customers for measuring dedup.

Duplicates carry realistic corruptions; hard negatives share a name and town with someone else.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import string
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from connector.dedup import email_key
from connector.model import Contact


def _words(text: str, sep: str = " ") -> list[str]:
    return text.split(sep)


# fmt: off
_GIVEN_MALE = {
    "CZ": _words("Jan Petr Jiří Josef Pavel Martin Tomáš Jaroslav Miroslav Zdeněk Václav Michal František Jakub "
                 "Milan Karel Lukáš David Vladimír Ondřej Radek Aleš Marek Vojtěch Řehoř"),
    "SK": _words("Ján Peter Jozef Michal Martin Juraj Marek Tomáš Milan Ľubomír Stanislav Vladimír Dušan Róbert "
                 "Miroslav Pavol Štefan Ladislav Matej Ľuboš"),
    "PL": _words("Piotr Krzysztof Andrzej Tomasz Paweł Michał Marcin Jakub Łukasz Józef Wojciech Kamil Mateusz "
                 "Grzegorz Adam Rafał Zbigniew Dariusz Sławomir"),
    "HU": _words("László István József János Zoltán Sándor Gábor Ferenc Attila Péter Tamás Zsolt Tibor András "
                 "Csaba Imre Lajos Győző Ödön"),
}
_GIVEN_FEMALE = {
    "CZ": _words("Jana Marie Eva Hana Anna Lenka Kateřina Věra Lucie Alena Petra Jaroslava Veronika Martina "
                 "Tereza Zuzana Michaela Ivana Jitka Markéta"),
    "SK": _words("Mária Anna Zuzana Katarína Eva Martina Jana Lucia Ľudmila Jarmila Helena Monika Veronika "
                 "Andrea Alžbeta Dominika Ivana Silvia"),
    "PL": _words("Anna Maria Katarzyna Małgorzata Agnieszka Barbara Ewa Krystyna Magdalena Elżbieta Zofia "
                 "Joanna Aleksandra Monika Beata Dorota"),
    "HU": _words("Mária Erzsébet Katalin Éva Ilona Anna Zsuzsanna Margit Judit Ágnes Andrea Erika Ildikó "
                 "Krisztina Eszter Tímea"),
}
# fmt: on
# Common family names in their masculine form, commonest first (their share falls off Zipf-like).
# fmt: off
_SURNAMES = {
    "CZ": _words("Novák Svoboda Novotný Dvořák Černý Procházka Kučera Veselý Horák Němec Marek Pokorný "
                 "Pospíšil Hájek Jelínek Král Růžička Beneš Fiala Sedláček Doležal Zeman Kolář Navrátil Čermák"),
    "SK": _words("Horváth Kováč Varga Tóth Nagy Baláž Szabó Molnár Balog Lukáč Novák Kollár Németh Polák "
                 "Oravec Kučera Šimko Ďurica Hudák Gajdoš Krajčí Vlček Urban"),
    "PL": _words("Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Szymański "
                 "Woźniak Dąbrowski Kozłowski Jankowski Mazur Wojciechowski Kwiatkowski Krawczyk Piotrowski"),
    "HU": _words("Nagy Kovács Tóth Szabó Horváth Varga Kiss Molnár Németh Farkas Balogh Papp Takács Juhász "
                 "Lakatos Mészáros Oláh Simon Rácz Fekete Fűzfa"),
}
# fmt: on
# Syllables for the long tail of rarer family names.
_STEMS = {
    "CZ": _words("Bla Bro Cha Dra Hru Kle Kř Lou Mrá Pe Ry Sta Stř Tr Vla Zá Ho Bu Ku Mi Po Se Ště Ža Ví"),
    "SK": _words("Hru Ko Ma Ďu Ši Ba Ku Lo Pa Ri Sto Tu Vo Za Br Čie Dub Hri Kra Ľu Mar Pet"),
    "PL": _words("Bo Chmie Gra Ja Kra Le Mi Ostro Pa Ro Sko Tro Wi Za Bie Dzie Głu Ku Ma Sza Wró"),
    "HU": _words("Bo Cse Fe Gá Ha Ke Lő Ma Ne Pá Ré Sü Tö Vá Zö Bí Dé Gyu Ká Mé Ors"),
}
_MIDDLES = {
    "CZ": _words("dl rn ch st lk ch ub tal rb sl"),
    "SK": _words("ld rn ch st lk ub tal rb sl"),
    "PL": _words("ck rn ch st lk ub tal rb sl"),
    "HU": _words("ld rn ch st lk ub tal rb sz"),
}
_ENDINGS = {
    "CZ": ["ák", "ek", "íček", "a", "ý", "ec", "ka", "ník"],
    "SK": ["ák", "ek", "ík", "a", "ý", "ec", "ka", "ík"],
    "PL": ["ski", "cki", "ak", "ek", "ik", "ewicz", "owicz"],
    "HU": ["i", "ai", "ó", "es", "ős", "ényi", "osi"],
}
# fmt: off
_CITIES = {
    "CZ": [("Praha", "1"), ("Brno", "6"), ("Ostrava", "7"), ("Plzeň", "3"), ("Olomouc", "77"), ("Liberec", "46"),
           ("České Budějovice", "37"), ("Hradec Králové", "50"), ("Pardubice", "53"), ("Zlín", "76"),
           ("Kladno", "27"), ("Most", "434"), ("Opava", "74"), ("Jihlava", "58"), ("Tábor", "390"),
           ("Písek", "397"), ("Kolín", "280"), ("Třebíč", "674"), ("Znojmo", "669"), ("Příbram", "261")],
    "SK": [("Bratislava", "8"), ("Košice", "04"), ("Prešov", "080"), ("Žilina", "010"), ("Nitra", "949"),
           ("Banská Bystrica", "974"), ("Trnava", "917"), ("Martin", "036"), ("Trenčín", "911"), ("Poprad", "058"),
           ("Zvolen", "960"), ("Levice", "934"), ("Komárno", "945")],
    "PL": [("Kraków", "3"), ("Łódź", "9"), ("Wrocław", "5"), ("Poznań", "6"), ("Gdańsk", "80"), ("Szczecin", "7"),
           ("Białystok", "15"), ("Częstochowa", "42"), ("Lublin", "20"), ("Katowice", "40"), ("Rzeszów", "35")],
    "HU": [("Budapest", "1"), ("Debrecen", "40"), ("Szeged", "67"), ("Miskolc", "35"), ("Pécs", "76"),
           ("Győr", "90"), ("Nyíregyháza", "44"), ("Kecskemét", "60"), ("Székesfehérvár", "80"), ("Eger", "33")],
}
_STREETS = {
    "CZ": _words("Náměstí Míru|Husova|Žižkova|Palackého|Masarykova|Třebízského|Dlouhá|Křižíkova|Nádražní|Školní|"
                 "Zahradní|Komenského|Sokolská|Lipová|Polní|Jiráskova|Smetanova|Tyršova|Revoluční|U Lesa|Krátká|Luční",
                 "|"),
    "SK": _words("Hlavná|Štúrova|Ľudová|Mierová|Košická|Palisády|Obchodná|Šancová|Záhradná|Školská|Nová|Krátka|"
                 "Poľná|Hviezdoslavova|Sládkovičova|Jesenského|Dukelská|Partizánska", "|"),
    "PL": _words("Długa|Piękna|Źródlana|Żeromskiego|Świętokrzyska|Wąska|Słoneczna|Ogrodowa|Polna|Leśna|Lipowa|"
                 "Kościuszki|Mickiewicza|Kwiatowa|Szkolna|Krótka|Sienkiewicza", "|"),
    "HU": _words("Fő utca|Kossuth Lajos utca|Petőfi Sándor utca|Rákóczi út|Dózsa György út|Szőlő utca|Ady Endre utca|"
                 "Jókai Mór utca|Béke utca|Arany János utca|Kölcsey utca|Bartók Béla út|Széchenyi tér", "|"),
}
# fmt: on
_PROVIDERS = {
    "CZ": ["seznam.cz", "email.cz", "centrum.cz", "gmail.com", "volny.cz", "post.cz", "outlook.com"],
    "SK": ["azet.sk", "gmail.com", "centrum.sk", "post.sk", "zoznam.sk", "outlook.com"],
    "PL": ["wp.pl", "onet.pl", "o2.pl", "interia.pl", "gmail.com", "op.pl"],
    "HU": ["freemail.hu", "citromail.hu", "gmail.com", "t-online.hu", "outlook.com"],
}
_MOBILE = {
    "CZ": ("+420", ["60", "72", "73", "77", "79"], 7),
    "SK": ("+421", ["90", "91", "94", "95"], 7),
    "PL": ("+48", ["50", "51", "60", "66", "69", "72", "78", "88"], 7),
    "HU": ("+36", ["20", "30", "70"], 7),
}
_COMPANY_WORDS = _words("Stavby Obchod Technika Služby Nábytek Elektro Potraviny Auto Reality Servis Tisk Okna Design")
_LEGAL_FORMS = {
    "CZ": ["s.r.o.", "spol. s r.o.", "a.s.", "v.o.s.", "k.s."],
    "SK": ["s.r.o.", "spol. s r.o.", "a.s.", "k.s."],
    "PL": ["sp. z o.o.", "S.A.", "sp.j."],
    "HU": ["Kft.", "Bt.", "Zrt."],
}
_COUNTRY_SHARE = (("CZ", 0.5), ("SK", 0.25), ("PL", 0.15), ("HU", 0.1))
_ASCII = str.maketrans(
    "áäčďéěíĺľňóôöőŕřšťúůüűýžąćęłńśźżÁÄČĎÉĚÍĹĽŇÓÔÖŐŔŘŠŤÚŮÜŰÝŽĄĆĘŁŃŚŹŻ",
    "aacdeeillnoooorrstuuuuyzacelnszzAACDEEILLNOOOORRSTUUUUYZACELNSZZ",
)


@dataclasses.dataclass
class Person:
    """One real customer before it is written down (maybe several times)."""

    country: str
    female: bool
    given: str
    family: str
    email: str | None
    phone: str
    street: str
    city: str
    zip: str
    birth_date: str | None
    company: str | None = None
    legal_form: str | None = None
    ico: str | None = None
    dic: str | None = None
    ic_dph: str | None = None


def feminine(family: str, country: str) -> str:
    """The family name a woman carries: Nováková, Černá, Kowalska; Hungarian names do not change."""
    if country == "HU":
        return family
    if country == "PL":
        for masculine, fem in (("ski", "ska"), ("cki", "cka"), ("dzki", "dzka")):
            if family.endswith(masculine):
                return family[: -len(masculine)] + fem
        return family
    if family.endswith("ý"):
        return family[:-1] + "á"
    if family.endswith("í"):
        return family
    if family.endswith("a"):
        return family[:-1] + "ová"
    if family.endswith("ek"):
        return family[:-2] + "ková"
    if family.endswith("ec"):
        return family[:-2] + "cová"
    return family + "ová"


def _ico(rng: random.Random, taken: set[str]) -> str:
    first = f"{rng.randint(1_000_000, 9_999_999):07d}"
    while first in taken:
        first = f"{rng.randint(1_000_000, 9_999_999):07d}"
    taken.add(first)
    weights = (8, 7, 6, 5, 4, 3, 2)
    remainder = sum(int(d) * w for d, w in zip(first, weights, strict=True)) % 11
    return first + str((11 - remainder) % 10)


def _sk_tax_number(rng: random.Random) -> str:
    number = rng.randint(2_020_000_000, 2_129_999_999)
    return str(number - number % 11)


class Generator:
    """Deterministic for a seed; every person's e-mail and phone are unique among people."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.icos: set[str] = set()
        self.married: set[int] = set()
        rng = self.rng
        # A long tail of family names: 30 common ones per country, then ~2,000 generated rarer ones.
        self.surnames: dict[str, tuple[list[str], list[float]]] = {}
        for country, common in _SURNAMES.items():
            tail = sorted(
                {
                    rng.choice(_STEMS[country]) + rng.choice(_MIDDLES[country]) + rng.choice(_ENDINGS[country])
                    for _ in range(3000)
                }
            )
            names = common + [n for n in tail if n not in common]
            weights = [1.0 / (rank + 3) for rank in range(len(names))]
            self.surnames[country] = (names, weights)

    def _unique_email(self, address: str) -> str:
        # Unique as a mailbox, not just as a string: at gmail "a.b" and "ab" are one person's.
        while (key := email_key(address)) in self.emails:
            local, _, domain = address.partition("@")
            address = f"{local}{self.rng.choice(string.digits)}@{domain}"
        self.emails.add(key or address)
        return address

    def _email(self, given: str, family: str, country: str, birth_year: int) -> str:
        rng = self.rng
        g, f = given.lower().translate(_ASCII), family.lower().translate(_ASCII)
        local = rng.choice(
            [f"{g}.{f}", f"{f}.{g}", f"{g}{f}", f"{g[0]}{f}", f"{g}.{f}{birth_year % 100:02d}", f"{f}{g[0]}"]
        )
        return self._unique_email(f"{local}@{rng.choice(_PROVIDERS[country])}")

    def _phone(self, country: str) -> str:
        prefix, starts, digits = _MOBILE[country]
        while True:
            number = prefix + self.rng.choice(starts) + "".join(self.rng.choice(string.digits) for _ in range(digits))
            if number not in self.phones:
                self.phones.add(number)
                return number

    def _birth(self) -> str:
        return f"{self.rng.randint(1940, 2004)}-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}"

    def _address(self, country: str) -> tuple[str, str, str]:
        city, zip_prefix = self.rng.choice(_CITIES[country])
        street = f"{self.rng.choice(_STREETS[country])} {self.rng.randint(1, 200)}"
        return street, city, self._zip(country, zip_prefix)

    def _zip(self, country: str, prefix: str) -> str:
        digits = (prefix + "".join(self.rng.choice("0123456789") for _ in range(5)))[:5]
        if country in ("CZ", "SK"):
            return f"{digits[:3]} {digits[3:]}"
        if country == "PL":
            return f"{digits[:2]}-{digits[2:]}"
        return digits[:4]

    def person(self) -> Person:
        rng = self.rng
        country = rng.choices([c for c, _ in _COUNTRY_SHARE], [w for _, w in _COUNTRY_SHARE])[0]
        female = rng.random() < 0.5
        given = rng.choice((_GIVEN_FEMALE if female else _GIVEN_MALE)[country])
        names, weights = self.surnames[country]
        family = rng.choices(names, weights)[0]
        if female:
            family = feminine(family, country)
        birth = self._birth() if rng.random() < 0.5 else None
        year = int(birth[:4]) if birth else rng.randint(1950, 2000)
        street, city, zip_code = self._address(country)
        person = Person(
            country=country,
            female=female,
            given=given,
            family=family,
            email=self._email(given, family, country, year) if rng.random() < 0.95 else None,
            phone=self._phone(country),
            street=street,
            city=city,
            zip=zip_code,
            birth_date=birth,
        )
        if rng.random() < 0.15:
            person.company = f"{rng.choice([family, rng.choice(_COMPANY_WORDS)])} {rng.choice(_COMPANY_WORDS)}"
            person.legal_form = rng.choice(_LEGAL_FORMS[country])
            if country in ("CZ", "SK"):
                person.ico = _ico(rng, self.icos)
                if country == "CZ":
                    person.dic = f"CZ{person.ico}"
                else:
                    person.dic = _sk_tax_number(rng)
                    person.ic_dph = f"SK{person.dic}"
        return person

    def contact(self, person: Person) -> Contact:
        """The person as first written down: clean, with diacritics, one phone format."""
        return Contact(
            name=f"{person.given} {person.family}",
            company=f"{person.company} {person.legal_form}" if person.company else None,
            email=person.email,
            phone=self._phone_format(person.phone, person.country, clean=True),
            street=person.street,
            city=person.city,
            zip=person.zip,
            country=person.country,
            ico=person.ico,
            dic=person.dic,
            ic_dph=person.ic_dph,
            birth_date=person.birth_date,
        )

    def _phone_format(self, e164: str, country: str, *, clean: bool = False) -> str:
        prefix = _MOBILE[country][0]
        national = e164[len(prefix) :]
        spaced = " ".join(national[i : i + 3] for i in range(0, len(national), 3))
        if clean:
            return f"{prefix} {spaced}"
        trunk = {"SK": "0", "HU": "06"}.get(country, "")
        return self.rng.choice(
            [
                f"{prefix} {spaced}",
                e164,
                national,
                spaced,
                "00" + e164[1:],
                f"{trunk}{national}",
                f"({prefix}) {spaced}",
            ]
        )

    def _typo(self, word: str) -> str:
        rng = self.rng
        if len(word) < 4:
            return word
        at = rng.randint(1, len(word) - 2)  # the first letter is rarely mistyped
        kind = rng.randrange(4)
        letters = "aeioulnrstkvmdhjcz"
        if kind == 0:
            return word[:at] + rng.choice(letters) + word[at + 1 :]
        if kind == 1:
            return word[:at] + word[at + 1 :]
        if kind == 2:
            return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
        return word[:at] + rng.choice(letters) + word[at:]

    def duplicate(self, person: Person) -> Contact:
        """The same person written down again, with a few of the usual differences."""
        rng = self.rng
        given, family = person.given, person.family
        email, phone = person.email, self._phone_format(person.phone, person.country)
        street, city, zip_code = person.street, person.city, person.zip
        birth, company, ico = person.birth_date, person.company, person.ico
        legal_form = person.legal_form
        # Hard changes (a new mailbox, a new phone, a move, a typo) are rarer than format changes.
        if rng.random() < 0.2:
            if rng.random() < 0.5:
                family = self._typo(family)
            else:
                given = self._typo(given)
        if email and rng.random() < 0.2:
            email = self._email(given, family, person.country, int(birth[:4]) if birth else 1980)
        elif email and rng.random() < 0.3:
            local, _, domain = email.partition("@")
            if domain == "gmail.com" and rng.random() < 0.5:
                email = f"{local.replace('.', '')}+eshop@{domain}"
            else:
                email = rng.choice([email.upper(), email.title(), email.capitalize()])
        elif rng.random() < 0.05:
            email = None
        if rng.random() < 0.15:
            phone = self._phone_format(self._phone(person.country), person.country)
        elif rng.random() < 0.05:
            phone = ""
        if rng.random() < 0.25:
            street, city, zip_code = (
                self._address(person.country)
                if rng.random() < 0.5
                else (f"{rng.choice(_STREETS[person.country])} {rng.randint(1, 200)}", city, zip_code)
            )
        if birth and rng.random() < 0.3:
            birth = None
        name = rng.choice([f"{given} {family}", f"{family} {given}", f"{family.upper()} {given}"])
        if rng.random() < 0.1:
            name = rng.choice(["Ing.", "Mgr.", "Bc."]) + " " + name
        if legal_form and rng.random() < 0.5:
            legal_form = rng.choice([*_LEGAL_FORMS[person.country], "", legal_form.replace(".", ". ").strip()])
        if ico and rng.random() < 0.3:
            ico = f"{ico[:2]} {ico[2:5]} {ico[5:]}"
        contact = Contact(
            name=name,
            company=f"{company} {legal_form}".strip() if company else None,
            email=email,
            phone=phone or None,
            street=street,
            city=city,
            zip=zip_code,
            country=person.country,
            ico=ico,
            dic=person.dic if rng.random() < 0.7 else None,
            ic_dph=person.ic_dph,
            birth_date=birth,
        )
        if rng.random() < 0.3:
            contact = _ascii(contact)
        return contact

    def namesake(self, person: Person) -> Person:
        """A different person with the same name in the same town: the hard negative."""
        other = self.person()
        while other.country != person.country:
            other = self.person()
        other.female, other.given, other.family = person.female, person.given, person.family
        other.city, other.zip = person.city, person.zip
        while other.street == person.street:  # one name at one address is one person here
            other.street = self._address(person.country)[0]
        other.company = other.legal_form = other.ico = other.dic = other.ic_dph = None
        if person.birth_date and not other.birth_date:
            other.birth_date = self._birth()
        while other.birth_date is not None and other.birth_date == person.birth_date:
            other.birth_date = self._birth()
        return other

    def spouse(self, person: Person) -> Person:
        """Another person of the household: same address, family name in the other gender, often the phone."""
        other = self.person()
        while other.country != person.country:
            other = self.person()
        other.female = not person.female
        base = person.family
        if person.female:
            base = next((n for n in self.surnames[person.country][0] if feminine(n, person.country) == base), base)
        other.family = feminine(base, person.country) if other.female else base
        other.given = self.rng.choice((_GIVEN_FEMALE if other.female else _GIVEN_MALE)[person.country])
        other.street, other.city, other.zip = person.street, person.city, person.zip
        other.company = other.legal_form = other.ico = other.dic = other.ic_dph = None
        if self.rng.random() < 0.3:
            other.phone = person.phone
        return other


def _ascii(contact: Contact) -> Contact:
    changed: dict[str, Any] = {
        field: value.translate(_ASCII)
        for field in ("name", "company", "street", "city")
        if isinstance(value := getattr(contact, field), str)
    }
    return dataclasses.replace(contact, **changed)


def generate(
    count: int, *, duplicates: float = 0.1, namesakes: float = 0.02, households: float = 0.02, seed: int = 1
) -> list[tuple[str, Contact, int]]:
    """`count` labeled records (id, contact, entity): a share are duplicates of an earlier entity,
    some are namesakes (same name and town, another person) and household members.
    """
    gen = Generator(seed)
    people: list[Person] = []
    records: list[tuple[Contact, int]] = []
    for _ in range(count):
        roll = gen.rng.random()
        if people and roll < duplicates:
            entity = gen.rng.randrange(len(people))
            records.append((gen.duplicate(people[entity]), entity))
            continue
        if people and roll < duplicates + namesakes:
            person = gen.namesake(gen.rng.choice(people))
        elif (
            people
            and roll < duplicates + namesakes + households
            and (partner := gen.rng.randrange(len(people))) not in gen.married
        ):
            # One spouse each: two spouses both named Silvia at one address would be one person.
            gen.married.add(partner)
            person = gen.spouse(people[partner])
        else:
            person = gen.person()
        people.append(person)
        records.append((gen.contact(person), len(people) - 1))
    gen.rng.shuffle(records)
    return [(f"r{n}", dataclasses.replace(contact, id=f"r{n}"), entity) for n, (contact, entity) in enumerate(records)]


def iter_lines(records: list[tuple[str, Contact, int]]) -> Iterator[str]:
    for _, contact, _ in records:
        yield contact.to_json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--duplicates", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, required=True, help="contacts, one JSON object per line")
    parser.add_argument("--labels", type=Path, help="id -> entity, one JSON object per line")
    args = parser.parse_args(argv)
    records = generate(args.count, duplicates=args.duplicates, seed=args.seed)
    with args.output.open("w", encoding="utf-8") as out:
        for line in iter_lines(records):
            out.write(line + "\n")
    if args.labels:
        with args.labels.open("w", encoding="utf-8") as out:
            for record_id, _, entity in records:
                out.write(json.dumps({"id": record_id, "entity": entity}) + "\n")
    print(f"{len(records)} records written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
