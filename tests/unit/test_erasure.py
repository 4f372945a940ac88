"""Erasure commands for R3-R8 (pure): scheduled at the right moments, sent when due, sent again and
flagged while unconfirmed, closed by the matching confirmation only."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from config.schedule import load_schedule
from handlers.audit import AuditType
from handlers.erasure import (
    KEPT_AFTER_FINISHED,
    CustomerRecord,
    Erasure,
    decode_customer,
    encode_customer,
    next_check_at,
    on_call_recorded,
    on_contract_ended,
    on_erasure_completed,
    on_time_passed,
)
from handlers.events import CallRecorded, ErasureCompleted

SCHEDULE = load_schedule()
ENDED = datetime(2026, 3, 15, 11, 0, tzinfo=UTC)  # 12:00 in Oslo
WINDOW = timedelta(hours=24)
OSLO_MIDNIGHT_2032 = datetime(2031, 12, 31, 23, 0, tzinfo=UTC)


def ended(customer: str = "c-1", at: datetime = ENDED, event_id: str = "evt-end") -> CustomerRecord:
    return on_contract_ended(None, customer, at, event_id, SCHEDULE, at).record


def due(record: CustomerRecord) -> dict[str, datetime]:
    return {e.rule: e.due_at for e in record.erasures}


def completed(record: CustomerRecord, rule: str, system: str | None = None) -> ErasureCompleted:
    erasure = next(e for e in record.erasures if e.rule == rule)
    return ErasureCompleted(
        type="erasure.completed",
        event_id=f"done-{rule}",
        command_id=erasure.command_id,
        customer_id=record.customer_id,
        system=system or erasure.system,
        completed_at=(erasure.due_at + timedelta(minutes=5)).isoformat(),  # type: ignore[arg-type]
    )


class TestScheduling:
    def test_a_contract_end_starts_every_rule_other_systems_carry_out(self) -> None:
        outcome = on_contract_ended(None, "c-1", ENDED, "evt-end", SCHEDULE, ENDED)
        assert due(outcome.record) == {
            "R3": ENDED,  # anonymised at once
            "R4": OSLO_MIDNIGHT_2032,
            "R5": datetime(2029, 3, 15, 11, 0, tzinfo=UTC),
            "R6": datetime(2027, 3, 15, 11, 0, tzinfo=UTC),
            "R7": OSLO_MIDNIGHT_2032,
        }
        assert [a.type for a in outcome.audit] == [AuditType.ERASURE_SCHEDULED] * 5
        systems = {e.rule: (e.system, e.action) for e in outcome.record.erasures}
        assert systems["R3"] == ("customer-database", "anonymise")
        assert systems["R4"] == ("contract-archive", "delete")

    def test_the_same_event_again_changes_nothing(self) -> None:
        record = ended()
        again = on_contract_ended(record, "c-1", ENDED, "evt-end", SCHEDULE, ENDED + timedelta(hours=1))
        assert again.record == record
        assert again.audit == ()

    def test_a_second_contract_end_can_bring_erasure_forward_but_never_push_it_back(self) -> None:
        record = ended()
        later = on_contract_ended(record, "c-1", ENDED + timedelta(days=30), "evt-2", SCHEDULE, ENDED)
        assert due(later.record) == due(record)
        earlier = on_contract_ended(record, "c-1", ENDED - timedelta(days=30), "evt-3", SCHEDULE, ENDED)
        assert due(earlier.record)["R6"] == datetime(2027, 2, 13, 11, 0, tzinfo=UTC)
        assert len(earlier.record.erasures) == 5

    @pytest.mark.parametrize(("consent", "expected"), [(False, datetime(2027, 3, 15, 11, tzinfo=UTC)),
                                                        (True, ENDED + timedelta(days=45))])  # fmt: skip
    def test_a_call_recording_is_due_12_months_or_45_days_with_consent(
        self, consent: bool, expected: datetime
    ) -> None:
        call = CallRecorded(
            type="call.recorded",
            event_id="evt-call",
            customer_id="c-1",
            recording_id="rec-1",
            recorded_at=ENDED.isoformat(),  # type: ignore[arg-type]
            consent=consent,
        )
        [erasure] = on_call_recorded(None, call, SCHEDULE, ENDED).record.erasures
        assert (erasure.rule, erasure.subject, erasure.due_at) == ("R8", "rec-1", expected)


class TestSending:
    def test_nothing_is_sent_before_its_time_and_each_command_at_its_time(self) -> None:
        record = ended()
        assert on_time_passed(record, ENDED - timedelta(seconds=1), WINDOW, "tick").commands == ()
        first = on_time_passed(record, ENDED, WINDOW, "tick-1")
        assert [(c.rule, c.attempt) for c in first.commands] == [("R3", 1)]
        assert [a.type for a in first.audit] == [AuditType.ERASURE_SENT]
        at_2032 = on_time_passed(first.record, OSLO_MIDNIGHT_2032, WINDOW, "tick-2")
        # R3 is still unconfirmed after years: sent again; R4-R7 fall due by then.
        assert sorted(c.rule for c in at_2032.commands) == ["R3", "R4", "R5", "R6", "R7"]

    def test_an_unconfirmed_command_is_flagged_and_sent_again_with_the_same_id(self) -> None:
        sent = on_time_passed(ended(), ENDED, WINDOW, "tick-1")
        [command] = sent.commands
        assert on_time_passed(sent.record, ENDED + WINDOW - timedelta(seconds=1), WINDOW, "t").commands == ()
        again = on_time_passed(sent.record, ENDED + WINDOW, WINDOW, "tick-2")
        [resent] = again.commands
        assert resent.command_id == command.command_id
        assert resent.attempt == 2
        assert [a.type for a in again.audit] == [AuditType.ERASURE_UNCONFIRMED]
        assert [e.rule for e in again.record.unconfirmed] == ["R3"]

    def test_the_confirmation_closes_it_and_nothing_is_sent_again(self) -> None:
        sent = on_time_passed(ended(), ENDED, WINDOW, "tick-1").record
        done = on_erasure_completed(sent, completed(sent, "R3"), ENDED + timedelta(minutes=5))
        assert [a.type for a in done.audit] == [AuditType.ERASURE_CONFIRMED]
        assert done.audit[0].details["lateness_seconds"] == "300.000"
        assert on_time_passed(done.record, ENDED + 2 * WINDOW, WINDOW, "t").commands == ()
        repeated = on_erasure_completed(done.record, completed(sent, "R3"), ENDED + timedelta(hours=1))
        assert (repeated.record, repeated.audit) == (done.record, ())

    def test_a_confirmation_from_another_system_or_of_an_unknown_command_closes_nothing(self) -> None:
        sent = on_time_passed(ended(), ENDED, WINDOW, "tick-1").record
        wrong_system = on_erasure_completed(sent, completed(sent, "R3", system="call-recordings"), ENDED)
        assert wrong_system.record == sent
        assert [a.type for a in wrong_system.audit] == [AuditType.ERASURE_CONFIRMATION_UNMATCHED]
        unknown = completed(sent, "R3").model_copy(update={"command_id": "no-such-command"})
        assert on_erasure_completed(sent, unknown, ENDED).record == sent

    def test_the_next_check_is_the_earliest_due_or_confirmation_window(self) -> None:
        record = ended()
        assert next_check_at(record, WINDOW) == ENDED
        sent = on_time_passed(record, ENDED, WINDOW, "t").record
        assert next_check_at(sent, WINDOW) == ENDED + WINDOW

    def test_the_record_survives_the_changelog(self) -> None:
        record = on_time_passed(ended(), ENDED, WINDOW, "t").record
        assert decode_customer(encode_customer(record)) == record


def test_a_record_finished_before_records_had_an_end_is_forgotten_too() -> None:
    """Written by an earlier version: every erasure confirmed, no `finished_at`."""
    confirmed_at = ENDED + timedelta(days=3)
    erasure = Erasure(
        command_id="c",
        rule="R3",
        category="customer_personal_data",
        action="anonymise",
        system="customer-database",
        due_at=ENDED,
        cause="end",
        sent_at=ENDED,
        attempts=1,
        confirmed_at=confirmed_at,
    )
    old = CustomerRecord("c-1", (erasure,))
    assert next_check_at(old, WINDOW) == confirmed_at + KEPT_AFTER_FINISHED
    assert not on_time_passed(
        old, confirmed_at + KEPT_AFTER_FINISHED - timedelta(seconds=1), WINDOW, "t"
    ).forget
    assert on_time_passed(old, confirmed_at + KEPT_AFTER_FINISHED, WINDOW, "t").forget
    assert next_check_at(replace(old, erasures=(replace(erasure, confirmed_at=None),)), WINDOW) is not None
