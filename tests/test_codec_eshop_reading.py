"""The e-shop codec's one-pass reading of a customer against a plain one (tests/eshop_
reference.py): the same contact, or the same refusal naming the same field, for every
schema-valid customer, including values the model normalises or refuses."""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from connector.codec import eshop as codec
from connector.errors import InvalidContact
from connector.model import Contact
from tests.eshop_reference import reference_content
from tests.test_codec_pohoda import contacts

NOW = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
LIMITS = {
    f"{{{codec.NS}}}{tag}": limit
    for _f, tag, limit in (*codec.CONTACT_ELEMENTS, *codec.SHIP_TO_ELEMENTS, *codec.CONSENT_ELEMENTS)
}


def outcome(read, element: etree._Element) -> Contact | tuple[str, str | None]:
    try:
        return read(element, record=element.get("id"))
    except InvalidContact as exc:
        return ("refused", exc.field)


def q(tag: str) -> str:
    return f"{{{codec.NS}}}{tag}"


def disturb(element: etree._Element, rnd: random.Random) -> None:
    """What a schema allows and the model must judge: blanks around values, empty elements,
    lower-case countries, a repeated group, dates with a zone or a five-digit year; a consent
    whose purpose is blank after stripping is not allowed by the schema, so it stays."""
    for child in element.iter():
        if not isinstance(child.tag, str) or child.text is None or len(child) or child.tag == q("country"):
            continue
        if child.tag in (q("birthDate"), q("from"), q("till"), q("purpose"), q("group")):
            continue
        roll = rnd.random()
        if roll < 0.2 and len(child.text) + 3 <= (LIMITS.get(child.tag) or 4000):
            child.text = f"  {child.text}\n"
        elif roll < 0.3:
            child.text = "   "
    for country in element.iter(q("country")):
        if country.text and rnd.random() < 0.5:
            country.text = country.text.lower()
    groups = element.findall(q("group"))
    if groups and len(groups) < 50 and rnd.random() < 0.3:
        groups[-1].addnext(etree.fromstring(etree.tostring(groups[0])))
    for date in [*element.iter(q("birthDate")), *element.iter(q("from"))]:
        roll = rnd.random()
        if roll < 0.15:
            date.text = f"{date.text}Z"
        elif roll < 0.25:
            date.text = "12345-01-01"  # xs:date takes a five-digit year; the model does not
        elif roll < 0.35:
            date.text = ""
        elif roll < 0.45:
            date.text = f" {date.text} "
    if rnd.random() < 0.2:
        element.insert(0, etree.Comment("a comment carries no data"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(contacts, min_size=1, max_size=3), st.randoms(use_true_random=False))
def test_a_customer_reads_as_the_plain_reading_says(generated, rnd):
    page = codec.ChangePage(
        tuple(
            codec.EshopChange(str(i), "1", NOW, codec.EshopCustomer(c.replace(id=str(i), ext_id=None), "1", NOW))
            for i, c in enumerate(generated, start=1)
        ),
        "9",
        False,
    )
    root = etree.fromstring(codec.encode_changes(page))
    refused = 0
    for element, contact in zip(root, generated, strict=True):
        assert codec._content(element, record=element.get("id")) == contact.replace(id=element.get("id"), ext_id=None)
        disturb(element, rnd)
        assert codec.schema().validate(root), codec.schema().error_log.last_error
        got = outcome(codec._content, element)
        assert got == outcome(reference_content, element)
        refused += isinstance(got, tuple)
    # Whole pages decode alike too: a customer the model refuses is set aside, the rest read.
    decoded = codec.decode_changes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    assert len(decoded.refused) == refused
    assert len(decoded.changes) == len(generated) - refused


def test_values_the_model_changes_or_refuses():
    base = codec.EshopCustomer(Contact(id="7", name="Jana", country="CZ", birth_date="1990-02-03"), "1", NOW)
    element = etree.fromstring(codec.encode_customer(base))
    element.find(q("country")).text = "sk"
    element.find(q("name")).text = "  Jana  "
    assert codec._content(element, record="7") == Contact(id="7", name="Jana", country="SK", birth_date="1990-02-03")
    element.find(q("birthDate")).text = "1990-02-03+01:00"
    assert codec.schema().validate(element)
    assert outcome(codec._content, element) == ("refused", "birth_date")
    assert outcome(reference_content, element) == ("refused", "birth_date")
