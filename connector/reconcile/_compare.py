"""The full comparison of both address books through the links: one streamed pass per side,
each record checked by one content hash against its link's last synced version.

What is held while reading is small per record (a link's ids and base hash, a set of link
ids seen); a record's content is kept only where it differs, is unlinked or its partner
differs: the few that a person or `--fix` needs.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

from connector.codec import Fingerprinted, fingerprint
from connector.dedup import DedupEngine
from connector.errors import BadData, PeerRefused, PeerUnreachable
from connector.model import Contact, Link
from connector.peers import Peer, PeerRecord
from connector.plan import PlanSettings, auto_registrable
from connector.reconcile._apart import ReadApart, can_fork
from connector.store import Store

# What a peer does wrong that ends the read of that side (not a configuration error: that
# stops the command). A side not read to its end says nothing about absences on it.
READ_FAULTS: tuple[type[Exception], ...] = (PeerUnreachable, PeerRefused, BadData)

# Link states the comparison leaves alone: the record is gone on purpose, or a second
# account whose content is its own.
_SETTLED = ("deleted_eshop", "deleted_pohoda", "deleted_both", "secondary")
_PENDING = ("pending_sync", "creating_pohoda", "creating_eshop")

# The kinds of difference, in the order reports show them, with what `--fix` does for each.
KINDS: dict[str, str] = {
    "missing_in_pohoda": "create the customer in POHODA (as a registration would be)",
    "missing_in_eshop": "create the account on the e-shop (auto-registration)",
    "field_difference": "merge against the last synced version (the configured side wins a field both changed)",
    "unlinked_duplicate": "link the two records (merged, then each learns the other's id)",
    "likely_duplicate": "held for a person in the review queue",
    "gone_in_pohoda": "mark the link: deleted in POHODA, the e-shop account kept",
    "gone_in_eshop": "mark the link: deleted on the e-shop (the deletion policy decides on POHODA)",
    "gone_on_both": "mark the link: gone on both sides",
    "pending": "send the pending creation (conversion) now",
    "id_mismatch": "write each record the other's id again",
}
# The sides a kind's finding depends on having been read to the end (an absence on them).
_NEEDS_FULL_READ: dict[str, tuple[str, ...]] = {
    "missing_in_pohoda": ("pohoda", "eshop"),
    "missing_in_eshop": ("pohoda", "eshop"),
    "unlinked_duplicate": ("pohoda", "eshop"),
    "likely_duplicate": ("pohoda", "eshop"),
    "gone_in_pohoda": ("pohoda",),
    "gone_in_eshop": ("eshop",),
    "gone_on_both": ("pohoda", "eshop"),
}

# (side, records read so far, records expected): the CLI draws a progress bar from it.
ReadProgress = Callable[[str, int, int], None]


@dataclasses.dataclass(frozen=True)
class Finding:
    """One difference between the two address books.

    `fields` names the differing fields and `changed_on` which side changed since the last
    sync (eshop, pohoda, both, or unknown without a synced version). `values` holds the
    records' content for the HTML report only: personal data, never logged or printed.
    """

    kind: str
    eshop_id: str | None = None
    pohoda_id: str | None = None
    link_id: int | None = None
    fields: tuple[str, ...] = ()
    changed_on: str | None = None
    note: str = ""
    values: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @property
    def repair(self) -> str:
        return KINDS[self.kind]

    def to_dict(self) -> dict[str, Any]:
        """The finding without personal data (ids, kinds and field names only)."""
        return {
            "kind": self.kind,
            "eshop_id": self.eshop_id,
            "pohoda_id": self.pohoda_id,
            "link_id": self.link_id,
            "fields": list(self.fields),
            "changed_on": self.changed_on,
            "note": self.note,
            "repair": self.repair,
        }


@dataclasses.dataclass
class SideRead:
    """How the read of one side went."""

    side: str
    records: int = 0
    complete: bool = False
    error: str | None = None
    seconds: float = 0.0
    # Read here ("thread") or by a forked child ("child"), and that child's own peak RSS.
    process: str = "thread"
    peak_rss_mb: float | None = None


@dataclasses.dataclass
class Comparison:
    """The outcome of one comparison: the findings, and the records `--fix` acts on."""

    findings: list[Finding]
    reads: dict[str, SideRead]
    agree: int
    linked: int
    pohoda_only_kept: int
    # Findings left out because the side they depend on was not read to its end.
    withheld: int
    seconds: float
    # What the repair needs: the links involved and the records as they were read.
    links: dict[int, Link] = dataclasses.field(default_factory=dict, repr=False)
    eshop_records: dict[str, PeerRecord] = dataclasses.field(default_factory=dict, repr=False)
    pohoda_records: dict[str, PeerRecord] = dataclasses.field(default_factory=dict, repr=False)
    base_contents: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict, repr=False)
    # The e-shop version of each involved record that was not kept (it equals its base).
    eshop_versions: dict[int, str | None] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def complete(self) -> bool:
        return all(read.complete for read in self.reads.values())

    @property
    def agreed(self) -> bool:
        """Both sides read to the end and not one difference."""
        return self.complete and not self.findings

    def counts(self) -> dict[str, int]:
        found = Counter(f.kind for f in self.findings)
        return {kind: found.get(kind, 0) for kind in KINDS}


class _LinkIndex:
    """Every link by id and by each side's record id, with its base hash: O(links), small."""

    def __init__(self, rows: Iterable[tuple[Link, str | None]]) -> None:
        self.links: dict[int, Link] = {}
        self.base_hash: dict[int, str | None] = {}
        self.by_eshop: dict[str, int] = {}
        self.by_pohoda: dict[str, int] = {}
        for link, base_hash in rows:
            self.links[link.id] = link
            self.base_hash[link.id] = base_hash
            if link.eshop_id is not None:
                self.by_eshop[link.eshop_id] = link.id
            if link.pohoda_id is not None:
                self.by_pohoda[link.pohoda_id] = link.id


class _Reader:
    """One side's streamed pass: what was seen, and the few records worth keeping."""

    def __init__(
        self, side: str, index: _LinkIndex, progress: ReadProgress, expected: int, *, carries_other_id: bool = True
    ) -> None:
        self.side = side
        # A platform that cannot keep the other side's id (Capabilities.stores_external_id):
        # its records are linked by the store alone, and no id is expected on them.
        self.carries_other_id = carries_other_id
        self.index = index
        self.progress = progress
        self.expected = expected
        self.read = SideRead(side)
        self.seen: set[int] = set()  # link ids whose record on this side exists
        self.kept: dict[int, PeerRecord] = {}  # link id -> record (differs, or its partner does)
        self.unlinked: dict[str, PeerRecord] = {}
        # link id -> the record's version, for a record not kept whose partner differs: the
        # repair's write to it must name the version it was read at (the e-shop's check).
        self.versions: dict[int, str | None] = {}

    def consume(self, records: Iterator[PeerRecord | Fingerprinted[PeerRecord]]) -> None:
        """Read the side to its end (or its first fault). A record given as its fingerprint
        is decoded only when it is kept: unlinked, differing, pending, or of a wrong id."""
        started = time.monotonic()
        by_id = self.index.by_pohoda if self.side == "pohoda" else self.index.by_eshop
        self.progress(self.side, 0, self.expected)
        try:
            for item in records:
                record: PeerRecord | None
                if type(item) is Fingerprinted:
                    record, record_id, other_id, version = None, item.record_id, item.other_id, item.version
                else:
                    assert isinstance(item, PeerRecord)
                    if item.contact is None:
                        continue  # a tombstone in a full listing: not an existing record
                    record, record_id, other_id, version = item, item.record_id, item.other_id, item.version
                self.read.records += 1
                if self.read.records % 1000 == 0:
                    self.progress(self.side, self.read.records, self.expected)
                link_id = by_id.get(record_id)
                if link_id is None:
                    self.unlinked[record_id] = record or _decoded(item)
                    continue
                self.seen.add(link_id)
                link = self.index.links[link_id]
                expected_other = link.eshop_id if self.side == "pohoda" else link.pohoda_id
                if link.state in _SETTLED:
                    continue
                if version is not None:
                    self.versions[link_id] = version
                content_hash = fingerprint(_contact(record)) if record is not None else _fingerprint_of(item)
                differs = content_hash != self.index.base_hash[link_id]
                wrong_id = self.carries_other_id and link.state == "linked" and other_id != expected_other
                if differs or wrong_id or link.state in _PENDING:
                    self.kept[link_id] = record or _decoded(item)
            self.read.complete = True
        except READ_FAULTS as exc:
            self.read.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.read.seconds = round(time.monotonic() - started, 3)
            self.progress(self.side, self.read.records, max(self.expected, self.read.records))


def _decoded(item: PeerRecord | Fingerprinted[PeerRecord]) -> PeerRecord:
    assert isinstance(item, Fingerprinted)
    return item.decode()


def _fingerprint_of(item: PeerRecord | Fingerprinted[PeerRecord]) -> str:
    assert isinstance(item, Fingerprinted)
    return item.fingerprint


@runtime_checkable
class FingerprintedSnapshot(Protocol):
    """A peer whose full listing can give each record as its fingerprint, decoding it in
    full only on request (`Fingerprinted`): the same records as its `snapshot`."""

    def snapshot_fingerprinted(self) -> Iterator[PeerRecord | Fingerprinted[PeerRecord]]: ...


def _listing(peer: Peer) -> Iterator[PeerRecord | Fingerprinted[PeerRecord]]:
    return peer.snapshot_fingerprinted() if isinstance(peer, FingerprintedSnapshot) else peer.snapshot()


def compare(
    store: Store,
    hq: Peer,
    shop: Peer,
    settings: PlanSettings,
    *,
    progress: ReadProgress | None = None,
    hq_apart: Callable[[], Peer] | None = None,
) -> Comparison:
    """Both sides in full, through the links, the last synced versions and the dedup rules.

    With `hq_apart` (where processes can fork) POHODA is read in a forked child, which calls
    it for a peer of its own; else in a thread of this process, through `hq`.
    """
    started = time.monotonic()
    report = progress or (lambda _side, _done, _total: None)
    index = _LinkIndex(store.iter_links_with_base_hash())
    pohoda = _Reader("pohoda", index, report, len(index.by_pohoda), carries_other_id=hq.capabilities.stores_external_id)
    eshop = _Reader("eshop", index, report, len(index.by_eshop), carries_other_id=shop.capabilities.stores_external_id)
    # Both sides at once: one peer's answer is decoded while the other peer prepares its next
    # page (each peer still gets one request at a time). In a child, POHODA's decoding has a
    # core of its own; in a thread, the two sides' decoding takes turns.
    if hq_apart is not None and can_fork():
        apart = ReadApart(pohoda, hq_apart, _listing)
        try:
            eshop.consume(_listing(shop))
        except BaseException:
            apart.stop()
            with contextlib.suppress(Exception):
                apart.result()
            raise
        apart.result()
    else:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconcile-read") as pool:
            reading = pool.submit(contextvars.copy_context().run, pohoda.consume, _listing(hq))
            eshop.consume(_listing(shop))
            reading.result()
    comparison = _Classifier(store, index, pohoda, eshop, settings).run()
    comparison.seconds = round(time.monotonic() - started, 3)
    return comparison


class _Classifier:
    def __init__(self, store: Store, index: _LinkIndex, pohoda: _Reader, eshop: _Reader, settings: PlanSettings):
        self.store = store
        self.index = index
        self.pohoda = pohoda
        self.eshop = eshop
        self.settings = settings
        self.findings: list[Finding] = []
        self.involved: dict[int, Link] = {}
        self._bases: dict[int, dict[str, Any]] = {}

    def _add(self, finding: Finding) -> None:
        self.findings.append(finding)
        if finding.link_id is not None:
            self.involved[finding.link_id] = self.index.links[finding.link_id]

    def run(self) -> Comparison:
        agree, linked = self._links()
        kept_only = self._unlinked()
        complete = {"pohoda": self.pohoda.read.complete, "eshop": self.eshop.read.complete}
        shown = [f for f in self.findings if all(complete[s] for s in _NEEDS_FULL_READ.get(f.kind, ()))]
        order = list(KINDS)
        shown.sort(key=lambda f: (order.index(f.kind), f.eshop_id or "", f.pohoda_id or ""))
        eshop_records = {r.record_id: r for r in self.eshop.kept.values()} | self.eshop.unlinked
        pohoda_records = {r.record_id: r for r in self.pohoda.kept.values()} | self.pohoda.unlinked
        return Comparison(
            findings=shown,
            reads={"pohoda": self.pohoda.read, "eshop": self.eshop.read},
            agree=agree,
            linked=linked,
            pohoda_only_kept=kept_only,
            withheld=len(self.findings) - len(shown),
            seconds=0.0,
            links=self.involved,
            eshop_records=eshop_records,
            pohoda_records=pohoda_records,
            base_contents=self._bases,
            eshop_versions={i: self.eshop.versions.get(i) for i in self.involved if i not in self.eshop.kept},
        )

    # -- linked records -------------------------------------------------------------------

    def _links(self) -> tuple[int, int]:
        agree = linked = 0
        to_decode: list[Link] = []
        for link_id, link in self.index.links.items():
            if link.state in _SETTLED:
                continue
            in_e, in_p = link_id in self.eshop.seen, link_id in self.pohoda.seen
            if link.state in _PENDING or link.pohoda_id is None or link.eshop_id is None:
                if in_e or in_p:
                    self._add(
                        Finding("pending", link.eshop_id, link.pohoda_id, link_id, note=f"link state {link.state}")
                    )
                continue
            linked += 1
            if in_e and in_p:
                if link_id in self.eshop.kept or link_id in self.pohoda.kept:
                    to_decode.append(link)
                else:
                    agree += 1
            elif in_e:
                self._add(Finding("gone_in_pohoda", link.eshop_id, link.pohoda_id, link_id))
            elif in_p:
                self._add(Finding("gone_in_eshop", link.eshop_id, link.pohoda_id, link_id))
            else:
                self._add(Finding("gone_on_both", link.eshop_id, link.pohoda_id, link_id))
        # Only the differing pairs are decoded field by field, against their synced version.
        self._bases = self.store.bases_of(link.id for link in to_decode)
        for link in to_decode:
            agree += self._pair(link)
        return agree, linked

    def _pair(self, link: Link) -> int:
        """1 when the two records agree after all (both changed alike), else 0."""
        base = self._bases.get(link.id)
        e_record, p_record = self.eshop.kept.get(link.id), self.pohoda.kept.get(link.id)
        e = e_record.contact.content() if e_record is not None and e_record.contact is not None else base
        p = p_record.contact.content() if p_record is not None and p_record.contact is not None else base
        assert e is not None and p is not None  # a record not kept equals its (existing) base
        same = True
        mismatched = [
            side
            for side, record, wanted, reader in (
                ("pohoda", p_record, link.eshop_id, self.pohoda),
                ("eshop", e_record, link.pohoda_id, self.eshop),
            )
            if record is not None and reader.carries_other_id and record.other_id != wanted
        ]
        if mismatched:
            same = False
            self._add(
                Finding(
                    "id_mismatch",
                    link.eshop_id,
                    link.pohoda_id,
                    link.id,
                    changed_on="both" if len(mismatched) == 2 else mismatched[0],
                    note="the " + " and the ".join(_LABEL[s] for s in mismatched) + " record does not carry the "
                    "other's id",
                )
            )
        if e != p:
            same = False
            fields = tuple(sorted(f for f in e.keys() | p.keys() if e.get(f) != p.get(f)))
            if base is None:
                changed = "unknown"
            else:
                sides = [s for s, content in (("eshop", e), ("pohoda", p)) if content != base]
                changed = "both" if len(sides) == 2 else sides[0]
            values = {
                "eshop": {f: e.get(f) for f in fields},
                "pohoda": {f: p.get(f) for f in fields},
                "base": {f: base.get(f) for f in fields} if base is not None else {},
            }
            self._add(
                Finding("field_difference", link.eshop_id, link.pohoda_id, link.id, fields, changed, values=values)
            )
        return 1 if same else 0

    # -- unlinked records -----------------------------------------------------------------

    def _unlinked(self) -> int:
        """Unlinked records: duplicates by the dedup rules, or customers missing on one side.
        Returns how many POHODA-only contacts the policy keeps there (no e-mail to register)."""
        reviews = self.store.reviews()
        in_review = {(r.side, r.record_id): r for r in reviews}
        in_review.update({(r.candidate_side, r.candidate_id): r for r in reviews})
        unlinked_p = self.pohoda.unlinked
        engine = DedupEngine(
            [(pid, _contact(r)) for pid, r in sorted(unlinked_p.items()) if ("pohoda", pid) not in in_review],
            region=self.settings.region,
            link_threshold=self.settings.link_threshold,
            review_threshold=self.settings.review_threshold,
            email_provider_rules=self.settings.email_provider_rules,
        )
        matched: set[str] = set()
        for eshop_id, record in sorted(self.eshop.unlinked.items()):
            contact = _contact(record)
            review = in_review.get(("eshop", eshop_id))
            if review is not None:
                self._add(
                    Finding(
                        "likely_duplicate",
                        eshop_id,
                        review.candidate_id,
                        note=f"waiting in review item {review.id}",
                        values={"eshop": _shown(contact), "pohoda": _shown_of(unlinked_p.get(review.candidate_id))},
                    )
                )
                matched.add(review.candidate_id)
                continue
            partner = unlinked_p.get(record.other_id) if record.other_id else None
            if partner is not None and partner.other_id == eshop_id and record.other_id not in matched:
                assert record.other_id is not None
                matched.add(record.other_id)
                self._duplicate("unlinked_duplicate", eshop_id, record.other_id, ("carry each other's ids",))
                continue
            match = engine.best_match(contact) if len(engine) else None
            if match is not None and match.candidate_id not in matched:
                matched.add(match.candidate_id)
                if match.band == "link":
                    engine.remove(match.candidate_id)
                kind = "unlinked_duplicate" if match.band == "link" else "likely_duplicate"
                self._duplicate(kind, eshop_id, match.candidate_id, match.reasons, score=match.score)
                continue
            self._add(Finding("missing_in_pohoda", eshop_id, values={"eshop": _shown(contact)}))
        kept_only = 0
        for pohoda_id, record in sorted(unlinked_p.items()):
            if pohoda_id in matched:
                continue
            contact = _contact(record)
            if ("pohoda", pohoda_id) in in_review:
                review = in_review[("pohoda", pohoda_id)]
                note = f"waiting in review item {review.id}"
                self._add(
                    Finding(
                        "likely_duplicate", review.record_id, pohoda_id, note=note, values={"pohoda": _shown(contact)}
                    )
                )
            elif self.settings.auto_register and auto_registrable(contact):
                self._add(Finding("missing_in_eshop", pohoda_id=pohoda_id, values={"pohoda": _shown(contact)}))
            else:
                kept_only += 1
        return kept_only

    def _duplicate(
        self, kind: str, eshop_id: str, pohoda_id: str, reasons: Iterable[str], *, score: float | None = None
    ) -> None:
        note = ", ".join(reasons) + (f" (score {score:.2f})" if score is not None else "")
        values = {
            "eshop": _shown(_contact(self.eshop.unlinked[eshop_id])),
            "pohoda": _shown(_contact(self.pohoda.unlinked[pohoda_id])),
        }
        self._add(Finding(kind, eshop_id, pohoda_id, note=note, values=values))


_LABEL = {"eshop": "e-shop", "pohoda": "POHODA"}
# What the HTML report shows of a record that is on one side only or a duplicate.
_SHOWN_FIELDS = ("name", "company", "email", "phone", "street", "city", "zip", "country", "ico")


def _contact(record: PeerRecord) -> Contact:
    assert record.contact is not None
    return record.contact


def _shown(contact: Contact) -> dict[str, Any]:
    return {f: getattr(contact, f) for f in _SHOWN_FIELDS if getattr(contact, f)}


def _shown_of(record: PeerRecord | None) -> dict[str, Any]:
    return _shown(_contact(record)) if record is not None and record.contact is not None else {}
