"""No Docker engine runs here, so the compose file is checked for what can be checked without one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from config.settings import Settings, TopicNames

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def setting_names() -> set[str]:
    names = {name.upper() for name in Settings.model_fields}
    names |= {f"TOPICS__{name.upper()}" for name in TopicNames.model_fields}
    return names


def test_compose_has_kafka_an_s3_store_and_the_worker() -> None:
    services = compose()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert "s3" in services
    assert "retention-worker" in services


def test_every_worker_and_projector_variable_is_a_setting() -> None:
    for service in ("retention-worker", "retention-projector", "retention-api"):
        environment = compose()["services"][service]["environment"]
        assert set(environment) - setting_names() == set(), service


def test_the_projector_and_the_worker_share_the_archive() -> None:
    services = compose()["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    urls = {
        services[s]["environment"]["DATABASE_URL"]
        for s in ("retention-worker", "retention-projector", "retention-api")
    }
    (url,) = urls
    assert url.startswith("postgresql://")
    assert "@postgres:5432/" in url
    assert services["retention-projector"]["command"] == ["python", "-m", "streams", "projector"]
    assert services["retention-api"]["command"] == ["python", "-m", "streams", "api"]
    assert any(v.split(":")[0] in compose()["volumes"] for v in services["postgres"]["volumes"])


def test_the_contract_variables_are_all_given_to_the_worker() -> None:
    environment = compose()["services"]["retention-worker"]["environment"]
    contract = {
        "KAFKA_BOOTSTRAP_SERVERS",
        "S3_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "MEDIA_BUCKETS",
        "MEDIA_RETENTION",
        "HOLD_RETENTION",
    }
    assert contract <= set(environment)


def test_the_worker_image_runs_the_documented_command() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "streams", "worker"]' in dockerfile


def test_the_input_topics_are_created() -> None:
    command = "".join(compose()["services"]["kafka-topics"]["command"])
    defaults = TopicNames()
    for topic in (defaults.alarm_events, defaults.police_holds, defaults.contract_events):
        assert topic in command
    assert "--partitions 4" in command


def test_kafka_keeps_its_log_on_a_volume() -> None:
    document = compose()
    kafka = document["services"]["kafka"]
    log_dir = kafka["environment"]["KAFKA_LOG_DIRS"]
    assert any(v.split(":")[1].split()[0] == log_dir for v in kafka["volumes"])
    assert any(v.split(":")[0] in document["volumes"] for v in kafka["volumes"])
