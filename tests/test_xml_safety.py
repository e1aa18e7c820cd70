"""The one XML parser setup (`connector.codec._xml`): what it refuses and how it says so."""

from __future__ import annotations

import io

import pytest
from lxml import etree

from connector.codec import _xml
from connector.errors import MalformedXML, SchemaViolation

SCHEMA = etree.XMLSchema(
    etree.fromstring(
        b"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:element name="r"><xs:complexType><xs:sequence>
    <xs:element name="a" maxOccurs="unbounded">
      <xs:simpleType><xs:restriction base="xs:string"><xs:maxLength value="3"/></xs:restriction></xs:simpleType>
    </xs:element>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>"""
    )
)


def parse_both(data: bytes) -> None:
    """Both entry points must agree: the whole-document parse and the stream."""
    with pytest.raises(MalformedXML) as whole:
        _xml.parse_bytes(data, what="sample")
    with pytest.raises(MalformedXML) as streamed:
        list(_xml.iterparse(data, tag="a", what="sample"))
    assert "sample" in str(whole.value) and "sample" in str(streamed.value)


@pytest.mark.parametrize(
    "prolog",
    [
        b"",
        b'<?xml version="1.0"?>',
        b"\xef\xbb\xbf",
        b"<!-- <a> is not the root -->",
        b"<?pi <a?>\n<!-- -->\n",
    ],
    ids=["bare", "declaration", "bom", "comment-mentioning-a-tag", "pi-and-comment"],
)
def test_a_doctype_is_refused_wherever_the_prolog_hides_it(prolog):
    parse_both(prolog + b'<!DOCTYPE r [<!ENTITY e "x">]><r><a>&e;</a></r>')


def test_a_doctype_after_a_long_prolog_is_refused():
    parse_both(b"<!--" + b"x" * 300_000 + b'--><!DOCTYPE r [<!ENTITY e "x">]><r/>')


def test_undeclared_entities_are_not_well_formed():
    parse_both(b"<r><a>&e;</a></r>")


def test_utf16_and_empty_documents_are_refused():
    parse_both('<?xml version="1.0" encoding="UTF-16"?><r/>'.encode("utf-16"))
    parse_both(b"   \n")


@pytest.mark.parametrize("declared", ["windows-1250", "cp1250", "utf-8", "UTF-8", "us-ascii"])
def test_accepted_encodings(declared):
    codec = "cp1250" if "1250" in declared else ("ascii" if "ascii" in declared else "utf-8")
    text = "Zkouška" if codec != "ascii" else "Zkouska"
    data = f'<?xml version="1.0" encoding="{declared}"?><r><a>{text}</a></r>'.encode(codec)
    assert _xml.parse_bytes(data, what="sample").getroot()[0].text == text
    assert [el.text for _ev, el in _xml.iterparse(data, tag="a", what="sample")] == [text]


@pytest.mark.parametrize("declared", ["iso-8859-2", "latin1", "utf-16", "ebcdic"])
def test_other_encoding_declarations_are_refused(declared):
    parse_both(f'<?xml version="1.0" encoding="{declared}"?><r/>'.encode("ascii"))


def test_windows_1250_declared_but_utf8_bytes():
    parse_both('<?xml version="1.0" encoding="Windows-1250"?><r><a>Příliš</a></r>'.encode())


def test_size_limit_whole_and_streamed():
    data = b"<r>" + b"<a>x</a>" * 10_000 + b"</r>"
    with pytest.raises(MalformedXML, match="limit"):
        _xml.parse_bytes(data, what="sample", max_bytes=1000)
    with pytest.raises(MalformedXML, match="limit"):
        _xml.iterparse(data, tag="a", what="sample", max_bytes=1000)
    # A stream of unknown length fails once it has read past the limit.
    with pytest.raises(MalformedXML, match="limit"):
        list(_xml.iterparse(io.BytesIO(data), tag="a", what="sample", max_bytes=70_000))


def test_validate_names_the_path():
    tree = _xml.parse_bytes(b"<r><a>ok</a><a>too long</a></r>", what="sample")
    with pytest.raises(SchemaViolation, match=r"/r/a\[2\]"):
        _xml.validate(tree, SCHEMA, what="sample")


def test_load_schema_reports_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        _xml.load_schema(str(tmp_path / "missing.xsd"))
