"""A plain reading of an address-book record, level by level, as the oracle for the codec's.

`connector.codec._addressbook.parse_addressbook` reads a record in one flat pass with a state
machine, for speed. This reads it the obvious way, child by child under each known parent,
and lets Contact.from_dict judge every value, so the two can be compared record by record.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from connector.codec._addressbook import ADDRESS_FIELDS, HEADER_FIELDS, SHIP_TO_FIELDS, q
from connector.model import Contact


def _text(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def _ids(ref: etree._Element | None) -> str | None:
    """The reference's own typ:ids (not one inside its typ:extId)."""
    return None if ref is None else _text(ref.find(q("typ", "ids")))


def reference_contact(record: etree._Element, *, ex_system: str | None) -> Contact:
    data: dict[str, Any] = {"ship_to": [], "groups": [], "gdpr": []}
    header = record.find(q("adb", "addressbookHeader"))
    if header is not None:
        for field, element, _limit in HEADER_FIELDS:
            data[field] = _text(header.find(q("adb", element)))
        data["id"] = _text(header.find(q("adb", "id")))
        data["birth_date"] = _text(header.find(q("adb", "dateOfBirth")))
        identity = header.find(q("adb", "identity"))
        if identity is not None:
            for ext in identity.findall(q("typ", "extId")):
                if ex_system and _text(ext.find(q("typ", "exSystemName"))) == ex_system:
                    data["ext_id"] = _text(ext.find(q("typ", "ids")))
            address = identity.find(q("typ", "address"))
            if address is not None:
                for field, element, _limit in ADDRESS_FIELDS:
                    data[field] = _text(address.find(q("typ", element)))
                data["country"] = _ids(address.find(q("typ", "country")))
            for ship in identity.findall(q("typ", "shipToAddress")):
                item: dict[str, Any] = {f: _text(ship.find(q("typ", el))) for f, el, _l in SHIP_TO_FIELDS}
                item["country"] = _ids(ship.find(q("typ", "country")))
                item["default"] = (ship.findtext(q("typ", "defaultShipAddress")) or "").strip() == "true"
                data["ship_to"].append(item)
        labels = header.find(q("adb", "labels"))
        if labels is not None:
            data["groups"] = [g for g in (_ids(label) for label in labels.findall(q("typ", "label"))) if g]
    items = record.find(f"{q('adb', 'addressbookGDPR')}/{q('adb', 'GDPRItems')}")
    if items is not None:
        for item in items.findall(q("adb", "GDPRItem")):
            data["gdpr"].append(
                {
                    "purpose": _ids(item.find(q("adb", "name"))),
                    "description": _text(item.find(q("adb", "description"))),
                    "date_from": _text(item.find(q("adb", "dateFrom"))),
                    "date_till": _text(item.find(q("adb", "dateTill"))),
                }
            )
    name = data.get("id") or data.get("ext_id") or "?"
    return Contact.from_dict(data, record=f"POHODA {name}")
