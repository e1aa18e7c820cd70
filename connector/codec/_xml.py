"""The one XML parser setup: safe parsing, streaming, schema loading and validation.

Safe means: no DTD at all (so no entity expansion and no external entities), no network, a
size limit, and an encoding declaration that matches the bytes. Every failure becomes a
MalformedXML or SchemaViolation that says what and where.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from lxml import etree

from connector.errors import MalformedXML, SchemaViolation

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
_PROLOG_LIMIT = 64 * 1024
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_ROOT_START = re.compile(rb"<[A-Za-z_]")
_CP1250_NAMES = frozenset({"windows-1250", "cp1250", "x-cp1250"})


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def declared_encoding(head: bytes) -> str | None:
    match = _DECLARED_ENCODING.match(head)
    return match.group(1).decode("ascii").lower() if match else None


def check_prolog(head: bytes, *, what: str) -> None:
    """Refuse a DOCTYPE (entity bombs, external entities) and a lying encoding declaration.

    `head` is the beginning of the document; only the part before the root element and the
    first bytes after it are looked at.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00"):
        raise MalformedXML(f"{what}: UTF-16/32 documents are not accepted; send Windows-1250 or UTF-8")
    root = _ROOT_START.search(head, 0, _PROLOG_LIMIT)
    prolog = head[: root.start()] if root else head[:_PROLOG_LIMIT]
    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
        raise MalformedXML(f"{what}: a DOCTYPE is not allowed (no DTDs, no entities)")
    if root is None and len(head) >= _PROLOG_LIMIT:
        raise MalformedXML(f"{what}: no root element in the first {_PROLOG_LIMIT} bytes")
    encoding = declared_encoding(head)
    if encoding in _CP1250_NAMES:
        sample = head[: 256 * 1024]
        if _looks_like_utf8(sample):
            raise MalformedXML(
                f"{what}: the document declares encoding {encoding!r} but its bytes are UTF-8; "
                "fix the encoding declaration"
            )


def _looks_like_utf8(sample: bytes) -> bool:
    """True when non-ASCII bytes are present and they all form valid UTF-8 sequences."""
    if sample.isascii():
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte sequence cut at the end of the sample is still UTF-8.
        return exc.start >= len(sample) - 3 and sample[: exc.start].decode("utf-8", "ignore") != ""
    return True


def parse_bytes(data: bytes, *, what: str, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._ElementTree:
    """Parse a whole document held in memory, safely."""
    if len(data) > max_bytes:
        raise MalformedXML(f"{what}: {len(data)} bytes is more than the limit of {max_bytes} bytes")
    if not data.strip():
        raise MalformedXML(f"{what}: the document is empty")
    check_prolog(data[:_PROLOG_LIMIT * 4], what=what)
    try:
        return etree.parse(io.BytesIO(data), _parser())
    except etree.XMLSyntaxError as exc:
        raise MalformedXML(f"{what}: not well-formed XML: {exc}") from None


class _LimitedReader(io.RawIOBase):
    """A byte stream that fails once more than `limit` bytes have been read from it."""

    def __init__(self, stream: IO[bytes], limit: int, what: str) -> None:
        self._stream = stream
        self._limit = limit
        self._seen = 0
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._stream.read(len(buffer))
        n = len(chunk)
        self._seen += n
        if self._seen > self._limit:
            raise MalformedXML(f"{self._what}: more than the limit of {self._limit} bytes")
        buffer[:n] = chunk
        return n


def iterparse(
    source: bytes | IO[bytes],
    *,
    tag: str | tuple[str, ...],
    what: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    events: tuple[str, ...] = ("end",),
) -> Iterator[tuple[str, etree._Element]]:
    """Stream a document, yielding (event, element) for `tag`; the caller frees elements.

    Hostile input is refused before parsing starts; a size overrun or a syntax error raises
    MalformedXML in the middle of the stream.
    """
    stream: IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else source
    head = stream.read(_PROLOG_LIMIT)
    if not head.strip():
        raise MalformedXML(f"{what}: the document is empty")
    check_prolog(head, what=what)
    rest = _LimitedReader(stream, max_bytes - len(head), what)
    combined = io.BufferedReader(_Chain(head, rest), buffer_size=256 * 1024)
    context = etree.iterparse(
        combined,
        events=events,
        tag=tag,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_blank_text=True,
    )
    try:
        yield from context
    except etree.XMLSyntaxError as exc:
        raise MalformedXML(f"{what}: not well-formed XML: {exc}") from None


class _Chain(io.RawIOBase):
    """The already-read head of a stream followed by the rest of it."""

    def __init__(self, head: bytes, rest: io.RawIOBase) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return self._rest.readinto(buffer)  # type: ignore[no-any-return]


def free(element: etree._Element) -> None:
    """Release a streamed element and the finished siblings before it."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


@functools.lru_cache(maxsize=16)
def load_schema(path: str) -> etree.XMLSchema:
    """Compile an XSD once per process (lxml / libxml2, the fast validator)."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"schema not found: {file}")
    try:
        return etree.XMLSchema(etree.parse(str(file), _parser()))
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        raise SchemaViolation(f"the schema {file} does not compile: {exc}") from None


def validate(document: etree._ElementTree | etree._Element, schema: etree.XMLSchema, *, what: str) -> None:
    """Raise SchemaViolation naming the first failing element's path, line and reason."""
    if schema.validate(document):
        return
    error = schema.error_log.last_error if schema.error_log else None
    if error is None:
        raise SchemaViolation(f"{what}: does not match its schema")
    first = schema.error_log[0]
    where = f" at {first.path}" if getattr(first, "path", None) else ""
    raise SchemaViolation(f"{what}: schema violation{where} (line {first.line}): {first.message}")
