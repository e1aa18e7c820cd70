"""The engine's shortcuts change no answer: a candidate skipped before its name is compared (vetoed
with nothing to say one customer, or too weak for any band whatever its name) is one that the
full comparison puts in no band."""

from __future__ import annotations

from connector.dedup import DedupEngine, Features, prepare
from connector.dedup._compare import compare_features
from connector.dedup._score import dismissed, evidence_of, verdict
from tests.test_dedup_model import corrupt


def _labeled(seed: int) -> list[tuple[str, Features]]:
    records = corrupt.labeled_set(6000, seed, corrupt.TUNING.rates, "full")
    return [(record_id, prepare(contact)) for record_id, contact, _ in records]


def test_dismissed_is_exactly_a_veto_without_an_identifier() -> None:
    people = [features for _, features in _labeled(seed=2)]
    engine = DedupEngine()
    engine.build_features((f"r{n}", f) for n, f in enumerate(people))
    seen = {True: 0, False: 0}
    for features in people[:1500]:
        for slot in engine.candidates(features):
            other = people[slot]
            found = verdict(compare_features(features, other).levels, engine.model)
            assert dismissed(features, other) == (found.vetoed and not found.identifier), (features, other)
            seen[dismissed(features, other)] += 1
    assert seen[True] > 100 and seen[False] > 100  # both answers were asked for


def test_online_matches_are_those_of_comparing_every_candidate_in_full() -> None:
    records = _labeled(seed=3)
    indexed, queries = records[:5000], records[5000:]
    engine = DedupEngine()
    engine.build_features(indexed)
    rare = engine.names.rare_test()
    by_slot = dict(enumerate(indexed))
    found_any = 0
    for _, features in queries:
        expected = set()
        for slot in engine.candidates(features):
            record_id, other = by_slot[slot]
            evidence = evidence_of(compare_features(features, other, rare), engine.model, engine.names.share)
            banded = engine.thresholds.band(evidence)
            if banded is not None:
                expected.add((record_id, banded[1], banded[0], evidence.reasons))
        got = {(m.candidate_id, m.score, m.band, m.reasons) for m in engine.matches(features)}
        assert got == expected, features
        found_any += len(got)
    assert found_any > 100


def test_a_batch_leaves_the_garbage_collector_as_it_found_it() -> None:
    import gc

    from connector.dedup import find_duplicates

    records = _labeled(seed=4)[:200]
    was = gc.isenabled()
    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            find_duplicates(records)
            assert gc.isenabled() == enabled
    finally:
        (gc.enable if was else gc.disable)()
