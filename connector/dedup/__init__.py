"""Deduplication of contacts: normalization, blocking, scoring, an online index and batch clusters.

`DedupEngine` answers for one registration; `find_duplicates` clusters a whole batch
(`find_duplicates_in_file` reads and compares a file's in several processes).
"""

from connector.dedup._engine import (
    DEFAULT_BLOCK_CAP,
    MIN_FIT_RECORDS,
    Band,
    Cluster,
    DedupEngine,
    Match,
    Thresholds,
    find_duplicates,
)
from connector.dedup._features import KEY_VERSION, Features, blocking_keys, prepare
from connector.dedup._model import MatchModel, NameStatistics
from connector.dedup._normalize import (
    company_key,
    email_key,
    fold,
    ico_key,
    name_tokens,
    phone_key,
    phonetic,
    street_key,
    tax_key,
    zip_key,
)
from connector.dedup._parallel import find_duplicates_in_file
from connector.dedup._score import Evidence, compare, name_similarity

__all__ = [
    "DEFAULT_BLOCK_CAP",
    "KEY_VERSION",
    "MIN_FIT_RECORDS",
    "Band",
    "Cluster",
    "DedupEngine",
    "Evidence",
    "Features",
    "Match",
    "MatchModel",
    "NameStatistics",
    "Thresholds",
    "blocking_keys",
    "company_key",
    "compare",
    "email_key",
    "find_duplicates",
    "find_duplicates_in_file",
    "fold",
    "ico_key",
    "name_similarity",
    "name_tokens",
    "phone_key",
    "phonetic",
    "prepare",
    "street_key",
    "tax_key",
    "zip_key",
]
