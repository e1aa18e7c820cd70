"""XML in and out, one module per format (`connector.codec.pohoda`, `connector.codec.eshop`;
the address-book mapping in `connector.codec.addressbook`); the one safe parser setup and
schema validation (`load_schema`, `parse_bytes`, `validate`) for every format.
"""

from connector.codec._xml import load_schema, parse_bytes, validate

__all__ = ["load_schema", "parse_bytes", "validate"]
