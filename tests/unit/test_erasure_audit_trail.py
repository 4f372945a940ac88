"""The audit trail of the erasure commands (R3-R8), as an auditor reads it: every step names the
customer, the rule, the due time, what kind of data and which system, so that each erasure can be
followed from its scheduling to its confirmation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from config.schedule import load_schedule
from handlers.audit import AuditRecord, AuditType
from handlers.erasure import CustomerRecord, on_contract_ended, on_erasure_completed, on_time_passed
from handlers.events import ErasureCompleted

SCHEDULE = load_schedule()
ENDED = datetime(2026, 3, 15, 11, 0, tzinfo=UTC)
WINDOW = timedelta(hours=24)
R6_DUE = datetime(2027, 3, 15, 11, 0, tzinfo=UTC)  # 12 months after the contract end, in Oslo time


def ended(at: datetime = ENDED, event_id: str = "evt-end") -> CustomerRecord:
    return on_contract_ended(None, "c-1", at, event_id, SCHEDULE, at).record


def r3_sent() -> CustomerRecord:
    return on_time_passed(ended(), ENDED, WINDOW, "tick-1").record


def completion(
    record: CustomerRecord, *, command_id: str | None = None, system: str | None = None
) -> ErasureCompleted:
    [r3] = [e for e in record.erasures if e.rule == "R3"]
    return ErasureCompleted(
        type="erasure.completed",
        event_id="done-1",
        command_id=command_id or r3.command_id,
        customer_id="c-1",
        system=system or r3.system,
        completed_at=(ENDED + timedelta(minutes=5)).isoformat(),  # type: ignore[arg-type]
    )


def by_rule(records: tuple[AuditRecord, ...], rule: str) -> AuditRecord:
    [found] = [r for r in records if r.rule == rule]
    return found


class TestScheduling:
    def test_each_rule_started_is_recorded_with_its_due_time_category_action_and_system(self) -> None:
        audit = on_contract_ended(None, "c-1", ENDED, "evt-end", SCHEDULE, ENDED).audit
        r6 = by_rule(audit, "R6")
        assert (r6.type, r6.customer_id, r6.alarm_id, r6.deadline, r6.caused_by) == (
            AuditType.ERASURE_SCHEDULED,
            "c-1",
            None,
            R6_DUE,
            "evt-end",
        )
        assert r6.details == {
            "category": "customer_identifiers",
            "action": "anonymise",
            "system": "customer-database",
        }

    def test_an_erasure_brought_forward_is_recorded_with_its_new_due_time(self) -> None:
        earlier = on_contract_ended(ended(), "c-1", ENDED - timedelta(days=30), "evt-2", SCHEDULE, ENDED)
        r6 = by_rule(earlier.audit, "R6")
        assert (r6.customer_id, r6.deadline, r6.caused_by) == (
            "c-1",
            datetime(2027, 2, 13, 11, 0, tzinfo=UTC),
            "evt-2",
        )
        assert r6.details["system"] == "customer-database"


class TestSending:
    def test_a_command_sent_is_recorded_with_its_id_category_system_and_attempt(self) -> None:
        sent = on_time_passed(ended(), ENDED, WINDOW, "tick-1")
        [command] = sent.commands
        [record] = sent.audit
        assert (record.type, record.customer_id, record.rule, record.deadline) == (
            AuditType.ERASURE_SENT,
            "c-1",
            "R3",
            ENDED,
        )
        assert record.caused_by == f"tick-1/{command.command_id}"
        assert record.details == {
            "command_id": command.command_id,
            "category": "customer_personal_data",
            "system": "customer-database",
            "attempt": "1",
        }

    def test_a_command_sent_again_unconfirmed_counts_its_attempts(self) -> None:
        again = on_time_passed(r3_sent(), ENDED + WINDOW, WINDOW, "tick-2")
        [record] = again.audit
        assert (record.type, record.customer_id, record.rule) == (AuditType.ERASURE_UNCONFIRMED, "c-1", "R3")
        assert record.details["attempt"] == "2"


class TestConfirmation:
    def test_the_confirmation_is_recorded_with_the_due_time_the_attempts_and_the_lateness(self) -> None:
        record = r3_sent()
        done = on_erasure_completed(record, completion(record), ENDED + timedelta(minutes=6))
        [confirmed] = done.audit
        assert (confirmed.type, confirmed.customer_id, confirmed.rule, confirmed.deadline) == (
            AuditType.ERASURE_CONFIRMED,
            "c-1",
            "R3",
            ENDED,
        )
        assert confirmed.details == {
            "command_id": completion(record).command_id,
            "system": "customer-database",
            "category": "customer_personal_data",
            "attempts": "1",
            "lateness_seconds": "300.000",
        }

    def test_a_confirmation_from_the_wrong_system_is_recorded_naming_the_right_one(self) -> None:
        record = r3_sent()
        event = completion(record, system="call-recordings")
        outcome = on_erasure_completed(record, event, ENDED)
        [unmatched] = outcome.audit
        assert (unmatched.type, unmatched.customer_id) == (AuditType.ERASURE_CONFIRMATION_UNMATCHED, "c-1")
        assert unmatched.details["command_id"] == event.command_id
        assert unmatched.details["system"] == "call-recordings"
        assert "customer-database" in unmatched.details["reason"]

    def test_a_confirmation_for_a_customer_without_erasures_is_recorded_for_that_customer(self) -> None:
        event = completion(r3_sent(), command_id="no-such-command")
        outcome = on_erasure_completed(None, event, ENDED)
        assert outcome.record == CustomerRecord("c-1")
        [unmatched] = outcome.audit
        assert (unmatched.customer_id, unmatched.details["command_id"]) == ("c-1", "no-such-command")
        assert unmatched.details["reason"]


class TestEachRecordHasAnIdOfItsOwn:
    """Readers count audit ids, not records (a crash may publish a record twice): two decisions must
    never share one, and the same decision made again must keep its id."""

    def test_the_erasures_one_contract_end_schedules(self) -> None:
        audit = on_contract_ended(None, "c-1", ENDED, "evt-end", SCHEDULE, ENDED).audit
        rules = SCHEDULE.started_by("contract.ended")
        assert len(audit) == len({r.audit_id for r in audit}) == len(rules) > 1

    def test_the_same_contract_end_of_two_customers(self) -> None:
        first = on_contract_ended(None, "c-1", ENDED, "evt-end", SCHEDULE, ENDED).audit
        second = on_contract_ended(None, "c-2", ENDED, "evt-end", SCHEDULE, ENDED).audit
        assert not {r.audit_id for r in first} & {r.audit_id for r in second}

    def test_each_attempt_of_a_command(self) -> None:
        record, ids = r3_sent(), []
        for attempt in range(2, 5):
            outcome = on_time_passed(record, ENDED + WINDOW * attempt, WINDOW, "tick-same")
            ids += [r.audit_id for r in outcome.audit if r.rule == "R3"]
            record = outcome.record
        assert len(ids) == len(set(ids)) == 3

    def test_but_the_same_decision_again_keeps_its_id(self) -> None:
        again = on_contract_ended(None, "c-1", ENDED, "evt-end", SCHEDULE, ENDED + timedelta(hours=1))
        first = on_contract_ended(None, "c-1", ENDED, "evt-end", SCHEDULE, ENDED).audit
        assert [r.audit_id for r in again.audit] == [r.audit_id for r in first]
