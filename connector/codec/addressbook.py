"""The address-book agenda's element mapping, public for the one other party that speaks it
both ways: the mServer simulator (imports in, exports out). The codec owns it (`_addressbook`).
"""

from connector.codec._addressbook import (
    ADDRESS_FIELDS,
    HEADER_FIELDS,
    NS,
    SHIP_TO_FIELDS,
    build_gdpr,
    build_header,
    parse_addressbook,
    q,
    render_export_record,
)

__all__ = [
    "ADDRESS_FIELDS",
    "HEADER_FIELDS",
    "NS",
    "SHIP_TO_FIELDS",
    "build_gdpr",
    "build_header",
    "parse_addressbook",
    "q",
    "render_export_record",
]
