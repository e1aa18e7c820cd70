"""Prometheus metrics of `connector serve`: counters kept by this process, gauges read from the store.

Each app has its own registry, so that several apps (tests) never share counters.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from connector.store import Store
from connector.sync import RunSummary

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# The `_created` series (one per label set, a timestamp) double the output and say nothing
# that a process start time does not; this process has no other registry they would serve.
disable_created_metrics()  # type: ignore[no-untyped-call]

# From "in POHODA before the e-shop's page reloaded" to "waited out a POHODA outage".
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


class StoreGauges(Collector):
    """What waits in the store, read at scrape time (cron runs write there too)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("connector_store_up", "1 when the store answered this scrape")
        if not self.store.ping():
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        outbox = GaugeMetricFamily("connector_outbox_operations", "Operations in the outbox by state", labels=["state"])
        for state, count in sorted(self.store.outbox_counts().items()):
            outbox.add_metric([state], count)
        yield outbox
        waiting, _oldest = self.store.pending_customers()
        yield GaugeMetricFamily(
            "connector_pending_customers", "Customers waiting for their creation in POHODA", value=waiting
        )
        events = GaugeMetricFamily("connector_webhook_events", "Stored webhook events by state", labels=["state"])
        for state, count in sorted(self.store.event_counts().items()):
            events.add_metric([state], count)
        yield events


class Metrics:
    """The process's counters and the latency histogram, on one registry."""

    def __init__(self, store: Store | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.events_received = Counter(
            "connector_webhook_events_received",
            "Webhook events accepted and stored, by type",
            ["type"],
            registry=self.registry,
        )
        self.events_duplicate = Counter(
            "connector_webhook_events_duplicate",
            "Webhook events whose id was seen before (answered 200, nothing done)",
            registry=self.registry,
        )
        self.events_rejected = Counter(
            "connector_webhook_events_rejected",
            "Webhook requests refused, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.events_processed = Counter(
            "connector_webhook_events_processed",
            "Webhook events the worker finished, by result (processed, failed)",
            ["result"],
            registry=self.registry,
        )
        self.runs = Counter(
            "connector_runs",
            "Sync runs started by this process, by kind and state",
            ["kind", "state"],
            registry=self.registry,
        )
        self.operations = Counter(
            "connector_operations",
            "Operations of this process's runs, by kind (side.kind) and result",
            ["kind", "result"],
            registry=self.registry,
        )
        self.event_to_pohoda = Histogram(
            "connector_event_to_pohoda_seconds",
            "From a webhook event's receipt to its customer's create or update in POHODA",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.pohoda_up = Gauge(
            "connector_pohoda_up", "1 when the last call to POHODA succeeded, 0 when it failed", registry=self.registry
        )
        self.eshop_up = Gauge(
            "connector_eshop_up",
            "1 when the last call to the e-shop succeeded, 0 when it failed",
            registry=self.registry,
        )
        if store is not None:
            self.registry.register(StoreGauges(store))

    def count_run(self, kind: str, summary: RunSummary) -> None:
        self.runs.labels(kind=kind, state=summary.state).inc()
        for key, count in summary.delivered.items():
            self.operations.labels(kind=key, result="delivered").inc(count)
        if summary.refused:
            self.operations.labels(kind="any", result="refused").inc(summary.refused)

    def render(self) -> bytes:
        return generate_latest(self.registry)
