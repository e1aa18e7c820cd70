"""Compiled JSON-schema validators for the platform codecs (schemas/woocommerce, schemas/shoptet).

One compile per schema file and process (fastjsonschema generates Python code, so a check on
the hot path is a plain function call); a failure becomes SchemaViolation naming the record
and the field, never the value.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import fastjsonschema

from connector._paths import schemas_dir
from connector.errors import BadData, SchemaViolation

T = TypeVar("T")
Validator = Callable[[Any], Any]


@functools.cache
def load_schema(platform: str, name: str) -> dict[str, Any]:
    """The schema document `schemas/<platform>/<name>.json`."""
    path = schemas_dir() / platform / f"{name}.json"
    with path.open(encoding="utf-8") as handle:
        document: dict[str, Any] = json.load(handle)
    return document


@functools.cache
def compiled(platform: str, name: str) -> Validator:
    """The compiled validator of `schemas/<platform>/<name>.json` (compiled once per process)."""
    validator: Validator = fastjsonschema.compile(load_schema(platform, name), use_default=False)
    return validator


def field_of(exc: fastjsonschema.JsonSchemaValueException, *, root: str = "data") -> str:
    """The failing field as a dotted path without the validator's root name ("billing.email").

    fastjsonschema names the instance `data`, `data.billing.email`, `data.items[3]`; a
    required property is reported on its parent, so the missing name is appended.
    """
    name = exc.name or root
    if name == root:
        path = ""
    elif name.startswith(root + "."):
        path = name[len(root) + 1 :]
    elif name.startswith(root + "["):
        path = name[len(root) :]
    else:
        path = name
    if exc.rule == "required" and isinstance(exc.rule_definition, list):
        missing = _missing_property(exc)
        if missing is not None:
            path = f"{path}.{missing}" if path else missing
    return path or "(body)"


def _missing_property(exc: fastjsonschema.JsonSchemaValueException) -> str | None:
    value = exc.value
    if not isinstance(value, dict) or not isinstance(exc.rule_definition, list):
        return None
    for name in exc.rule_definition:
        if isinstance(name, str) and name not in value:
            return name
    return None


def check(platform: str, name: str, document: Any, *, record: str | None, what: str) -> None:
    """Validate `document` against `schemas/<platform>/<name>.json`; SchemaViolation otherwise.

    The message names the record, the field and the rule that failed (maxLength, type,
    required, ...) but never the value: the value is personal data more often than not.
    """
    try:
        compiled(platform, name)(document)
    except fastjsonschema.JsonSchemaValueException as exc:
        field = field_of(exc)
        raise SchemaViolation(
            f"record {record or '?'}: field {field!r} of the {what} fails the {platform} schema ({exc.rule})",
            record=record,
            field=field,
        ) from None


@dataclasses.dataclass(frozen=True)
class RecordResult(Generic[T]):
    """One record's outcome in a page of many: the value, or the error that set it aside."""

    record: str | None
    value: T | None = None
    error: BadData | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
