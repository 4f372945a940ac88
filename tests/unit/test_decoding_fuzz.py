"""Fuzzing the event decoding: whatever arrives, the answer is an event or InvalidEvent with a reason.

Every reason is logged and stored with the dead letter, so it must also never repeat a field's value
(which may be personal data) and stay short.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.decoding import InputTopic, InvalidEvent, decode_event
from handlers.events import InputEvent
from streams.local.worker_process import SIGNING_KEY, SIGNING_KEY_ID
from tests.builders import alarm_json, contract_ended_json, hold_placed_json, hold_released_json

BUCKETS = {"media", "evidence"}
KEYS = {SIGNING_KEY_ID: SIGNING_KEY.encode()}
MAX_REASON = 600
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

topics = st.sampled_from(list(InputTopic))
record_keys = st.none() | st.binary(max_size=40) | st.sampled_from([b"alarm-1", b"customer-1"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)


def outcome(value: bytes | None, key: bytes | None, topic: InputTopic) -> InputEvent | InvalidEvent:
    try:
        return decode_event(value, key, topic, BUCKETS, KEYS)
    except InvalidEvent as exc:
        refusal = exc
    assert refusal.reason
    assert len(refusal.reason) <= MAX_REASON, refusal.reason
    return refusal


def valid_records() -> list[tuple[bytes, bytes, InputTopic]]:
    return [
        (alarm_json("alarm-1", ["a.jpg", "b.jpg"]), b"alarm-1", InputTopic.ALARMS),
        (alarm_json("alarm-1", ["a.jpg"], event_type="media.stored"), b"alarm-1", InputTopic.ALARMS),
        (hold_placed_json("alarm-1", "hold-1"), b"alarm-1", InputTopic.HOLDS),
        (hold_released_json("alarm-1", "hold-1"), b"alarm-1", InputTopic.HOLDS),
        (contract_ended_json("customer-1"), b"customer-1", InputTopic.CONTRACTS),
    ]


VALID = valid_records()


class TestDecodingNeverCrashes:
    @FUZZ
    @given(value=st.none() | st.binary(max_size=2000), key=record_keys, topic=topics)
    def test_arbitrary_bytes(self, value: bytes | None, key: bytes | None, topic: InputTopic) -> None:
        outcome(value, key, topic)

    @FUZZ
    @given(document=json_values, key=record_keys, topic=topics)
    def test_arbitrary_json(self, document: Any, key: bytes | None, topic: InputTopic) -> None:
        outcome(json.dumps(document).encode(), key, topic)

    @FUZZ
    @given(index=st.integers(0, len(VALID) - 1), data=st.data())
    def test_a_valid_event_with_one_field_replaced_dropped_or_added(self, index: int, data: Any) -> None:
        raw, key, topic = VALID[index]
        document = json.loads(raw)
        field = data.draw(st.sampled_from(sorted(document)) | st.text(min_size=1, max_size=12))
        change = data.draw(st.sampled_from(["replace", "drop"]))
        if change == "drop":
            document.pop(field, None)
        else:
            document[field] = data.draw(json_values)
        outcome(json.dumps(document).encode(), key, topic)


class TestReasonsNeverRepeatValues:
    @FUZZ
    @given(index=st.integers(0, len(VALID) - 1), data=st.data())
    def test_a_field_value_never_appears_in_the_reason(self, index: int, data: Any) -> None:
        raw, key, topic = VALID[index]
        document = json.loads(raw)
        field = data.draw(st.sampled_from(sorted(k for k in document if k != "type")))
        # Something that looks like personal data in a wrong place (a number where text is wanted...).
        marker = data.draw(st.sampled_from(["Kari Nordmann", "12345678901", "+47 912 34 567", "Storgata 1"]))
        wrapped = data.draw(st.sampled_from([marker, [marker], {"x": marker}, {"bucket": marker, "key": 1}]))
        document[field] = wrapped
        result = outcome(json.dumps(document).encode(), key, topic)
        if isinstance(result, InvalidEvent):
            assert marker not in result.reason

    @FUZZ
    @given(index=st.integers(2, 3), data=st.data())
    def test_any_change_to_a_signed_hold_is_refused(self, index: int, data: Any) -> None:
        raw, key, topic = VALID[index]
        document = json.loads(raw)
        field = data.draw(st.sampled_from(sorted(k for k in document if k not in ("signature", "type"))))
        new_value = data.draw(st.text(min_size=1, max_size=20).filter(lambda v: v != document[field]))
        document[field] = new_value
        result = outcome(json.dumps(document).encode(), key, topic)
        assert isinstance(result, InvalidEvent)
