"""A plain reading of the e-shop protocol's customer content, as the oracle for the codec's.

`connector.codec.eshop._content` reads an element in one pass by qualified tags and cleans
values itself, for speed. This reads it child by child by local name and lets
Contact.from_dict judge every value (as the codec once did), so the two can be compared.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from connector.codec.eshop import CONSENT_ELEMENTS, CONTACT_ELEMENTS, SHIP_TO_ELEMENTS
from connector.model import Contact


def reference_content(element: etree._Element, *, record: str | None) -> Contact:
    data: dict[str, Any] = {"groups": [], "ship_to": [], "gdpr": []}
    by_tag = {tag: field for field, tag, _ in CONTACT_ELEMENTS}
    ship_tags = {t: f for f, t, _ in SHIP_TO_ELEMENTS}
    consent_tags = {t: f for f, t, _ in CONSENT_ELEMENTS}
    for child in element:
        if not isinstance(child.tag, str):
            continue  # a comment carries no data (the codec once failed on one: ValueError)
        tag = etree.QName(child).localname
        if tag in by_tag:
            data[by_tag[tag]] = child.text
        elif tag == "group":
            data["groups"].append(child.text)
        elif tag == "shipTo":
            ship: dict[str, Any] = {"default": child.get("default") in ("true", "1")}
            for part in child:
                ship[ship_tags[etree.QName(part).localname]] = part.text
            data["ship_to"].append(ship)
        elif tag == "consent":
            data["gdpr"].append({consent_tags[etree.QName(part).localname]: part.text for part in child})
    data["id"] = element.get("id")
    return Contact.from_dict(data, record=record)
