"""Dedup benchmark: pairwise precision/recall on held-out corrupted people, against a baseline; speed.

Quality is measured on the evaluation split of `corrupt.py` (seeds and corruption rates that
tuning never saw), per band (link; link+review) and per field availability (with e-mail/phone;
names, addresses and birth dates only; no birth date), next to a 40-line baseline (four blocking
keys, weighted Jaro-Winkler, one threshold). Speed: a 100,000-record batch of `gen_contacts.py`
(its precision and recall reported too) and one registration at a time against a 1,000,000 index.

Usage: python bench/dedup.py [--split evaluation|holdout|holdout2|tuning] [--count 100000] [--index 1000000];
the last line is one JSON object. `--split tuning` is for tuning; the figures to quote are the
evaluation split's (looked at in earlier rounds of tuning), the holdout's (never tuned on, but
its linked namesakes were looked at once) and holdout2's (run for reports only).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import itertools
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corrupt import (
    AVAILABILITIES,
    EVALUATION,
    HOLDOUT,
    HOLDOUT2,
    TUNING,
    Entity,
    Population,
    Split,
    contact_of,
    labeled_set,
    strip,
)
from gen_contacts import Generator, Person, generate
from rapidfuzz.distance import JaroWinkler

from connector.dedup import (
    DedupEngine,
    find_duplicates,
    find_duplicates_in_file,
    fold,
    name_tokens,
    street_key,
    zip_key,
)
from connector.model import Contact


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _cpu_s() -> float:
    """CPU time of this process and of its children that have ended (the batch's forks)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_batch(source: Path, target: Path, workers: int | None) -> None:
    """In a fresh process, so that its peak RSS is the dedup's and not the generator's.

    The file is read as `connector duplicates find --input FILE` reads it: cut into parts that
    `workers` processes (default: the cores available) read, normalize and compare."""
    started = time.perf_counter()
    cpu_started = _cpu_s()
    stats: dict[str, int] = {}
    clusters, _ = find_duplicates_in_file(source, stats=stats, workers=workers)
    elapsed = time.perf_counter() - started
    cpu = _cpu_s() - cpu_started
    with target.open("w", encoding="utf-8") as out:
        for cluster in clusters:
            out.write(json.dumps(cluster.to_dict()) + "\n")
    print(
        json.dumps(
            {
                "batch_s": elapsed,
                # CPU time of every process of the batch: on a shared machine the wall time adds
                # the waits for a core that the neighbours hold.
                "batch_cpu_s": cpu,
                "workers": workers or len(os.sched_getaffinity(0)),
                "peak_rss_mb": peak_rss_mb(),
                "children_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                "pairs_compared_per_record": stats["pairs_compared"] / max(1, stats["records"]),
                "keys_per_record": stats["keys"] / max(1, stats["records"]),
                "load_1min": os.getloadavg()[0],
            }
        )
    )


def run_online(index_size: int, queries: int, seed: int) -> None:
    """Build an index of `index_size` people, then time one registration at a time against it."""
    rng = random.Random(seed)
    engine = DedupEngine()
    sample: list[tuple[str, Person]] = []
    gen = Generator(seed)
    rss_before = peak_rss_mb()
    started = time.perf_counter()

    def people() -> Iterator[tuple[str, Contact]]:
        for n in range(index_size):
            person = gen.person()
            record_id = f"p{n}"
            # A reservoir of indexed people whose duplicates register later.
            if len(sample) < queries:
                sample.append((record_id, person))
            elif (slot := rng.randrange(n + 1)) < queries:
                sample[slot] = (record_id, person)
            yield record_id, gen.contact(person)

    engine.build(people())
    build_s = time.perf_counter() - started
    gen.emails.clear()  # the generator's own uniqueness sets, not the index's
    gen.phones.clear()
    gc.collect()
    gc.freeze()  # a long-lived index: the collector need not walk it on every query
    index_rss = peak_rss_mb()

    timings: list[float] = []
    cpu_timings: list[float] = []
    candidates: list[int] = []
    found = linked_right = 0
    for n in range(queries):
        if n % 2 == 0:
            record_id, person = sample[n]
            registration = gen.duplicate(person)
        else:
            record_id, registration = "", gen.contact(gen.person())
        c0, t0 = time.process_time(), time.perf_counter()
        match = engine.best_match(registration)
        timings.append((time.perf_counter() - t0) * 1000)
        cpu_timings.append((time.process_time() - c0) * 1000)
        candidates.append(len(engine.candidates(engine.prepare(registration))))  # untimed: the count
        if record_id:
            found += 1
            linked_right += match is not None and match.band == "link" and match.candidate_id == record_id
    timings.sort()
    cpu_timings.sort()
    candidates.sort()
    print(
        json.dumps(
            {
                "index_size": len(engine),
                "build_s": build_s,
                "index_rss_mb": index_rss,
                "index_rss_growth_mb": index_rss - rss_before,
                "online_p50_ms": timings[len(timings) // 2],
                "online_p99_ms": timings[int(len(timings) * 0.99) - 1],
                "online_max_ms": timings[-1],
                "online_cpu_p50_ms": cpu_timings[len(cpu_timings) // 2],
                "online_cpu_p99_ms": cpu_timings[int(len(cpu_timings) * 0.99) - 1],
                "online_duplicates_linked": linked_right / max(1, found),
                "online_candidates_mean": sum(candidates) / len(candidates),
                "load_1min": os.getloadavg()[0],
                "online_candidates_p99": candidates[int(len(candidates) * 0.99) - 1],
            }
        )
    )


def child(*args: str) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, env={**os.environ}
    )
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def pairwise(groups: list[list[str]]) -> set[tuple[str, str]]:
    return {pair for ids in groups for pair in itertools.combinations(sorted(ids), 2)}


# -- the baseline: what 40 lines of the textbook find -------------------------------------------

BASELINE_WEIGHTS = {"name": 0.35, "street": 0.2, "city": 0.1, "zip": 0.15, "birth": 0.2}
BASELINE_THRESHOLD = 0.93  # the one threshold: the best F1 on the tuning split (0.90-0.97 tried)
BASELINE_BLOCK_CAP = 200


def baseline_duplicates(records: list[tuple[str, Contact]]) -> set[tuple[str, str]]:
    """Four blocking keys, weighted Jaro-Winkler over name, street, city, zip and birth date."""
    rows = [
        (
            record_id,
            {
                "name": " ".join(name_tokens(c.name)),
                "street": street_key(c.street),
                "city": fold(c.city),
                "zip": zip_key(c.zip),
                "birth": c.birth_date or "",
            },
        )
        for record_id, c in records
    ]
    blocks: dict[str, list[int]] = defaultdict(list)
    for n, (_, f) in enumerate(rows):
        for key in (
            f"z{f['zip']}",
            f"b{f['birth']}",
            f"n{f['name'][:4]}|{f['city']}",
            f"s{f['street'][:6]}|{f['city']}",
        ):
            if len(key) > 2:
                blocks[key].append(n)
    pairs: set[tuple[str, str]] = set()
    seen: set[tuple[int, int]] = set()
    for block in blocks.values():
        if len(block) > BASELINE_BLOCK_CAP:
            continue
        for left, right in itertools.combinations(block, 2):
            if (left, right) in seen:
                continue
            seen.add((left, right))
            a, b = rows[left][1], rows[right][1]
            fields = [f for f in BASELINE_WEIGHTS if a[f] and b[f]]
            total = sum(BASELINE_WEIGHTS[f] for f in fields)
            score = sum(BASELINE_WEIGHTS[f] * JaroWinkler.normalized_similarity(a[f], b[f]) for f in fields)
            if total and score / total >= BASELINE_THRESHOLD:
                pairs.add((min(rows[left][0], rows[right][0]), max(rows[left][0], rows[right][0])))
    return pairs  # pairs above the threshold, not closed into clusters: the kinder reading


# -- quality on the held-out split ------------------------------------------------------------------


def prf(predicted: set[tuple[str, str]], truth: set[tuple[str, str]]) -> dict[str, float]:
    hits = len(predicted & truth)
    precision = hits / len(predicted) if predicted else 1.0
    recall = hits / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def quality(split: Split, count: int) -> dict[str, dict[str, dict[str, float]]]:
    """Per availability: the engine's link and link+review bands and the baseline, over the split's seeds."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    for availability in AVAILABILITIES:
        truth: set[tuple[str, str]] = set()
        link: set[tuple[str, str]] = set()
        linked_or_review: set[tuple[str, str]] = set()
        baseline: set[tuple[str, str]] = set()
        negative_links: Counter[str] = Counter()
        for seed in split.seeds:
            negatives: list[tuple[int, int, str]] = []
            records = labeled_set(count, seed, split.rates, availability, negatives=negatives)
            by_entity: dict[int, list[str]] = defaultdict(list)
            for record_id, _, entity in records:
                by_entity[entity].append(record_id)
            truth |= pairwise(list(by_entity.values()))
            clusters = find_duplicates([(r, c) for r, c, _ in records], review=True)
            links = pairwise([list(c.ids) for c in clusters if c.band == "link"])
            link |= links
            linked_or_review |= links | pairwise([list(c.ids) for c in clusters if c.band == "review"])
            baseline |= baseline_duplicates([(r, c) for r, c, _ in records])
            entity_of = {record_id: entity for record_id, _, entity in records}
            kind_of = {frozenset((a, b)): kind for a, b, kind in negatives}
            for left, right in links:
                kind = kind_of.get(frozenset((entity_of[left], entity_of[right])))
                if kind is not None:
                    negative_links[kind] += 1
        result[availability] = {
            "link": prf(link, truth),
            "link_review": prf(linked_or_review, truth),
            "baseline": prf(baseline, truth),
            "true_pairs": {"count": len(truth)},
            "hard_negatives_linked": {kind: negative_links[kind] for kind in ("twin", "parent", "namesake")},
        }
    return result


# -- an independent check: corruptions that corrupt.py does not make ------------------------------
# Written apart from corrupt.py and never used for tuning: the people come from corrupt.py's
# population (other seeds), the errors are these. Names, addresses and birth dates only.

INDEPENDENT_SEEDS = (3001, 3002, 3003)
_TITLES_BEFORE = ("Ing.", "Mgr.", "Bc.", "MUDr.", "Dr.")


def _strip_marks(text: str) -> str:
    """Diacritics dropped the way a US keyboard or an old database does (NFKD, marks removed)."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


class IndependentCorruptor:
    """Other data-entry habits: a registry's "FAMILY, Given", a title, "ul."/"nám." before the
    street, a conscription number before the house number, a postcode's digits transposed
    anywhere (also the first two), the first letter of the family name mistyped, no town."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def duplicate(self, entity: Entity) -> Contact:
        rng = self.rng
        given, family = entity.given, entity.family
        street, kind, house = entity.street, entity.street_type, entity.house
        zip_code, city = entity.zip, entity.city
        birth = entity.birth
        errors = rng.sample(range(8), rng.choice((1, 2, 2, 3)))
        name_form = "plain"
        prefix = ""
        for error in errors:
            if error == 0:
                name_form = "family_first"
            elif error == 1:
                name_form = "title" if name_form == "plain" else name_form
            elif error == 2 and entity.country in ("CZ", "SK", "PL"):
                # "ul. Havlíčkova 13", "nám. Míru 5": the type word written before the name
                prefix = "nám. " if kind in ("náměstí", "námestie") else "ul. "
                kind = ""
            elif error == 3 and entity.country in ("CZ", "SK"):
                house = f"{rng.randint(100, 3999)}/{house}"  # číslo popisné / orientační
            elif error == 4:
                digits = [n for n, c in enumerate(zip_code) if c.isdigit()]
                pairs = [(a, b) for a, b in itertools.pairwise(digits) if zip_code[a] != zip_code[b]]
                if pairs:
                    a, b = rng.choice(pairs)
                    chars = list(zip_code)
                    chars[a], chars[b] = chars[b], chars[a]
                    zip_code = "".join(chars)
            elif error == 5 and len(family) > 3:
                first = family[0].lower()
                neighbours = {"k": "c", "c": "k", "w": "v", "v": "w", "s": "z", "z": "s", "h": "ch", "j": "y"}
                swapped = neighbours.get(first, rng.choice("bdfgmnprt"))
                family = (swapped.upper() if len(swapped) == 1 else swapped.capitalize()) + family[1:]
            elif error == 6:
                city = ""
            elif error == 7 and birth:
                birth = None
        if name_form == "family_first":
            name = f"{family.upper()}, {given}"
        elif name_form == "title":
            name = f"{rng.choice(_TITLES_BEFORE)} {given} {family}"
        else:
            name = f"{given} {family}"
        line = dataclasses.replace(entity, street=street, street_type=kind, house=house).street_line()
        contact = Contact(
            name=name, street=prefix + line, city=city or None, zip=zip_code.replace(" ", ""),
            country=None if entity.country == "EN" else entity.country, birth_date=birth,
        )  # fmt: skip
        if rng.random() < 0.5:
            contact = dataclasses.replace(
                contact,
                name=_strip_marks(contact.name or ""),
                street=_strip_marks(contact.street or ""),
                city=_strip_marks(contact.city or "") or None,
            )
        return contact


def independent_set(count: int, seed: int) -> list[tuple[str, Contact, int]]:
    """Like `corrupt.labeled_set` (names, addresses, birth dates; hard negatives too), with the
    independent corruptions above instead of corrupt.py's."""
    population = Population(seed)
    corruptor = IndependentCorruptor(random.Random(seed * 31337 + 7))
    rng = random.Random(seed * 65537 + 11)
    rows: list[tuple[Contact, int]] = []
    people: list[Entity] = []
    while len(rows) < count:
        roll = rng.random()
        if people and roll < 0.03:
            person = rng.choice(people)
            other = (population.twin, population.parent, population.namesake)[rng.randrange(3)](person)
            people.append(other)
            rows.append((strip(contact_of(other), "no_contact"), len(people) - 1))
            continue
        person = population.person()
        people.append(person)
        rows.append((strip(contact_of(person), "no_contact"), len(people) - 1))
        if rng.random() < 0.15:
            for _ in range(rng.choice((1, 1, 2))):
                rows.append((corruptor.duplicate(person), len(people) - 1))
    rng.shuffle(rows)
    return [(f"i{seed}r{n}", dataclasses.replace(c, id=f"i{seed}r{n}"), e) for n, (c, e) in enumerate(rows)]


def independent_quality(count: int) -> dict[str, dict[str, float]]:
    """The engine's link and link+review bands on `independent_set`, over its seeds."""
    truth: set[tuple[str, str]] = set()
    link: set[tuple[str, str]] = set()
    linked_or_review: set[tuple[str, str]] = set()
    for seed in INDEPENDENT_SEEDS:
        records = independent_set(count, seed)
        by_entity: dict[int, list[str]] = defaultdict(list)
        for record_id, _, entity in records:
            by_entity[entity].append(record_id)
        truth |= pairwise(list(by_entity.values()))
        clusters = find_duplicates([(r, c) for r, c, _ in records], review=True)
        links = pairwise([list(c.ids) for c in clusters if c.band == "link"])
        link |= links
        linked_or_review |= links | pairwise([list(c.ids) for c in clusters if c.band == "review"])
    return {"link": prf(link, truth), "link_review": prf(linked_or_review, truth), "true_pairs": {"count": len(truth)}}


def quality_summary(split_name: str, per_seed: int) -> dict[str, object]:
    """The held-out split's and the independent corruption's figures, printed and returned."""
    split = {"evaluation": EVALUATION, "holdout": HOLDOUT, "holdout2": HOLDOUT2, "tuning": TUNING}[split_name]
    started = time.perf_counter()
    held_out = quality(split, per_seed)
    print(
        f"{split.name} split: seeds {split.seeds[0]}-{split.seeds[-1]}, {per_seed:,} records per seed "
        f"and availability ({time.perf_counter() - started:.0f} s)"
    )
    for availability, figures in held_out.items():
        print(
            f"  {availability:<10} true pairs {figures['true_pairs']['count']:>6,}  "
            + "  ".join(
                f"{band} P {f['precision']:.4f} R {f['recall']:.4f} F1 {f['f1']:.4f}"
                for band, f in figures.items()
                if band not in ("true_pairs", "hard_negatives_linked")
            )
            + f"  hard negatives linked {sum(figures['hard_negatives_linked'].values())}"
        )
    independent = independent_quality(per_seed)
    print(
        f"independent corruption (seeds {INDEPENDENT_SEEDS[0]}-{INDEPENDENT_SEEDS[-1]}, no e-mail or phone): "
        f"true pairs {independent['true_pairs']['count']:,}  "
        + "  ".join(
            f"{band} P {f['precision']:.4f} R {f['recall']:.4f} F1 {f['f1']:.4f}"
            for band, f in independent.items()
            if band != "true_pairs"
        )
    )
    summary: dict[str, object] = {
        "split": split.name,
        "link_precision": held_out["no_contact"]["link"]["precision"],
        "link_recall": held_out["no_contact"]["link"]["recall"],
        "link_review_recall": held_out["no_contact"]["link_review"]["recall"],
        "with_contact_f1": held_out["full"]["link"]["f1"],
        "hard_negatives_linked": sum(sum(f["hard_negatives_linked"].values()) for f in held_out.values()),
        "no_birth_link_f1": held_out["no_birth"]["link"]["f1"],
        "baseline_precision": held_out["no_contact"]["baseline"]["precision"],
        "baseline_recall": held_out["no_contact"]["baseline"]["recall"],
        "baseline_with_contact_f1": held_out["full"]["baseline"]["f1"],
        "independent_link_precision": independent["link"]["precision"],
        "independent_link_recall": independent["link"]["recall"],
        "independent_link_review_recall": independent["link_review"]["recall"],
        "quality": held_out,
    }
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--duplicates", type=float, default=0.1)
    parser.add_argument("--index", type=int, default=1_000_000, help="size of the online index (0: skip)")
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--split", choices=("evaluation", "holdout", "holdout2", "tuning"), default="evaluation")
    parser.add_argument("--per-seed", type=int, default=10_000, help="records per seed and availability")
    parser.add_argument("--workers", type=int, help="processes of the batch (default: the cores available)")
    parser.add_argument("--quality-only", action="store_true", help="skip the speed runs")
    parser.add_argument("--speed-only", action="store_true", help="skip the quality runs")
    parser.add_argument("phase", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase[:1] == ["batch"]:
        run_batch(Path(args.phase[1]), Path(args.phase[2]), args.workers)
        return 0
    if args.phase[:1] == ["online"]:
        run_online(args.index, args.queries, args.seed)
        return 0

    summary: dict[str, object] = {} if args.speed_only else quality_summary(args.split, args.per_seed)
    if args.quality_only:
        print(json.dumps(summary))
        return 0

    records = generate(args.count, duplicates=args.duplicates, seed=args.seed)
    by_entity: dict[int, list[str]] = defaultdict(list)
    for record_id, _, entity in records:
        by_entity[entity].append(record_id)
    truth = pairwise(list(by_entity.values()))
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "contacts.jsonl", Path(tmp) / "clusters.jsonl"
        with source.open("w", encoding="utf-8") as out:
            for _, contact, _ in records:
                out.write(contact.to_json() + "\n")
        del records
        batch = child(*(["--workers", str(args.workers)] if args.workers else []), "batch", str(source), str(target))
        clusters = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
        # The same batch in one process, for the record (the answer is the same).
        single = child("--workers", "1", "batch", str(source), str(target)) if batch["workers"] > 1 else batch
    predicted = pairwise([c["ids"] for c in clusters if c["band"] == "link"])
    hits = len(predicted & truth)
    precision = hits / len(predicted) if predicted else 1.0
    recall = hits / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print(f"records: {args.count:,} ({args.duplicates:.0%} duplicates), true pairs {len(truth):,}")
    print(f"linked pairs: {len(predicted):,}, correct {hits:,}")
    print(f"gen_contacts.py: precision {precision:.4f}  recall {recall:.4f}  F1 {f1:.4f}  (at the link threshold)")
    print(
        f"batch: {batch['batch_s']:.1f} s in {batch['workers']} process(es) (reading JSON lines included; "
        f"{batch['batch_cpu_s']:.1f} s of CPU in all), peak RSS {batch['peak_rss_mb']:.0f} MB "
        f"(each fork at most {batch['children_peak_rss_mb']:.0f} MB), "
        f"{batch['pairs_compared_per_record']:.1f} pairs compared per record; "
        f"in one process: {single['batch_s']:.1f} s, {single['batch_cpu_s']:.1f} s of CPU"
    )

    online: dict[str, float] = {}
    if args.index:
        online = child("--index", str(args.index), "--queries", str(args.queries), "--seed", str(args.seed), "online")
        print(
            f"online: index of {online['index_size']:,.0f} built in {online['build_s']:.0f} s, "
            f"process RSS {online['index_rss_mb']:.0f} MB; one registration p50 {online['online_p50_ms']:.2f} ms, "
            f"p99 {online['online_p99_ms']:.2f} ms, max {online['online_max_ms']:.2f} ms over {args.queries:,} "
            f"(CPU time p50 {online['online_cpu_p50_ms']:.2f} ms, p99 {online['online_cpu_p99_ms']:.2f} ms); "
            f"duplicates linked to their original: {online['online_duplicates_linked']:.3f}; candidates per "
            f"query mean {online['online_candidates_mean']:.1f}, p99 {online['online_candidates_p99']:.0f}"
        )
    print(
        json.dumps(
            summary
            | {
                "generator_precision": round(precision, 4),
                "generator_recall": round(recall, 4),
                "generator_f1": round(f1, 4),
                "batch_s": round(batch["batch_s"], 2),
                "batch_cpu_s": round(batch["batch_cpu_s"], 2),
                "batch_workers": batch["workers"],
                "batch_one_process_s": round(single["batch_s"], 2),
                "batch_one_process_cpu_s": round(single["batch_cpu_s"], 2),
                "peak_rss_mb": round(batch["peak_rss_mb"]),
                "batch_children_peak_rss_mb": round(batch["children_peak_rss_mb"]),
                "online_p99_ms": round(online["online_p99_ms"], 3) if online else None,
                "online_cpu_p99_ms": round(online["online_cpu_p99_ms"], 3) if online else None,
                "online_index_size": int(online["index_size"]) if online else 0,
                "online_build_s": round(online["build_s"], 1) if online else None,
                "online_rss_mb": round(online["index_rss_mb"]) if online else None,
                "online_candidates_p99": online["online_candidates_p99"] if online else None,
                "pairs_compared_per_record": round(batch["pairs_compared_per_record"], 2),
                "batch_load_1min": round(batch["load_1min"], 2),
                "online_load_1min": round(online["load_1min"], 2) if online else None,
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
