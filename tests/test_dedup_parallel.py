"""A batch read and compared by several processes gives the clusters of one process.

`find_duplicates_in_file` cuts a file at line ends and has forked processes read, normalize,
key and compare it; these tests lower its size thresholds so that a few thousand records are
cut into parts, and check that the answer, the record ids and the errors (line numbers
included) are those of the serial reading.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench_modules import load_bench
from click.testing import CliRunner

import connector.dedup._engine as engine_module
import connector.dedup._parallel as parallel_module
from connector.cli import _duplicates  # noqa: F401  (attaches the duplicates group to root)
from connector.cli._main import root
from connector.dedup import find_duplicates, find_duplicates_in_file
from connector.errors import InvalidContact
from connector.model import Contact

gen_contacts = load_bench("gen_contacts")


@pytest.fixture(autouse=True)
def parallel_from_a_few_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "PARALLEL_MIN_RECORDS", 100)
    monkeypatch.setattr(parallel_module, "_PARALLEL_MIN_BYTES", 1_000)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 generated contacts with duplicates; some without an id, and a blank line."""
    path = tmp_path_factory.mktemp("parallel") / "contacts.jsonl"
    rows = []
    for n, (_, contact, _) in enumerate(gen_contacts.generate(3000, duplicates=0.2, seed=11)):
        data = json.loads(contact.to_json())
        if n % 97 == 0:
            data.pop("id", None)
        rows.append(json.dumps(data, ensure_ascii=False))
    rows.insert(1500, "")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def serial(path: Path) -> list[dict[str, object]]:
    """One process, the file read line by line here (a blank line still counts as a line)."""

    def records() -> Iterator[tuple[str, Contact]]:
        with path.open(encoding="utf-8") as stream:
            for number, line in enumerate(stream, start=1):
                if line.strip():
                    contact = Contact.from_dict(json.loads(line))
                    yield contact.id or f"line {number}", contact

    return [cluster.to_dict() for cluster in find_duplicates(records(), review=True)]


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_the_clusters_are_those_of_one_process(source: Path, workers: int) -> None:
    stats: dict[str, int] = {}
    clusters, read = find_duplicates_in_file(source, review=True, workers=workers, stats=stats)
    expected = serial(source)
    assert [cluster.to_dict() for cluster in clusters] == expected
    assert stats["records"] == read == sum(1 for line in source.read_text(encoding="utf-8").splitlines() if line)
    assert any(c["band"] == "link" for c in expected) and any(c["band"] == "review" for c in expected)
    # Records without an id are named by their line, as the CLI names them.
    ids = {record_id for cluster in expected for record_id in cluster["ids"]}  # type: ignore[attr-defined]
    assert any(str(record_id).startswith("line ") for record_id in ids)


_MARKS: list[Path] = []
_READ_PART = parallel_module._read_part


def _marking_read_part(part: int, parts: int) -> object:
    """The reader, noting the process it runs in (module level: a forked pool pickles it by name)."""
    with _MARKS[0].open("a", encoding="ascii") as out:
        out.write(f"{os.getpid()}\n")
    return _READ_PART(part, parts)


def test_the_parts_are_read_in_other_processes(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel_module, "_read_part", _marking_read_part)
    monkeypatch.setattr(sys.modules[__name__], "_MARKS", [tmp_path / "pids"])
    find_duplicates_in_file(source, workers=3)
    pids = (tmp_path / "pids").read_text(encoding="ascii").split()
    # Every part read once, in processes other than this one (and more than one of them).
    assert len(pids) == 3 * parallel_module._PARTS_PER_WORKER
    assert len(set(pids)) > 1 and str(os.getpid()) not in pids


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _many(count: int) -> list[str]:
    return [
        json.dumps({"id": f"r{n}", "name": f"Jan Novák{n}", "city": "Praha"}, ensure_ascii=False) for n in range(count)
    ]


def test_a_bad_line_in_a_later_part_is_named_by_its_line_in_the_file(tmp_path: Path) -> None:
    lines = _many(400)
    lines[350] = '{"id": "r350", "name": '  # cut short
    with pytest.raises(InvalidContact, match=r"^line 351: not valid JSON"):
        find_duplicates_in_file(_write(tmp_path / "bad.jsonl", lines), workers=3)


def test_an_id_found_in_two_parts_is_refused_at_its_second_line(tmp_path: Path) -> None:
    lines = _many(400)
    lines[390] = json.dumps({"id": "r3", "name": "Petr Malý"})
    with pytest.raises(InvalidContact, match=r"^line 391: id 'r3' appears twice") as caught:
        find_duplicates_in_file(_write(tmp_path / "twice.jsonl", lines), workers=2)
    assert caught.value.field == "id"


def test_bytes_that_are_not_utf8_are_named_by_their_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "latin.jsonl", _many(400))
    data = path.read_bytes().replace(b'"Jan Nov\xc3\xa1k300"', b'"Jan Nov\xe1k300"')
    path.write_bytes(data)
    with pytest.raises(InvalidContact, match=r"^line 301: not UTF-8 text"):
        find_duplicates_in_file(path, workers=2)


def test_the_cli_gives_the_same_clusters_from_a_file_as_from_a_pipe(source: Path, tmp_path: Path) -> None:
    env = {"CONNECTOR_STORE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    runner = CliRunner(env=env)
    from_file = runner.invoke(root, ["duplicates", "find", "--input", str(source), "--review", "--workers", "2"])
    from_pipe = runner.invoke(
        root, ["duplicates", "find", "--input", "-", "--review"], input=source.read_text(encoding="utf-8")
    )
    assert from_file.exit_code == 0 and from_pipe.exit_code == 0, from_file.output + from_pipe.output
    assert from_file.stdout == from_pipe.stdout and from_file.stdout.count("\n") > 100
