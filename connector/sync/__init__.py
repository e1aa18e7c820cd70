"""The mirror: planner, merge rules, dedup and the run loop, behind `run_sync`.

`plan_operations` is pure (tested as plain function calls); `SyncRun` does the I/O.
"""

from __future__ import annotations

from collections.abc import Callable

from connector.config import Config
from connector.peers.eshop import EshopClient
from connector.peers.pohoda import PohodaClient
from connector.store import Store
from connector.sync._merge import DEFAULT_WINNERS, FIELD_GROUPS, MergePolicy, Side, merge
from connector.sync._plan import Plan, PlanSettings, PlanState, SideRecord, plan_operations
from connector.sync._run import LOCK_NAME, RunSummary, SyncRun

__all__ = [
    "DEFAULT_WINNERS",
    "FIELD_GROUPS",
    "LOCK_NAME",
    "MergePolicy",
    "Plan",
    "PlanSettings",
    "PlanState",
    "RunSummary",
    "SideRecord",
    "SyncRun",
    "merge",
    "plan_operations",
    "plan_settings",
    "run_sync",
]


def plan_settings(config: Config) -> PlanSettings:
    """The planner's settings from the configuration."""
    winners: dict[str, Side] = dict(DEFAULT_WINNERS)
    for group, side in config.sync.winners().items():
        winners[group] = "eshop" if side == "eshop" else "pohoda"
    return PlanSettings(
        policy=MergePolicy(winners),
        region=config.sync.default_region,
        auto_register=config.sync.auto_register,
        delete_in_pohoda=config.sync.delete_in_pohoda,
        ico=config.pohoda.ico or "",
        create_mode=config.sync.create_mode,
        link_threshold=config.dedup.link_threshold,
        review_threshold=config.dedup.review_threshold,
        email_provider_rules=config.dedup.email_provider_rules,
    )


def run_sync(
    config: Config, *, progress: Callable[[str, int, int], None] | None = None, convert_only: bool = False
) -> RunSummary:
    """One full `connector sync` run with the configured store and peers.

    With `convert_only` (`connector convert`), only POHODA is read: pending customers are
    created there and their temporary ids replaced on the e-shop.
    """
    config.require("pohoda.url", "pohoda.user", "pohoda.ico", "pohoda_password", "eshop.url", "eshop_token")
    store = Store.open(config.store_url)
    try:
        with PohodaClient.from_config(config) as pohoda, EshopClient.from_config(config) as eshop:
            run = SyncRun(
                store,
                pohoda,
                eshop,
                plan_settings(config),
                progress=progress,
                read_eshop=not convert_only,
                kind="convert" if convert_only else "sync",
            )
            return run.run()
    finally:
        store.close()
