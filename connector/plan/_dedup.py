"""Registration dedup for the sync planner: is this new customer already on the other side?

A thin wrapper over `connector.dedup`, keeping the surface the planner was written against.
"""

from __future__ import annotations

from collections.abc import Iterable

from connector.dedup import Band, DedupEngine, Match
from connector.dedup import email_key as _email_key
from connector.model import Contact

__all__ = ["Band", "DedupIndex", "Match", "email_key"]


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
    ) -> None:
        super().__init__(
            contacts,
            region=region,
            link_threshold=link_threshold,
            review_threshold=review_threshold,
            email_provider_rules=email_provider_rules,
        )
