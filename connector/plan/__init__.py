"""The sync's pure core: the planner, the field-level merge, registration dedup and the
rules for what a delivery result means. No network, no database: tested as plain calls.
"""

from connector.plan._dedup import SideStatistics
from connector.plan._merge import (
    DEFAULT_WINNERS,
    FIELD_GROUPS,
    FieldConflict,
    MergePolicy,
    MergeResult,
    Side,
    merge,
)
from connector.plan._plan import (
    NewLink,
    Plan,
    PlannedAudit,
    PlannedOp,
    PlannedReview,
    PlanSettings,
    PlanState,
    SideRecord,
    auto_registrable,
    plan_operations,
    plan_settings,
    temporary_hq_id,
    to_mirror,
)
from connector.plan._rules import HQ, MAIL, SHOP, Delivery, FollowUp, id_on, interpret, other, write_for

__all__ = [
    "DEFAULT_WINNERS",
    "FIELD_GROUPS",
    "HQ",
    "MAIL",
    "SHOP",
    "Delivery",
    "FieldConflict",
    "FollowUp",
    "MergePolicy",
    "MergeResult",
    "NewLink",
    "Plan",
    "PlanSettings",
    "PlanState",
    "PlannedAudit",
    "PlannedOp",
    "PlannedReview",
    "Side",
    "SideRecord",
    "SideStatistics",
    "auto_registrable",
    "id_on",
    "interpret",
    "merge",
    "other",
    "plan_operations",
    "plan_settings",
    "temporary_hq_id",
    "to_mirror",
    "write_for",
]
