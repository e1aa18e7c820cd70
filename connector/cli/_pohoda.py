"""`connector pohoda …`: encode contacts to a dataPack, decode POHODA's answers, ask status."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from typing import IO, Any

import click

from connector.actions import answer_items, encode_contacts, pohoda_codec
from connector.checks import INTERACTIVE_TIMEOUT_S, interactive
from connector.cli._main import EXIT_FAILED, AppContext, fail, handle_errors, root
from connector.codec import prepend
from connector.codec.pohoda import PohodaCodec
from connector.config import Config
from connector.errors import ConfigError, InvalidContact, MalformedXML, PohodaRefused
from connector.model import read_jsonl
from connector.peers.pohoda import PohodaClient

_HEAD = 64 * 1024
_LIST_NS = b"http://www.stormware.cz/schema/version_2/list_addBook.xsd"


@root.group("pohoda")
def pohoda() -> None:
    """Talk POHODA's XML: encode, decode, and ask mServer whether it is up."""


def _codec(app: AppContext, ex_system: str | None, ico: str | None) -> PohodaCodec:
    config: Config | None
    try:
        config = app.config()
    except ConfigError:
        if ex_system and ico:
            config = None  # everything needed was given on the command line
        else:
            raise
    return pohoda_codec(config, ex_system=ex_system, ico=ico)


@pohoda.command("encode")
@click.option("--ex-system", help="Name of the e-shop in POHODA's extId (default: [pohoda] ex_system).")
@click.option("--ico", help="IČO of the company in POHODA (default: [pohoda] ico).")
@click.pass_obj
@handle_errors
def encode(app: AppContext, ex_system: str | None, ico: str | None) -> None:
    """Contacts as JSON lines on stdin -> the address-book import dataPack on stdout.

    A contact with `ext_id` becomes an upsert keyed by it; one with only a POHODA `id`
    an update of that record. A record that cannot be encoded (a value too long,
    characters Windows-1250 cannot carry) is reported on stderr and left out (exit 1).
    """
    codec = _codec(app, ex_system, ico)
    try:
        encoded = encode_contacts(codec, list(read_jsonl(sys.stdin)))
    except InvalidContact as exc:
        fail(str(exc))
    for report in encoded.reports:
        for warning in report.warnings:
            click.echo(f"warning: record {report.record_key}: {warning.message}", err=True)
        if report.error is not None:
            click.echo(f"refused: {report.error}", err=True)
    if encoded.body is not None:
        sys.stdout.buffer.write(encoded.body)
        sys.stdout.buffer.flush()
    if encoded.refused:
        sys.exit(EXIT_FAILED)


def _emit(obj: dict[str, Any], out: IO[str]) -> None:
    out.write(json.dumps(obj, ensure_ascii=False))
    out.write("\n")


@pohoda.command("decode")
@click.argument("file", type=click.File("rb"))
@click.option("--ex-system", help="Name of the e-shop in POHODA's extId (default: [pohoda] ex_system).")
@click.option("--ico", default="00000000", show_default=True, help="IČO used only to set up the codec.")
@click.pass_obj
@handle_errors
def decode(app: AppContext, file: IO[bytes], ex_system: str | None, ico: str) -> None:
    """A responsePack or a bare lAdb:listAddressBook -> JSON lines on stdout.

    An export gives one contact per line; an import answer one result per item. A pack
    POHODA refused as a whole gives one object with its state and note, and exit 1.

    All or nothing: an export's lines wait in a temporary file until the whole document
    has been read and validated, so a document refused part-way (a bad record, a broken
    or too large file) prints nothing on stdout, only `error: …` on stderr, and exit 2.
    """
    codec = _codec(app, ex_system or "eshop", ico)
    given = str(getattr(file, "name", "-"))
    name = "<stdin>" if given in ("-", "<stdin>") else given
    head = file.read(_HEAD)
    rest_is_export = _LIST_NS in head and b"listAddressBook" in head
    out = sys.stdout
    if rest_is_export:
        limit = codec.max_export_bytes
        source: IO[bytes]
        if file.seekable():
            size = file.seek(0, os.SEEK_END)
            if size > limit:
                raise MalformedXML(f"{name}: {size} bytes is more than the limit of {limit} bytes for an export")
            file.seek(0)
            source = file
        else:
            # A pipe: streamed on from what was read, never held whole (the limit is counted).
            source = prepend(head, file)
        with tempfile.TemporaryFile("w+", encoding="utf-8") as held:
            try:
                for contact in codec.iter_export(source):
                    held.write(contact.to_json())
                    held.write("\n")
            except PohodaRefused as exc:
                _emit({"state": "error", "note": exc.note or str(exc)}, out)
                sys.exit(EXIT_FAILED)
            held.seek(0)
            shutil.copyfileobj(held, out)
        return
    limit = codec.max_response_bytes
    # Read at most one byte past the limit: a larger answer is refused without holding it.
    data = head + file.read(max(0, limit + 1 - len(head)))
    if len(data) > limit:
        raise MalformedXML(f"{name}: more than the limit of {limit} bytes for a responsePack; not read further")
    answer = codec.decode_response(data)
    if answer.state != "ok":
        _emit({"state": answer.state, "note": answer.note}, out)
        sys.exit(EXIT_FAILED)
    for item in answer_items(answer):
        _emit(item, out)


@pohoda.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(0.5, 600),
    default=INTERACTIVE_TIMEOUT_S,
    show_default=True,
    help="Give up after this many seconds.",
)
@click.pass_obj
@handle_errors
def status(app: AppContext, as_json: bool, timeout_s: float) -> None:
    """Is mServer up, and does it take this user, password and IČO? (exit 0 yes, 1 no, 2
    configuration error).

    Reads one address-book record: `GET /status` alone answers without credentials.
    """
    config = interactive(app.config("pohoda.url", "pohoda.user", "pohoda.ico", "pohoda_password"), timeout_s)
    with PohodaClient.from_config(config) as client:
        found = client.check()
    if as_json:
        _emit(found.to_dict(), sys.stdout)
    else:
        click.echo(f"POHODA mServer at {found.url}: {found.summary()}")
    if not found.ok:
        sys.exit(EXIT_FAILED)
