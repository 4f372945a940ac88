"""The record of the holds for an alarm not seen yet ends 30 days after the last of them was placed,
released or dropped (schedule row S1), counted from the later of the time an event gives and the moment
the service recorded it (handlers/record_end.py).

Counted from the events' own times alone, a release delivered more than 30 days after its
`released_at` was forgotten in the very step that recorded it, with an audit record saying
"remembered": Kafka's redelivery of it found nothing and was recorded anew, and the placement that came
next was dropped as waiting for its alarm instead of rejected as released. And a release whose own time
lay well before the service heard of it was forgotten before the alarm arrived, so the placement that
came after the alarm was accepted and the media kept to the hold limit for a hold the police had
released. Found by the stateful policy test (test_policy_properties.py); these are its saved examples,
made small."""

from __future__ import annotations

from datetime import datetime, timedelta

from handlers.alarm_events import on_alarm_event
from handlers.audit import AuditRecord, AuditType
from handlers.events import AlarmTriggered, HoldPlaced, HoldReleased, MediaStored
from handlers.holds import on_hold_placed, on_hold_released
from handlers.policy import Outcome, next_check_at
from handlers.state import AlarmState
from handlers.time_passed import on_time_passed
from tests.builders import POLICY, T0, stored, triggered
from tests.unit.policy_examples import placed, released

DAY = timedelta(days=1)
ANSWERS = {AuditType.HOLD_ACCEPTED, AuditType.HOLD_REJECTED, AuditType.HOLD_DROPPED}


class Shell:
    """What the worker does around the pure handlers, for one alarm: keeps the state (removed when an
    outcome says forget), keeps the audit trail, and wakes the state when it asked to be woken."""

    def __init__(self) -> None:
        self.state: AlarmState | None = None
        self.audit: list[AuditRecord] = []
        self.deleted: list[str] = []
        self.ticks = 0

    def apply(self, outcome: Outcome | None) -> Outcome | None:
        if outcome is None:
            return None
        assert outcome.rejection is None, outcome.rejection
        self.state = None if outcome.forget else outcome.state
        self.audit.extend(outcome.audit)
        self.deleted.extend(m.key for m in outcome.delete)
        return outcome

    def deliver(
        self, event: AlarmTriggered | MediaStored | HoldPlaced | HoldReleased, now: datetime
    ) -> Outcome:
        if isinstance(event, HoldPlaced):
            outcome = on_hold_placed(self.state, event, now, POLICY)
        elif isinstance(event, HoldReleased):
            outcome = on_hold_released(self.state, event, now, POLICY)
        else:
            outcome = on_alarm_event(self.state, event, now, POLICY)
        self.apply(outcome)
        self.wake_if_due(now)
        return outcome

    def wake_if_due(self, now: datetime) -> None:
        for _ in range(10):
            wake = next_check_at(self.state, POLICY) if self.state else None
            if wake is None or wake > now:
                return
            self.ticks += 1
            self.apply(on_time_passed(self.state, now, f"tick-{self.ticks}", POLICY))
        raise AssertionError("the state keeps asking to be woken")

    def let_time_pass(self, until: datetime) -> None:
        while self.state is not None:
            wake = next_check_at(self.state, POLICY)
            if wake is None or wake > until:
                return
            self.wake_if_due(wake)

    def answers(self, hold_id: str = "hold-1") -> list[tuple[AuditType, str]]:
        """The hold's answers, each once: a redelivered event publishes its answer again, with the same
        audit id (the first publication may have been lost), and readers count audit ids."""
        found = {
            r.audit_id: (r.type, r.details.get("reason", ""))
            for r in self.audit
            if r.type in ANSWERS and r.hold_id == hold_id
        }
        return list(found.values())


class TestAReleaseDeliveredLongAfterItsTime:
    """The release says 15 March; the service hears of it 32 days later, before the alarm and before the
    placement (the saved example of 'a redelivered event changed an alarm's state')."""

    def test_is_remembered_for_thirty_days_from_when_the_service_recorded_it(self) -> None:
        shell = Shell()
        heard = T0 + 32 * DAY
        outcome = shell.deliver(released(at=T0), heard)
        assert [r.type for r in outcome.audit] == [AuditType.HOLD_RELEASE_UNMATCHED]
        assert not outcome.forget, "forgotten in the step that recorded it as remembered"
        assert shell.state is not None
        assert next_check_at(shell.state, POLICY) == heard + POLICY.hold_retention

    def test_delivered_again_it_changes_nothing(self) -> None:
        shell = Shell()
        release = released(at=T0)
        shell.deliver(release, T0 + 32 * DAY)
        before = shell.state
        again = shell.deliver(release, T0 + 32 * DAY + timedelta(minutes=5))
        assert again.audit == ()
        assert shell.state == before

    def test_the_placement_that_comes_after_it_is_rejected_once(self) -> None:
        shell = Shell()
        shell.deliver(released(at=T0), T0 + 32 * DAY)
        placement = placed(at=T0)
        shell.deliver(placement, T0 + 32 * DAY)
        shell.deliver(placement, T0 + 33 * DAY)  # Kafka delivers the placement again
        shell.let_time_pass(T0 + 100 * DAY)
        assert shell.answers() == [(AuditType.HOLD_REJECTED, "already_released")]


class TestAReleaseRecordedLateThenItsAlarmThenThePlacement:
    """The saved example of 'hold-1: got hold.accepted, expected hold.rejected' and of 'alarm-a/1.jpg
    still pending (reference deadline ...)': the release says 15 March (the police's clock) and reaches
    the service 8 days later, when the alarm goes off (the alarm's clock); the alarm event comes 24 days
    after that, and the placement last. The police cannot name an alarm before it goes off: by the
    service's clock the release comes after the alarm, and is remembered past the alarm's arrival."""

    def test_the_placement_is_rejected_and_the_media_goes_at_its_r1_deadline(self) -> None:
        shell = Shell()
        went_off = T0 + 8 * DAY
        shell.deliver(released(at=T0), went_off)
        shell.let_time_pass(T0 + 32 * DAY)
        arrived = T0 + 32 * DAY
        shell.deliver(triggered(keys=(), at=went_off), arrived)
        shell.deliver(placed(at=T0), arrived)
        assert shell.answers() == [(AuditType.HOLD_REJECTED, "already_released")]
        late_media = shell.deliver(stored(keys=("1.jpg",), at=went_off), arrived)
        # R1 (went_off + 7 days) has passed and no hold is active: the media goes at once.
        assert [m.key for m in late_media.delete] == ["1.jpg"]
