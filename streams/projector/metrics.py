"""The projector's Prometheus metrics, computed at scrape time from its progress."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from streams.projector.feed import Progress


class _ProgressCollector(Collector):
    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    def collect(self):  # type: ignore[no-untyped-def]
        p = self._progress
        lag = GaugeMetricFamily(
            "retention_projector_lag_records",
            "Records on the topic not yet in the archive, by topic (against the high watermark of the "
            "projector's own fetches)",
            labels=["topic"],
        )
        by_topic: dict[str, int] = {}
        for (topic, _), behind in p.lag.items():
            by_topic[topic] = by_topic.get(topic, 0) + behind
        for topic, behind in sorted(by_topic.items()):
            lag.add_metric([topic], behind)
        yield lag
        yield _counter(
            "retention_projector_rows_written", "Archive rows written, by table", "table", p.written
        )
        yield _counter(
            "retention_projector_records_skipped",
            "Records the projector could not read (logged with topic, partition and offset)",
            "source",
            p.skipped,
        )
        yield _counter(
            "retention_projector_records_lost",
            "Records retention removed from a topic before the projector read them (the archive lacks them)",
            "topic",
            p.lost,
        )
        yield _counter(
            "retention_archive_rows_forgotten",
            "Archive rows removed at their forget_at, by table",
            "table",
            p.forgotten,
        )
        up = GaugeMetricFamily(
            "retention_projector_caught_up", "1 once the projector has reached the end of every partition"
        )
        up.add_metric([], 1 if p.caught_up else 0)
        yield up


def _counter(name: str, documentation: str, label: str, values: dict[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, amount in sorted(values.items()):
        family.add_metric([value], amount)
    return family


def metrics_text(progress: Progress) -> str:
    registry = CollectorRegistry()
    registry.register(_ProgressCollector(progress))
    return generate_latest(registry).decode("utf-8")
