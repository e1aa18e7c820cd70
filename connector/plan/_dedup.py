"""Registration dedup for the sync planner: is this new customer already on the other side?

A thin wrapper over `connector.dedup`, keeping the surface the planner was written against.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping

from connector.dedup import Band, DedupEngine, Match, MatchModel, NameStatistics
from connector.dedup import email_key as _email_key
from connector.model import Contact

__all__ = ["Band", "DedupIndex", "Match", "SideStatistics", "email_key"]


@dataclasses.dataclass(frozen=True)
class SideStatistics:
    """What scoring takes from a whole side when the planner holds only some of its contacts
    (those sharing a blocking key with a registration): the side's population, how many of its
    contacts carry each name token the comparisons ask about, and the model fitted over it.
    `indexed`: the contacts those figures include already (the others are added to them)."""

    population: int
    token_counts: Mapping[str, int]
    model: MatchModel
    indexed: frozenset[str]


def email_key(email: str | None, *, provider_rules: bool = True) -> str | None:
    """The comparison form of an e-mail address (case-folded, gmail dots and "+tag" dropped)."""
    return _email_key(email, provider_rules=provider_rules)


class DedupIndex(DedupEngine):
    """One side's unlinked contacts, indexed for `best_match` against each registration."""

    def __init__(
        self,
        contacts: Iterable[tuple[str, Contact]],
        *,
        region: str = "CZ",
        link_threshold: float = 0.9,
        review_threshold: float = 0.7,
        email_provider_rules: bool = True,
        statistics: SideStatistics | None = None,
    ) -> None:
        held = list(contacts)
        super().__init__(
            held,
            region=region,
            link_threshold=link_threshold,
            review_threshold=review_threshold,
            email_provider_rules=email_provider_rules,
            model=None if statistics is None else statistics.model,
        )
        if statistics is not None:
            # The side's term frequencies and population, not those of the few held here: a
            # name is as common, and a match as likely, as in an index of the whole side.
            names = NameStatistics()
            names.counts = Counter(statistics.token_counts)
            names.population = statistics.population
            for record_id, contact in held:
                if record_id not in statistics.indexed:
                    names.add(self.prepare(contact))
            self.names = names
            self.model = statistics.model.with_population(names.population)
