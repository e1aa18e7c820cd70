"""The dedup engine: hard negatives, vetoes, name weights, blocking recall, online and batch modes."""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest
from bench_modules import load_bench

from connector.dedup import DedupEngine, blocking_keys, compare, find_duplicates, prepare
from connector.dedup._engine import NameStatistics
from connector.model import Contact

gen_contacts = load_bench("gen_contacts")


def contact(**fields: str) -> Contact:
    return Contact.from_dict(fields)


def index_of(*contacts: Contact) -> DedupEngine:
    return DedupEngine((f"p{n}", c) for n, c in enumerate(contacts))


def test_namesakes_in_one_town_are_never_linked() -> None:
    gen = gen_contacts.Generator(seed=7)
    originals, namesakes = [], []
    for _ in range(300):
        person = gen.person()
        originals.append(gen.contact(person))
        namesakes.append(gen.contact(gen.namesake(person)))
    engine = DedupEngine((f"p{n}", c) for n, c in enumerate(originals))
    for n, other in enumerate(namesakes):
        match = engine.best_match(other)
        assert match is None or match.band == "review" or match.candidate_id != f"p{n}", (other, match)


@pytest.mark.parametrize("other_birth", ["1979-04-02", None])
def test_same_name_and_town_different_birth_email_phone_is_not_a_link(other_birth: str | None) -> None:
    engine = index_of(
        contact(
            name="Jan Novák", city="Praha", zip="110 00", street="Husova 5", birth_date="1980-01-01",
            email="jan.novak@seznam.cz", phone="+420 603 111 222",
        )
    )  # fmt: skip
    fields = {"name": "Jan Novák", "city": "Praha", "zip": "110 00", "street": "Dlouhá 9"}
    fields |= {"email": "novak.j@gmail.com", "phone": "+420 777 999 888"}
    if other_birth:
        fields["birth_date"] = other_birth
    match = engine.best_match(contact(**fields))
    assert match is None or match.band == "review"
    if other_birth:
        assert match is None  # a different birth date is a different person, not a question


def test_different_valid_ico_vetoes_a_link_even_with_the_same_email() -> None:
    engine = index_of(contact(company="Stavby Novák s.r.o.", ico="25596641", email="info@novak.cz"))
    match = engine.best_match(contact(company="Stavby Novák s.r.o.", ico="45274649", email="info@novak.cz"))
    assert match is not None and match.band == "review"
    assert "different ICO" in match.reasons


def test_an_invalid_ico_is_no_evidence() -> None:
    engine = index_of(contact(company="Obchod Horák", ico="12345678", city="Brno"))
    assert engine.best_match(contact(company="Elektro Dvořák", ico="12345678", city="Brno")) is None


def test_couples_sharing_a_phone_and_address_are_two_people() -> None:
    home = {"street": "Husova 5", "zip": "110 00", "city": "Praha", "phone": "+420 603 111 222"}
    engine = index_of(contact(name="Jan Novák", **home))
    for partner in ("Jana Nováková", "Eva Nováková", "Petra Nováková"):
        match = engine.best_match(contact(name=partner, **home))
        assert match is None or match.band == "review", partner
    polish = index_of(contact(name="Piotr Kowalski", **home))
    match = polish.best_match(contact(name="Piotr Kowalska", **home))
    assert match is None or match.band == "review"


DUPLICATES = {
    "order-diacritics-email-case": (
        {"name": "Kováč Ján", "email": "jan.kovac@azet.sk"},
        {"name": "Jan Kovac", "email": "JAN.KOVAC@azet.sk"},
    ),
    "sk-phone-trunk-prefix": (
        {"name": "Ján Kováč", "phone": "+421 905 123 456"},
        {"name": "Jan Kovac", "phone": "0905123456", "country": "SK"},
    ),
    "gmail-rules": (
        {"name": "Eva Svobodová", "email": "e.svobodova@gmail.com"},
        {"name": "Eva Svobodova", "email": "esvobodova+shop@gmail.com"},
    ),
    "legal-form-ico": (
        {"company": "Okna Dvořák spol. s r.o.", "ico": "25596641"},
        {"company": "OKNA DVOŘÁK, s. r. o.", "ico": "255 96 641"},
    ),
    "birth-after-move": (
        {"name": "Jan Novák", "birth_date": "1970-03-04", "street": "Husova 5", "zip": "11000"},
        {"name": "Novak Jan", "birth_date": "1970-03-04", "street": "Polní 3", "zip": "60200"},
    ),
    "address": (
        {"name": "Zoltán Lőrincz", "street": "Fő utca 12", "zip": "1011"},
        {"name": "Lorincz Zoltan", "street": "Fo utca 12", "zip": "1011"},
    ),
}


@pytest.mark.parametrize(("existing", "registration"), list(DUPLICATES.values()), ids=list(DUPLICATES))
def test_duplicates_are_linked(existing: dict[str, str], registration: dict[str, str]) -> None:
    match = index_of(contact(**existing)).best_match(contact(**registration))
    assert match is not None and match.band == "link", match


def test_similar_name_at_one_zip_without_other_evidence_goes_to_review() -> None:
    engine = index_of(contact(name="Ladislav Szabó", zip="040 01", street="Hlavná 12"))
    match = engine.best_match(contact(name="Ladislav Szabo", zip="04001", street="Mlynská 3", email="l@x.sk"))
    assert match is not None and match.band == "review"


def test_a_shared_common_surname_says_less_than_a_rare_one() -> None:
    crowd = [contact(name=f"{given} Novák", zip=f"{n:05d}") for n, given in enumerate(["Petr", "Eva", "Jiří"] * 300)]
    engine = DedupEngine((f"c{n}", c) for n, c in enumerate(crowd))
    engine.add("novak", contact(name="Jan Novák", zip="11000", street="Husova 5"))
    engine.add("rare", contact(name="Jan Vlastimilský", zip="11000", street="Husova 7"))
    common = engine.best_match(contact(name="Jan Novák", zip="11000", street="Dlouhá 1"))
    rare = engine.best_match(contact(name="Jan Vlastimilský", zip="11000", street="Dlouhá 1"))
    assert rare is not None and rare.candidate_id == "rare"
    assert common is None or common.score < rare.score


def test_remove_and_add_keep_the_index_current() -> None:
    engine = index_of(contact(name="Marta Kovács", email="marta@example.hu"))
    registration = contact(name="Marta Kovacs", email="Marta@Example.hu")
    assert engine.best_match(registration) is not None
    engine.remove("p0")
    assert len(engine) == 0 and engine.best_match(registration) is None
    engine.add("p1", contact(name="Marta Kovács", email="marta@example.hu"))
    match = engine.best_match(registration)
    assert match is not None and match.candidate_id == "p1"


def test_candidates_per_key_are_capped() -> None:
    # Hundreds of one name at one zip: a lookup reads at most block_cap of them per key.
    engine = DedupEngine((f"p{n}", contact(name="Jan Novák", zip="11000")) for n in range(500))
    features = prepare(contact(name="Jan Novák", zip="11000"))
    assert len(engine.candidates(features)) <= engine.block_cap * len(blocking_keys(features))


def _labeled(count: int, seed: int) -> tuple[list[tuple[str, Contact, int]], set[tuple[str, str]]]:
    records = gen_contacts.generate(count, seed=seed)
    by_entity: dict[int, list[str]] = defaultdict(list)
    for record_id, _, entity in records:
        by_entity[entity].append(record_id)
    truth = {pair for ids in by_entity.values() for pair in itertools.combinations(sorted(ids), 2)}
    return records, truth


def test_blocking_recall_on_a_labeled_set() -> None:
    records, truth = _labeled(4000, seed=3)
    keys = {record_id: set(blocking_keys(prepare(c))) for record_id, c, _ in records}
    found = sum(1 for a, b in truth if keys[a] & keys[b])
    assert len(truth) > 300
    assert found / len(truth) >= 0.97


def test_batch_precision_and_recall_on_a_labeled_set() -> None:
    records, truth = _labeled(4000, seed=5)
    clusters = find_duplicates([(record_id, c) for record_id, c, _ in records])
    predicted = {
        pair
        for cluster in clusters
        if cluster.band == "link"
        for pair in itertools.combinations(sorted(cluster.ids), 2)
    }
    true_positives = len(predicted & truth)
    assert true_positives / len(predicted) >= 0.99
    assert true_positives / len(truth) >= 0.95


def test_online_and_batch_agree() -> None:
    records, _ = _labeled(1500, seed=9)
    clusters = find_duplicates([(record_id, c) for record_id, c, _ in records])
    linked_pairs = [cluster.ids for cluster in clusters if cluster.band == "link" and len(cluster.ids) == 2]
    contacts = {record_id: c for record_id, c, _ in records}
    engine = DedupEngine((record_id, c) for record_id, c, _ in records)
    for left, right in linked_pairs:
        match = engine.best_match(contacts[left], exclude=left)
        assert match is not None and match.band == "link" and match.candidate_id == right


def test_scores_are_symmetric() -> None:
    records, _ = _labeled(300, seed=11)
    names = NameStatistics()
    features = [prepare(c) for _, c, _ in records]
    for f in features:
        names.add(f)
    for a, b in itertools.combinations(features[:60], 2):
        assert compare(a, b, names.share) == compare(b, a, names.share)


def test_a_review_names_the_records_already_linked_to_either_side() -> None:
    records = [
        ("a", contact(name="Ladislav Szabó", zip="040 01", street="Hlavná 12", email="l.szabo@example.sk")),
        ("b", contact(name="Ladislav Szabo", zip="04001", street="Hlavna 12", email="L.Szabo@example.sk")),
        ("c", contact(name="Ladislav Szabó", zip="040 01", street="Mlynská 3")),
    ]
    clusters = find_duplicates(records, review=True)
    assert [set(c.ids) for c in clusters if c.band == "link"] == [{"a", "b"}]
    reviews = [c for c in clusters if c.band == "review"]
    # One question (is c the customer of a and b?), asked with its strongest pair, naming all three.
    assert len(reviews) == 1 and "c" in reviews[0].ids[:2]
    assert set(reviews[0].ids) == {"a", "b", "c"}
