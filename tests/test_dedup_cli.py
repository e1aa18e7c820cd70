"""`connector duplicates find` on a small file and on a stored snapshot, as a person would run it."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from connector.cli import _duplicates  # noqa: F401  (attaches the duplicates group to root)
from connector.cli._main import root
from connector.model import Contact, MirrorRecord
from connector.store import Store

CONTACTS = [
    {"id": "a1", "name": "Ján Kováč", "email": "jan.kovac@azet.sk", "city": "Košice"},
    {"id": "a2", "name": "Kovac Jan", "email": "JAN.KOVAC@azet.sk", "phone": "0905 123 456", "country": "SK"},
    {"id": "a3", "name": "Jan Kováč", "phone": "+421905123456", "city": "Košice"},
    {"id": "b1", "company": "Stavby Novák s.r.o.", "ico": "25596641"},
    {"id": "b2", "company": "STAVBY NOVÁK", "ico": "25 596 641"},
    {"id": "c1", "name": "Ladislav Szabó", "zip": "040 01", "street": "Hlavná 12"},
    {"id": "c2", "name": "Ladislav Szabo", "zip": "04001", "street": "Mlynská 3", "email": "l@x.sk"},
    {"id": "d1", "name": "Jan Novák", "city": "Praha", "zip": "110 00", "birth_date": "1980-01-01"},
    {"id": "d2", "name": "Jan Novák", "city": "Praha", "zip": "110 00", "birth_date": "1991-06-30"},
]


def run(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner(env=env).invoke(root, args)
    return result.exit_code, result.output


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_find_writes_clusters_and_with_review_the_unsure_pairs(tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in CONTACTS), encoding="utf-8")
    env = {"CONNECTOR_STORE_URL": f"sqlite:///{tmp_path / 's.db'}"}

    code, _ = run(["duplicates", "find", "--input", str(source), "--output", str(out)], env)
    assert code == 0
    clusters = lines(out)
    assert {frozenset(c["ids"]) for c in clusters} == {frozenset({"a1", "a2", "a3"}), frozenset({"b1", "b2"})}
    assert all(c["band"] == "link" and 0.9 <= c["score"] <= 1 for c in clusters)

    code, _ = run(["duplicates", "find", "--input", str(source), "--output", str(out), "--review"], env)
    assert code == 0
    reviews = [c for c in lines(out) if c["band"] == "review"]
    assert [sorted(c["ids"]) for c in reviews] == [["c1", "c2"]]  # never d1/d2: two birth dates


def test_find_reads_a_stored_snapshot(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store.open(url)
    records = [
        MirrorRecord("pohoda", c["id"], Contact.from_dict(c).to_dict(), f"h{c['id']}", "1", None, False)
        for c in CONTACTS
    ]
    with store.transaction() as conn:
        Store.put_mirror(conn, records)
    out = tmp_path / "out.jsonl"
    code, output = run(["duplicates", "find", "--side", "pohoda", "--output", str(out)], {"CONNECTOR_STORE_URL": url})
    assert code == 0, output
    assert {frozenset(c["ids"]) for c in lines(out)} == {frozenset({"a1", "a2", "a3"}), frozenset({"b1", "b2"})}


def test_bad_input_names_the_line_and_exits_2(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "x", "name": "Eva"}\n{"id": "y", "nmae": "Eva"}\n', encoding="utf-8")
    code, output = run(["duplicates", "find", "--input", str(source)], {})
    assert code == 2
    assert "line 2" in output


def test_input_and_side_are_exclusive(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("", encoding="utf-8")
    assert run(["duplicates", "find", "--input", str(source), "--side", "eshop"], {})[0] == 2
    assert run(["duplicates", "find"], {})[0] == 2
