"""The e-shop codec writes a feed page as text (for speed): exactly the bytes lxml writes
for the page's tree, for any content (escapes in text and attributes, empty values,
tombstones, empty pages), and a page XML cannot carry still fails as it did."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from connector.codec import eshop as codec
from connector.model import Consent, Contact, ShipTo
from tests.test_codec_pohoda import contacts

ODD = st.sampled_from(["a & b", "<tag>", "x > y", "line\r\nnext", "tab\there", '"q" \'s\'', "ẞ 😀", "", "  "])
XML_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn")), max_size=8)
texts = st.one_of(st.none(), ODD, XML_TEXT)
moments = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC))
tokens = st.text(alphabet="abcXYZ019._:-", min_size=1, max_size=10)
odd_contacts = st.builds(
    Contact,
    company=texts, name=texts, street=texts, city=texts, zip=texts, email=texts, note=texts, phone=texts,
    groups=st.lists(ODD | XML_TEXT, max_size=2, unique=True).map(tuple),
    ship_to=st.lists(st.builds(ShipTo, name=texts, city=texts, default=st.booleans()), max_size=2).map(tuple),
    gdpr=st.lists(st.builds(Consent, purpose=ODD, description=texts, date_from=texts), max_size=2).map(tuple),
)


def tree_bytes(page: codec.ChangePage) -> bytes:
    """What encode_changes wrote before it wrote text: the tree, serialized by lxml."""
    root = etree.Element(codec._q("changes"), nsmap={None: codec.NS})
    root.set("nextCursor", page.next_cursor)
    root.set("hasMore", "true" if page.has_more else "false")
    for change in page.changes:
        if change.customer is not None:
            codec.customer_element(change.customer, parent=root)
        else:
            deleted = etree.SubElement(root, codec._q("deleted"))
            deleted.set("id", change.id)
            if change.version:
                deleted.set("version", change.version)
            deleted.set("deletedAt", codec._timestamp(change.at))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


hq_ids = st.one_of(st.none(), ODD, tokens)
entries = st.tuples(st.one_of(contacts, odd_contacts), tokens, moments, hq_ids, st.booleans())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entries, max_size=4), st.one_of(st.just(""), ODD, tokens), st.booleans())
def test_a_page_written_as_text_is_the_bytes_of_its_tree(generated, cursor, more):
    changes = []
    for i, (contact, version, at, hq_id, alive) in enumerate(generated):
        if alive:
            customer = codec.EshopCustomer(
                contact.replace(id=f"c{i}", ext_id=None), version, at, hq_id or None, "synced" if hq_id else None
            )
            changes.append(codec.EshopChange(f"c{i}", version, at, customer))
        else:
            changes.append(codec.EshopChange(f"c{i}", version if i % 2 else None, at, None))
    page = codec.ChangePage(tuple(changes), cursor, more)
    text = codec._changes_text(page)
    assert text is not None and text.encode("utf-8") == tree_bytes(page)


def test_a_page_xml_cannot_carry_fails_as_before():
    customer = codec.EshopCustomer(Contact(id="1", name="bell\x07"), "1", dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    page = codec.ChangePage((codec.EshopChange("1", "1", customer.updated_at, customer),), "1", False)
    assert codec._changes_text(page) is None
    with pytest.raises(ValueError, match="XML compatible"):
        codec.encode_changes(page)


@pytest.mark.parametrize("odd", ["a & b", "<tag>", "x > y", "line\r\nnext", "tab\there", '"q" \'s\'', "ẞ 😀", ""])
def test_each_escape_in_attributes_and_text(odd):
    at = dt.datetime(2024, 1, 1, 12, 30, tzinfo=dt.UTC)
    contact = Contact(id="7", name=odd, note=odd, groups=(odd or "g",), ship_to=(ShipTo(city=odd),),
                      gdpr=(Consent(purpose=odd or "p", description=odd),))
    customer = codec.EshopCustomer(contact, odd or "v", at, odd or None, "pending_sync")
    changes = (codec.EshopChange("7", "v", at, customer), codec.EshopChange("8", odd, at, None))
    page = codec.ChangePage(changes, odd, True)
    assert codec._changes_text(page).encode("utf-8") == tree_bytes(page)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entries, min_size=1, max_size=4), st.one_of(st.just(""), ODD, tokens), st.booleans())
def test_a_page_joined_from_entries_checked_alone_is_the_page_written_whole(generated, cursor, more):
    """What the e-shop simulator sends from its kept entries: the same bytes as the page
    written and checked whole, or, where an entry did not pass alone, the page checked whole."""
    changes, kept = [], []
    for i, (contact, version, at, hq_id, _alive) in enumerate(generated):
        customer = codec.EshopCustomer(
            contact.replace(id=f"c{i}", ext_id=None), version, at, hq_id or None, "synced" if hq_id else None
        )
        changes.append(codec.EshopChange(f"c{i}", version, at, customer))
        kept.append(codec.customer_entry(customer))
    page = codec.ChangePage(tuple(changes), cursor, more)
    try:
        whole = codec.encode_changes(page)
    except Exception as exc:
        with pytest.raises(type(exc)):
            codec.encode_changes(page, entries=kept)
        return
    assert codec.encode_changes(page, entries=kept) == whole
    if None not in kept:
        assert codec.schema().validate(etree.fromstring(whole))


def test_an_entry_the_schema_refuses_alone_is_not_kept_and_its_page_is_checked_whole():
    at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    good = codec.EshopCustomer(Contact(id="1", name="Jana"), "1", at)
    bad = codec.EshopCustomer(Contact(id="2", name="x" * 5000), "2", at)  # beyond the schema's length
    assert codec.customer_entry(good) is not None and codec.customer_entry(bad) is None
    page = codec.ChangePage(tuple(codec.EshopChange(c.id, c.version, at, c) for c in (good, bad)), "2", False)
    with pytest.raises(Exception) as joined:
        codec.encode_changes(page, entries=[codec.customer_entry(good), None])
    with pytest.raises(type(joined.value)):
        codec.encode_changes(page)
