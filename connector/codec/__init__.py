"""XML in and out, one module per format; safe parsing and validation in `_xml`."""
