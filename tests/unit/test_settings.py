"""Settings: the environment names are a contract, and a wrong one stops start-up with one line."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config.settings import Settings, SettingsError, load_settings

REQUIRED = {"kafka_bootstrap_servers": "broker:9092", "media_buckets": "alarm-media"}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The suite may run inside a shell that has these set; each test states what it needs.
    for name in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "MEDIA_BUCKETS",
        "MEDIA_RETENTION",
        "HOLD_RETENTION",
        "S3_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
    ):
        monkeypatch.delenv(name, raising=False)


class TestDefaults:
    def test_the_privacy_statements_durations(self) -> None:
        settings = load_settings(**REQUIRED)
        assert settings.media_retention == timedelta(days=7)
        assert settings.hold_retention == timedelta(days=30)

    def test_topic_names(self) -> None:
        topics = load_settings(**REQUIRED).topics
        assert (topics.alarm_events, topics.police_holds, topics.contract_events) == (
            "alarm-events",
            "police-holds",
            "contract-events",
        )
        assert (topics.audit, topics.deadletter) == ("retention-audit", "retention-deadletter")


class TestEnvironment:
    def test_the_contract_names_are_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        environment = {
            "KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
            "S3_ENDPOINT_URL": "https://s3.example",
            "AWS_ACCESS_KEY_ID": "AKIA",
            "AWS_SECRET_ACCESS_KEY": "very-secret",
            "AWS_REGION": "eu-north-1",
            "MEDIA_BUCKETS": "alarm-media, alarm-evidence",
            "MEDIA_RETENTION": "PT30S",
            "HOLD_RETENTION": "P30D",
            "TOPICS__AUDIT": "audit-v1",
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        settings = Settings()  # type: ignore[call-arg]
        assert settings.kafka_bootstrap_servers == "k1:9092,k2:9092"
        assert settings.s3_endpoint_url == "https://s3.example"
        assert settings.aws_region == "eu-north-1"
        assert settings.media_buckets == {"alarm-media", "alarm-evidence"}
        assert settings.media_retention == timedelta(seconds=30)
        assert settings.topics.audit == "audit-v1"

    def test_secrets_are_not_shown_in_the_settings_repr(self, monkeypatch: pytest.MonkeyPatch) -> None:
        settings = load_settings(**REQUIRED, aws_access_key_id="AKIA", aws_secret_access_key="very-secret")
        assert "very-secret" not in repr(settings)


class TestWrongSettings:
    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"media_buckets": None}, "MEDIA_BUCKETS"),
            ({"media_buckets": ""}, "MEDIA_BUCKETS must name at least one bucket"),
            ({"media_retention": "7 days"}, "MEDIA_RETENTION: must be an ISO 8601 duration"),
            ({"media_retention": "30"}, "MEDIA_RETENTION: must be an ISO 8601 duration"),
            ({"hold_retention": "P3D"}, "HOLD_RETENTION must be at least MEDIA_RETENTION"),
            ({"media_retention": "PT0S"}, "MEDIA_RETENTION must be longer than zero"),
            (
                {"aws_access_key_id": "AKIA"},
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set together",
            ),
            ({"web_port": 0}, "WEB_PORT"),
        ],
    )
    def test_one_line_names_the_setting(self, overrides: dict[str, object], message: str) -> None:
        arguments = {**REQUIRED, **overrides}
        arguments = {k: v for k, v in arguments.items() if v is not None}
        with pytest.raises(SettingsError) as caught:
            load_settings(**arguments)
        text = str(caught.value)
        assert message in text
        assert "\n" not in text

    def test_missing_bootstrap_servers(self) -> None:
        with pytest.raises(SettingsError, match="KAFKA_BOOTSTRAP_SERVERS: Field required"):
            load_settings(media_buckets="alarm-media")
