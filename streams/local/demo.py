"""`make demo`: a sample alarm on the local stack, and its media watched until it is deleted.

Uploads a few images to the media bucket, sends `alarm.triggered` the way the alarm platform would,
then prints the audit trail of that alarm and counts the objects down until none is left.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.local.stack import MEDIA_BUCKET, LocalStack, the_local_stack

WATCH_LIMIT_SECONDS = 15 * 60


def run_demo(objects: int) -> int:
    stack = the_local_stack()
    return asyncio.run(_demo(stack, objects))


async def _demo(stack: LocalStack, count: int) -> int:
    s3 = stack.s3_client()
    alarm_id = f"demo-{uuid.uuid4().hex[:8]}"
    keys = [f"demo/{alarm_id}/image-{i}.jpg" for i in range(count)]
    for key in keys:
        s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=b"\xff\xd8\xff\xe0 sample image \xff\xd9")
    event = {
        "type": "alarm.triggered",
        "event_id": str(uuid.uuid4()),
        "alarm_id": alarm_id,
        "customer_id": "demo-customer",
        "triggered_at": datetime.now(UTC).isoformat(),
        "media": [{"bucket": MEDIA_BUCKET, "key": key} for key in keys],
    }
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("alarm-events", json.dumps(event).encode(), key=alarm_id.encode())
    finally:
        await producer.stop()
    print(f"stored {count} objects in s3://{MEDIA_BUCKET}/demo/{alarm_id}/ and sent alarm.triggered")
    return await _watch(stack, s3, alarm_id, keys)


async def _watch(stack: LocalStack, s3: Any, alarm_id: str, keys: list[str]) -> int:
    consumer = AIOKafkaConsumer(
        "retention-audit", bootstrap_servers=stack.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    started = time.monotonic()
    deadline: datetime | None = None
    deleted_objects = 0
    gone = False
    try:
        while time.monotonic() - started < WATCH_LIMIT_SECONDS:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    audit = json.loads(record.value)
                    if audit.get("alarm_id") != alarm_id:
                        continue
                    if audit.get("deadline"):
                        deadline = datetime.fromisoformat(audit["deadline"])
                    late = audit.get("details", {}).get("lateness_seconds")
                    objects = [o["key"] for o in audit.get("objects", [])]
                    if audit["type"] == "media.deleted":
                        deleted_objects += len(objects)
                    suffix = f"  {late} s after the deadline" if late else ""
                    print(f"  audit {audit['type']:<26} {len(objects)} object(s){suffix}")
            if deleted_objects == len(keys):
                print("every object is gone, on time; the audit trail above records when.")
                return 0
            if gone:
                continue  # the objects are gone; wait for their media.deleted records
            gone = not any(_exists(s3, key) for key in keys)
            if deadline is not None and not gone:
                seconds = (deadline - datetime.now(UTC)).total_seconds()
                left = sum(_exists(s3, key) for key in keys)
                print(f"{left} object(s) left; deadline in {max(0.0, seconds):.0f} s", flush=True)
        print("gave up watching; is `make run` running?")
        return 1
    finally:
        await consumer.stop()


def _exists(s3: Any, key: str) -> bool:
    try:
        s3.head_object(Bucket=MEDIA_BUCKET, Key=key)
        return True
    except s3.exceptions.ClientError:
        return False
