"""No Docker engine runs here, so the compose file is checked for what can be checked without one."""

from __future__ import annotations

import json
import re
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


SERVICES = ("retention-worker", "retention-projector", "retention-api")
SECRETS = ("AUDIT_CHAIN_KEYS", "PSEUDONYM_KEY", "HOLD_SIGNING_KEYS", "API_TOKENS", "KAFKA_SASL_PASSWORD",
           "AWS_SECRET_ACCESS_KEY", "HANDOVER_SIGNING_KEY")  # fmt: skip


class TestSecureByDefault:
    def test_every_secret_comes_from_the_environment_and_compose_refuses_to_start_without_it(self) -> None:
        for service in SERVICES:
            environment = compose()["services"][service]["environment"]
            for name in SECRETS:
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]+\}", environment[name]), (service, name)
            assert "ALLOW_INSECURE" not in environment

    def test_kafka_is_reached_over_sasl_ssl_only(self) -> None:
        kafka = compose()["services"]["kafka"]["environment"]
        listeners = dict(item.split("://") for item in kafka["KAFKA_LISTENERS"].split(","))
        assert listeners["SASL_SSL"] == ":9092"
        assert listeners["CONTROLLER"].startswith("localhost:")  # the broker's own, not reachable
        assert kafka["KAFKA_ADVERTISED_LISTENERS"] == "SASL_SSL://kafka:9092"
        for service in SERVICES:
            environment = compose()["services"][service]["environment"]
            assert environment["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
            assert environment["KAFKA_SSL_CAFILE"] == "/certs/ca.pem"

    def test_the_api_is_reachable_only_through_tls(self) -> None:
        services = compose()["services"]
        for service in ("retention-worker", "retention-api"):
            assert "ports" not in services[service], f"{service} publishes a plain-HTTP port"
        assert services["retention-projector"]["ports"] == ["127.0.0.1:6067:6067"]  # metrics, locally
        caddyfile = compose()["configs"]["caddyfile"]["content"]
        assert "tls internal" in caddyfile
        assert "reverse_proxy retention-worker:6066" in caddyfile
        assert "reverse_proxy retention-api:6068" in caddyfile

    def test_the_service_uses_a_user_of_its_own_with_only_what_it_needs(self) -> None:
        services = compose()["services"]
        root = services["s3"]["environment"]["MINIO_ROOT_USER"]
        for service in SERVICES:
            assert services[service]["environment"]["AWS_ACCESS_KEY_ID"] != root
        script = services["s3-buckets"]["command"][0]
        policy = json.loads(script.split("<<'POLICY'\n", 1)[1].split("POLICY\n", 1)[0])
        allowed = {
            (action, resource)
            for s in policy["Statement"]
            for action in s["Action"]
            for resource in s["Resource"]
        }
        assert all(s["Effect"] == "Allow" for s in policy["Statement"])
        assert not [a for a, _ in allowed if a.endswith("*") or a.startswith(("admin:", "s3:PutBucket"))]
        assert not [r for _, r in allowed if r in ("*", "arn:aws:s3:::*")]
        buckets = {r.removeprefix("arn:aws:s3:::").split("/")[0] for _, r in allowed}
        media = set(services["retention-worker"]["environment"]["MEDIA_BUCKETS"].split(","))
        anchor = services["retention-worker"]["environment"]["AUDIT_ANCHOR_BUCKET"]
        assert buckets == media | {anchor}
        # Checkpoints are written, never deleted or shortened.
        assert not [
            a for a, r in allowed if anchor in r and a in ("s3:DeleteObject", "s3:DeleteObjectVersion")
        ]
        assert ("s3:DeleteObjectVersion", "arn:aws:s3:::alarm-media/*") in allowed  # what deleting needs
        assert f"--with-lock local/{anchor}" in script


def test_prometheus_and_grafana_are_provisioned_with_the_rules_and_the_dashboard() -> None:
    services = compose()["services"]
    mounted = {v.split(":")[0] for v in services["prometheus"]["volumes"]}
    assert {"./deploy/prometheus/prometheus.yml", "./deploy/prometheus/alerts.yml"} <= mounted
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert scrape["rule_files"] == ["/etc/prometheus/alerts.yml"]
    targets = {t for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    assert targets == {"retention-worker:6066", "retention-projector:6067"}
    assert {job["job_name"] for job in scrape["scrape_configs"]} >= {"retention-worker"}  # the alerts' `up`
    grafana = {v.split(":")[0]: v.split(":")[1] for v in services["grafana"]["volumes"]}
    assert grafana["./deploy/grafana/retention.json"] == "/var/lib/grafana/dashboards/retention.json"
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/retention.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith(
        "${GRAFANA_ADMIN_PASSWORD:?"
    )
    for service in ("prometheus", "grafana"):
        assert all(p.startswith("127.0.0.1:") for p in services[service]["ports"])
