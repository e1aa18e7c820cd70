"""Hostile or broken answers end in a clear MalformedXML within 1 s and 100 MB of memory.

Each case runs in a fresh interpreter so that its peak memory (VmHWM) is its own: the input
is built first, then the baseline is taken, then the codec reads the input. Not ru_maxrss:
after exec it carries the parent's peak (pytest's), which would hide the codec's growth.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MAX_SECONDS = 1.0
MAX_GROWTH_MB = 100

HARNESS = """
import io, json, sys, time
from connector.codec.pohoda import PohodaCodec
from connector.errors import ConnectorError

codec = PohodaCodec("12345678", "eshop", "connector")
NS = ('xmlns:rsp="http://www.stormware.cz/schema/version_2/response.xsd" '
      'xmlns:lAdb="http://www.stormware.cz/schema/version_2/list_addBook.xsd"')
HEAD = ('<rsp:responsePack ' + NS + ' version="2.0" id="p" state="ok">'
        '<rsp:responsePackItem version="2.0" id="list" state="ok">'
        '<lAdb:listAddressBook version="2.0" dateTimeStamp="2024-05-01T10:00:00" '
        'dateValidFrom="2024-05-01" state="ok">')
{build}
def peak_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
codec.decode_response(b'<rsp:responsePack ' + NS.encode() + b' version="2.0" id="w" state="ok"/>')  # warm up
base = peak_mb()
start = time.perf_counter()
try:
    {call}
    outcome = {{"error": None, "message": ""}}
except ConnectorError as exc:
    outcome = {{"error": type(exc).__name__, "message": str(exc)}}
outcome["seconds"] = time.perf_counter() - start
outcome["growth_mb"] = peak_mb() - base
print(json.dumps(outcome))
"""


def run_isolated(build: str, call: str) -> dict[str, object]:
    code = HARNESS.format(build=textwrap.dedent(build), call=call)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


DECODE = "codec.decode_response(data)"
EXPORT = "list(codec.iter_export(data))"
BOTH = pytest.mark.parametrize("call", [DECODE, EXPORT], ids=["responsePack", "export"])


def assert_clear_refusal(outcome: dict[str, object], *words: str) -> None:
    assert outcome["error"] == "MalformedXML", outcome
    message = str(outcome["message"]).lower()
    for word in words:
        assert word.lower() in message, outcome
    assert outcome["seconds"] < MAX_SECONDS, outcome
    assert outcome["growth_mb"] < MAX_GROWTH_MB, outcome


@BOTH
def test_billion_laughs(call):
    build = """
    lol = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">' for i in range(1, 10))
    data = ('<?xml version="1.0"?><!DOCTYPE rsp:responsePack [' + lol + ']>'
            + HEAD + '<x>&lol9;</x></lAdb:listAddressBook></rsp:responsePackItem></rsp:responsePack>').encode()
    """
    assert_clear_refusal(run_isolated(build, call), "DOCTYPE")


@BOTH
def test_external_entity_pointing_at_a_local_file(call, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    build = f"""
    data = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file://{secret}">]>'
            + HEAD.replace('state="ok">', 'state="&xxe;">', 1)
            + '</lAdb:listAddressBook></rsp:responsePackItem></rsp:responsePack>').encode()
    """
    outcome = run_isolated(build, call)
    assert_clear_refusal(outcome, "DOCTYPE")
    assert "TOP-SECRET" not in str(outcome["message"])


@BOTH
def test_a_doctype_hidden_after_a_comment_is_still_found(call):
    build = """
    data = ('<?xml version="1.0"?><!-- <a> looks like a root --><!DOCTYPE r [<!ENTITY e "x">]>'
            + HEAD + '</lAdb:listAddressBook></rsp:responsePackItem></rsp:responsePack>').encode()
    """
    assert_clear_refusal(run_isolated(build, call), "DOCTYPE")


@BOTH
def test_truncated_xml(call):
    build = """
    from connector.model import Contact
    out = io.BytesIO()
    codec.write_export([Contact(id=str(i), name=f"Jiří Novák {i}") for i in range(1, 200)], out)
    data = out.getvalue()[: len(out.getvalue()) // 2]
    """
    assert_clear_refusal(run_isolated(build, call), "not well-formed")


@BOTH
@pytest.mark.parametrize(
    ("declared", "actual", "words"),
    [
        ("Windows-1250", "utf-8", ("bytes are UTF-8",)),
        ("UTF-8", "cp1250", ("not well-formed",)),
        ("ISO-8859-2", "iso-8859-2", ("only Windows-1250 and UTF-8",)),
        ("x-klingon", "utf-8", ("only Windows-1250 and UTF-8",)),
    ],
)
def test_a_wrong_encoding_declaration(call, declared, actual, words):
    build = f"""
    text = ('<?xml version="1.0" encoding="{declared}"?>'
            + HEAD.replace('state="ok">', 'state="ok" note="Příliš žluťoučký kůň">', 1)
            + '</lAdb:listAddressBook></rsp:responsePackItem></rsp:responsePack>')
    data = text.encode("{actual}")
    """
    assert_clear_refusal(run_isolated(build, call), *words)


@BOTH
def test_a_200_mb_body_in_memory(call):
    build = """
    tail = "</lAdb:listAddressBook></rsp:responsePackItem></rsp:responsePack>"
    data = (HEAD + " " * (200 * 1024 * 1024) + tail).encode()
    """
    assert_clear_refusal(run_isolated(build, call), "limit")


def test_a_200_mb_body_streamed():
    # Read from a stream of unknown length: the parser's own limits (no text node over
    # 10 MB, no nesting deeper than 256) and the byte limit stop it long before the end.
    build = """
    class Endless(io.RawIOBase):
        def __init__(self):
            self.left = 200 * 1024 * 1024
            self.head = (HEAD + '<lAdb:addressbook version="2.0"><adb:addressbookHeader '
                         'xmlns:adb="http://www.stormware.cz/schema/version_2/addressbook.xsd">'
                         '<adb:note>').encode()
        def readable(self):
            return True
        def readinto(self, buffer):
            if self.head:
                n = len(self.head); buffer[:n] = self.head; self.head = b""; return n
            n = min(len(buffer), self.left)
            buffer[:n] = b"A" * n
            self.left -= n
            return n
    data = io.BufferedReader(Endless())
    """
    outcome = run_isolated(build, EXPORT)
    assert_clear_refusal(outcome)


def test_deep_nesting_streamed():
    build = """
    data = (HEAD + "<lAdb:addressbook>" + "<x>" * 100_000).encode()
    """
    outcome = run_isolated(build, EXPORT)
    # Whichever libxml2 notices first: the nesting limit or the schema.
    assert outcome["error"] in ("MalformedXML", "SchemaViolation"), outcome
    assert outcome["seconds"] < MAX_SECONDS and outcome["growth_mb"] < MAX_GROWTH_MB, outcome


def test_an_export_cut_anywhere_is_never_taken_for_a_complete_one():
    import io

    from connector.codec.pohoda import PohodaCodec
    from connector.errors import BadData
    from connector.model import Contact

    codec = PohodaCodec("12345678", "eshop", "connector")
    out = io.BytesIO()
    codec.write_export([Contact(id=str(i), name=f"Jiří Novák {i}") for i in range(1, 50)], out)
    full = out.getvalue()
    for cut in range(100, len(full), max(1, len(full) // 97)):
        with pytest.raises(BadData):
            list(codec.iter_export(full[:cut]))
        with pytest.raises(BadData):
            list(codec.iter_export(io.BytesIO(full[:cut])))
