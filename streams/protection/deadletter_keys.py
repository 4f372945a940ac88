"""Dead letters hold a producer's record as it was written (any personal data at all), so that it can be
fixed and replayed. Their original bytes are encrypted under a key of the day, made by the worker that
dead-letters them and kept in a compacted topic of its own; the key is destroyed (a tombstone)
DEADLETTER_RETENTION after its day ended, so a dead letter cannot be read after its time even where the
dead-letter topic itself is kept longer (a broker that does not delete, a backup).

A dead letter cannot be told apart by customer (it is a record that could not be read), so an erasure
request does not reach one before its key's end; the key's end is the dead letter topic's retention.
Keys are made lazily, one per worker and day (`<day>/<worker>`): no coordination between workers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import structlog

from handlers.personal_fields import Subject
from streams.clock import Clock
from streams.kafka.deadletter import source_id
from streams.kafka.topic_ends import UnknownTopic, read_topic
from streams.protection.sealing import new_key, open_part, seal_part
from streams.protection.subject_keys import SubjectKey

log = structlog.get_logger(__name__)
Send = Callable[[bytes, bytes | None], None]  # key, value (None: a tombstone); buffered by the producer
CHECK_SECONDS = 3600.0


class DeadLetterKeys:
    def __init__(self, send: Send, clock: Clock, kept: timedelta, worker: str | None = None) -> None:
        self._send = send
        self._clock = clock
        self._kept = kept
        self._worker = worker or uuid.uuid4().hex[:12]
        self._today: tuple[str, str, bytes] | None = None  # (day, kid, key)

    def seal(self, source: str, original: Mapping[str, Any]) -> dict[str, str]:
        """The original key and value, sealed under today's key (made and published when it is the
        first dead letter of the day; the producer sends it before the offset is committed)."""
        day = self._clock.now().date().isoformat()
        if self._today is None or self._today[0] != day:
            kid, key = uuid.uuid4().hex, new_key()
            made = SubjectKey(kid, key, created_at=self._clock.now(), ends_at=_end_of(day) + self._kept)
            self._send(f"{day}/{self._worker}".encode(), made.to_json())
            self._today = (day, kid, key)
        _, kid, key = self._today
        return seal_part(key, kid, source, Subject.DEADLETTER, original)

    async def expire(self, client_options: dict[str, Any], topic: str) -> int:
        """Tombstone every key of every worker whose end has come (any worker may; it is idempotent)."""
        now = self._clock.now()
        ended = [name for name, key in (await live_keys(client_options, topic)).items() if key.ends_at <= now]
        for name in ended:
            self._send(name.encode(), None)
            if self._today is not None and name.startswith(self._today[0]):
                self._today = None
        if ended:
            log.info("deadletter_keys.destroyed", keys=len(ended))
        return len(ended)

    async def run(self, client_options: dict[str, Any], topic: str) -> None:
        while True:
            try:
                await self.expire(client_options, topic)
            except Exception as exc:  # the broker is away: next time
                log.warning("deadletter_keys.expiry_failed", error=type(exc).__name__)
            await asyncio.sleep(CHECK_SECONDS)


def _end_of(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(0), tzinfo=UTC)


async def live_keys(client_options: dict[str, Any], topic: str) -> dict[str, SubjectKey]:
    """name -> key, the latest value of each name that is not a tombstone."""
    try:
        records = await read_topic(client_options, topic)
    except UnknownTopic:
        return {}
    latest: dict[str, bytes | None] = {}
    for record in records:
        latest[record.key.decode("utf-8")] = record.value
    return {name: SubjectKey.from_json(value) for name, value in latest.items() if value}


def open_letter(letter: Mapping[str, Any], keys: Mapping[str, bytes]) -> dict[str, Any]:
    """A dead letter as an operator reads it: the original key and value (base64) when its key is
    still there, else marked erased. A letter written before they were sealed is shown as it is."""
    sealed = letter.get("encrypted")
    if not isinstance(sealed, dict):
        return dict(letter)
    opened = {k: v for k, v in letter.items() if k != "encrypted"}
    key = keys.get(sealed.get("kid", ""))
    if key is None:
        opened["erased"] = ["deadletter"]
        return opened
    source = letter.get("source") or {}
    topic, partition, offset = str(source.get("topic")), source.get("partition", -1), source.get("offset", -1)
    bound = source_id(topic, int(partition), int(offset))
    opened.update(open_part(key, bound, Subject.DEADLETTER, sealed))
    return opened


def readable(keys: Mapping[str, SubjectKey], now: datetime) -> dict[str, bytes]:
    """kid -> key, of the keys whose end has not come (a tombstone may not be written yet)."""
    return {k.kid: k.key for k in keys.values() if k.kid and k.key and k.ends_at > now}
