"""Settings, read once at start-up from the environment (names are part of the contract)."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from config.schedule import ScheduleError, load_schedule
from handlers.schedule import Schedule

_ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


def _iso_duration(value: object) -> object:
    # pydantic would also take a bare number as seconds; the contract says ISO 8601, so say so.
    if isinstance(value, str) and not _ISO_DURATION.match(value):
        raise ValueError("must be an ISO 8601 duration such as P7D, PT24H or PT30S")
    return value


def _comma_separated(value: object) -> object:
    if isinstance(value, str):
        return frozenset(part.strip() for part in value.split(",") if part.strip())
    return value


Duration = Annotated[timedelta, BeforeValidator(_iso_duration)]


class TopicNames(BaseModel):
    alarm_events: str = "alarm-events"
    police_holds: str = "police-holds"
    contract_events: str = "contract-events"
    # The inputs re-keyed by the service (streams/worker/rekeying.py) and partitioned by its own partitioner,
    # so that an alarm's events and its holds, or a customer's events, meet on one partition whatever
    # partitioner and partition count their producers used.
    alarm_stream: str = "retention-alarm-stream"
    customer_stream: str = "retention-customer-stream"
    audit: str = "retention-audit"
    # The audit chains' heads at intervals (streams/audit/checkpoints.py), kept as long as the audit trail.
    audit_checkpoints: str = "retention-audit-checkpoints"
    deadletter: str = "retention-deadletter"
    # The keys of the dead letters' original bytes, one per worker and day (compacted; a key is destroyed
    # DEADLETTER_RETENTION after its day: streams/protection/deadletter_keys.py).
    deadletter_keys: str = "retention-deadletter-keys"
    # Who read which personal data through the API, when and from where (streams/api/access_log.py).
    access_log: str = "retention-access-log"
    # Our own messages to ourselves: deadlines reached, deletions confirmed (see handlers/commands.py).
    internal: str = "retention-internal"
    # Erasure commands to the systems that hold the other personal data, and their confirmations
    # (handlers/erasure.py); both keyed by customer, created by the service if missing.
    erasure_commands: str = "erasure-commands"
    erasure_confirmations: str = "erasure-confirmations"
    # The customer's requests (access, erasure, restriction) and their answers, keyed by customer.
    customer_requests: str = "customer-requests"
    request_outcomes: str = "customer-request-outcomes"


Role = Literal["police-liaison", "operator", "auditor"]


class ApiToken(BaseModel):
    """A bearer token, stored only as the SHA-256 of the token (tokens are random, not passwords)."""

    name: str = Field(min_length=1, max_length=100)  # the identity recorded in events and the audit trail
    role: Role
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    # A police liaison's unit: they see and release only the holds their unit placed (least privilege).
    unit: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _liaisons_have_a_unit(self) -> ApiToken:
        if self.role == "police-liaison" and self.unit is None:
            raise ValueError(f"{self.name}: a police-liaison token names its unit")
        return self


class SettingsError(Exception):
    """A setting is missing or wrong; the message names it, on one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str
    # Half of this is how long a consumer group takes to form on Tansu; Kafka's own default is 45 s.
    kafka_session_timeout: Duration = timedelta(seconds=10)
    kafka_replication_factor: int = Field(default=1, ge=1)  # for the topics the service creates
    # How long a fetch may wait for data. Kafka answers as soon as data comes, Tansu only at the end of
    # the wait: a short wait keeps each hop through a topic short (see streams/kafka/transport.py).
    kafka_fetch_max_wait: Duration = timedelta(milliseconds=100)
    # How long the producer waits to fill a batch. Each batch is a request to the broker and, on a
    # broker that keeps its log in S3 (Tansu's S3 engine), an object written: a few milliseconds more
    # per hop buy far fewer writes when many decisions fall due at once.
    kafka_producer_linger: Duration = timedelta(milliseconds=5)
    # How often consumed offsets are committed (faust's broker_commit_interval): what a crash makes the
    # successor process again. Every handler is idempotent, so this trades replay work for commit load.
    kafka_commit_interval: Duration = timedelta(seconds=2.8)
    # Transport security. With SECRETS_DIR set, secrets may also come from files named after the
    # setting in lower case (e.g. /run/secrets/kafka_sasl_password), as container secrets are mounted.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None  # the CA that signed the brokers' certificates
    kafka_ssl_certfile: Path | None = None  # a client certificate, for brokers that ask for one
    kafka_ssl_keyfile: Path | None = None
    s3_ca_bundle: Path | None = None  # a custom CA for an HTTPS S3 endpoint

    s3_endpoint_url: str | None = None  # None: AWS itself
    aws_access_key_id: SecretStr | None = None  # None: boto3's usual chain (instance role, profile)
    aws_secret_access_key: SecretStr | None = None
    aws_region: str = "us-east-1"
    s3_max_workers: int = Field(default=16, ge=1, le=256)
    delete_batch_size: int = Field(default=1000, ge=1, le=1000)  # S3 DeleteObjects takes at most 1000

    media_buckets: Annotated[frozenset[str], NoDecode, BeforeValidator(_comma_separated)]
    media_retention: Duration = timedelta(days=7)
    hold_retention: Duration = timedelta(days=30)
    hold_expiry_warning: Duration = timedelta(hours=24)
    max_clock_skew: Duration = timedelta(minutes=5)

    topics: TopicNames = TopicNames()
    # How many parts the service divides its state into: the partitions of its own topics, and the most
    # workers that can share the work. Unset: what its topics already have (an existing deployment), or
    # 8 for a new one (DEFAULT_PARTITIONS in streams/kafka/topology.py). Input topics may have any number.
    partitions: int | None = Field(default=None, ge=1, le=1024)
    app_id: str = "alarm-media-retention"
    state_dir: str = ".state"  # faust's working folder; the tables themselves live in Kafka
    # Where a worker keeps its tables between restarts. rocksdb: on disk in STATE_DIR (RocksDB, through
    # rocksdict), memory bounded by a cache, and a restart replays only the changelog's tail. memory:
    # all of it in memory, replayed in full at every start (small deployments, some tests).
    table_store: Literal["rocksdb", "memory"] = "rocksdb"
    table_cache_mb: int = Field(default=16, ge=1, le=65536)  # RocksDB block cache per table and partition
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=1, le=65535)  # the HTTP API, dashboard, /metrics and /health
    # HMAC keys for hold events: {"key-id": "secret"}. When set, unsigned or wrongly signed hold events
    # are refused, so write access to police-holds is not enough to release a hold.
    hold_signing_keys: dict[str, SecretStr] = {}
    hold_signing_keys_file: Path | None = None  # the same JSON in a file (a mounted secret)
    hold_signing_key_id: str | None = None  # the key the API signs with; default: the first
    # HMAC keys of the audit chain (handlers/audit_chain.py): {"key-id": "secret"}. New records are sealed
    # with AUDIT_CHAIN_KEY_ID (default: the first); `retention audit verify` needs every key ever used.
    audit_chain_keys: dict[str, SecretStr] = {}
    audit_chain_keys_file: Path | None = None  # the same JSON in a file (a mounted secret)
    audit_chain_key_id: str | None = None
    # A bucket with Object Lock where each chain's head is also checkpointed, under COMPLIANCE retention
    # for AUDIT_RETENTION: nobody (not even the bucket's owner) can remove or rewrite a checkpoint, so a
    # cut or rewritten audit topic is found by `retention audit verify` even if its checkpoint topic was
    # cut along with it.
    audit_anchor_bucket: str | None = None
    # The service's own Ed25519 key for handover manifests (base64 of a 32-byte seed); the API publishes
    # its public half. How long a handover's download links work.
    handover_signing_key: SecretStr | None = None
    handover_link_ttl: Duration = timedelta(minutes=15)
    # The S3 endpoint the police reach the download links at, when it is not S3_ENDPOINT_URL (a link is
    # signed for the host it names).
    handover_endpoint_url: str | None = None
    # Start without hold signing keys, API tokens, chain keys, a pseudonym key or an anchor bucket
    # (outside the local stack, which sets them all): refused unless this is true, and then said loudly.
    allow_insecure: bool = False
    api_tokens: list[ApiToken] = []  # JSON, e.g. [{"name": "...", "role": "operator", "sha256": "..."}]
    api_tokens_file: Path | None = None  # the same JSON in a file (a mounted secret); added to api_tokens
    # An object is overdue once it is this far past its deadline and not yet deleted.
    overdue_grace: Duration = timedelta(seconds=30)
    hold_answer_wait: Duration = timedelta(seconds=3)  # how long POST /holds waits for the hold's answer
    # The reconciliation sweep (streams/worker/sweep.py): how often (PT0S: only on demand), how far past the
    # hold limit an unknown object must be before it is deleted, and how fast the buckets are listed.
    sweep_interval: Duration = timedelta(hours=6)
    sweep_grace: Duration = timedelta(hours=24)
    sweep_max_keys_per_second: float = Field(default=1000.0, gt=0)
    # The retention schedule (R1-R8); default: config/retention-schedule.toml.
    retention_schedule_file: Path | None = None
    # An erasure command not confirmed within this is flagged and sent again.
    erasure_confirm_within: Duration = timedelta(hours=24)
    # How long the service keeps its own records once their work is done (rows S2 and S4 of the
    # retention schedule, which gives the defaults): an ended alarm's marker, and a contract end.
    alarm_marker_lifetime: Duration | None = None
    contract_end_lifetime: Duration | None = None
    _marker_kept: timedelta = PrivateAttr(default=timedelta(0))
    _contract_end_kept: timedelta = PrivateAttr(default=timedelta(0))
    # Crypto-shredding of the audit trail's personal fields (streams/protection/). A customer's key
    # ends at R6 (12 months after the contract ended); CUSTOMER_KEY_LIFETIME replaces those 12 months
    # (drills). A hold's key ends at schedule row S5 (HOLD_DETAILS_LIFETIME, a decision for the DPO).
    customer_key_lifetime: Duration | None = None
    # After an erasure request (Art. 17), how long the customer's identifiers in the audit trail stay
    # readable: long enough for the deletions the request causes to be confirmed and recorded.
    erasure_key_grace: Duration = timedelta(days=1)
    hold_details_lifetime: Duration | None = None
    _hold_details_kept: timedelta = PrivateAttr(default=timedelta(0))
    # The key of the pseudonyms (keyed hashes) that stand for customer ids in logs, audit record keys
    # and the archive's index. It must stay the same for as long as the audit trail is kept.
    pseudonym_key: SecretStr | None = None

    # What the service's own topics keep (streams/kafka/topic_configs.py). The audit trail: 6 years, as the
    # company keeps its accounting evidence (5 full accounting years, the statement's R4 and R7), so a
    # record written on the last day of a year outlives that year by 5 full years. Records in transit
    # between its stages: long enough to outlive any outage the service is meant to survive. Dead
    # letters (producers' records as they were, personal data): long enough to be fixed and replayed.
    audit_retention: Duration = timedelta(days=6 * 365 + 2)
    transit_retention: Duration = timedelta(days=14)
    deadletter_retention: Duration = timedelta(days=30)
    # The access log (who read which personal data through the API): schedule row S7 gives the default.
    access_log_retention: Duration | None = None
    _access_log_kept: timedelta = PrivateAttr(default=timedelta(0))
    # How often each audit chain's head is checkpointed (also whenever a worker gives partitions away).
    audit_checkpoint_interval: Duration = timedelta(minutes=1)

    # The archive and read model (streams/projector/, streams/postgres/): a libpq URL or key=value string,
    # e.g. postgresql://retention@db:5432/retention. The projector needs it; with a password in it, it
    # may come from a file as the other secrets do (SECRETS_DIR).
    database_url: SecretStr | None = None
    projector_web_port: int = Field(default=6067, ge=1, le=65535)  # the projector's /metrics and /health
    # How often the projector removes archive rows whose time has come (each row has its forget_at).
    archive_forget_interval: Duration = timedelta(minutes=1)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not self.media_buckets:
            raise ValueError("MEDIA_BUCKETS must name at least one bucket")
        try:
            self.schedule()
        except ScheduleError as exc:
            raise ValueError(f"RETENTION_SCHEDULE_FILE: {exc}") from None
        for name in (
            "media_retention",
            "hold_retention",
            "hold_expiry_warning",
            "transit_retention",
            "audit_checkpoint_interval",
        ):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name.upper()} must be longer than zero")
        if self.audit_retention <= self.hold_retention:
            raise ValueError("AUDIT_RETENTION must be longer than HOLD_RETENTION: proof outlives the media")
        if self.deadletter_retention <= timedelta(0):
            raise ValueError("DEADLETTER_RETENTION must be longer than zero")
        if self.hold_retention < self.media_retention:
            raise ValueError("HOLD_RETENTION must be at least MEDIA_RETENTION")
        schedule = self.schedule()
        try:
            self._marker_kept = (
                self.alarm_marker_lifetime or schedule.service_record("alarm_marker").lifetime()
            )
            self._contract_end_kept = (
                self.contract_end_lifetime or schedule.service_record("contract_end").lifetime()
            )
            self._access_log_kept = (
                self.access_log_retention or schedule.service_record("api_access_log").lifetime()
            )
            self._hold_details_kept = (
                self.hold_details_lifetime or schedule.service_record("police_hold_details").lifetime()
            )
        except KeyError as exc:
            raise ValueError(
                f"RETENTION_SCHEDULE_FILE: no service record {exc} (see config/retention-schedule.toml)"
            ) from None
        if self._marker_kept <= self.transit_retention:
            raise ValueError(
                "ALARM_MARKER_LIFETIME must be longer than TRANSIT_RETENTION: an event Kafka may still "
                "redeliver must find the marker of its alarm, not an alarm it never heard of"
            )
        if self._contract_end_kept < self.media_retention:
            raise ValueError("CONTRACT_END_LIFETIME must be at least MEDIA_RETENTION")
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            raise ValueError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set together or not at all")
        if self.kafka_security_protocol.startswith("SASL") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError("KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are needed for SASL")
        for name in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile", "s3_ca_bundle"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name.upper()}: no such file")
        if self.hold_signing_keys_file is not None:
            try:
                self.signing_keys()
            except (OSError, ValidationError) as exc:
                problem = (
                    exc.strerror if isinstance(exc, OSError) else "not a JSON object of key ids to secrets"
                )
                raise ValueError(f"HOLD_SIGNING_KEYS_FILE: cannot be used ({problem})") from None
        if self.hold_signing_key_id is not None and self.hold_signing_key_id not in self.signing_keys():
            raise ValueError("HOLD_SIGNING_KEY_ID names no key of HOLD_SIGNING_KEYS")
        if self.audit_chain_keys_file is not None:
            try:
                self.chain_keys()
            except (OSError, ValidationError) as exc:
                problem = (
                    exc.strerror if isinstance(exc, OSError) else "not a JSON object of key ids to secrets"
                )
                raise ValueError(f"AUDIT_CHAIN_KEYS_FILE: cannot be used ({problem})") from None
        if self.audit_chain_key_id is not None and self.audit_chain_key_id not in self.chain_keys():
            raise ValueError("AUDIT_CHAIN_KEY_ID names no key of AUDIT_CHAIN_KEYS")
        if self.api_tokens_file is not None:
            try:
                self.all_api_tokens()
            except (OSError, ValidationError) as exc:
                problem = exc.strerror if isinstance(exc, OSError) else f"{exc.error_count()} invalid entries"
                raise ValueError(f"API_TOKENS_FILE: cannot be used ({problem})") from None
        return self

    @property
    def access_log_kept(self) -> timedelta:
        """How long the access log keeps who read what (ACCESS_LOG_RETENTION, or the schedule's S7)."""
        return self._access_log_kept

    @property
    def hold_details_kept(self) -> timedelta:
        """How long a hold's case reference and officers' names stay readable after its limit."""
        return self._hold_details_kept

    def customer_key_ends(self, contract_ended_at: datetime) -> datetime:
        """When a customer's identifiers in the audit trail are erased: R6 after the contract ended."""
        if self.customer_key_lifetime is not None:
            return contract_ended_at + self.customer_key_lifetime
        schedule = self.schedule()
        return schedule.rule("R6").due_at(contract_ended_at, schedule.tz)

    def pseudonym_secret(self) -> bytes:
        """PSEUDONYM_KEY; without one, a fixed development key (settings_warnings says so)."""
        if self.pseudonym_key is None:
            return DEVELOPMENT_PSEUDONYM_KEY
        return self.pseudonym_key.get_secret_value().encode("utf-8")

    @property
    def marker_kept(self) -> timedelta:
        """How long an ended alarm's marker is kept (ALARM_MARKER_LIFETIME, or the schedule's S2)."""
        return self._marker_kept

    @property
    def contract_end_kept(self) -> timedelta:
        """How long a contract end is remembered (CONTRACT_END_LIFETIME, or the schedule's S4)."""
        return self._contract_end_kept

    def schedule(self) -> Schedule:
        return load_schedule(self.retention_schedule_file)

    def signing_keys(self) -> dict[str, bytes]:
        keys = {k: v.get_secret_value().encode() for k, v in self.hold_signing_keys.items()}
        if self.hold_signing_keys_file is not None:
            keys.update(
                {
                    k: v.encode()
                    for k, v in _KEY_MAP.validate_json(self.hold_signing_keys_file.read_bytes()).items()
                }
            )
        return keys

    def api_signing_key(self) -> tuple[str, bytes] | None:
        keys = self.signing_keys()
        if not keys:
            return None
        key_id = self.hold_signing_key_id or next(iter(keys))
        return key_id, keys[key_id]

    def chain_keys(self) -> dict[str, bytes]:
        keys = {k: v.get_secret_value().encode() for k, v in self.audit_chain_keys.items()}
        if self.audit_chain_keys_file is not None:
            keys.update(
                {
                    k: v.encode()
                    for k, v in _KEY_MAP.validate_json(self.audit_chain_keys_file.read_bytes()).items()
                }
            )
        return keys

    def chain_key(self) -> tuple[str, bytes] | None:
        """The key new audit records are sealed with (None: unkeyed, refused unless ALLOW_INSECURE)."""
        keys = self.chain_keys()
        if not keys:
            return None
        key_id = self.audit_chain_key_id or next(iter(keys))
        return key_id, keys[key_id]

    def insecure(self) -> list[str]:
        """What a production worker must have and this one lacks (see ALLOW_INSECURE)."""
        missing = []
        if not self.signing_keys():
            missing.append("HOLD_SIGNING_KEYS (anyone who can write to police-holds could release a hold)")
        if not self.all_api_tokens():
            missing.append("API_TOKENS (the API would refuse every caller, or serve none)")
        if not self.chain_keys():
            missing.append("AUDIT_CHAIN_KEYS (anyone who can write to the audit topic could add records)")
        if self.audit_anchor_bucket is None:
            missing.append("AUDIT_ANCHOR_BUCKET (a cut audit topic could go unnoticed)")
        if self.pseudonym_key is None:
            missing.append("PSEUDONYM_KEY (pseudonyms anyone can compute from a customer id)")
        if self.handover_signing_key is None:
            missing.append("HANDOVER_SIGNING_KEY (handovers to the police would carry no signed manifest)")
        return missing

    def all_api_tokens(self) -> list[ApiToken]:
        if self.api_tokens_file is None:
            return list(self.api_tokens)
        return [*self.api_tokens, *_TOKEN_LIST.validate_json(self.api_tokens_file.read_bytes())]


# Pseudonyms without PSEUDONYM_KEY (the local stack, tests): anyone reading this can compute them.
DEVELOPMENT_PSEUDONYM_KEY = b"development pseudonym key: set PSEUDONYM_KEY"
_TOKEN_LIST = TypeAdapter(list[ApiToken])
_KEY_MAP = TypeAdapter(dict[str, str])


def load_settings(**overrides: object) -> Settings:
    """Read the settings, or raise SettingsError with one line that names what is wrong."""
    secrets_dir = os.environ.get("SECRETS_DIR")
    if secrets_dir and "_secrets_dir" not in overrides:
        overrides["_secrets_dir"] = secrets_dir
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None


def _one_line(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        name = "__".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{name}: {message}" if name else message)
    return "invalid settings: " + "; ".join(problems)
