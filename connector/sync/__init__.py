"""The run loop of the mirror: lock, pull both peers, plan, persist in one transaction, deliver.

`SyncRun` does the I/O over a store and two `connector.peers.base.Peer`s; what it decides
comes from the pure `connector.plan`.
"""

from connector.sync._run import LOCK_NAME, Progress, RunSummary, SyncRun

__all__ = ["LOCK_NAME", "Progress", "RunSummary", "SyncRun"]
