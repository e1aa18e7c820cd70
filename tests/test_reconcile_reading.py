"""How `connector reconcile` reads a side: each record fingerprinted from the values its
elements hold (decoded in full only when it differs), and the next page requested while
this one is read. Real parts: the codecs, the simulators over loopback, the real client.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.codec import eshop as codec
from connector.codec._fingerprint import Fingerprinted
from connector.codec.pohoda import AddressbookDigest, PohodaCodec
from connector.config import Config
from connector.errors import EshopUnreachable, PohodaUnreachable
from connector.model import Consent, Contact, ShipTo, hash_content
from connector.peers import PeerRecord
from connector.peers.eshop import ConnectorShop, EshopClient
from connector.peers.pohoda import PohodaClient, PohodaPeer
from connector.sim.generate import generate_contacts
from connector.sim.sandbox import Sandbox
from connector.transport import RetryPolicy

WHEN = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def _page(contacts: list[Contact]) -> bytes:
    customers = [
        codec.EshopCustomer(c.replace(id=f"C{n}"), version=str(n), updated_at=WHEN, hq_id=str(n), sync_state="synced")
        for n, c in enumerate(contacts, 1)
    ]
    changes = tuple(codec.EshopChange(x.id, x.version, x.updated_at, x) for x in customers)
    return codec.encode_changes(codec.ChangePage(changes, next_cursor="9", has_more=False))


def _digests(data: bytes) -> list[codec.CustomerDigest]:
    page = codec.digest_changes(data)
    assert all(isinstance(entry, codec.CustomerDigest) for entry in page.changes)
    return [entry for entry in page.changes if isinstance(entry, codec.CustomerDigest)]


def test_a_feed_customer_s_fingerprint_is_the_hash_of_its_content_and_decodes_as_the_feed_does() -> None:
    contacts = list(generate_contacts(300, seed=3, rich=True))
    data = _page(contacts)
    full = codec.decode_changes(data).changes
    digests = _digests(data)
    assert len(digests) == len(full) == 300
    assert sum(bool(c.ship_to) for c in contacts) and sum(bool(c.gdpr) for c in contacts)  # the lists are read too
    for contact, change, digest in zip(contacts, full, digests, strict=True):
        assert digest.fingerprint == hash_content(contact.content())
        assert change.customer is not None
        assert (digest.id, digest.version) == (change.id, change.version) == (f"C{change.version}", change.version)
        assert (digest.hq_id, digest.sync_state) == (change.customer.hq_id, "synced")
        assert digest.customer() == change.customer


def _variants(base: Contact) -> Iterator[tuple[str, Contact]]:
    """`base` changed in one field at a time: every text field, each list's items, and each
    field of an address and of a consent."""
    for field in dataclasses.fields(Contact):
        if field.name in ("id", "ext_id", "ship_to", "gdpr", "groups"):
            continue
        value = getattr(base, field.name)
        if field.name == "country":
            yield field.name, base.replace(country="AT" if value != "AT" else "DE")
        elif field.name == "birth_date":
            yield field.name, base.replace(birth_date="1990-02-03" if value != "1990-02-03" else "1990-02-04")
        else:
            yield field.name, base.replace(**{field.name: f"{value or ''}x"})
        if value is not None:
            yield f"{field.name} removed", base.replace(**{field.name: None})
    yield "groups", base.replace(groups=(*base.groups, "new"))
    yield "groups order", base.replace(groups=tuple(reversed(base.groups)))
    yield "ship_to added", base.replace(ship_to=(*base.ship_to, ShipTo(city="Brno")))
    yield "ship_to removed", base.replace(ship_to=base.ship_to[1:])
    for field in dataclasses.fields(ShipTo):
        ship = base.ship_to[0]
        value = getattr(ship, field.name)
        if field.name == "default":
            changed = dataclasses.replace(ship, default=not value)
        elif field.name == "country":
            changed = dataclasses.replace(ship, country="AT" if value != "AT" else "DE")
        else:
            changed = dataclasses.replace(ship, **{field.name: f"{value or ''}x"})
        yield f"ship_to.{field.name}", base.replace(ship_to=(changed, *base.ship_to[1:]))
    yield "gdpr added", base.replace(gdpr=(*base.gdpr, Consent(purpose="newsletter")))
    yield "gdpr removed", base.replace(gdpr=base.gdpr[1:])
    for field in dataclasses.fields(Consent):
        consent = base.gdpr[0]
        value = getattr(consent, field.name)
        if field.name.startswith("date"):
            changed = dataclasses.replace(
                consent, **{field.name: "2020-01-02" if value != "2020-01-02" else "2020-01-03"}
            )
        else:
            changed = dataclasses.replace(consent, **{field.name: f"{value or ''}x"})
        yield f"gdpr.{field.name}", base.replace(gdpr=(changed, *base.gdpr[1:]))


BASE = Contact(
    company="Firma s.r.o.",
    name="Jana Nováková",
    email="jana@example.cz",
    phone="+420 601 000 000",
    mobile="+420 602 000 000",
    street="Lipová 1",
    city="Brno",
    zip="602 00",
    country="CZ",
    ico="12345678",
    dic="CZ12345678",
    ic_dph="SK1234567890",
    note='a "note" with \\ and ž',
    birth_date="1980-01-02",
    groups=("B2B", "VIP"),
    ship_to=(ShipTo(name="Sklad", street="Dlouhá 2", city="Praha", zip="110 00", country="CZ", default=True),),
    gdpr=(Consent(purpose="marketing", date_from="2024-01-01", date_till="2026-01-01", description="e-mail"),),
)


def test_a_change_in_any_field_changes_the_feed_fingerprint() -> None:
    base_hash = hash_content(BASE.content())
    variants = list(_variants(BASE))
    digests = _digests(_page([contact for _, contact in variants]))
    seen: set[str] = set()
    for (what, contact), digest in zip(variants, digests, strict=True):
        assert digest.fingerprint != base_hash, what
        assert digest.fingerprint == hash_content(contact.content()), what
        seen.add(what.split()[0].split(".")[0])
    assert seen >= {f.name for f in dataclasses.fields(Contact)} - {"id", "ext_id"}


def test_a_value_the_model_must_judge_is_read_in_full_and_hashed_as_the_model_reads_it() -> None:
    # A lower-case country is the model's to normalise: the fast path leaves the customer to
    # the full decoding, and the listing gives it as its record.
    data = _page([BASE]).replace(b"<country>CZ</country>", b"<country>cz</country>", 1)
    page = codec.digest_changes(data)
    (entry,) = page.changes
    assert isinstance(entry, codec.EshopChange) and entry.customer is not None
    assert entry.customer.contact.country == "CZ"
    assert entry == codec.decode_changes(data).changes[0]


# -- the next page on its way while this one is read ------------------------------------------


class FailingPage(httpx.BaseTransport):
    """The real loopback transport, except that the requests `fails` picks never reach the
    peer: they fail as a connection refused would. Counts what was asked."""

    def __init__(self, fails: Any) -> None:
        self.inner = httpx.HTTPTransport()
        self.fails = fails
        self.sent: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        self.sent.append(request.url.query + body)
        if self.fails(request, body):
            raise httpx.ConnectError("refused by the test", request=request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def _no_retries() -> RetryPolicy:
    return RetryPolicy(max_total_s=0.0)


def _pohoda_listing(config: Config, transport: FailingPage) -> PohodaPeer:
    assert config.secrets.pohoda_password is not None
    client = PohodaClient(config.pohoda, config.secrets.pohoda_password, transport=transport, policy=_no_retries())
    return PohodaPeer(client, page_size=10)


def _customers(n: int) -> list[Contact]:
    return [Contact(name=f"Zákazník {i}", email=f"z{i}@example.cz", city="Brno") for i in range(n)]


def test_a_pohoda_page_that_fails_while_read_ahead_ends_the_listing_where_it_would_have(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "box", pohoda_seed=_customers(35)) as box:
        clean = FailingPage(lambda _request, _body: False)
        assert [r.record_id for r in _pohoda_listing(box.config, clean).snapshot()] == [str(i) for i in range(1, 36)]
        assert len(clean.sent) == 4  # ids 1, 11, 21, 31: the short last page ends it, no request after it

        # The page from id 11 fails: it is asked for while page one is read, and its failure
        # is raised after page one's records, as the plain read raised it; nothing is asked after.
        failing = FailingPage(lambda _request, body: b":idFrom>11<" in body)
        peer = _pohoda_listing(box.config, failing)
        read: list[str] = []
        with pytest.raises(PohodaUnreachable):
            for record in peer.snapshot():
                read.append(record.record_id)
        assert read == [str(i) for i in range(1, 11)]
        assert len(failing.sent) == 2
        assert peer.client.requests.xml == 2


def test_an_eshop_page_that_fails_while_read_ahead_ends_the_listing_where_it_would_have(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "box", eshop_seed=_customers(25)) as box:
        config = box.config
        assert config.secrets.eshop_token is not None

        def listing(transport: FailingPage) -> ConnectorShop:
            client = EshopClient(
                config.eshop, config.secrets.eshop_token or "", transport=transport, policy=_no_retries()
            )
            return ConnectorShop(client, page_size=10)

        def ids(items: Iterator[PeerRecord | Fingerprinted[PeerRecord]]) -> list[str]:
            return [item.record_id for item in items]

        clean = FailingPage(lambda _request, _body: False)
        everyone = ids(listing(clean).snapshot_fingerprinted())
        assert len(everyone) == 25 and len(clean.sent) == 3
        assert everyone == [r.record_id for r in listing(FailingPage(lambda _r, _b: False)).snapshot()]

        failing = FailingPage(lambda request, _body: request.url.params.get("cursor") not in ("", None))
        shop = listing(failing)
        read: list[str] = []
        with pytest.raises(EshopUnreachable):
            for item in shop.snapshot_fingerprinted():
                read.append(item.record_id)
        assert read == everyone[:10]
        assert shop.client.requests.changes == 2


def test_the_next_page_is_asked_for_while_this_one_is_read(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "box", pohoda_seed=_customers(25), eshop_seed=_customers(25)) as box:
        pohoda = FailingPage(lambda _request, _body: False)
        records = _pohoda_listing(box.config, pohoda).snapshot()
        assert next(records).record_id == "1"
        # Page one is being read; page two (from id 11) is on its way meanwhile.
        _wait_for(lambda: len(pohoda.sent) == 2)
        assert b":idFrom>11<" in pohoda.sent[1]
        assert len(list(records)) == 24 and len(pohoda.sent) == 3

        eshop = FailingPage(lambda _request, _body: False)
        token = box.config.secrets.eshop_token or ""
        shop = ConnectorShop(EshopClient(box.config.eshop, token, transport=eshop), page_size=10)
        items = shop.snapshot_fingerprinted()
        next(items)
        _wait_for(lambda: len(eshop.sent) == 2)
        assert len(list(items)) == 24 and len(eshop.sent) == 3


def _wait_for(condition: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the next page was not asked for"
        time.sleep(0.01)


def _export(contacts: list[Contact]) -> list[AddressbookDigest | Contact]:
    pohoda = PohodaCodec(ico="12345678", ex_system="eshop", application="test")
    out = io.BytesIO()
    pohoda.write_export([c.replace(id=str(n), ext_id=f"C{n}") for n, c in enumerate(contacts, 1)], out)
    data = out.getvalue()
    digests = list(pohoda.iter_export_digests(data))
    full = list(pohoda.iter_export(data))
    assert len(digests) == len(full) == len(contacts)
    for digest, contact in zip(digests, full, strict=True):
        assert isinstance(digest, AddressbookDigest)
        assert (digest.id, digest.ext_id) == (contact.id, contact.ext_id)
        assert digest.contact() == contact
    return digests


def test_a_pohoda_record_s_fingerprint_is_the_hash_of_its_content_and_decodes_as_the_export_does() -> None:
    contacts = list(generate_contacts(300, seed=4, rich=True))
    for contact, digest in zip(contacts, _export(contacts), strict=True):
        assert isinstance(digest, AddressbookDigest)
        assert digest.fingerprint == hash_content(contact.content())


def test_a_change_in_any_field_changes_the_pohoda_fingerprint() -> None:
    base_hash = hash_content(BASE.content())
    variants = list(_variants(BASE))
    for (what, contact), digest in zip(variants, _export([c for _, c in variants]), strict=True):
        assert isinstance(digest, AddressbookDigest)
        assert digest.fingerprint != base_hash, what
        assert digest.fingerprint == hash_content(contact.content()), what
