"""Windows-1250 for POHODA: which characters the wire can carry, and Latin transliteration.

A character Windows-1250 cannot carry is replaced by its Latin equivalent when one exists,
or refused; it never becomes a silent "?". Callers name the field and report the change.
"""

from __future__ import annotations

import re
import unicodedata

from connector.errors import ConnectorError

WIRE_ENCODING = "cp1250"

# Every character Windows-1250 carries that XML 1.0 also allows in text (no C0 controls but
# tab, newline and carriage return; bytes 0x81, 0x83, 0x88, 0x90, 0x98 are undefined).
CP1250_CHARACTERS: frozenset[str] = frozenset(
    char
    for char in (bytes([b]).decode(WIRE_ENCODING, "ignore") for b in range(256))
    if char and (char >= " " or char in "\t\n\r")
)

# Latin equivalents NFKD cannot derive (no decomposition), chosen the way Czech and Slovak
# users write them on a keyboard without the letter. Only characters outside Windows-1250.
_TABLE: dict[str, str] = {
    "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Ø": "O", "ø": "o", "Þ": "Th", "þ": "th",
    "Ð": "D", "ð": "d", "Ħ": "H", "ħ": "h", "ı": "i", "Ŀ": "L", "ŀ": "l", "Ŧ": "T", "ŧ": "t",
    "ĸ": "k", "Ŋ": "N", "ŋ": "n", "ſ": "s", "ẞ": "SS",
    "‐": "-", "‑": "-", "‒": "-", "―": "-", "−": "-", "⁄": "/",
    "′": "'", "″": '"', "‛": "'", "‟": '"',
    "\u2028": "\n", "\u2029": "\n",
}


class Unencodable(ConnectorError, ValueError):
    """A text holds characters with no Windows-1250 form and no Latin equivalent."""

    def __init__(self, characters: list[str]) -> None:
        names = ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed')}" for c in characters)
        super().__init__(f"characters that Windows-1250 cannot carry and that have no Latin equivalent: {names}")
        self.characters = characters


# One character outside that set; a regex search runs in C over the whole value (this is on
# the hot path of every encoded field).
_OUTSIDE = re.compile("[^" + "".join(re.escape(c) for c in sorted(CP1250_CHARACTERS)) + "]")


def is_cp1250(text: str) -> bool:
    """True when every character of `text` goes on the wire unchanged."""
    return _OUTSIDE.search(text) is None


def _equivalent(char: str) -> str | None:
    if char in _TABLE:
        return _TABLE[char]
    # NFKD splits "ș" into "s" + a combining comma, "ﬁ" into "fi", a full-width "Ａ" into "A";
    # dropping the combining marks leaves the Latin base letters.
    decomposed = unicodedata.normalize("NFKD", char)
    # Recomposed, a compatibility form may land on letters Windows-1250 has ("Ǆ" -> "DŽ").
    recomposed = unicodedata.normalize("NFC", decomposed)
    if recomposed != char and is_cp1250(recomposed):
        return recomposed
    base = "".join(c for c in decomposed if not unicodedata.category(c).startswith("M"))
    if not base or base == char:
        return None
    if is_cp1250(base):
        return base
    # A decomposition may itself hold a tabled character (e.g. a ligature of "œ").
    parts: list[str] = []
    for c in base:
        piece = c if c in CP1250_CHARACTERS else _TABLE.get(c)
        if piece is None:
            return None
        parts.append(piece)
    return "".join(parts)


def to_cp1250(text: str) -> tuple[str, list[tuple[str, str]]]:
    """`text` in characters Windows-1250 carries, and the replacements made (char, equivalent).

    Text that Windows-1250 carries comes back unchanged, character for character. Raises
    Unencodable listing every character that has no equivalent.
    """
    if is_cp1250(text):
        return text, []
    # Compose first so that "e" + a combining acute becomes the "é" Windows-1250 has; only
    # done for text that needs work, so carried characters are never touched.
    composed = unicodedata.normalize("NFC", text)
    out: list[str] = []
    replaced: list[tuple[str, str]] = []
    missing: list[str] = []
    for char in composed:
        if char in CP1250_CHARACTERS:
            out.append(char)
            continue
        equivalent = _equivalent(char)
        if equivalent is None:
            if char not in missing:
                missing.append(char)
            continue
        out.append(equivalent)
        replaced.append((char, equivalent))
    if missing:
        raise Unencodable(missing)
    result = "".join(out)
    if not replaced and result != text:
        # Only composition changed the text: still a change the caller must report.
        replaced.append(("combining marks", "composed letters"))
    return result, replaced
