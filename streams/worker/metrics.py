"""Prometheus metrics of one worker. Counts of objects are those of the partitions it owns, so sums
across workers are right; `retention_media_overdue` is the figure that must stay 0."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0, 86400.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "retention_events_consumed",
            "Records consumed, by topic and event type",
            ["topic", "type"],
            registry=self.registry,
        )
        self.deadlettered = Counter(
            "retention_deadlettered",
            "Records sent to the dead-letter topic",
            ["topic"],
            registry=self.registry,
        )
        self.lateness = Histogram(
            "retention_deletion_lateness_seconds",
            "Deleted at minus deadline, per object",
            buckets=LATENESS_BUCKETS,
            registry=self.registry,
        )

    def watch(self, read: Callable[[], WorkerFigures]) -> None:
        """Figures computed at scrape time (counts, holds, S3 failures, consumer lag)."""
        self.registry.register(_FiguresCollector(read))


class WorkerFigures(dict[str, Any]):
    """pending, deleting, overdue, active_holds, holds_expiring_soon, s3_errors (by operation),
    s3_retries (by operation), lag (by (topic, partition)), degraded (by component: True while
    failing), last_sweep (the last sweep.completed audit record, or None), erasures_open and
    erasures_unconfirmed."""


class _FiguresCollector(Collector):
    def __init__(self, read: Callable[[], WorkerFigures]) -> None:
        self._read = read

    def collect(self) -> Iterator[Any]:
        figures = self._read()
        for name, help_text in (
            ("pending", "Media objects waiting for their deadline"),
            ("deleting", "Media objects handed to the object store and not yet confirmed deleted"),
            ("overdue", "Media objects past their deadline (plus OVERDUE_GRACE) and not yet deleted"),
        ):
            yield GaugeMetricFamily(f"retention_media_{name}", help_text, value=figures[name])
        yield GaugeMetricFamily(
            "retention_active_holds", "Active police holds", value=figures["active_holds"]
        )
        yield GaugeMetricFamily(
            "retention_holds_expiring_soon",
            "Active holds within HOLD_EXPIRY_WARNING of their limit",
            value=figures["holds_expiring_soon"],
        )
        errors = CounterMetricFamily("retention_s3_errors", "Failed S3 requests", labels=["operation"])
        retries = CounterMetricFamily(
            "retention_s3_retries", "S3 operations scheduled again", labels=["operation"]
        )
        for operation, count in figures["s3_errors"].items():
            errors.add_metric([operation], count)
        for operation, count in figures["s3_retries"].items():
            retries.add_metric([operation], count)
        yield errors
        yield retries
        lag = GaugeMetricFamily(
            "retention_consumer_lag", "Records not yet consumed", labels=["topic", "partition"]
        )
        for (topic, partition), value in figures["lag"].items():
            lag.add_metric([topic, str(partition)], value)
        yield lag
        degraded = GaugeMetricFamily(
            "retention_degraded",
            "1 while a component fails and the worker keeps retrying (health says why)",
            labels=["component"],
        )
        for component, failing in sorted(figures["degraded"].items()):
            degraded.add_metric([component], 1 if failing else 0)
        yield degraded
        yield GaugeMetricFamily(
            "retention_erasures_open",
            "Erasure commands (R3-R8) not yet confirmed",
            value=figures["erasures_open"],
        )
        yield GaugeMetricFamily(
            "retention_erasures_unconfirmed",
            "Erasure commands sent and not confirmed within ERASURE_CONFIRM_WITHIN (must stay 0)",
            value=figures["erasures_unconfirmed"],
        )
        yield from _sweep_figures(figures["last_sweep"])


def _sweep_figures(record: dict[str, Any] | None) -> Iterator[Any]:
    if record is None:
        return
    details = record.get("details", {})
    finished = datetime.fromisoformat(details.get("finished_at") or record["occurred_at"])
    if details.get("status", "completed") == "completed":  # a failed sweep is not a sweep done
        yield GaugeMetricFamily(
            "retention_sweep_last_finished_timestamp_seconds",
            "When the last reconciliation sweep that completed finished (absent after a failed one)",
            value=finished.timestamp(),
        )
    found = GaugeMetricFamily(
        "retention_sweep_objects", "Objects of the last sweep, by verdict or outcome", labels=["kind"]
    )
    for kind in ("listed", "fine", "overdue", "left_behind", "orphan", "unknown", "deleted", "kept"):
        if kind in details:
            found.add_metric([kind], int(details[kind]))
    yield found
