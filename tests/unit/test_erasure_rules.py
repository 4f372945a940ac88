"""Erasure commands for R3-R8 beyond the plain path: calendar periods in Norwegian time, redelivered
events after a confirmation, and a confirmed command that must not hold back the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from config.schedule import load_schedule
from handlers.erasure import (
    CustomerRecord,
    Erasure,
    decode_customer,
    encode_customer,
    on_call_recorded,
    on_contract_ended,
    on_erasure_completed,
    on_time_passed,
)
from handlers.events import CallRecorded, ErasureCompleted

SCHEDULE = load_schedule()
ENDED = datetime(2026, 3, 15, 11, 0, tzinfo=UTC)  # 12:00 in Oslo
WINDOW = timedelta(hours=24)


def erasure(record: CustomerRecord, rule: str) -> Erasure:
    [found] = [e for e in record.erasures if e.rule == rule]
    return found


def confirmed(record: CustomerRecord, rule: str, at: datetime) -> CustomerRecord:
    """Sent when due, and confirmed by its system."""
    sent = on_time_passed(record, at, WINDOW, "tick").record
    command = erasure(sent, rule)
    done = ErasureCompleted(
        type="erasure.completed",
        event_id=f"done-{rule}",
        command_id=command.command_id,
        customer_id=sent.customer_id,
        system=command.system,
        completed_at=at.isoformat(),  # type: ignore[arg-type]
    )
    return on_erasure_completed(sent, done, at).record


def call(
    recorded_at: datetime, *, consent: bool = False, recording: str = "rec-1", event_id: str | None = None
) -> CallRecorded:
    return CallRecorded(
        type="call.recorded",
        event_id=event_id or f"evt-{recording}",
        customer_id="c-1",
        recording_id=recording,
        recorded_at=recorded_at.isoformat(),  # type: ignore[arg-type]
        consent=consent,
    )


class TestCallRecordingsAreCountedInNorwegianTime:
    def test_twelve_months_keep_the_oslo_wall_clock_across_a_change_to_summer_time(self) -> None:
        # 28 March 2026 is winter time in Oslo; 28 March 2027 is the day summer time starts.
        recorded = datetime(2026, 3, 28, 11, 0, tzinfo=UTC)  # 12:00 in Oslo
        [due] = on_call_recorded(None, call(recorded), SCHEDULE, recorded).record.erasures
        assert due.due_at == datetime(2027, 3, 28, 10, 0, tzinfo=UTC)  # 12:00 in Oslo, summer time

    def test_each_recording_is_scheduled_and_audited_on_its_own(self) -> None:
        first = on_call_recorded(None, call(ENDED, recording="rec-1"), SCHEDULE, ENDED)
        second = on_call_recorded(first.record, call(ENDED, recording="rec-2"), SCHEDULE, ENDED)
        assert [e.subject for e in second.record.erasures] == ["rec-1", "rec-2"]
        assert len({e.command_id for e in second.record.erasures}) == 2
        [scheduled] = second.audit
        assert (scheduled.rule, scheduled.details["subject"]) == ("R8", "rec-2")

    def test_consent_given_later_brings_the_recordings_erasure_forward_to_45_days(self) -> None:
        first = on_call_recorded(None, call(ENDED), SCHEDULE, ENDED).record
        consented = call(ENDED, consent=True, event_id="evt-consent")
        outcome = on_call_recorded(first, consented, SCHEDULE, ENDED + timedelta(days=1))
        assert [(e.subject, e.due_at) for e in outcome.record.erasures] == [
            ("rec-1", ENDED + timedelta(days=45))
        ]
        [scheduled] = outcome.audit
        assert (scheduled.customer_id, scheduled.deadline, scheduled.details["subject"]) == (
            "c-1",
            ENDED + timedelta(days=45),
            "rec-1",
        )


class TestARedeliveredEventAfterTheConfirmationReopensNothing:
    def test_the_same_contract_end_again_after_the_erasure_was_confirmed(self) -> None:
        record = confirmed(
            on_contract_ended(None, "c-1", ENDED, "evt-end", SCHEDULE, ENDED).record, "R3", ENDED
        )
        again = on_contract_ended(record, "c-1", ENDED, "evt-end", SCHEDULE, ENDED + timedelta(hours=1))
        assert (again.record, again.audit) == (record, ())
        assert on_time_passed(again.record, ENDED + timedelta(hours=1), WINDOW, "tick").commands == ()

    def test_the_same_call_recording_again_after_its_erasure_was_confirmed(self) -> None:
        recorded = on_call_recorded(None, call(ENDED, consent=True), SCHEDULE, ENDED).record
        due = erasure(recorded, "R8").due_at
        record = confirmed(recorded, "R8", due)
        again = on_call_recorded(record, call(ENDED, consent=True), SCHEDULE, due + timedelta(hours=1))
        assert (again.record, again.audit) == (record, ())

    def test_the_contract_end_that_brought_the_erasure_forward_again(self) -> None:
        first = on_contract_ended(None, "c-1", ENDED, "evt-1", SCHEDULE, ENDED).record
        earlier = ENDED - timedelta(days=30)
        forward = on_contract_ended(first, "c-1", earlier, "evt-2", SCHEDULE, ENDED).record
        record = confirmed(forward, "R3", ENDED)
        again = on_contract_ended(record, "c-1", earlier, "evt-2", SCHEDULE, ENDED + timedelta(hours=1))
        assert (again.record, again.audit) == (record, ())

    def test_the_first_contract_end_again_after_a_second_one_brought_the_erasure_forward(self) -> None:
        first = on_contract_ended(None, "c-1", ENDED, "evt-1", SCHEDULE, ENDED).record
        forward = on_contract_ended(first, "c-1", ENDED - timedelta(days=30), "evt-2", SCHEDULE, ENDED).record
        record = confirmed(forward, "R3", ENDED)
        again = on_contract_ended(record, "c-1", ENDED, "evt-1", SCHEDULE, ENDED + timedelta(hours=1))
        assert erasure(again.record, "R3").confirmed_at == ENDED
        assert again.audit == ()


class TestAConfirmedCommandDoesNotHoldBackTheOthers:
    def test_the_rules_due_later_are_still_sent_when_their_time_comes(self) -> None:
        record = confirmed(
            on_contract_ended(None, "c-1", ENDED, "evt-end", SCHEDULE, ENDED).record, "R3", ENDED
        )
        assert record.erasures[0].rule == "R3"  # confirmed, and first in the list
        a_year_later = on_time_passed(record, datetime(2027, 3, 15, 11, 0, tzinfo=UTC), WINDOW, "tick")
        assert [c.rule for c in a_year_later.commands] == ["R6"]

    def test_a_command_awaiting_its_confirmation_does_not_hold_back_one_that_falls_due(self) -> None:
        record = on_contract_ended(None, "c-1", ENDED, "evt-end", SCHEDULE, ENDED).record
        r6_due = erasure(record, "R6").due_at
        record = on_time_passed(record, ENDED, WINDOW, "tick").record
        record = on_time_passed(record, r6_due - timedelta(hours=1), WINDOW, "tick").record  # R3 again
        at_r6 = on_time_passed(record, r6_due, WINDOW, "tick")
        assert [c.rule for c in at_r6.commands] == ["R6"]


class TestTheChangelogFormat:
    def test_a_record_of_an_unknown_format_is_refused_naming_the_format(self) -> None:
        raw = encode_customer(CustomerRecord("c-1")).replace(b'"v":1', b'"v":2')
        with pytest.raises(ValueError, match="unknown customer record format 2"):
            decode_customer(raw)
