"""The on-call dashboard as code: the same figures as the alerts (deploy/prometheus/alerts.yml), built
with Grafana's own SDK (grafana-foundation-sdk), so the JSON Grafana loads is valid by construction.

`python deploy/grafana/dashboard.py` writes deploy/grafana/retention.json (provisioned by
docker-compose.yml); tests/unit/test_alerts.py checks that the file is what this builds and that every
metric a panel names is one the service exports.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row
from grafana_foundation_sdk.builders.prometheus import Dataquery as PrometheusQuery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder

OUTPUT = Path(__file__).with_name("retention.json")


def _query(expr: str, legend: str = "") -> PrometheusQuery:
    query = PrometheusQuery().expr(expr)
    return query.legend_format(legend) if legend else query


def _stat(title: str, expr: str, description: str) -> Stat:
    return Stat().title(title).description(description).with_target(_query(expr)).height(4).span(4)


def _series(title: str, unit: str, *queries: tuple[str, str]) -> Timeseries:
    panel = Timeseries().title(title).unit(unit).height(8).span(12)
    for expr, legend in queries:
        panel = panel.with_target(_query(expr, legend))
    return panel


def build() -> Dashboard:
    return (
        Dashboard("Alarm media retention")
        .uid("alarm-media-retention")
        .tags(["retention", "generated"])
        .refresh("30s")
        # Counts are per worker, of the partitions it owns: summed across workers.
        .time("now-6h", "now")
        .with_row(Row("The promises"))
        .with_panel(
            _stat("Overdue media", "sum(retention_media_overdue)", "Must be 0: media kept past its deadline")
        )
        .with_panel(
            _stat(
                "Unconfirmed erasures",
                "sum(retention_erasures_unconfirmed)",
                "Erasure commands not confirmed in time",
            )
        )
        .with_panel(_stat("Active holds", "sum(retention_active_holds)", "Police holds keeping media"))
        .with_panel(
            _stat(
                "Holds expiring soon",
                "sum(retention_holds_expiring_soon)",
                "Within HOLD_EXPIRY_WARNING of their limit",
            )
        )
        .with_panel(_stat("Pending media", "sum(retention_media_pending)", "Waiting for their deadline"))
        .with_panel(
            _stat(
                "Hours since the last sweep",
                "(time() - max(retention_sweep_last_finished_timestamp_seconds)) / 3600",
                "The reconciliation sweep's last finish",
            )
        )
        .with_row(Row("The pipeline"))
        .with_panel(
            _series(
                "Deletion lateness (p99 over 5 min)",
                "s",
                (
                    "histogram_quantile(0.99, sum by (le) "
                    "(rate(retention_deletion_lateness_seconds_bucket[5m])))",
                    "p99",
                ),
            )
        )
        .with_panel(
            _series("Consumer lag", "short", ("max by (topic) (retention_consumer_lag)", "{{topic}}"))
        )
        .with_panel(
            _series(
                "Projector lag", "short", ("sum by (topic) (retention_projector_lag_records)", "{{topic}}")
            )
        )
        .with_panel(
            _series(
                "Degraded components", "short", ("max by (component) (retention_degraded)", "{{component}}")
            )
        )
        .with_panel(
            _series(
                "Dead letters (per 15 min)",
                "short",
                ("sum by (topic) (increase(retention_deadlettered_total[15m]))", "{{topic}}"),
            )
        )
        .with_panel(
            _series(
                "S3 errors and retries (per 5 min)",
                "short",
                ("sum by (operation) (increase(retention_s3_errors_total[5m]))", "errors {{operation}}"),
                ("sum by (operation) (increase(retention_s3_retries_total[5m]))", "retries {{operation}}"),
            )
        )
    )


def render() -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(build().build()) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}", file=sys.stderr)
