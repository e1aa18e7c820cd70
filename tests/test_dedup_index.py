"""The online index kept current in place: a model fitted once and reused, records added and removed."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest
from bench_modules import load_bench

from connector.dedup import DedupEngine, MatchModel, _engine
from connector.dedup._engine import _key_hash
from connector.dedup._model import PRIOR_M
from connector.model import Contact

corrupt = load_bench("corrupt")


def _records(count: int, seed: int) -> list[tuple[str, Contact, int]]:
    records: list[tuple[str, Contact, int]] = corrupt.labeled_set(count, seed, corrupt.TUNING.rates, "no_contact")
    return records


def _answers(engine: DedupEngine, queries: list[tuple[str, Contact]]) -> list[tuple[str, str, float] | None]:
    found = []
    for record_id, query in queries:
        match = engine.best_match(query, exclude=record_id)
        found.append(None if match is None else (match.candidate_id, match.band, round(match.score, 9)))
    return found


def test_a_stored_model_is_reused_instead_of_fitted() -> None:
    records = [(r, c) for r, c, _ in _records(2500, seed=3)]
    fitted = DedupEngine(records)
    assert fitted.model.m != PRIOR_M  # 2,500 records: the engine learned its own m
    stored = json.loads(json.dumps(fitted.model.to_dict()))
    reused = DedupEngine(records, model=MatchModel.from_dict(stored))
    assert reused.model.m == fitted.model.m and reused.model.u == fitted.model.u
    queries = records[:300]
    assert _answers(reused, queries) == _answers(fitted, queries)
    # Given a model, the index keeps it, whatever fitting would have found.
    assert DedupEngine(records, model=MatchModel()).model.m == PRIOR_M


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(fields=d["fields"][:-1]),
        lambda d: d["m"][0].append(0.1),
        lambda d: d["u"][1].__setitem__(0, 0.0),
        lambda d: d.pop("population"),
    ],
    ids=["fields", "levels", "zero", "incomplete"],
)
def test_a_stored_model_of_another_shape_is_refused(change: object) -> None:
    stored = MatchModel().to_dict()
    assert MatchModel.from_dict(stored).m == PRIOR_M
    assert callable(change)
    change(stored)
    with pytest.raises(ValueError):
        MatchModel.from_dict(stored)


def test_records_added_and_removed_in_place_answer_as_a_rebuilt_index() -> None:
    records = [(r, c) for r, c, _ in _records(3000, seed=4)]
    rng = random.Random(4)
    first, later = records[:2000], records[2000:]
    engine = DedupEngine(first)
    model = engine.model
    for record_id, contact in later:
        engine.add(record_id, contact)
    removed = {record_id for record_id, _ in rng.sample(records, 200)}
    for record_id in removed:
        engine.remove(record_id)
    kept = [(r, c) for r, c in records if r not in removed]
    assert len(engine) == len(kept)
    rebuilt = DedupEngine(kept, model=model)
    queries = rng.sample(records, 400)
    assert _answers(engine, queries) == _answers(rebuilt, queries)
    assert not any(answer is not None and answer[0] in removed for answer in _answers(engine, queries))


def test_an_index_keys_the_same_in_every_process() -> None:
    # Python salts str hashes per process; the index's key hashes must not be, to be stored.
    keys = ["nnvk|j|11000", "ahvlckv|130|vstn", "ejan.novak@example.cz"]
    script = f"from connector.dedup._engine import _key_hash; print([_key_hash(k) for k in {keys!r}])"
    answers = {
        subprocess.run(
            [sys.executable, "-c", script], env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }  # fmt: skip
    assert len(answers) == 1 and answers.pop().strip() == str([_key_hash(k) for k in keys])


def test_added_keys_folded_into_the_sorted_entries_answer_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    records = [(r, c) for r, c, _ in _records(3000, seed=6)]
    engine = DedupEngine(records[:2000])
    rebuilt_model = engine.model
    monkeypatch.setattr(_engine, "_DELTA_LIMIT", 700)  # a fold every ~60 records added
    before = len(engine._sorted)
    for record_id, contact in records[2000:]:
        engine.add(record_id, contact)
    assert len(engine._sorted) > before and engine._delta_size <= 700  # folds happened
    assert list(engine._sorted) == sorted(engine._sorted)
    rebuilt = DedupEngine(records, model=rebuilt_model)
    queries = random.Random(6).sample(records, 300)
    assert _answers(engine, queries) == _answers(rebuilt, queries)
