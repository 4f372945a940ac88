"""The re-keying stage: any producer's partitioning in, the service's own out, nothing lost or reordered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from handlers.decoding import InputTopic
from streams.kafka.partitioning import partition_for
from streams.kafka.source import Source
from streams.worker.rekeying import Rekeyer
from tests.builders import T0, alarm_json, contract_ended_json, hold_placed_json
from tests.unit.service_harness import Message, fake_topics

PARTITIONS = 6  # the service's count, unrelated to any input topic's


class Rig:
    def __init__(self) -> None:
        self.topics = fake_topics()
        self.refused: list[tuple[Any, str]] = []
        self.rekeyer = Rekeyer(self.topics, PARTITIONS, {"media"}, lambda m, r: self.refused.append((m, r)))

    @property
    def alarms(self) -> list[dict[str, Any]]:
        return self.topics.alarm_stream_out.sent  # type: ignore[no-any-return]

    @property
    def customers(self) -> list[dict[str, Any]]:
        return self.topics.customer_stream_out.sent  # type: ignore[no-any-return]


@pytest.fixture
def rig() -> Rig:
    return Rig()


class TestForwarding:
    @pytest.mark.parametrize("input_partition", [0, 1, 2, 9])
    def test_a_record_on_any_partition_goes_to_its_keys_partition_unchanged(
        self, rig: Rig, input_partition: int
    ) -> None:
        value = alarm_json("alarm-7", ["a.jpg"], at=T0)
        rig.rekeyer.forward(Message("alarm-events", input_partition, 41, b"alarm-7", value, 1234.5))
        (out,) = rig.alarms
        assert out["partition"] == partition_for("alarm-7", PARTITIONS)
        assert (out["key"], out["value"]) == (b"alarm-7", value)
        assert Source.of(Message("retention-alarm-stream", 0, 0, None, None, 0.0, tuple(out["headers"]))) == (
            Source("alarm-events", input_partition, 41, 1234.5)
        )
        assert rig.refused == []

    def test_an_alarm_and_its_hold_meet_on_one_partition_whatever_their_input_partitions(
        self, rig: Rig
    ) -> None:
        rig.rekeyer.forward(
            Message("alarm-events", 3, 0, b"alarm-7", alarm_json("alarm-7", ["a.jpg"], at=T0))
        )
        rig.rekeyer.forward(Message("police-holds", 0, 0, b"alarm-7", hold_placed_json("alarm-7", "hold-1")))
        assert len(rig.alarms) == 2
        assert {out["partition"] for out in rig.alarms} == {partition_for("alarm-7", PARTITIONS)}

    def test_customer_events_go_to_the_customer_stream(self, rig: Rig) -> None:
        rig.rekeyer.forward(Message("contract-events", 2, 0, b"cust-1", contract_ended_json("cust-1", at=T0)))
        (out,) = rig.customers
        assert out["partition"] == partition_for("cust-1", PARTITIONS)
        assert rig.alarms == []

    def test_the_order_of_one_input_partition_is_kept_per_key(self, rig: Rig) -> None:
        values = [alarm_json("alarm-7", [f"{n}.jpg"], at=T0, event_type="media.stored") for n in range(5)]
        for offset, value in enumerate(values):
            rig.rekeyer.forward(Message("alarm-events", 1, offset, b"alarm-7", value))
        assert [out["value"] for out in rig.alarms] == values

    def test_a_hold_is_forwarded_unchecked_for_its_signature_which_is_checked_where_it_is_applied(
        self, rig: Rig
    ) -> None:
        unsigned = hold_placed_json("alarm-7", "hold-1", signed=False)
        rig.rekeyer.forward(Message("police-holds", 0, 0, b"alarm-7", unsigned))
        assert len(rig.alarms) == 1


class TestRefusals:
    @pytest.mark.parametrize(
        ("key", "value", "reason"),
        [
            (None, alarm_json("alarm-7", ["a.jpg"], at=T0), "has no key; it must be keyed by alarm_id"),
            (b"alarm-8", alarm_json("alarm-7", ["a.jpg"], at=T0), "does not match the event's alarm_id"),
            (b"alarm-7", b"{oops", "not valid JSON"),
            (b"alarm-7", alarm_json("alarm-7", ["a.jpg"], bucket="elsewhere", at=T0), "not in MEDIA_BUCKETS"),
        ],
    )
    def test_a_record_that_breaks_the_contract_is_refused_with_its_reason(
        self, rig: Rig, key: bytes | None, value: bytes, reason: str
    ) -> None:
        message = Message("alarm-events", 2, 41, key, value)
        rig.rekeyer.forward(message)
        ((refused, said),) = rig.refused
        assert refused is message
        assert reason in said
        assert rig.alarms == []

    def test_a_customer_event_keyed_by_something_else_is_refused(self, rig: Rig) -> None:
        rig.rekeyer.forward(
            Message("contract-events", 0, 0, b"alarm-7", contract_ended_json("cust-1", at=T0))
        )
        ((_, said),) = rig.refused
        assert "customer_id" in said

    def test_every_input_topic_is_read(self, rig: Rig) -> None:
        names = rig.topics.names
        for topic in (names.alarm_events, names.police_holds, names.contract_events,
                      names.erasure_confirmations, names.customer_requests):  # fmt: skip
            assert rig.topics.input_kind(topic) in InputTopic


def test_an_unknown_topic_is_a_wiring_error(rig: Rig) -> None:
    with pytest.raises(RuntimeError):
        rig.rekeyer.forward(Message("somewhere-else", 0, 0, b"k", json.dumps({}).encode()))
