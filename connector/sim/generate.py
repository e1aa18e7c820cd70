"""Generated Central-European customers for the simulators, the demo, tests and benchmarks.

Czech, Slovak, Polish and Hungarian names and addresses with their diacritics, all within
Windows-1250, deterministic for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from connector.model import Consent, Contact, ShipTo

_PEOPLE = {
    "CZ": (
        ["Jan", "Petr", "Jiří", "Tomáš", "Lukáš", "Eva", "Jana", "Lenka", "Kateřina", "Zuzana", "Řehoř", "Ondřej"],
        ["Novák", "Svoboda", "Dvořák", "Černý", "Procházka", "Kučera", "Veselý", "Horák", "Němec", "Růžička"],
        ["Praha", "Brno", "Ostrava", "Plzeň", "Olomouc", "České Budějovice", "Hradec Králové", "Ústí nad Labem"],
        ["Náměstí Míru", "Husova", "Žižkova", "Palackého", "Masarykova", "Třebízského", "Dlouhá", "Křižíkova"],
        "+420",
    ),
    "SK": (
        ["Ján", "Peter", "Martin", "Ľubomír", "Juraj", "Mária", "Zuzana", "Katarína", "Ľudmila", "Jarmila"],
        ["Kováč", "Horváth", "Varga", "Tóth", "Nagy", "Baláž", "Molnár", "Šimko", "Ďurica", "Lukáč"],
        ["Bratislava", "Košice", "Prešov", "Žilina", "Nitra", "Banská Bystrica", "Trnava", "Martin"],
        ["Hlavná", "Štúrova", "Ľudová", "Mierová", "Košická", "Palisády", "Obchodná", "Šancová"],
        "+421",
    ),
    "PL": (
        ["Łukasz", "Paweł", "Michał", "Krzysztof", "Anna", "Małgorzata", "Agnieszka", "Zofia", "Józef", "Wojciech"],
        ["Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kamiński", "Lewandowski", "Zieliński", "Szymański"],
        ["Kraków", "Łódź", "Wrocław", "Poznań", "Gdańsk", "Szczecin", "Białystok", "Częstochowa"],
        ["Długa", "Piękna", "Źródlana", "Żeromskiego", "Świętokrzyska", "Wąska", "Słoneczna", "Ogrodowa"],
        "+48",
    ),
    "HU": (
        ["László", "István", "József", "Zoltán", "Erzsébet", "Katalin", "Éva", "Ildikó", "Győző", "Ödön"],
        ["Nagy", "Kovács", "Tóth", "Szabó", "Horváth", "Varga", "Kiss", "Molnár", "Németh", "Fűzfa"],
        ["Budapest", "Debrecen", "Szeged", "Miskolc", "Pécs", "Győr", "Nyíregyháza", "Kecskemét"],
        ["Fő utca", "Kossuth Lajos utca", "Petőfi Sándor utca", "Rákóczi út", "Dózsa György út", "Szőlő utca"],
        "+36",
    ),
}
_COMPANY_FORMS = {"CZ": "s.r.o.", "SK": "s.r.o.", "PL": "sp. z o.o.", "HU": "Kft."}
_COMPANY_WORDS = ["Stavby", "Obchod", "Technika", "Služby", "Nábytek", "Elektro", "Potraviny", "Auto"]
_ZIP = {"CZ": "{:03d} {:02d}", "SK": "{:03d} {:02d}", "PL": "{:02d}-{:03d}", "HU": "{:04d}"}
_ASCII = str.maketrans("áäčďéěíĺľňóôöőŕřšťúůüűýžąćęłńśźżÁÄČĎÉĚÍĹĽŇÓÔÖŐŔŘŠŤÚŮÜŰÝŽĄĆĘŁŃŚŹŻ",
                       "aacdeeillnoooorrstuuuuyzacelnszzAACDEEILLNOOOORRSTUUUUYZACELNSZZ")


def _zip(rng: random.Random, country: str) -> str:
    pattern = _ZIP[country]
    if country == "HU":
        return pattern.format(rng.randint(1000, 9999))
    if country == "PL":
        return pattern.format(rng.randint(10, 99), rng.randint(100, 999))
    return pattern.format(rng.randint(100, 799), rng.randint(10, 99))


def generate_contact(rng: random.Random, number: int, *, rich: bool = True) -> Contact:
    """One customer; `rich` adds ship-to addresses, groups, consent and company ids."""
    country = rng.choice(list(_PEOPLE))
    first, last, cities, streets, prefix = _PEOPLE[country]
    given, family = rng.choice(first), rng.choice(last)
    name = f"{given} {family}"
    email_local = f"{given}.{family}".lower().translate(_ASCII).replace(" ", "")
    is_company = rich and rng.random() < 0.3
    city = rng.choice(cities)
    contact = Contact(
        name=name,
        company=f"{family} {rng.choice(_COMPANY_WORDS)} {_COMPANY_FORMS[country]}" if is_company else None,
        email=f"{email_local}.{number}@example.{country.lower()}",
        phone=f"{prefix} {rng.randint(600, 799)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
        street=f"{rng.choice(streets)} {rng.randint(1, 180)}",
        city=city,
        zip=_zip(rng, country),
        country=country,
    )
    if not rich:
        return contact
    extra: dict[str, object] = {}
    if is_company:
        extra["ico"] = f"{rng.randint(10_000_000, 99_999_999)}"
        extra["dic"] = f"{country}{extra['ico']}"
        if country == "SK":
            extra["ic_dph"] = f"SK{rng.randint(1_000_000_000, 9_999_999_999)}"
    if rng.random() < 0.5:
        extra["mobile"] = f"{prefix} {rng.randint(600, 799)}{rng.randint(100000, 999999)}"
    if rng.random() < 0.4:
        extra["ship_to"] = tuple(
            ShipTo(
                name=name,
                street=f"{rng.choice(streets)} {rng.randint(1, 90)}",
                city=rng.choice(cities),
                zip=_zip(rng, country),
                country=country,
                default=(i == 0),
            )
            for i in range(rng.randint(1, 3))
        )
    if rng.random() < 0.3:
        extra["groups"] = tuple(sorted(rng.sample(["VIP", "B2B", "Newsletter", "Velkoobchod"], rng.randint(1, 2))))
    if rng.random() < 0.5:
        granted = f"20{rng.randint(18, 25)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
        extra["gdpr"] = (Consent(purpose="Marketing", date_from=granted),)
    if rng.random() < 0.2:
        extra["birth_date"] = f"19{rng.randint(40, 99)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if rng.random() < 0.1:
        extra["note"] = "Zákazník preferuje doručení „po 16. hodině“."
    return contact.replace(**extra)


def generate_contacts(count: int, *, seed: int = 1, rich: bool = True, start: int = 0) -> Iterator[Contact]:
    """`count` customers, deterministic for `seed`; e-mails are unique by `number`."""
    rng = random.Random(seed)
    for number in range(start, start + count):
        yield generate_contact(rng, number, rich=rich)
