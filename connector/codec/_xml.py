"""The one XML parser setup: safe parsing, streaming, schema loading and validation.

Safe means: no DTD at all (so no entity expansion and no external entities), no network, a
size limit, and an encoding declaration that matches the bytes. Every failure becomes a
MalformedXML or SchemaViolation that says what and where.
"""

from __future__ import annotations

import datetime as dt
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
_CP1250_NAMES = frozenset({"windows-1250", "cp1250", "x-cp1250"})
# POHODA speaks Windows-1250 or UTF-8; any other declaration is a sender's mistake that would
# otherwise turn letters into other letters without an error (e.g. ISO-8859-2 for cp1250).
_ACCEPTED_ENCODINGS = _CP1250_NAMES | {"utf-8", "utf8", "us-ascii", "ascii"}
_WHITESPACE = b" \t\r\n"


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


def _root_offset(head: bytes, *, what: str) -> int | None:
    """Where the root element starts in `head`, or None when `head` ends before it.

    Walks the prolog token by token (XML declaration, processing instructions, comments,
    whitespace) so that a DOCTYPE hidden after a comment that mentions "<a" is still seen.
    """
    i = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    n = len(head)
    while True:
        while i < n and head[i] in _WHITESPACE:
            i += 1
        if i >= n:
            return None
        if head[i] != ord("<"):
            raise MalformedXML(f"{what}: not well-formed XML: text before the root element")
        if head.startswith(b"<?", i):
            end = head.find(b"?>", i + 2)
            if end < 0:
                return None
            i = end + 2
        elif head.startswith(b"<!--", i):
            end = head.find(b"-->", i + 4)
            if end < 0:
                return None
            i = end + 3
        elif head.startswith(b"<!", i):
            raise MalformedXML(f"{what}: a DOCTYPE is not allowed (no DTDs, no entities)")
        else:
            return i


def check_prolog(head: bytes, *, what: str, complete: bool = False) -> None:
    """Refuse a DOCTYPE (entity bombs, external entities) and a wrong encoding declaration.

    `head` is the beginning of the document (`complete` when it is the whole document);
    only the prolog before the root element and the first bytes after it are looked at.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00"):
        raise MalformedXML(f"{what}: UTF-16/32 documents are not accepted; send Windows-1250 or UTF-8")
    root = _root_offset(head[:_PROLOG_LIMIT], what=what)
    if root is None and not complete:
        raise MalformedXML(f"{what}: no root element in the first {min(len(head), _PROLOG_LIMIT)} bytes")
    encoding = declared_encoding(head)
    if encoding is not None and encoding not in _ACCEPTED_ENCODINGS:
        raise MalformedXML(
            f"{what}: the document declares encoding {encoding!r}; only Windows-1250 and UTF-8 are accepted"
        )
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
    check_prolog(data[: _PROLOG_LIMIT * 4], what=what, complete=len(data) <= _PROLOG_LIMIT * 4)
    try:
        # From memory, not through a file object: libxml2 then parses the whole document
        # without the interpreter lock (a file object is read back through Python).
        tree = etree.fromstring(data, _parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        raise MalformedXML(f"{what}: not well-formed XML: {exc}") from None
    if tree.docinfo.doctype:
        # Belt and braces: the prolog check should have refused it already.
        raise MalformedXML(f"{what}: a DOCTYPE is not allowed (no DTDs, no entities)")
    return tree


def _read_head(stream: IO[bytes], size: int) -> bytes:
    """Up to `size` bytes; a socket-like stream may hand them out in smaller pieces."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        chunk = stream.read(size - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


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


class XMLStream:
    """An iterparse over a byte stream, safe: no DTD, no entities, no network, a size limit.

    Iterate it for (event, element) pairs of `tag`; the caller frees or moves elements.
    """

    def __init__(
        self,
        source: bytes | IO[bytes],
        *,
        tag: str | tuple[str, ...],
        what: str,
        max_bytes: int = DEFAULT_MAX_BYTES,
        events: tuple[str, ...] = ("end",),
    ) -> None:
        self.what = what
        if isinstance(source, bytes) and len(source) > max_bytes:
            # Known size: refuse at once instead of parsing up to the limit.
            raise MalformedXML(f"{what}: {len(source)} bytes is more than the limit of {max_bytes} bytes")
        stream: IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else source
        head = _read_head(stream, _PROLOG_LIMIT)
        if not head.strip():
            raise MalformedXML(f"{what}: the document is empty")
        check_prolog(head, what=what, complete=len(head) < _PROLOG_LIMIT)
        rest = _LimitedReader(stream, max_bytes - len(head), what)
        combined = io.BufferedReader(_Chain(head, rest), buffer_size=256 * 1024)
        self._context = etree.iterparse(
            combined,
            events=events,
            tag=tag,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_blank_text=True,
        )

    def __iter__(self) -> Iterator[tuple[str, etree._Element]]:
        try:
            yield from self._context
        except etree.XMLSyntaxError as exc:
            raise MalformedXML(f"{self.what}: not well-formed XML: {exc}") from None


def iterparse(
    source: bytes | IO[bytes],
    *,
    tag: str | tuple[str, ...],
    what: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    events: tuple[str, ...] = ("end",),
) -> XMLStream:
    """Stream a document, yielding (event, element) for `tag`; the caller frees or moves them.

    Hostile input is refused before parsing starts; a size overrun or a syntax error raises
    MalformedXML in the middle of the stream. Validate what it yields with `validate`.
    """
    return XMLStream(source, tag=tag, what=what, max_bytes=max_bytes, events=events)


def prepend(head: bytes, rest: IO[bytes]) -> IO[bytes]:
    """A stream of `head` followed by what is left in `rest`: a pipe whose beginning was
    read to look at it can still be streamed instead of read whole."""
    return io.BufferedReader(_Chain(head, rest), buffer_size=256 * 1024)


class _Chain(io.RawIOBase):
    """The already-read head of a stream followed by the rest of it."""

    def __init__(self, head: bytes, rest: io.RawIOBase | IO[bytes]) -> None:
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
        if isinstance(self._rest, io.RawIOBase):
            return self._rest.readinto(buffer)
        chunk = self._rest.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@functools.lru_cache(maxsize=16)
def load_schema(path: str) -> etree.XMLSchema:
    """Compile an XSD once per process (lxml / libxml2, the fast validator)."""
    return compile_schema(path)


def compile_schema(path: str) -> etree.XMLSchema:
    """Compile an XSD afresh: an instance of its own, with its own error log (lxml keeps one
    per schema object, and every validation clears it)."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"schema not found: {file}")
    try:
        return etree.XMLSchema(etree.parse(str(file), _parser()))
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        raise SchemaViolation(f"the schema {file} does not compile: {exc}") from None


# libxml2 echoes the offending value in its schema messages, and that value is a name, a
# street, a birth date: the rule and the element are enough to fix the record, so the value
# goes. Greedy up to a fixed phrase of the message, so no quote inside a value leaks a tail.
_ECHOED_VALUES = (
    (
        re.compile(
            r"The value '.*' (has a length|is not an element of the set|is not accepted by the pattern|is less than|"
            r"is greater than|must be greater than|must be less than|has more digits|has more fractional digits|"
            r"does not match the fixed value|is not a valid)",
            re.DOTALL,
        ),
        r"The value \1",
    ),
    (re.compile(r"(?<=: )'.*' (is not a valid value of )", re.DOTALL), r"The value \1"),
    (re.compile(r"key-sequence \[.*\] (in unique|in key|of keyref)", re.DOTALL), r"key-sequence [...] \1"),
)


def schema_message(message: str) -> str:
    """A libxml2 schema-validation message without the value it echoes ("Element 'x':
    '1985-02-30' is not a valid value of the atomic type 'xs:date'." -> "Element 'x': The
    value is not a valid value of the atomic type 'xs:date'."); element and rule are kept."""
    for pattern, replacement in _ECHOED_VALUES:
        message = pattern.sub(replacement, message)
    return message


def validate(document: etree._ElementTree | etree._Element, schema: etree.XMLSchema, *, what: str) -> None:
    """Raise SchemaViolation naming the first failing element's path, line and reason."""
    if schema.validate(document):
        return
    error = schema.error_log.last_error if schema.error_log else None
    if error is None:
        raise SchemaViolation(f"{what}: does not match its schema")
    first = schema.error_log[0]
    where = f" at {first.path}" if getattr(first, "path", None) else ""
    raise SchemaViolation(f"{what}: schema violation{where} (line {first.line}): {schema_message(first.message)}")


def is_model_date(value: str | None) -> bool:
    """What the model takes as a date: None, or YYYY-MM-DD and a real day (the readers'
    fast paths check it before building a Contact)."""
    if value is None:
        return True
    if len(value) != 10:
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True
