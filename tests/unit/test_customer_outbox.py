"""No erasure command or customer audit record lost in a crash: a customer's record that reached the
changelog brings with it what its decisions sent and the broker had not yet acknowledged.

Played as in test_audit_outbox.py: a first service whose topics never acknowledge (it died before the
broker had the records) leaves its customers table to a successor, which takes the partitions over.
"""

from __future__ import annotations

from datetime import datetime

from handlers.commands import ErasuresReached
from streams.kafka.partitioning import partition_for
from streams.worker.service import RetentionService
from tests.builders import T0, contract_ended_json
from tests.fakes import FakeClock, FakeTable, FakeTopic
from tests.unit.service_harness import PARTITIONS, Message, deliver, make_service, sent

ALL = set(range(PARTITIONS))
CUSTOMER = "cust-1"


def contract_end() -> Message:
    return Message("contract-events", 0, 0, CUSTOMER.encode(), contract_ended_json(CUSTOMER, at=T0))


def erasures_reached(clock: FakeClock, offset: int = 1, customer: str = CUSTOMER) -> Message:
    """Time passed for `customer`; the message goes to CUSTOMER's partition."""
    reached = ErasuresReached(event_id=f"tick-{offset}", customer_ids=(customer,), checked_at=clock.now())
    partition = partition_for(CUSTOMER, PARTITIONS)
    return Message("retention-internal", partition, offset, b"p", reached.model_dump_json().encode())


def silent(topic: object) -> FakeTopic:
    assert isinstance(topic, FakeTopic)
    topic.acknowledging = False
    return topic


def first_due(service: RetentionService) -> datetime:
    record = service.erasures.customers.get(CUSTOMER)
    assert record is not None
    return min(e.due_at for e in record.erasures)


def commands(service: RetentionService) -> list[tuple[str, int]]:
    return [(c["command_id"], c["attempt"]) for c in sent(service.topics.erasure_commands)]


def customer_audit(service: RetentionService) -> list[tuple[str, str]]:
    return sorted(
        (r["type"], r["audit_id"]) for r in sent(service.topics.audit) if r["customer_id"] == CUSTOMER
    )


def outbox_size(service: RetentionService) -> int:
    stored = service.erasures.customers.stored(CUSTOMER)
    assert stored is not None
    return len(stored[1])


async def crashed_sending_the_first_command() -> tuple[RetentionService, RetentionService, Message]:
    """A worker that sent the first due erasure command (and its audit record) into a broker that never
    acknowledged them, the successor that took its customers table over, and the tick that did it."""
    clock = FakeClock(T0)
    customers = FakeTable()
    first = make_service(clock, customers=customers)
    await deliver(first, contract_end())
    clock.advance(first_due(first) - clock.now())
    silent(first.topics.erasure_commands)
    silent(first.topics.audit)
    tick = erasures_reached(clock)
    await first.handle_alarm_stream(tick)
    successor = make_service(clock, customers=customers)
    successor.rebuild(ALL)
    return first, successor, tick


class TestAnErasureCommandTheBrokerNeverHad:
    async def test_is_sent_again_by_the_worker_that_takes_over_with_its_id_and_attempt(self) -> None:
        first, successor, _ = await crashed_sending_the_first_command()
        lost = commands(first)
        assert lost, "the first due erasure was sent"
        assert outbox_size(first) >= len(lost)
        assert commands(successor) == lost
        sent_again = [r for r in customer_audit(successor) if r[0] == "erasure.sent"]
        assert sent_again == sorted(r for r in customer_audit(first) if r[0] == "erasure.sent")

    async def test_redelivery_of_the_tick_then_sends_no_second_attempt(self) -> None:
        first, successor, tick = await crashed_sending_the_first_command()
        await successor.handle_alarm_stream(tick)  # its offset was never committed
        assert commands(successor) == commands(first)


class TestCustomerAuditRecordsTheBrokerNeverHad:
    async def test_are_published_again_with_the_same_audit_ids(self) -> None:
        clock = FakeClock(T0)
        customers = FakeTable()
        first = make_service(clock, customers=customers)
        silent(first.topics.audit)
        await deliver(first, contract_end())
        scheduled = [r for r in customer_audit(first) if r[0] == "erasure.scheduled"]
        assert scheduled

        successor = make_service(clock, customers=customers)
        successor.rebuild(ALL)
        assert [r for r in customer_audit(successor) if r[0] == "erasure.scheduled"] == scheduled


class TestOnceAcknowledged:
    async def test_the_next_record_of_the_partition_clears_the_outbox_and_nothing_is_sent_again(self) -> None:
        clock = FakeClock(T0)
        customers = FakeTable()
        first = make_service(clock, customers=customers)
        audit = silent(first.topics.audit)
        await deliver(first, contract_end())
        assert outbox_size(first) > 0
        audit.acknowledge()
        assert outbox_size(first) > 0  # until a write clears it
        # Any record of the partition: here a tick for a customer nobody knows, which decides nothing.
        await first.handle_alarm_stream(erasures_reached(clock, customer="nobody"))
        assert outbox_size(first) == 0

        successor = make_service(clock, customers=customers)
        successor.rebuild(ALL)
        assert successor.topics.audit.sent == []
        assert successor.topics.erasure_commands.sent == []

    async def test_partitions_given_away_are_forgotten(self) -> None:
        clock = FakeClock(T0)
        first = make_service(clock)
        silent(first.topics.audit)
        await deliver(first, contract_end())
        assert first.erasures.outbox.unsent_items > 0
        first.forget_partitions({partition_for(CUSTOMER, PARTITIONS)})
        assert first.erasures.outbox.unsent_items == 0
