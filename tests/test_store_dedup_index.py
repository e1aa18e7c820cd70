"""Issue 14, point 2: the dedup index kept in the store, right across processes and runs.

Real stores (SQLite, and PostgreSQL where one is configured), mirror rows written through
`Store.put_mirror` as the sync writes them, and a second process writing through its own store.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import structlog

from connector.model import Contact, MirrorRecord, hash_content
from connector.sim.generate import generate_contacts
from connector.store import Store, _dedup
from connector.store._schema import dedup_dirty, dedup_index, dedup_keys, dedup_records, mirror

ROOT = Path(__file__).resolve().parent.parent

JAN = Contact(
    name="Jan Novák", street="Dlouhá 12", city="Praha", zip="11000", phone="602111222", birth_date="1980-05-01"
)
EVA = Contact(name="Eva Horáková", street="Krátká 3", city="Brno", zip="60200", phone="777123456")


def _row(record_id: str, contact: Contact, *, deleted: bool = False) -> MirrorRecord:
    content = contact.content()
    return MirrorRecord("pohoda", record_id, content, hash_content(content), None, None, deleted)


def _put(store: Store, *records: MirrorRecord) -> None:
    with store.transaction() as conn:
        Store.put_mirror(conn, list(records))


def _candidates(store: Store, query: Contact, *, region: str = "CZ") -> frozenset[str]:
    return store.dedup_view("pohoda", [query], region=region, email_provider_rules=True).candidates


@pytest.fixture
def store(store_backend: str) -> Iterator[Store]:
    with Store.open(store_backend) as opened:
        yield opened


def _put_in_another_process(url: str, record_id: str, contact: Contact, *, deleted: bool = False) -> None:
    """Write one mirror row the way another connector process does: its own store, its own
    interpreter."""
    code = textwrap.dedent(
        """
        import json, sys
        from connector.model import Contact, MirrorRecord, hash_content
        from connector.store import Store
        url, record_id, data, deleted = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4] == "1"
        content = Contact.from_dict(data).content()
        row = MirrorRecord("pohoda", record_id, content, hash_content(content), None, None, deleted)
        with Store.open(url) as store, store.transaction() as conn:
            Store.put_mirror(conn, [row])
        """
    )
    arguments = [url, record_id, json.dumps(contact.to_dict()), "1" if deleted else "0"]
    subprocess.run([sys.executable, "-c", code, *arguments], check=True, cwd=ROOT, timeout=120)


def test_a_registration_finds_the_contacts_sharing_a_key_as_the_mirror_changes(
    store: Store, store_backend: str
) -> None:
    _put(store, _row("1", JAN), _row("2", EVA))
    # Jan again, with a typo in his street and no birth date: a key (name + zip) is whole.
    jan_again = JAN.replace(street="Dluhá 12", birth_date=None, phone=None)
    assert _candidates(store, jan_again) == {"1"}
    assert _candidates(store, EVA.replace(phone=None)) == {"2"}

    # Another process renames contact 1 (someone else now holds the record): the index
    # follows, and the old name no longer finds it.
    someone = Contact(name="Petr Svoboda", street="Nová 7", city="Ostrava", zip="70030")
    _put_in_another_process(store_backend, "1", someone)
    assert _candidates(store, jan_again) == frozenset()
    assert _candidates(store, someone.replace(street="Nova 7")) == {"1"}

    # A deletion (POHODA reports none; a reconcile or a tombstone writes the row deleted).
    _put_in_another_process(store_backend, "2", EVA, deleted=True)
    assert _candidates(store, EVA.replace(phone=None)) == frozenset()

    # Nothing is left marked once asked: the next ask reads only the index.
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(dedup_dirty)).scalar() == 0


def test_a_store_written_before_the_index_is_indexed_when_first_asked(store: Store) -> None:
    contacts = list(generate_contacts(300, seed=3, rich=False))
    _put(store, *(_row(str(number + 1), contact) for number, contact in enumerate(contacts)))
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(dedup_index)).first() is None  # not indexed while nobody asks
    view = store.dedup_view(
        "pohoda", [contacts[41].replace(email=None, phone=None)], region="CZ", email_provider_rules=True
    )
    assert "42" in view.candidates
    assert view.population == 300
    # Every candidate shares a key: far fewer than the side.
    assert len(view.candidates) < 30


def test_another_region_keys_the_index_again(store: Store) -> None:
    # A phone without a country code is read in the configured region: in CZ +420, in SK +421.
    local = Contact(name="Mária Kováčová", city="Žilina", zip="01001", phone="905123456")
    _put(store, _row("7", local))
    slovak_caller = Contact(name="Anna Bieliková", city="Košice", zip="04001", phone="+421905123456")
    assert _candidates(store, slovak_caller, region="CZ") == frozenset()
    assert _candidates(store, slovak_caller, region="SK") == {"7"}
    with store.engine.connect() as conn:
        assert json.loads(conn.execute(sa.select(dedup_index.c.settings)).scalar_one())["region"] == "SK"


def test_the_model_is_fitted_over_the_side_once_and_again_when_it_has_doubled(store: Store) -> None:
    def fitted() -> tuple[int, bool]:
        with store.engine.connect() as conn:
            row = conn.execute(sa.select(dedup_index.c.fitted_population, dedup_index.c.model)).one()
        return row.fitted_population, row.model is not None

    contacts = list(generate_contacts(2600, seed=4, rich=False))
    _put(store, *(_row(str(n + 1), c) for n, c in enumerate(contacts[:1200])))
    view = store.dedup_view("pohoda", [contacts[0]], region="CZ", email_provider_rules=True)
    assert fitted() == (1200, True) and view.model is not None
    _put(store, *(_row(str(n + 1), c) for n, c in enumerate(contacts[1200:2000], start=1200)))
    store.dedup_view("pohoda", [contacts[0]], region="CZ", email_provider_rules=True)
    assert fitted() == (1200, True)  # 2,000 is not yet twice 1,200: the model is kept
    _put(store, *(_row(str(n + 1), c) for n, c in enumerate(contacts[2000:], start=2000)))
    view = store.dedup_view("pohoda", [contacts[0]], region="CZ", email_provider_rules=True)
    assert fitted() == (2600, True)
    assert view.population == 2600


def test_writers_and_lookups_at_once_leave_the_index_as_the_mirror_is(store_backend: str) -> None:
    """A sync run writing contacts while another process's registrations ask the index:
    neither waits for the other forever (no deadlock), and afterwards every indexed record's
    keys are those of its mirror row as it is."""
    contacts = list(generate_contacts(400, seed=8, rich=False))
    errors: list[BaseException] = []
    with Store.open(store_backend) as writer_store, Store.open(store_backend) as reader_store:
        _put(writer_store, *(_row(str(n + 1), c) for n, c in enumerate(contacts[:200])))
        reader_store.dedup_view("pohoda", [], region="CZ", email_provider_rules=True)

        def write() -> None:
            try:
                for round_ in range(20):
                    # Each round rewrites 40 records with another person's content, in a
                    # different order each time.
                    picked = [(n * 7 + round_ * 13) % 200 for n in range(40)]
                    rows = [_row(str(n + 1), contacts[(n + round_ * 40) % 400]) for n in picked]
                    _put(writer_store, *rows)
            except BaseException as error:
                errors.append(error)

        def ask() -> None:
            try:
                for round_ in range(20):
                    asked = contacts[round_ : round_ + 5]
                    reader_store.dedup_view("pohoda", asked, region="CZ", email_provider_rules=True)
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=write), threading.Thread(target=ask)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not errors, errors
        reader_store.dedup_view("pohoda", [], region="CZ", email_provider_rules=True)
        settings = _dedup.settings_of("CZ", True)
        with reader_store.engine.connect() as conn:
            indexed = {row.record_id: row.key_hashes for row in conn.execute(sa.select(dedup_records))}
            mirror_rows = {row.record_id: json.loads(row.content) for row in conn.execute(sa.select(mirror))}
            key_rows = conn.execute(sa.select(sa.func.count()).select_from(dedup_keys)).scalar_one()
    assert set(indexed) == set(mirror_rows)
    expected_keys = 0
    for record_id, content in mirror_rows.items():
        hashes, _names = _dedup.query_entries([Contact.from_dict(content)], settings)
        assert indexed[record_id] == " ".join(map(str, sorted(hashes))), record_id
        expected_keys += len(hashes)
    assert key_rows == expected_keys  # no entry of an older content is left behind


def test_a_mirror_row_the_model_cannot_read_is_left_out_and_nothing_else_stops(store: Store) -> None:
    # A row an older connector (or a hand edit) left: a field this model does not know, and
    # text that is not JSON at all.
    _put(store, _row("1", JAN), _row("2", EVA))
    with store.transaction() as conn:
        bad = {**JAN.content(), "favourite_colour": "Zelená Nováková"}
        conn.execute(mirror.update().where(mirror.c.record_id == "1").values(content=json.dumps(bad)))
        conn.execute(
            mirror.insert().values(
                side="pohoda", record_id="3", content="{not json", content_hash="x", deleted=False, seen_at="now"
            )
        )
    with structlog.testing.capture_logs() as logs:
        view = store.dedup_view("pohoda", [EVA.replace(phone=None)], region="CZ", email_provider_rules=True)
    assert view.candidates == {"2"} and view.population == 1
    left_out = [entry for entry in logs if "left out" in entry["event"]]
    assert sorted(entry["record"] for entry in left_out) == ["1", "3"]
    assert left_out[0]["field"] == "favourite_colour"
    assert "Nováková" not in repr(logs) and "Zelená" not in repr(logs)  # never a value


def test_the_names_of_contacts_compared_besides_the_candidates_are_counted_over_the_side(store: Store) -> None:
    petr = Contact(name="Petr Svoboda", street="Nová 7", city="Ostrava", zip="70030")
    _put(store, _row("1", petr), _row("2", petr.replace(city="Opava", zip="74601")), _row("3", EVA))
    # Eva's registration shares no key with either Petr; the caller compares it with a third
    # Petr it holds in a newer version than the store's: his tokens' counts are the side's.
    view = store.dedup_view("pohoda", [EVA], region="CZ", email_provider_rules=True, also=[petr])
    assert view.candidates == {"3"}
    assert view.token_counts["petr"] == 2 and view.token_counts["svoboda"] == 2
    assert view.token_counts["eva"] == 1
