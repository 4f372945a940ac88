"""The service's topics keep what it needs: the configs it creates them with, and the refusal of
configs that would delete records it still needs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config.settings import SettingsError, load_settings
from streams.kafka.topic_configs import TopicNeed, creation_configs, problems

SETTINGS = load_settings(kafka_bootstrap_servers="unused:9092", media_buckets="media")
AUDIT = TopicNeed("the audit trail", timedelta(days=6 * 365 + 2), setting="AUDIT_RETENTION")
TRANSIT = TopicNeed("records between the service's stages", timedelta(days=14), setting="TRANSIT_RETENTION")
STATE = TopicNeed("the state's changelog", None, compacted=True)
WEEK_MS = str(7 * 24 * 3600 * 1000)


class TestTopicsAreCreatedWithWhatTheyMustKeep:
    def test_the_audit_trail_for_audit_retention(self) -> None:
        configs = creation_configs(SETTINGS, SETTINGS.topics.audit)
        assert configs["retention.ms"] == str(int(SETTINGS.audit_retention.total_seconds() * 1000))
        assert configs["cleanup.policy"] == "delete"
        assert configs["retention.bytes"] == "-1"

    def test_dead_letters_for_a_bounded_time(self) -> None:
        configs = creation_configs(SETTINGS, SETTINGS.topics.deadletter)
        assert configs["retention.ms"] == str(30 * 24 * 3600 * 1000)

    def test_records_in_transit_for_transit_retention(self) -> None:
        configs = creation_configs(SETTINGS, SETTINGS.topics.alarm_stream)
        assert configs["retention.ms"] == str(14 * 24 * 3600 * 1000)

    def test_replicated_topics_need_all_but_one_replica_in_sync(self) -> None:
        replicated = load_settings(
            kafka_bootstrap_servers="unused:9092", media_buckets="media", kafka_replication_factor=3
        )
        assert creation_configs(replicated, replicated.topics.audit)["min.insync.replicas"] == "2"
        assert "min.insync.replicas" not in creation_configs(SETTINGS, SETTINGS.topics.audit)

    def test_the_audit_trail_must_outlive_the_media_it_proves(self) -> None:
        with pytest.raises(SettingsError, match="AUDIT_RETENTION must be longer than HOLD_RETENTION"):
            load_settings(kafka_bootstrap_servers="x:1", media_buckets="m", audit_retention="P10D")


class TestConfigsThatWouldDeleteWhatTheServiceNeeds:
    def test_kafkas_default_week_on_the_audit_trail_is_refused(self) -> None:
        (problem,) = problems("retention-audit", AUDIT, {"retention.ms": WEEK_MS, "cleanup.policy": "delete"})
        assert str(problem) == (
            f"topic retention-audit: retention.ms={WEEK_MS} deletes the audit trail after 7 days, but "
            "AUDIT_RETENTION keeps them 2192 days; set retention.ms=189388800000"
        )

    def test_retention_as_long_as_needed_or_forever_is_accepted(self) -> None:
        assert problems("retention-audit", AUDIT, {"retention.ms": "189388800000"}) == []
        assert problems("retention-audit", AUDIT, {"retention.ms": "-1"}) == []
        assert problems("retention-audit", AUDIT, {"retention.ms": "189388800001"}) == []

    def test_one_millisecond_short_is_refused(self) -> None:
        assert len(problems("retention-audit", AUDIT, {"retention.ms": "189388799999"})) == 1

    def test_compaction_of_keyed_events_is_refused(self) -> None:
        (problem,) = problems("retention-alarm-stream", TRANSIT, {"cleanup.policy": "compact,delete"})
        assert "keeps only the last record per key" in str(problem)

    def test_a_size_limit_is_refused(self) -> None:
        (problem,) = problems("retention-audit", AUDIT, {"retention.bytes": "1073741824"})
        assert problem.config == "retention.bytes"

    def test_a_changelog_must_be_compacted_or_kept_forever(self) -> None:
        assert problems("x-alarms-changelog", STATE, {"cleanup.policy": "compact"}) == []
        assert problems("x-alarms-changelog", STATE, {"cleanup.policy": "delete", "retention.ms": "-1"}) == []
        (problem,) = problems(
            "x-alarms-changelog", STATE, {"cleanup.policy": "delete", "retention.ms": WEEK_MS}
        )
        assert "set cleanup.policy=compact" in str(problem)

    def test_a_changelog_compacted_and_also_deleting_is_refused(self) -> None:
        both = {"cleanup.policy": "compact,delete", "retention.ms": WEEK_MS}
        assert [p.config for p in problems("x-customers-changelog", STATE, both)] == ["retention.ms"]
        by_size = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "1000"}
        assert [p.config for p in problems("x-customers-changelog", STATE, by_size)] == ["retention.bytes"]

    def test_configs_a_broker_does_not_report_are_taken_as_deleting_nothing(self) -> None:
        # Tansu reports only the configs a topic was created with, and never deletes records.
        assert problems("retention-audit", AUDIT, {}) == []
        assert problems("x-alarms-changelog", STATE, {}) == []


class TestTopicsTheServiceDoesNotNeedButShouldBound:
    def test_an_input_keeping_less_than_an_outage_is_warned_about(self) -> None:
        from structlog.testing import capture_logs

        from streams.kafka.topology import _warn_about_short_inputs

        with capture_logs() as logs:
            _warn_about_short_inputs(
                SETTINGS, {"police-holds": {"retention.ms": WEEK_MS}, "alarm-events": {}}
            )
        assert [(e["event"], e["topic"]) for e in logs] == [("topics.input_retention_short", "police-holds")]

    def test_dead_letters_kept_forever_are_warned_about(self) -> None:
        from structlog.testing import capture_logs

        from streams.kafka.topology import _warn_about_long_dead_letters

        with capture_logs() as logs:
            _warn_about_long_dead_letters(SETTINGS, {"retention-deadletter": {}})
            _warn_about_long_dead_letters(SETTINGS, {"ok": {"retention.ms": str(30 * 24 * 3600 * 1000)}})
        assert [e["topic"] for e in logs] == ["retention-deadletter"]
