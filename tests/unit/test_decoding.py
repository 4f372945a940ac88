from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from handlers.decoding import MAX_EVENT_BYTES, InputTopic, InvalidEvent, decode_event
from handlers.events import AlarmTriggered, ContractEnded, HoldPlaced, HoldReleased, MediaStored
from tests.builders import alarm_json

BUCKETS = {"media", "evidence"}


def decode(value: bytes | None, key: bytes | None = b"alarm-1", topic: InputTopic = InputTopic.ALARMS):
    return decode_event(value, key, topic, BUCKETS)


def reason_of(
    value: bytes | None, key: bytes | None = b"alarm-1", topic: InputTopic = InputTopic.ALARMS
) -> str:
    with pytest.raises(InvalidEvent) as caught:
        decode(value, key, topic)
    return caught.value.reason


class TestValidEvents:
    def test_alarm_triggered_is_decoded_with_its_media(self) -> None:
        event = decode(alarm_json("alarm-1", ["a.jpg", "b.jpg"]))
        assert isinstance(event, AlarmTriggered)
        assert [m.key for m in event.media] == ["a.jpg", "b.jpg"]

    def test_media_stored_is_decoded(self) -> None:
        event = decode(alarm_json("alarm-1", ["clip.mp4"], event_type="media.stored"))
        assert isinstance(event, MediaStored)

    def test_timestamps_with_an_offset_are_normalised_to_utc(self) -> None:
        raw = alarm_json("alarm-1", ["a.jpg"], at=datetime(2026, 3, 15, 10, 0, tzinfo=UTC))
        raw = raw.replace(b"2026-03-15T10:00:00+00:00", b"2026-03-15T11:00:00+01:00")
        event = decode(raw)
        assert event.triggered_at == datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
        assert event.triggered_at.tzinfo is UTC

    def test_nanosecond_fractions_are_accepted(self) -> None:
        document = json.loads(alarm_json("alarm-1", ["a.jpg"]))
        document["triggered_at"] = "2026-03-15T10:00:00.123456789Z"
        event = decode(json.dumps(document).encode())
        assert event.triggered_at.microsecond == 123456

    def test_hold_events_decode_on_the_holds_topic(self) -> None:
        placed = {
            "type": "hold.placed",
            "event_id": "e1",
            "hold_id": "h1",
            "alarm_id": "alarm-1",
            "case_reference": "case-7",
            "placed_by": "liaison@police",
            "placed_at": "2026-03-16T08:00:00Z",
        }
        released = {
            "type": "hold.released",
            "event_id": "e2",
            "hold_id": "h1",
            "alarm_id": "alarm-1",
            "released_by": "liaison@police",
            "released_at": "2026-03-17T08:00:00Z",
        }
        assert isinstance(decode(json.dumps(placed).encode(), topic=InputTopic.HOLDS), HoldPlaced)
        assert isinstance(decode(json.dumps(released).encode(), topic=InputTopic.HOLDS), HoldReleased)

    def test_contract_ended_is_keyed_by_customer(self) -> None:
        ended = {
            "type": "contract.ended",
            "event_id": "e3",
            "customer_id": "c-9",
            "ended_at": "2026-04-01T00:00:00+02:00",
        }
        event = decode(json.dumps(ended).encode(), key=b"c-9", topic=InputTopic.CONTRACTS)
        assert isinstance(event, ContractEnded)


class TestRefusedRecords:
    def test_not_json(self) -> None:
        assert reason_of(b"{not json").startswith("not valid JSON")

    def test_empty_record(self) -> None:
        assert reason_of(None) == "empty record (no value)"

    def test_not_utf8(self) -> None:
        assert reason_of(b'{"type": "\xff"}').startswith("not UTF-8")

    def test_json_that_is_not_an_object(self) -> None:
        assert reason_of(b"[1, 2]") == "the event must be a JSON object, not list"

    def test_unknown_type(self) -> None:
        reason = reason_of(alarm_json("alarm-1", ["a.jpg"], event_type="alarm.cancelled"))
        assert reason.startswith("unknown type 'alarm.cancelled'")
        assert "alarm.triggered, media.stored" in reason

    def test_a_type_that_belongs_on_another_topic(self) -> None:
        reason = reason_of(alarm_json("alarm-1", ["a.jpg"]), topic=InputTopic.HOLDS)
        assert "hold.placed, hold.released" in reason

    def test_missing_field(self) -> None:
        document = json.loads(alarm_json("alarm-1", ["a.jpg"]))
        del document["customer_id"]
        assert reason_of(json.dumps(document).encode()) == "schema violation: customer_id: Field required"

    def test_unknown_field(self) -> None:
        reason = reason_of(alarm_json("alarm-1", ["a.jpg"], customer_name="Kari Nordmann"))
        assert "customer_name: Extra inputs are not permitted" in reason

    @pytest.mark.parametrize(
        "timestamp",
        ["2026-03-15T10:00:00", "2026-03-15 10:00", "15.03.2026 10:00", 1773568800, "2026-03-15"],
    )
    def test_timestamp_without_an_offset(self, timestamp: object) -> None:
        document = json.loads(alarm_json("alarm-1", ["a.jpg"]))
        document["triggered_at"] = timestamp
        reason = reason_of(json.dumps(document).encode())
        assert "triggered_at: " in reason
        assert "RFC 3339 timestamp with an offset" in reason

    def test_bucket_outside_media_buckets(self) -> None:
        reason = reason_of(alarm_json("alarm-1", ["a.jpg"], bucket="payroll"))
        assert reason == "bucket(s) payroll not in MEDIA_BUCKETS"

    def test_record_without_key(self) -> None:
        assert "must be keyed by alarm_id" in reason_of(alarm_json("alarm-1", ["a.jpg"]), key=None)

    def test_record_keyed_by_something_else(self) -> None:
        assert "must be keyed by alarm_id" in reason_of(alarm_json("alarm-1", ["a.jpg"]), key=b"alarm-2")

    def test_oversized_record(self) -> None:
        raw = b" " * (MAX_EVENT_BYTES + 1)
        assert reason_of(raw).startswith(f"record is {MAX_EVENT_BYTES + 1} bytes")

    def test_deeply_nested_json(self) -> None:
        raw = b'{"type": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        assert "nested too deeply" in reason_of(raw)

    def test_control_characters_in_an_object_key(self) -> None:
        reason = reason_of(alarm_json("alarm-1", ["a\x00.jpg"]))
        assert "media.0.key" in reason
        assert "control characters" in reason

    def test_too_many_media_in_one_event(self) -> None:
        reason = reason_of(alarm_json("alarm-1", [f"{i}.jpg" for i in range(1001)]))
        assert "media: " in reason

    def test_media_stored_without_media(self) -> None:
        assert "media: " in reason_of(alarm_json("alarm-1", [], event_type="media.stored"))


class TestReasonsCarryNoPersonalData:
    def test_field_values_are_not_quoted(self) -> None:
        document = json.loads(alarm_json("alarm-1", ["a.jpg"]))
        document["customer_id"] = "Kari Nordmann, Storgata 1, 12345678901"  # spaces break the id pattern
        reason = reason_of(json.dumps(document).encode())
        assert reason.startswith("schema violation: customer_id")
        assert "Kari" not in reason
        assert "12345678901" not in reason


class TestUnknownTypesAreNotQuotedVerbatim:
    def test_a_type_that_is_not_a_type_name_is_not_repeated(self) -> None:
        raw = json.dumps({"type": "Storgata 12, 0155 Oslo", "event_id": "e"}).encode()
        reason = reason_of(raw)
        assert "Storgata" not in reason
        assert reason.startswith("unknown type (not an event type name)")


class TestFreeText:
    def test_a_nul_in_a_free_text_is_refused_with_the_reason(self) -> None:
        placed = {
            "type": "hold.placed",
            "event_id": "e1",
            "hold_id": "h1",
            "alarm_id": "alarm-1",
            "case_reference": "2026\u0000POL",
            "placed_by": "liaison@police",
            "placed_at": "2026-03-16T08:00:00Z",
        }
        reason = reason_of(json.dumps(placed).encode(), topic=InputTopic.HOLDS)
        assert "case_reference" in reason
        assert "NUL" in reason
