"""XML in and out, one module per format (`connector.codec.pohoda`, `connector.codec.eshop`;
the address-book mapping in `connector.codec.addressbook`); the one safe parser setup and
XSD validation (`load_schema`, `parse_bytes`, `validate`) for every XML format, and the compiled
JSON-schema validators of the platforms' JSON bodies (`compiled`, `field_of`); a contact's
content fingerprint (`fingerprint`, and `Fingerprinted` records of a listing).
"""

from connector.codec._fingerprint import Fingerprinted, fingerprint
from connector.codec._jsonschema import compiled, field_of
from connector.codec._xml import load_schema, parse_bytes, prepend, validate

__all__ = [
    "Fingerprinted",
    "compiled",
    "field_of",
    "fingerprint",
    "load_schema",
    "parse_bytes",
    "prepend",
    "validate",
]
