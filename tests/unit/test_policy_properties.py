"""The whole media policy under random histories, checked against a small reference model.

A hypothesis state machine creates alarms, media, holds, releases and contract ends; delivers them in
any order, some twice; advances the clock by seconds or weeks; and confirms deletions. The harness
plays the shell: it keeps each alarm's state, remembers contract ends, and fires the scheduler whenever
`next_check_at` says. A separate, deliberately simple reference model says when each object may and
must go. Invariants, after every step:

- nothing is deleted before its deadline;
- nothing held is deleted before the hold limit;
- nothing outlives its deadline;
- nothing outlives triggered_at + HOLD_RETENTION;
- every hold gets an answer, and the answer the reference expects (checked at the end of each run);
- a redelivered event changes nothing; every deletion is recorded exactly once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from handlers.alarm_events import on_alarm_event
from handlers.audit import AuditRecord, AuditType
from handlers.contract_end import on_contract_ended
from handlers.deletions import on_objects_deleted
from handlers.events import (
    AlarmTriggered,
    ContractEnded,
    HoldPlaced,
    HoldReleased,
    InputEvent,
    MediaRef,
    MediaStored,
)
from handlers.holds import on_hold_placed, on_hold_released
from handlers.policy import Outcome, RetentionPolicy, next_check_at
from handlers.state import AlarmState, MediaStatus
from handlers.time_passed import on_time_passed
from tests.builders import T0

POLICY = RetentionPolicy(
    media_retention=timedelta(days=7),
    hold_retention=timedelta(days=30),
    hold_expiry_warning=timedelta(days=1),
)
ALARMS = ("alarm-a", "alarm-b", "alarm-c")
CUSTOMER = {"alarm-a": "cust-1", "alarm-b": "cust-1", "alarm-c": "cust-2"}
ANSWERS = {AuditType.HOLD_ACCEPTED, AuditType.HOLD_REJECTED, AuditType.HOLD_DROPPED}

steps = st.sampled_from(
    [
        timedelta(seconds=1),
        timedelta(minutes=10),
        timedelta(hours=6),
        timedelta(days=1),
        timedelta(days=3),
        timedelta(days=8),
    ]
)


@dataclass
class RefHold:
    """The reference model's view of one hold."""

    alarm_id: str
    placed_at: datetime | None = None
    release_delivered_at: datetime | None = None
    released_at: datetime | None = None
    answer: AuditType | None = None  # what the reference expects the final answer to be
    waiting: bool = False


@dataclass
class RefAlarm:
    triggered_at: datetime  # the truth, known to the reference from creation
    known: bool = False  # an alarm event has been delivered
    next_key: int = 0


@dataclass
class World:
    now: datetime = T0
    states: dict[str, AlarmState] = field(default_factory=dict)
    contract_ends: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    audit: list[AuditRecord] = field(default_factory=list)


class MediaPolicyMachine(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.world = World()
        self.truth: dict[str, RefAlarm] = {}
        self.holds: dict[str, RefHold] = {}
        self.pending_events: list[InputEvent] = []
        self.delivered: list[InputEvent] = []
        self.serial = 0

    # --- creating what happens in the world (delivered later, in any order) ------------------------

    def _id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    @rule(alarm=st.sampled_from(ALARMS), age=st.sampled_from([0, 60, 3600, 86400]), media=st.integers(0, 2))
    def alarm_goes_off(self, alarm: str, age: int, media: int) -> None:
        if alarm in self.truth:
            return
        self.truth[alarm] = RefAlarm(triggered_at=self.world.now - timedelta(seconds=age))
        self.pending_events.append(self._alarm_event(alarm, "alarm.triggered", media))

    @precondition(lambda self: bool(self.truth))
    @rule(data=st.data())
    def more_media_is_stored(self, data: st.DataObject) -> None:
        alarm = data.draw(st.sampled_from(sorted(self.truth)))
        self.pending_events.append(self._alarm_event(alarm, "media.stored", 1))

    def _alarm_event(self, alarm: str, kind: str, count: int) -> InputEvent:
        truth = self.truth[alarm]
        keys = []
        for _ in range(count):
            truth.next_key += 1
            keys.append(MediaRef(bucket="media", key=f"{alarm}/{truth.next_key}.jpg"))
        model = AlarmTriggered if kind == "alarm.triggered" else MediaStored
        return model(
            type=kind,  # type: ignore[arg-type]
            event_id=self._id("evt"),
            alarm_id=alarm,
            customer_id=CUSTOMER[alarm],
            triggered_at=truth.triggered_at.isoformat(),  # type: ignore[arg-type]
            media=tuple(keys),
        )

    @rule(alarm=st.sampled_from(ALARMS))
    def police_place_a_hold(self, alarm: str) -> None:
        hold_id = self._id("hold")
        self.holds[hold_id] = RefHold(alarm_id=alarm)
        self.pending_events.append(
            HoldPlaced(
                type="hold.placed",
                event_id=self._id("evt"),
                hold_id=hold_id,
                alarm_id=alarm,
                case_reference="case",
                placed_by="liaison",
                placed_at=self.world.now.isoformat(),  # type: ignore[arg-type]
            )
        )

    @precondition(lambda self: bool(self.holds))
    @rule(data=st.data())
    def police_release_a_hold(self, data: st.DataObject) -> None:
        hold_id = data.draw(st.sampled_from(sorted(self.holds)))
        self.pending_events.append(
            HoldReleased(
                type="hold.released",
                event_id=self._id("evt"),
                hold_id=hold_id,
                alarm_id=self.holds[hold_id].alarm_id,
                released_by="liaison",
                released_at=self.world.now.isoformat(),  # type: ignore[arg-type]
            )
        )

    @rule(customer=st.sampled_from(["cust-1", "cust-2"]), ahead=st.sampled_from([0, 0, 3600, 2 * 86400]))
    def a_contract_ends(self, customer: str, ahead: int) -> None:
        self.pending_events.append(
            ContractEnded(
                type="contract.ended",
                event_id=self._id("evt"),
                customer_id=customer,
                ended_at=(self.world.now + timedelta(seconds=ahead)).isoformat(),  # type: ignore[arg-type]
            )
        )

    # --- delivery, duplicates, time ------------------------------------------------------------------

    @precondition(lambda self: bool(self.pending_events))
    @rule(data=st.data())
    def deliver_one_event_in_any_order(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.pending_events) - 1))
        event = self.pending_events.pop(index)
        self._deliver(event)
        self.delivered.append(event)
        self._reference_drop_waiting_holds()  # a placement can arrive after its waiting time is over
        self._fire_due_timers()

    @precondition(lambda self: bool(self.delivered))
    @rule(data=st.data())
    def redeliver_an_event(self, data: st.DataObject) -> None:
        event = data.draw(st.sampled_from(self.delivered))
        before_states = dict(self.world.states)
        before_audit = {r.audit_id for r in self.world.audit}
        before_ends = dict(self.world.contract_ends)
        count = len(self.world.audit)
        self._deliver(event, reference=False)
        assert self.world.states == before_states, "a redelivered event changed the state"
        assert self.world.contract_ends == before_ends
        # At-least-once: a redelivery may repeat a record, but only one already made (same audit_id).
        repeated = {r.audit_id for r in self.world.audit[count:]}
        assert repeated <= before_audit, "a redelivered event produced new audit records"
        del self.world.audit[count:]

    @rule(step=steps)
    def time_passes(self, step: timedelta) -> None:
        self._advance(step)

    @rule(data=st.data())
    def the_object_store_confirms_deletions(self, data: st.DataObject) -> None:
        for alarm_id, state in list(self.world.states.items()):
            refs = [m.ref for m in state.deleting]
            if refs and data.draw(st.booleans()):
                self._apply(
                    alarm_id, on_objects_deleted(state, refs, self.world.now, self._id("cmd"), POLICY)
                )

    # --- the harness playing the shell ---------------------------------------------------------------

    def _deliver(self, event: InputEvent, reference: bool = True) -> None:
        now = self.world.now
        if isinstance(event, ContractEnded):
            known = self.world.contract_ends.get(event.customer_id)
            if known is None or event.ended_at < known[0]:
                self.world.contract_ends[event.customer_id] = (event.ended_at, event.event_id)
            for alarm_id, state in list(self.world.states.items()):
                if state.customer_id == event.customer_id:
                    self._apply(
                        alarm_id, on_contract_ended(state, event.ended_at, event.event_id, now, POLICY)
                    )
            return
        state = self.world.states.get(event.alarm_id)
        if isinstance(event, AlarmTriggered | MediaStored):
            if reference:
                self._reference_alarm_known(event.alarm_id)
            ended = self.world.contract_ends.get(event.customer_id)
            self._apply(event.alarm_id, on_alarm_event(state, event, now, POLICY, contract_ended=ended))
        elif isinstance(event, HoldPlaced):
            if reference:
                self._reference_placement(event, state)
            self._apply(event.alarm_id, on_hold_placed(state, event, now, POLICY))
        else:
            if reference:
                hold = self.holds[event.hold_id]
                if hold.release_delivered_at is None:
                    hold.release_delivered_at, hold.released_at = now, event.released_at
                    if hold.waiting:  # released before its alarm was ever seen
                        hold.waiting, hold.answer = False, AuditType.HOLD_DROPPED
            self._apply(event.alarm_id, on_hold_released(state, event, now, POLICY))

    def _apply(self, alarm_id: str, outcome: Outcome | None) -> None:
        if outcome is None:
            return
        assert outcome.rejection is None, outcome.rejection
        for media in outcome.delete:
            self._check_may_go(alarm_id, media.ref)
        self.world.states[alarm_id] = outcome.state
        self.world.audit.extend(outcome.audit)

    def _fire_due_timers(self) -> None:
        for _ in range(100):
            due = [
                a
                for a, s in self.world.states.items()
                if (t := next_check_at(s, POLICY)) is not None and t <= self.world.now
            ]
            if not due:
                return
            for alarm_id in due:
                state = self.world.states[alarm_id]
                self._apply(alarm_id, on_time_passed(state, self.world.now, self._id("tick"), POLICY))
        raise AssertionError("timers keep firing without settling")

    def _advance(self, step: timedelta) -> None:
        # Move in small enough steps that every timer fires at its moment, as the scheduler would.
        target = self.world.now + step
        while True:
            moments = [t for s in self.world.states.values() if (t := next_check_at(s, POLICY)) is not None]
            moments += self._reference_drop_moments()
            upcoming = [t for t in moments if self.world.now < t <= target]
            self.world.now = min(upcoming) if upcoming else target
            self._reference_drop_waiting_holds()
            self._fire_due_timers()
            if self.world.now >= target:
                return

    # --- the reference model -------------------------------------------------------------------------

    def _limit(self, alarm_id: str) -> datetime:
        return self.truth[alarm_id].triggered_at + POLICY.hold_retention

    def _reference_alarm_known(self, alarm_id: str) -> None:
        truth = self.truth[alarm_id]
        if truth.known:
            return
        truth.known = True
        for hold in self.holds.values():
            if hold.alarm_id == alarm_id and hold.waiting:
                hold.waiting = False
                hold.answer = (
                    AuditType.HOLD_REJECTED
                    if self.world.now >= self._limit(alarm_id)
                    else AuditType.HOLD_ACCEPTED
                )

    def _reference_placement(self, event: HoldPlaced, state: AlarmState | None) -> None:
        hold = self.holds[event.hold_id]
        if hold.placed_at is not None:
            return
        hold.placed_at = event.placed_at
        truth = self.truth.get(event.alarm_id)
        if hold.release_delivered_at is not None:
            hold.answer = AuditType.HOLD_REJECTED
        elif truth is None or not truth.known:
            hold.waiting = True
        elif self.world.now >= self._limit(event.alarm_id):
            hold.answer = AuditType.HOLD_REJECTED  # retention_limit_passed
        elif state is not None and state.media and not state.pending:
            hold.answer = AuditType.HOLD_REJECTED  # media_already_deleted
        else:
            hold.answer = AuditType.HOLD_ACCEPTED

    def _reference_drop_moments(self) -> list[datetime]:
        return [h.placed_at + POLICY.hold_retention for h in self.holds.values() if h.waiting and h.placed_at]

    def _reference_drop_waiting_holds(self) -> None:
        for hold in self.holds.values():
            expired = hold.placed_at is not None and self.world.now >= hold.placed_at + POLICY.hold_retention
            if hold.waiting and expired and hold.release_delivered_at is None:
                hold.waiting = False
                hold.answer = AuditType.HOLD_DROPPED

    def _held(self, alarm_id: str) -> bool:
        return any(
            h.alarm_id == alarm_id and h.answer is AuditType.HOLD_ACCEPTED and h.release_delivered_at is None
            for h in self.holds.values()
        ) and self.world.now < self._limit(alarm_id)

    def _due(self, alarm_id: str) -> datetime:
        """The earliest moment the reference allows the alarm's pending media to go."""
        limit = self._limit(alarm_id)
        if self._held(alarm_id):
            return limit
        truth = self.truth[alarm_id]
        due = truth.triggered_at + POLICY.media_retention
        ended = self.world.contract_ends.get(CUSTOMER[alarm_id])
        if ended is not None:
            due = min(due, ended[0])
        for hold in self.holds.values():
            if hold.alarm_id == alarm_id and hold.answer is AuditType.HOLD_ACCEPTED:
                end = hold.released_at if hold.release_delivered_at is not None else limit
                due = max(due, min(end, limit))  # type: ignore[type-var]
        return min(due, limit)

    # --- invariants ------------------------------------------------------------------------------------

    def _check_may_go(self, alarm_id: str, ref: tuple[str, str]) -> None:
        now = self.world.now
        assert now >= self._due(alarm_id), (
            f"{ref} deleted at {now}, before its deadline {self._due(alarm_id)}"
        )
        if self._held(alarm_id):
            raise AssertionError(
                f"{ref} deleted at {now} while held, before the limit {self._limit(alarm_id)}"
            )

    @invariant()
    def nothing_outlives_its_deadline(self) -> None:
        if not hasattr(self, "world"):
            return
        for alarm_id, state in self.world.states.items():
            if state.pending:
                assert self._due(alarm_id) > self.world.now, (
                    f"{alarm_id} has pending media past {self._due(alarm_id)}"
                )
                assert self._limit(alarm_id) > self.world.now, (
                    f"{alarm_id} has pending media past the hold limit"
                )

    @invariant()
    def every_deletion_is_recorded_once(self) -> None:
        if not hasattr(self, "world"):
            return
        recorded = [
            (r.alarm_id, o.bucket, o.key)
            for r in self.world.audit
            if r.type is AuditType.DELETED
            for o in r.objects
        ]
        assert len(recorded) == len(set(recorded))
        deleted = {
            (a, m.bucket, m.key)
            for a, s in self.world.states.items()
            for m in s.media
            if m.status is MediaStatus.DELETED
        }
        assert set(recorded) == deleted
        for record in self.world.audit:
            if record.type is AuditType.DELETED and record.deadline is not None:
                assert record.occurred_at >= record.deadline

    def teardown(self) -> None:
        if not hasattr(self, "world"):
            return
        # Let everything arrive, and let time run out: every hold must have had its answer.
        while self.pending_events:
            self._deliver(self.pending_events.pop(0))
            self._reference_drop_waiting_holds()
            self._fire_due_timers()
        self._advance(timedelta(days=65))
        self.nothing_outlives_its_deadline()
        answers: dict[str, list[AuditType]] = {}
        for record in self.world.audit:
            if record.type in ANSWERS and record.hold_id:
                answers.setdefault(record.hold_id, []).append(record.type)
        for hold_id, hold in self.holds.items():
            if hold.placed_at is None:
                continue  # its placement never happened (only a release was sent)
            assert answers.get(hold_id) == [hold.answer], (
                f"{hold_id}: got {answers.get(hold_id)}, expected {hold.answer}"
            )
        for state in self.world.states.values():
            assert not state.pending, f"{state.alarm_id} still has pending media after 65 days"


MediaPolicyMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("POLICY_EXAMPLES", "1000")),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestMediaPolicy = MediaPolicyMachine.TestCase
