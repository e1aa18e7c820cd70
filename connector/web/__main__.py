"""`python -m connector.web`: print the OpenAPI document (what docs/openapi.json holds).

Run it after changing an endpoint; a test fails while the two differ.
"""

from connector.web.openapi import render

print(render(), end="")
