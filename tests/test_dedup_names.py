"""Names with a part left out and one token far off: only a contact (e-mail, phone) may confirm them."""

from __future__ import annotations

from connector.dedup import DedupEngine, find_duplicates, prepare
from connector.dedup._compare import NAME_DIFFERENT, NAME_GARBLED, NAME_WEAK, compare_names
from connector.model import Contact
from tests.test_dedup_model import background

HOME = {"street": "116 Station Road", "zip": "CF29 1EB", "city": "Cardiff", "birth_date": "1986-09-28"}


def test_a_garbled_family_name_with_the_middle_name_left_out_is_garbled_not_different() -> None:
    rare = DedupEngine(background()).names.rare_test()
    assert rare is not None
    full, garbled = prepare(Contact(name="Matthew Robert Carter")), prepare(Contact(name="Matthew Cyrtcr"))
    assert compare_names(full.name, garbled.name, rare)[0] == NAME_GARBLED
    assert compare_names(garbled.name, full.name, rare)[0] == NAME_GARBLED
    # Two common given names, one of them beside a middle name: another person, or weak at best.
    twin = prepare(Contact(name="Joshua Johnson"))
    assert compare_names(twin.name, prepare(Contact(name="Charles John Johnson")).name, rare)[0] in (
        NAME_WEAK,
        NAME_DIFFERENT,
    )


def test_the_same_email_links_them_and_nothing_else_does() -> None:
    first = Contact(name="Matthew Robert Carter", email="m.carter@mail.example", **HOME)
    second = Contact(name="Matthew Cyrtcr", email="M.Carter@mail.example", **HOME)
    clusters = find_duplicates([*background(), ("a", first), ("b", second)])
    assert any({"a", "b"} <= set(c.ids) for c in clusters if c.band == "link"), clusters
    # Without the e-mail the same two records are at most a question.
    bare = [Contact(name=c.name, **HOME) for c in (first, second)]
    clusters = find_duplicates([*background(), ("a", bare[0]), ("b", bare[1])])
    assert not any({"a", "b"} <= set(c.ids) for c in clusters if c.band == "link"), clusters
