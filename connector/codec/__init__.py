"""XML in and out, one module per format (`connector.codec.pohoda`, `connector.codec.eshop`;
the address-book mapping in `connector.codec.addressbook`); the one safe parser setup and
XSD validation (`load_schema`, `parse_bytes`, `validate`) for every XML format, and the compiled
JSON-schema validators of the platforms' JSON bodies (`compiled`, `field_of`).
"""

from connector.codec._jsonschema import compiled, field_of
from connector.codec._xml import load_schema, parse_bytes, prepend, validate

__all__ = ["compiled", "field_of", "load_schema", "parse_bytes", "prepend", "validate"]
