"""Hard negatives in a batch: two people of one family name at one address are never one cluster,
also where a third record (one of them written with an initial or a nickname) links to both."""

from __future__ import annotations

from connector.dedup import DedupEngine, find_duplicates
from connector.model import Contact
from tests.test_dedup_model import background, corrupt

HOME = {"street": "176 North Street", "zip": "LE8 4FG", "city": "Leicester", "birth_date": "1977-09-24"}

# One person written twice (the second time with a nickname and the middle name's initial),
# and a twin: a name of their own, one family name, one address, one birth date. "J." begins
# the twin's given name as well as the middle name.
PERSON = ("Charles John Johnson", "Charlie J. Johnson")
TWIN = "Joshua Johnson"


def _records(*extra: tuple[str, Contact]) -> list[tuple[str, Contact]]:
    return [*background(), *((f"a{n}", Contact(name=name, **HOME)) for n, name in enumerate(PERSON)), *extra]


def test_without_the_twin_the_two_records_are_one_customer() -> None:
    clusters = find_duplicates(_records())
    assert any({"a0", "a1"} <= set(c.ids) for c in clusters if c.band == "link"), clusters


def test_twins_are_not_joined_through_a_record_with_an_initial() -> None:
    clusters = find_duplicates(_records(("twin", Contact(name=TWIN, **HOME))), review=True)
    linked = [set(c.ids) for c in clusters if c.band == "link"]
    assert not any("twin" in ids for ids in linked), linked
    # Which of the two "Charlie J." is, is a question for a person.
    assert any("a1" in c.ids[:2] for c in clusters if c.band == "review"), clusters


def test_the_twin_is_not_linked_online_to_the_full_name() -> None:
    engine = DedupEngine([*background(), ("a0", Contact(name=PERSON[0], **HOME))])
    match = engine.best_match(Contact(name=TWIN, **HOME))
    assert match is None or match.band == "review", match


def test_a_twin_is_never_named_after_a_nickname_of_the_siblings_middle_name() -> None:
    """"Elizabeth Brown" beside "Donna Betty Brown" at one address, born on one day, is one person
    written twice to any reader, not a twin."""
    from connector.dedup import fold
    from connector.dedup._score import token_similarity

    population = corrupt.Population(13)
    person = population.person()
    person = corrupt.dataclasses.replace(person, country="EN", female=True, given="Donna", middle="Betty")
    twins = {population.twin(person).given for _ in range(300)}
    assert len(twins) > 10
    assert all(token_similarity(fold(given), "betty") < 0.95 for given in twins), twins
