"""The data-driven matcher: hard negatives never linked, EM-estimated weights, missing values, blocking."""

from __future__ import annotations

import functools
import itertools
import random
from collections import Counter, defaultdict

import pytest
from bench_modules import load_bench

from connector.dedup import DedupEngine, blocking_keys, compare, find_duplicates, fold, prepare
from connector.dedup._compare import (
    BIRTH_DIFFERENT,
    BIRTH_TYPO,
    FIELDS,
    NAME_CLOSE,
    NAME_DIFFERENT,
    NAME_EXACT,
    compare_birth,
    compare_features,
    compare_names,
    pattern_code,
)
from connector.dedup._model import estimate_u, train_m
from connector.dedup._score import token_similarity
from connector.model import Contact

corrupt = load_bench("corrupt")


def contact(**fields: str) -> Contact:
    return Contact.from_dict(fields)


@functools.lru_cache(maxsize=4)
def _background(count: int, seed: int) -> tuple[tuple[str, Contact], ...]:
    population = corrupt.Population(seed)
    return tuple((f"bg{n}", corrupt.contact_of(population.person())) for n in range(count))


def background(count: int = 6000, seed: int = 77) -> list[tuple[str, Contact]]:
    """Other people, enough that the engine learns from the data and knows which spellings are common."""
    return list(_background(count, seed))


HOME = {"street": "Husova 15", "city": "Beroun", "zip": "266 01"}
HARD_NEGATIVES = {
    "twins": (
        {"name": "Petr Dušek", "birth_date": "1990-04-12", **HOME},
        {"name": "Pavel Dušek", "birth_date": "1990-04-12", **HOME},
    ),
    "twins-close-names": (
        {"name": "Pavel Dušek", "birth_date": "1990-04-12", **HOME},
        {"name": "Pavla Dušková", "birth_date": "1990-04-12", **HOME},
    ),
    "twins-similar-names": (
        {"name": "Marek Dušek", "birth_date": "1990-04-12", **HOME},
        {"name": "Marta Dušek", "birth_date": "1990-04-12", **HOME},
    ),
    "father-and-son": (
        {"name": "Jan Dušek", "birth_date": "1961-02-03", **HOME},
        {"name": "Jan Dušek", "birth_date": "1989-11-30", **HOME},
    ),
    "companies-at-one-address": (
        {"company": "Stavby Dušek s.r.o.", "ico": "25596641", **HOME},
        {"company": "Okna Dušek s.r.o.", "ico": "45274649", **HOME},
    ),
    "parent-and-child-sharing-phone-and-email": (
        {"name": "Petr Dušek", "phone": "+420 603 111 222", "email": "dusekovi@post.example", **HOME},
        {"name": "Vendelín Dušek", "phone": "603111222", "email": "dusekovi@post.example", **HOME},
    ),
    "father-and-son-by-generation-mark": (
        {"name": "Jan Dušek st.", "email": "dusek@post.example", **HOME},
        {"name": "Jan Dušek ml.", "email": "dusek@post.example", **HOME},
    ),
    "father-and-son-senior-and-junior": (
        {"name": "John Miller Sr.", **HOME},
        {"name": "John Miller Jr.", **HOME},
    ),
    "two-companies-of-one-man-at-one-address": (
        {"name": "Jan Dušek", "company": "Stavby Dušek s.r.o.", **HOME},
        {"name": "Jan Dušek", "company": "Okna Beroun s.r.o.", **HOME},
    ),
    "two-companies-sharing-a-phone": (
        {"company": "Stavby Beroun s.r.o.", "phone": "+420 603 111 222", **HOME},
        {"company": "Elektro Horák a.s.", "phone": "+420 603 111 222", **HOME},
    ),
    "namesakes-in-two-flats-of-one-house": (
        {"name": "Piotr Nowak", "street": "ul. Zielona 12/3", "zip": "00-950", "city": "Warszawa"},
        {"name": "Piotr Nowak", "street": "ul. Zielona 12/4", "zip": "00-950", "city": "Warszawa"},
    ),
    "companies-without-ico": (
        {"company": "Stavby Beroun s.r.o.", "email": "info@stavby.example", **HOME},
        {"company": "Elektro Horák a.s.", "email": "obchod@elektro.example", **HOME},
    ),
}


@pytest.mark.parametrize("learned", [False, True], ids=["priors", "learned"])
@pytest.mark.parametrize(("first", "second"), list(HARD_NEGATIVES.values()), ids=list(HARD_NEGATIVES))
def test_hard_negatives_are_never_linked(first: dict[str, str], second: dict[str, str], learned: bool) -> None:
    others = background() if learned else []
    engine = DedupEngine([*others, ("a", contact(**first))])
    match = engine.best_match(contact(**second))
    assert match is None or match.band == "review" or match.candidate_id != "a", match
    clusters = find_duplicates([*others, ("a", contact(**first)), ("b", contact(**second))])
    assert not any({"a", "b"} <= set(c.ids) and c.band == "link" for c in clusters)


def test_a_record_without_birth_date_at_father_and_son_is_a_question() -> None:
    father = {"name": "Jan Dušek", "birth_date": "1961-02-03", **HOME}
    son = {"name": "Jan Dušek", "birth_date": "1989-11-30", **HOME}
    unknown = contact(name="Dušek Jan", **HOME)
    records = [*background(), ("father", contact(**father)), ("son", contact(**son))]
    match = DedupEngine(records).best_match(unknown)
    assert match is not None and match.band == "review"
    clusters = find_duplicates([*records, ("unknown", unknown)], review=True)
    assert not any("unknown" in c.ids for c in clusters if c.band == "link")
    assert any("unknown" in c.ids for c in clusters if c.band == "review")


DUPLICATES = {
    "typo-in-street-and-name": (
        {"name": "Steven Carter", "street": "146 Green Lane", "zip": "EX20 3RA", "city": "Exeter"},
        {"name": "steven crater", "street": "146 Grene Ln", "zip": "EX20 3RA", "city": "Exeter"},
    ),
    "transposed-house-number": (
        {"name": "Zbyněk Kopecký", "street": "Havlíčkova 130", "zip": "755 47", "city": "Vsetín"},
        {"name": "Kopecký Zbyněk", "street": "Havlíčkova 310", "zip": "755 47", "city": "Vsetín"},
    ),
    "transposed-postcode-and-a-name-typo": (
        {"name": "Zbyněk Kopecký", "street": "Havlíčkova 130", "zip": "755 47", "city": "Vsetín"},
        {"name": "Zbyněk Kopecky", "street": "Havlíčkova 130", "zip": "755 74", "city": "Vsetín"},
    ),
    "birth-digits-swapped": (
        {"name": "Gábor Pintér", "birth_date": "1957-01-04", "zip": "2438", "city": "Dunaújváros"},
        {"name": "Pinter Gabor", "birth_date": "1957-10-04", "zip": "2438", "city": "Dunaujvaros"},
    ),
    "nickname-and-abbreviated-street": (
        {"name": "William Evans", "street": "210 Queens Road", "zip": "BD25 6DR", "city": "Bradford"},
        {"name": "Bill Evans", "street": "210 Queens Rd", "zip": "BD25 6DR", "city": "Bradford"},
    ),
    "garbled-given-name-same-email": (
        {"name": "Adam Urban", "street": "Pražská 83", "zip": "547 94", "city": "Náchod", "email": "au8@mail.example"},
        {"name": "ADSRN URBAN", "street": "Pražská 83", "zip": "547 94", "city": "Náchod", "email": "au8@mail.example"},
    ),
    "conscription-and-orientation-number": (
        {"name": "Zbyněk Kopecký", "street": "Havlíčkova 1302/13", "zip": "755 47", "city": "Vsetín"},
        {"name": "Kopecký Zbyněk", "street": "ul. Havlíčkova 13", "zip": "755 47", "city": "Vsetín"},
    ),
    "conscription-number-mark": (
        {"name": "Zbyněk Kopecký", "street": "Lhota č.p. 130", "zip": "755 47", "city": "Vsetín"},
        {"name": "Kopecký Zbyněk", "street": "Lhota 130", "zip": "755 47", "city": "Vsetín"},
    ),
    "initial-and-missing-birth": (
        {"name": "Jennifer Brown", "birth_date": "1943-01-11", "street": "12 Park Avenue", "zip": "YO3 8RF"},
        {"name": "J. Brown", "street": "12 Park Ave", "zip": "YO3 8RF"},
    ),
}


@pytest.mark.parametrize(("existing", "registration"), list(DUPLICATES.values()), ids=list(DUPLICATES))
def test_ordinary_data_entry_errors_are_linked(existing: dict[str, str], registration: dict[str, str]) -> None:
    engine = DedupEngine([*background(), ("a", contact(**existing))])
    match = engine.best_match(contact(**registration))
    assert match is not None and match.band == "link" and match.candidate_id == "a", match


def test_a_missing_value_neither_rewards_nor_punishes() -> None:
    full = prepare(contact(name="Jan Dušek", street="Husova 15", zip="266 01", city="Beroun"))
    no_street = prepare(contact(name="Jan Dušek", zip="266 01", city="Beroun"))
    with_birth = prepare(contact(name="Jan Dušek", zip="266 01", city="Beroun", birth_date="1970-01-01"))
    # One side's street or birth date missing scores as if neither side had it.
    assert compare(full, no_street).score == compare(no_street, no_street).score
    assert compare(with_birth, no_street).score == compare(no_street, no_street).score


def test_levels_of_names_and_birth_dates() -> None:
    assert compare_names(("dusek", "jan"), ("dusek", "jan"))[0] == NAME_EXACT
    assert compare_names(("dusek", "jan"), ("dsek", "jan"))[0] == NAME_CLOSE
    assert compare_names(("dusek", "jan"), ("duskova", "jana"))[0] == NAME_DIFFERENT
    assert compare_birth("1957-01-04", "1957-10-04") == BIRTH_TYPO  # two digits transposed
    assert compare_birth("1957-01-04", "1957-04-01") == BIRTH_TYPO  # day and month swapped
    assert compare_birth("1957-01-04", "1961-02-03") == BIRTH_DIFFERENT


def _labeled(seed: int, availability: str = "no_contact", count: int = 3000) -> list[tuple[str, Contact, int]]:
    records: list[tuple[str, Contact, int]] = corrupt.labeled_set(count, seed, corrupt.TUNING.rates, availability)
    return records


def test_em_learns_that_agreement_is_evidence_for_and_disagreement_against() -> None:
    records = _labeled(seed=2)
    features = [prepare(c) for _, c, _ in records]
    u = estimate_u(features)
    by_key: dict[str, list[int]] = defaultdict(list)
    for n, f in enumerate(features):
        for key in blocking_keys(f):
            by_key[key].append(n)
    pairs = {
        tuple(sorted(p)) for block in by_key.values() if len(block) <= 50 for p in itertools.combinations(block, 2)
    }
    patterns = Counter(pattern_code(compare_features(features[a], features[b]).levels) for a, b in pairs)
    m, share = train_m(patterns, u)
    assert 0.05 < share < 0.95
    for field in ("name", "birth", "street", "place"):
        f = FIELDS.index(field)
        assert m[f][0] > 10 * u[f][0], field  # exact agreement: far likelier for one person
        assert m[f][-1] < u[f][-1], field  # full disagreement: likelier for two people


def test_a_typo_in_any_one_field_leaves_a_blocking_key() -> None:
    base = {
        "name": "Bohumil Kopecký",
        "street": "Pražská 40",
        "zip": "787 43",
        "city": "Šumperk",
        "birth_date": "1936-05-16",
    }
    typos = {
        "name": {"name": "Bohumil Kpoecký"},
        "given name": {"name": "Bohmuil Kopecký"},
        "street": {"street": "Prašská 40"},
        "house": {"street": "Pražská 04"},
        "zip": {"zip": "787 34"},
        "city": {"city": "Šunperk"},
        "birth": {"birth_date": "1936-06-16"},
    }
    keys = set(blocking_keys(prepare(contact(**base))))
    for field, change in typos.items():
        assert keys & set(blocking_keys(prepare(contact(**(base | change))))), field
        without_birth = {k: v for k, v in (base | change).items() if k != "birth_date"}
        base_without = {k: v for k, v in base.items() if k != "birth_date"}
        if field != "birth":
            assert set(blocking_keys(prepare(contact(**base_without)))) & set(
                blocking_keys(prepare(contact(**without_birth)))
            ), field


def test_batch_on_held_out_people_finds_duplicates_without_false_links() -> None:
    records = _labeled(seed=4)
    by_entity: dict[int, list[str]] = defaultdict(list)
    for record_id, _, entity in records:
        by_entity[entity].append(record_id)
    truth = {p for ids in by_entity.values() for p in itertools.combinations(sorted(ids), 2)}
    clusters = find_duplicates([(r, c) for r, c, _ in records])
    linked = {p for c in clusters if c.band == "link" for p in itertools.combinations(sorted(c.ids), 2)}
    assert len(truth) > 500
    assert len(linked & truth) / len(linked) >= 0.99
    assert len(linked & truth) / len(truth) >= 0.95


def test_the_splits_share_no_seed_and_differ_in_rates() -> None:
    assert not set(corrupt.TUNING.seeds) & set(corrupt.EVALUATION.seeds)
    assert corrupt.TUNING.rates != corrupt.EVALUATION.rates
    seeds = [*corrupt.TUNING.seeds, *corrupt.EVALUATION.seeds, *corrupt.HOLDOUT.seeds]
    assert len(set(seeds)) == len(seeds)
    assert corrupt.HOLDOUT.rates != corrupt.TUNING.rates


def test_the_corruption_model_is_deterministic_and_slices_share_people() -> None:
    full = corrupt.labeled_set(500, 3, corrupt.TUNING.rates, "full")
    again = corrupt.labeled_set(500, 3, corrupt.TUNING.rates, "full")
    assert full == again
    no_birth = corrupt.labeled_set(500, 3, corrupt.TUNING.rates, "no_birth")
    assert all(c.birth_date is None and c.email is None and c.phone is None for _, c, _ in no_birth)
    assert [e for _, _, e in no_birth] == [e for _, _, e in full]


def test_twins_get_a_name_of_their_own() -> None:
    """Not the sibling's middle name nor a nickname of the sibling's name ("Elizabeth"/"Betty"):
    such a pair is one person written twice, to the engine as to any reader."""
    population = corrupt.Population(11)
    twins = 0
    for _ in range(3000):
        person = population.person()
        twin = population.twin(person)
        twins += person.middle is not None
        assert twin.given != person.middle
        assert token_similarity(fold(twin.given), fold(person.given)) < 0.95, (person.given, twin.given)
    assert twins > 50  # middle names were there to be taken


def test_english_names_and_addresses_are_generated() -> None:
    rng_records = corrupt.labeled_set(2000, 5, corrupt.TUNING.rates, "full")
    countries = Counter(c.country for _, c, _ in rng_records)
    assert countries[None] > 100  # the English records carry no country code
    assert {"CZ", "SK", "PL", "HU"} <= set(countries)


def test_scores_do_not_depend_on_argument_order_with_learned_rarity() -> None:
    engine = DedupEngine(background())
    rng = random.Random(1)
    people = [prepare(c) for _, c in background(200, seed=5)]
    for a, b in (rng.sample(people, 2) for _ in range(200)):
        rare = engine.names.rare_test()
        assert compare_features(a, b, rare).levels == compare_features(b, a, rare).levels
        assert compare(a, b, engine.names.share, engine.model) == compare(b, a, engine.names.share, engine.model)


def test_an_email_says_which_of_father_and_son_a_record_without_birth_date_is() -> None:
    father = {"name": "Jan Dušek", "birth_date": "1961-02-03", "email": "jan.dusek@post.example", **HOME}
    son = {"name": "Jan Dušek", "birth_date": "1989-11-30", "email": "honza.dusek@mail.example", **HOME}
    unknown = contact(name="Dušek Jan", email="HONZA.DUSEK@mail.example", **HOME)
    records = [*background(), ("father", contact(**father)), ("son", contact(**son))]
    match = DedupEngine(records).best_match(unknown)
    assert match is not None and match.band == "link" and match.candidate_id == "son", match
    clusters = find_duplicates([*records, ("unknown", unknown)])
    linked = [set(c.ids) for c in clusters if c.band == "link" and "unknown" in c.ids]
    assert linked == [{"unknown", "son"}]


def test_twins_are_not_joined_through_a_record_without_the_given_name() -> None:
    # Two given names that the background holds many times: two people, not a typo.
    first = {"name": "Filip Dušek", "birth_date": "1990-04-12", **HOME}
    second = {"name": "Daniel Dušek", "birth_date": "1990-04-12", **HOME}
    no_given_name = contact(name="Dušek", birth_date="1990-04-12", **HOME)
    records = [*background(), ("a", contact(**first)), ("b", contact(**second)), ("c", no_given_name)]
    clusters = find_duplicates(records, review=True)
    assert not any({"a", "b"} <= set(c.ids) for c in clusters if c.band == "link")
    # Which twin it is, is a question for a person.
    assert not any("c" in c.ids for c in clusters if c.band == "link")
    assert any("c" in c.ids[:2] for c in clusters if c.band == "review")
