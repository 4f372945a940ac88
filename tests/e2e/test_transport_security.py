"""Kafka over TLS: a worker configured with KAFKA_SECURITY_PROTOCOL=SSL and a custom CA does its whole
job (consume, decide, delete, audit) through an encrypted connection, and plaintext is refused.

TLS is terminated by a proxy in front of Tansu (Tansu 0.6 refuses its own --cert with --key); the
broker advertises the proxy, so every connection of every client goes through TLS.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError
from aiokafka.helpers import create_ssl_context

from chaos.proxy import CuttableProxy
from streams.local.stack import INPUT_TOPICS, MEDIA_BUCKET, LocalStack, Ports, _free_port
from streams.local.worker_process import WorkerProcess
from tests.builders import alarm_json
from tests.e2e.helpers import exists

pytestmark = pytest.mark.e2e


class TlsStack:
    def __init__(self, root: Path) -> None:
        self.ca = trustme.CA()
        self.ca_file = root / "ca.pem"
        root.mkdir(parents=True, exist_ok=True)
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        server = self.ca.issue_cert("127.0.0.1", "localhost")
        ports = Ports.free()
        self.proxy = CuttableProxy(_free_port(), ports.kafka, tls=_server_side(server))
        self.stack = LocalStack(root / "stack", ports, advertised_kafka_port=self.proxy.listen_port)

    def client_options(self) -> dict[str, Any]:
        return {
            "bootstrap_servers": self.stack.kafka_bootstrap,
            "security_protocol": "SSL",
            "ssl_context": create_ssl_context(cafile=str(self.ca_file)),
        }


def _server_side(server: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.configure_cert(context)
    return context


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsStack]:
    stack = TlsStack(tmp_path_factory.mktemp("tls"))
    stack.proxy.start()
    stack.stack.start()
    try:
        asyncio.run(_create_topics(stack.client_options()))
        stack.stack.create_bucket(MEDIA_BUCKET)
        yield stack
    finally:
        stack.stack.stop()
        stack.proxy.stop()


async def _create_topics(options: dict[str, Any]) -> None:
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 4, 1) for name in INPUT_TOPICS])
    finally:
        await admin.close()


async def _audit_types(options: dict[str, Any], alarm_id: str, timeout: float) -> set[str]:
    consumer = AIOKafkaConsumer("retention-audit", auto_offset_reset="earliest", **options)
    await consumer.start()
    found: set[str] = set()
    try:
        async with asyncio.timeout(timeout):
            while "media.deleted" not in found:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        document = json.loads(record.value)
                        if document.get("alarm_id") == alarm_id:
                            found.add(document["type"])
    finally:
        await consumer.stop()
    return found


class TestKafkaOverTls:
    async def test_a_worker_on_tls_does_its_whole_job(self, tls: TlsStack, artifacts: Path) -> None:
        s3 = tls.stack.s3_client()
        alarm_id = f"tls-{uuid.uuid4().hex[:8]}"
        key = f"{alarm_id}/a.jpg"
        s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=b"image")
        worker = WorkerProcess(
            tls.stack,
            artifacts / "tls-worker.log",
            MEDIA_BUCKETS=MEDIA_BUCKET,
            MEDIA_RETENTION="PT5S",
            KAFKA_SECURITY_PROTOCOL="SSL",
            KAFKA_SSL_CAFILE=str(tls.ca_file),
            APP_ID="tls-retention",
            SWEEP_INTERVAL="PT0S",
        ).start()
        try:
            await asyncio.to_thread(worker.wait_ready)
            producer = AIOKafkaProducer(**tls.client_options())
            await producer.start()
            try:
                await producer.send_and_wait(
                    "alarm-events", alarm_json(alarm_id, [key], bucket=MEDIA_BUCKET), key=alarm_id.encode()
                )
            finally:
                await producer.stop()
            types = await _audit_types(tls.client_options(), alarm_id, timeout=60)
            assert {"media.deletion_scheduled", "media.deleted"} <= types
            assert not exists(s3, MEDIA_BUCKET, key)
        finally:
            worker.stop()

    async def test_plaintext_is_refused(self, tls: TlsStack) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=tls.stack.kafka_bootstrap, request_timeout_ms=3000)
        with pytest.raises(KafkaConnectionError):
            await producer.start()
        await producer.stop()
