"""Deleted on time, by a second opinion: random histories checked against an independent reference.

A hypothesis state machine makes alarms and media, police holds and releases, contract ends, call
recordings and the customer's requests (access, erasure, restriction); delivers them in any order, some
twice; confirms deletions and erasure commands; and lets time pass. The harness plays the shell: it
keeps each alarm's state and each customer's erasure record, remembers contract ends, hands requests to
the alarms the customer has, and plays the scheduler.

The reference (tests/unit/policy_reference.py) is written from the privacy statement and the README,
never from handlers/: it decides by itself when each object must go, what each hold is answered and
when, when holds are warned (`hold.expiring`) and expire, and when each erasure command is due.

Time is the harness's, not the code's. When time passes, the clock stops at every moment the reference
expects something (a deadline, a hold's warning or limit, the end of a hold's wait for its alarm, an
erasure due time or resend), one second before it and one second after it, and also wherever the code
asks to be woken (`next_check_at`), as the real scheduler would. At each stop the harness plays the
scheduler: `on_time_passed` for every alarm and customer whose `next_check_at` has come. One second
before a reference moment it also wakes the alarms and customers concerned needlessly (the real
scheduler repeats itself, the sweep asks for checks): a needless wake must never delete or send early.
Lateness is judged against the reference's deadline, never against the code's own wake-up.

Invariants, after every step:

- the code hands an object to the deleter exactly when the reference says it is due: never before its
  reference deadline, never later than LATENESS_BOUND after it (or after the event that made it due);
- the code asks to be woken no later than the reference's next deadline, warning or limit;
- every hold gets one answer, the one the reference gives, at the moment the reference gives it; every
  hold active in the last HOLD_EXPIRY_WARNING before its limit is warned once; at the limit it expires;
- answers to the customer's requests list what the reference says (erased, kept for the police, marked);
- every erasure command is due when the statement says, is sent when due and not before, and is sent
  again every ERASURE_CONFIRM_WITHIN until confirmed, and never after;
- a redelivered event changes nothing; every deletion is recorded once.

Two gaps in handlers/ found by this test are followed by it until they are fixed, each behind a flag and
shown by a strict xfail example at the end of this module: the expiry warning goes out once per alarm
(ref.KNOWN_GAP_ONE_WARNING_PER_ALARM), and a customer's second contract end, redelivered after an
erasure command was confirmed, sends a new one (KNOWN_GAP_SECOND_CONTRACT_END_REDELIVERY).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from config.schedule import load_schedule
from handlers import erasure
from handlers.alarm_events import on_alarm_event
from handlers.audit import AuditRecord, AuditType
from handlers.contract_end import on_contract_ended
from handlers.customer_rights import (
    RequestAnswered,
    answer_access,
    answer_erasure,
    answer_restriction,
    on_erasure_requested,
    on_restriction_requested,
)
from handlers.deletions import on_objects_deleted
from handlers.erasure import CustomerOutcome, CustomerRecord
from handlers.events import (
    AccessRequested,
    AlarmTriggered,
    CallRecorded,
    ContractEnded,
    ErasureCompleted,
    ErasureRequested,
    HoldPlaced,
    HoldReleased,
    InputEvent,
    MediaRef,
    MediaStored,
    RestrictionRequested,
)
from handlers.holds import on_hold_placed, on_hold_released
from handlers.policy import Outcome, RetentionPolicy, next_check_at
from handlers.state import AlarmState, MediaStatus
from handlers.time_passed import on_time_passed
from tests.builders import T0
from tests.unit import policy_reference as ref
from tests.unit.policy_reference import RefAlarm, RefCommand, Reference

# The harness stops the clock at every reference moment exactly and plays the scheduler at that instant,
# so nothing excuses any lateness here: the bound is 0 s. (The real worker adds its scheduler's tick
# and Kafka's hops; the README's lateness figures measure those, end to end.)
LATENESS_BOUND = timedelta(0)
# Where the harness stops around each reference moment: just before (the code must not act yet), at it
# (it must have acted), just after.
AROUND = (timedelta(seconds=-1), timedelta(0), timedelta(seconds=1))

POLICY = RetentionPolicy(
    media_retention=ref.MEDIA_RETENTION,
    hold_retention=ref.HOLD_RETENTION,
    hold_expiry_warning=ref.HOLD_EXPIRY_WARNING,
)
SCHEDULE = load_schedule()  # the service's configuration; the reference has its own rules
ALARMS = ("alarm-a", "alarm-b", "alarm-c")
CUSTOMERS = ("cust-1", "cust-2")
CUSTOMER = {"alarm-a": "cust-1", "alarm-b": "cust-1", "alarm-c": "cust-2"}
ANSWERS = {AuditType.HOLD_ACCEPTED, AuditType.HOLD_REJECTED, AuditType.HOLD_DROPPED}
# How long before it is made an alarm went off: mostly fresh; sometimes past R1, inside the last day
# before the hold limit (the expiry warning's window), or past the limit.
AGES = [0, 0, 60, 3600, 86400, 8 * 86400, 29 * 86400 + 43200, 31 * 86400]
AHEAD = [0, 0, 3600, 2 * 86400]  # how far ahead a contract.ended puts ended_at, in seconds
REQUESTS = ["access", "erasure", "restriction"]
STEPS = [
    timedelta(seconds=1),
    timedelta(minutes=10),
    timedelta(hours=6),
    timedelta(days=1),
    timedelta(days=3),
    timedelta(days=8),
]
# What can happen at each step, the more frequent ones more than once.
ACTIONS = [
    "an_alarm_goes_off_or_more_media_is_stored",
    "an_alarm_goes_off_or_more_media_is_stored",
    "police_place_a_hold",
    "police_place_a_hold",
    "police_release_a_hold",
    "a_contract_ends",
    "customer_service_records_a_call",
    "the_customer_makes_a_request",
    "a_system_confirms_an_erasure",
    "deliver_one_event_in_any_order",
    "deliver_one_event_in_any_order",
    "deliver_one_event_in_any_order",
    "redeliver_an_event",
    "time_passes",
    "time_passes",
    "the_scheduler_wakes_an_alarm_needlessly",
    "the_object_store_confirms_deletions",
]
# Known gap (handlers/erasure.py, `_schedule`): with two contract ends for one customer, a confirmed
# erasure no longer counts for the other end. Redelivered after the confirmation, the second end (whose
# first delivery changed nothing) schedules and sends a new command for the rule, with a new command_id;
# and a redelivered first end moves such a new command forward. Redeliveries of the contract ends of a
# customer with more than one are left out of the redelivery check;
# test_a_redelivered_second_contract_end_changes_nothing (strict xfail) shows the gap. Set this to False
# once it is fixed.
KNOWN_GAP_SECOND_CONTRACT_END_REDELIVERY = True
CONFIRM = ref.CONFIRM_WITHIN  # the service's ERASURE_CONFIRM_WITHIN here
TRANSIT = timedelta(days=14)  # how long the input topics keep events (the service's TRANSIT_RETENTION)
FAR_FUTURE = timedelta(days=366 * 7)  # past the last erasure due time (5 full accounting years)


@dataclass(frozen=True)
class Choices:
    """What one step drew. Every step draws all of it, whatever the action uses, and a pick among
    what is there (a hold, a pending event) is taken modulo how many there are."""

    alarm: str
    customer: str
    pick: int
    age: int
    objects: int
    ahead: int
    consent: bool
    request: str
    step: timedelta
    confirm: tuple[bool, ...]


@dataclass
class World:
    """What the shell keeps: the tables, and the audit trail."""

    now: datetime = T0
    states: dict[str, AlarmState] = field(default_factory=dict)
    contract_ends: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    customers: dict[str, CustomerRecord] = field(default_factory=dict)
    audit: list[AuditRecord] = field(default_factory=list)
    # Every object the object store confirmed deleted (a state that ends keeps no object keys).
    deleted: set[tuple[str, str, str]] = field(default_factory=set)
    forgotten: set[str] = field(default_factory=set)  # alarms whose state (or marker) was removed


def _without_in_flight(states: dict[str, AlarmState]) -> dict[str, AlarmState]:
    return {a: replace(s, media=()) if s.ended else s for a, s in states.items()}


def _due(wake: datetime | None, by: datetime) -> bool:
    """A wake-up the code asked for has come by `by`."""
    return wake is not None and wake <= by


class MediaPolicyMachine(RuleBasedStateMachine):
    """One rule, `something_happens`, with no precondition, draws what happens at each step: hypothesis
    never has to filter the choice of rule (and never gives up on a history for it)."""

    def __init__(self) -> None:
        super().__init__()
        self.world = World()
        self.ref = Reference()
        self.triggered: dict[str, datetime] = {}  # the truth about each alarm, from when it goes off
        self.next_key: dict[str, int] = {}
        self.hold_alarm: dict[str, str] = {}
        self.first_hold: dict[str, datetime] = {}  # alarm -> when the police first named it
        self.pending_events: list[InputEvent] = []
        self.delivered: list[InputEvent] = []
        self.first_delivered: dict[str, datetime] = {}  # event_id -> when
        self.serial = 0
        self.auto_confirm = False  # at the end, the other systems confirm every command at once

    def _id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    @rule(
        action=st.sampled_from(ACTIONS),
        alarm=st.sampled_from(ALARMS),
        customer=st.sampled_from(CUSTOMERS),
        pick=st.integers(0, 255),
        age=st.sampled_from(AGES),
        objects=st.integers(0, 2),
        ahead=st.sampled_from(AHEAD),
        consent=st.booleans(),
        request=st.sampled_from(REQUESTS),
        step=st.sampled_from(STEPS),
        confirm=st.tuples(*(st.booleans() for _ in ALARMS)),
    )
    def something_happens(self, action: str, **choices: Any) -> None:
        # One rule, with the same draws at every step: hypothesis filters the choice among several
        # rules (by precondition, and by the feature flags of its swarm testing) and gives up on some
        # histories; drawing the action as an argument never filters, and every step's draws stay
        # aligned when hypothesis replays a shortened history. An action with nothing to act on (no
        # hold to release, no event to deliver) does nothing.
        getattr(self, action)(Choices(**choices))

    # --- what happens in the world (delivered later, in any order) ---------------------------------

    def an_alarm_goes_off_or_more_media_is_stored(self, c: Choices) -> None:
        alarm, age, media = c.alarm, c.age, c.objects
        if alarm not in self.triggered:
            # The police name an alarm only once it has gone off: one they named before this step went
            # off no later than that (its event comes late). The record of holds for an alarm never
            # seen ends 30 days after the last of them (schedule row S1) because its alarm is past its
            # hold limit by then; an alarm going off after the police released its hold would not be.
            went_off = self.world.now - timedelta(seconds=age)
            self.triggered[alarm] = min(went_off, self.first_hold.get(alarm, went_off))
            kind = "alarm.triggered"
        else:
            kind, media = "media.stored", max(media, 1)
        keys = []
        for _ in range(media):
            self.next_key[alarm] = self.next_key.get(alarm, 0) + 1
            keys.append(MediaRef(bucket="media", key=f"{alarm}/{self.next_key[alarm]}.jpg"))
        model = AlarmTriggered if kind == "alarm.triggered" else MediaStored
        self.pending_events.append(
            model(
                type=kind,  # type: ignore[arg-type]
                event_id=self._id("evt"),
                alarm_id=alarm,
                customer_id=CUSTOMER[alarm],
                triggered_at=self.triggered[alarm].isoformat(),  # type: ignore[arg-type]
                media=tuple(keys),
            )
        )

    def police_place_a_hold(self, c: Choices) -> None:
        alarm = c.alarm
        hold_id = self._id("hold")
        self.hold_alarm[hold_id] = alarm
        self.first_hold.setdefault(alarm, self.world.now)
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

    def police_release_a_hold(self, c: Choices) -> None:
        pick = c.pick
        if not self.hold_alarm:
            return
        hold_id = sorted(self.hold_alarm)[pick % len(self.hold_alarm)]
        self.pending_events.append(
            HoldReleased(
                type="hold.released",
                event_id=self._id("evt"),
                hold_id=hold_id,
                alarm_id=self.hold_alarm[hold_id],
                released_by="liaison",
                released_at=self.world.now.isoformat(),  # type: ignore[arg-type]
            )
        )

    def a_contract_ends(self, c: Choices) -> None:
        customer, ahead = c.customer, c.ahead
        self.pending_events.append(
            ContractEnded(
                type="contract.ended",
                event_id=self._id("evt"),
                customer_id=customer,
                ended_at=(self.world.now + timedelta(seconds=ahead)).isoformat(),  # type: ignore[arg-type]
            )
        )

    def customer_service_records_a_call(self, c: Choices) -> None:
        customer, consent = c.customer, c.consent
        self.pending_events.append(
            CallRecorded(
                type="call.recorded",
                event_id=self._id("evt"),
                customer_id=customer,
                recording_id=self._id("call"),
                recorded_at=self.world.now.isoformat(),  # type: ignore[arg-type]
                consent=consent,
            )
        )

    def the_customer_makes_a_request(self, c: Choices) -> None:
        customer, kind = c.customer, c.request
        model = {"access": AccessRequested, "erasure": ErasureRequested, "restriction": RestrictionRequested}
        self.pending_events.append(
            model[kind](
                type=f"{kind}.requested",
                event_id=self._id("evt"),
                customer_id=customer,
                request_id=self._id("req"),
                requested_at=self.world.now.isoformat(),
                requested_by="agent",
            )
        )

    def a_system_confirms_an_erasure(self, c: Choices) -> None:
        pick = c.pick
        sent = sorted(cid for cid, c in self.ref.commands.items() if not c.confirmed)
        if sent:
            self.pending_events.append(self._confirmation(sent[pick % len(sent)]))

    def _confirmation(self, command_id: str) -> ErasureCompleted:
        command = self.ref.commands[command_id]
        system = SCHEDULE.rule(command.rule).system
        return ErasureCompleted(
            type="erasure.completed",
            event_id=self._id("evt"),
            command_id=command_id,
            customer_id=command.customer_id,
            system=system,
            completed_at=self.world.now.isoformat(),  # type: ignore[arg-type]
        )

    # --- delivery, duplicates, time, the object store ------------------------------------------------

    def deliver_one_event_in_any_order(self, c: Choices) -> None:
        pick = c.pick
        if not self.pending_events:
            return
        event = self.pending_events.pop(pick % len(self.pending_events))
        self._deliver_and_check(event)

    def redeliver_an_event(self, c: Choices) -> None:
        pick = c.pick
        again = [e for e in self.delivered if self._may_redeliver(e)]
        if not again:
            return
        event = again[pick % len(again)]
        before_states = dict(self.world.states)
        before_customers = dict(self.world.customers)
        before_ends = dict(self.world.contract_ends)
        before_audit = {r.audit_id for r in self.world.audit}
        count = len(self.world.audit)
        self._deliver(event, first_time=False)
        # A marker may take back the keys of objects it deletes again (until confirmed); nothing else.
        assert _without_in_flight(self.world.states) == _without_in_flight(before_states), (
            "a redelivered event changed an alarm's state"
        )
        ended = {a for a, state in before_states.items() if state.ended}
        changed = {c: r for c, r in self.world.customers.items() if r != before_customers.get(c)}
        assert not changed, f"redelivering {event.type} {event.event_id} changed {changed}"
        assert self.world.contract_ends == before_ends
        # At-least-once: a redelivery may repeat a record, but only one already made (same audit_id).
        # An alarm event that finds the alarm's record ended has its objects deleted again (they may
        # exist): the only new decision a redelivery may make.
        repeated = {
            r.audit_id
            for r in self.world.audit[count:]
            if not (r.type is AuditType.EVENT_AFTER_END and r.alarm_id in ended)
        }
        assert repeated <= before_audit, "a redelivered event produced new audit records"
        del self.world.audit[count:]

    def _may_redeliver(self, event: InputEvent) -> bool:
        # Kafka redelivers what its topics still keep: the input topics keep TRANSIT.
        if self.world.now - self.first_delivered[event.event_id] > TRANSIT:
            return False
        # Customer requests are left out: redelivered later, the shell hands them to the alarms the
        # customer has by then, which is a new decision, not a repeat.
        if isinstance(event, ErasureRequested | RestrictionRequested):
            return False
        if KNOWN_GAP_SECOND_CONTRACT_END_REDELIVERY and isinstance(event, ContractEnded):
            ends = [e for e in self.delivered if isinstance(e, ContractEnded)]
            return sum(e.customer_id == event.customer_id for e in ends) == 1
        return True

    def time_passes(self, c: Choices) -> None:
        self._advance(c.step)

    def the_scheduler_wakes_an_alarm_needlessly(self, c: Choices) -> None:
        alarm = c.alarm
        self._wake_needlessly({alarm, CUSTOMER[alarm]})
        self._check_agreement()

    def the_object_store_confirms_deletions(self, c: Choices) -> None:
        for alarm_id, confirm in zip(ALARMS, c.confirm, strict=True):
            state = self.world.states.get(alarm_id)
            refs = [m.ref for m in state.deleting] if state else []
            if refs and confirm:
                self._confirm_deleted(alarm_id, refs)
        self._check_agreement()

    # --- the harness playing the shell ---------------------------------------------------------------

    def _confirm_deleted(self, alarm_id: str, refs: list[tuple[str, str]]) -> None:
        """The object store says every version of these objects is gone."""
        state = self.world.states[alarm_id]
        if not state.ended:  # a marker's deletions again are recorded as such (media.deleted_after_end)
            self.world.deleted.update((alarm_id, bucket, key) for bucket, key in refs)
        self._apply(alarm_id, on_objects_deleted(state, refs, self.world.now, self._id("cmd"), POLICY))

    def _deliver_and_check(self, event: InputEvent) -> None:
        self._deliver(event, first_time=True)
        self.delivered.append(event)
        self.first_delivered[event.event_id] = self.world.now
        self._run_scheduler()
        self.ref.settle(self.world.now)
        self._check_agreement()

    def _deliver(self, event: InputEvent, first_time: bool) -> None:
        now = self.world.now
        if first_time:
            self._reference_hears(event)
        if isinstance(event, ContractEnded):
            known = self.world.contract_ends.get(event.customer_id)
            if known is None or event.ended_at < known[0]:
                self.world.contract_ends[event.customer_id] = (event.ended_at, event.event_id)
            record = self.world.customers.get(event.customer_id)
            self._apply_customer(
                event.customer_id,
                erasure.on_contract_ended(
                    record, event.customer_id, event.ended_at, event.event_id, SCHEDULE, now
                ),
            )
            for alarm_id, current in list(self.world.states.items()):
                if current.customer_id == event.customer_id:
                    self._apply(
                        alarm_id, on_contract_ended(current, event.ended_at, event.event_id, now, POLICY)
                    )
        elif isinstance(event, CallRecorded):
            record = self.world.customers.get(event.customer_id)
            self._apply_customer(event.customer_id, erasure.on_call_recorded(record, event, SCHEDULE, now))
        elif isinstance(event, ErasureCompleted):
            record = self.world.customers.get(event.customer_id)
            self._apply_customer(event.customer_id, erasure.on_erasure_completed(record, event, now))
        elif isinstance(event, AccessRequested | ErasureRequested | RestrictionRequested):
            self._customer_request(event, check_answer=first_time)
        elif isinstance(event, AlarmTriggered | MediaStored):
            state = self.world.states.get(event.alarm_id)
            ended = self.world.contract_ends.get(event.customer_id)
            self._apply(event.alarm_id, on_alarm_event(state, event, now, POLICY, contract_ended=ended))
        elif isinstance(event, HoldPlaced):
            state = self.world.states.get(event.alarm_id)
            self._apply(event.alarm_id, on_hold_placed(state, event, now, POLICY))
        else:
            state = self.world.states.get(event.alarm_id)
            self._apply(event.alarm_id, on_hold_released(state, event, now, POLICY))

    def _customer_request(
        self, event: AccessRequested | ErasureRequested | RestrictionRequested, check_answer: bool
    ) -> None:
        """As the shell: answer from the alarms the customer has, then hand the request to each."""
        now, customer = self.world.now, event.customer_id
        states = [s for s in self.world.states.values() if s.customer_id == customer]
        if isinstance(event, AccessRequested):
            record = self.world.customers.get(customer)
            answer = answer_access(event.request_id, customer, states, record, now, POLICY)
            if check_answer:
                self._check_access_answer(customer, answer)
            return
        if isinstance(event, ErasureRequested):
            answer = answer_erasure(event.request_id, customer, states, now, POLICY)
            if check_answer:
                self._check_erasure_answer(customer, answer)
            for state in states:
                self._apply(
                    state.alarm_id,
                    on_erasure_requested(state, event.requested_at, event.event_id, now, POLICY),
                )
            return
        answer = answer_restriction(event.request_id, customer, states, now, POLICY)
        if check_answer:
            pending = {(a.alarm_id, *key) for a in self.ref.known_alarms_of(customer) for key in a.pending}
            assert {(i.alarm_id, i.bucket, i.key) for i in answer.media} == pending
            assert all(i.restricted for i in answer.media)
        for state in states:
            self._apply(
                state.alarm_id,
                on_restriction_requested(state, event.requested_at, event.event_id, now, POLICY),
            )

    def _apply(self, alarm_id: str, outcome: Outcome | None) -> None:
        if outcome is None:
            return
        assert outcome.rejection is None, outcome.rejection
        now = self.world.now
        alarm = self.ref.alarms.get(alarm_id)
        for media in outcome.delete:
            assert alarm is not None, f"{media.ref} deleted, but its alarm is unknown"
            due = self.ref.deadline(alarm, now)
            assert due <= now, (
                f"{media.ref} of {alarm_id} handed to the deleter at {now}, before its reference "
                f"deadline {due} (rules {sorted(self.ref.rules(alarm, now))})"
            )
        if outcome.forget:
            self.world.states.pop(alarm_id, None)
            self.world.forgotten.add(alarm_id)
        else:
            assert not outcome.state.ended or not outcome.state.customer_id, "a marker with personal data"
            self.world.states[alarm_id] = outcome.state
            self.world.forgotten.discard(alarm_id)
        self.world.audit.extend(outcome.audit)

    def _apply_customer(self, customer_id: str, outcome: CustomerOutcome) -> None:
        now = self.world.now
        for command in outcome.commands:
            allowed = self.ref.allowed_dues(customer_id, command.rule, command.subject)
            assert command.due_at in allowed, (
                f"{command.rule} for {customer_id} is due at {command.due_at}; the statement says "
                f"{sorted(allowed)}"
            )
            assert command.sent_at == now
            assert now >= command.due_at, (
                f"{command.rule} for {customer_id} sent at {now}, before it is due at {command.due_at}"
            )
            seen = self.ref.commands.get(command.command_id)
            if seen is None:
                assert command.attempt == 1
                self.ref.commands[command.command_id] = RefCommand(
                    customer_id, command.rule, command.subject, command.due_at, [now]
                )
                continue
            assert not seen.confirmed, f"{command.rule} for {customer_id} sent again after confirmation"
            again = seen.sends[-1] + ref.CONFIRM_WITHIN
            assert now >= again, f"{command.rule} for {customer_id} sent again at {now}, before {again}"
            assert command.attempt == len(seen.sends) + 1
            seen.sends.append(now)
        if outcome.forget:
            assert not outcome.commands
            assert not any(e.open for e in outcome.record.erasures), f"{customer_id} forgotten with work open"
            self.world.customers.pop(customer_id, None)
        else:
            self.world.customers[customer_id] = outcome.record
        self.world.audit.extend(outcome.audit)

    def _run_scheduler(self) -> None:
        """The shell's scheduler: whatever the code asked to be woken for by now, woken now."""
        now = self.world.now
        for _ in range(100):
            alarms = [a for a, s in self.world.states.items() if _due(next_check_at(s, POLICY), now)]
            customers = [
                c for c, r in self.world.customers.items() if _due(erasure.next_check_at(r, CONFIRM), now)
            ]
            if not alarms and not customers:
                return
            for alarm_id in alarms:
                state = self.world.states[alarm_id]
                self._apply(alarm_id, on_time_passed(state, now, self._id("tick"), POLICY))
            for customer_id in customers:
                record = self.world.customers[customer_id]
                outcome = erasure.on_time_passed(record, now, CONFIRM, self._id("tick"))
                self._apply_customer(customer_id, outcome)
        # Woken a hundred times at one instant and still asking to be woken: whatever it is woken for,
        # it does not do. Say what is late, if anything is, before saying that it spins.
        self._check_agreement()
        raise AssertionError(f"timers keep firing without settling at {now}: {alarms + customers}")

    def _wake_needlessly(self, owners: set[str]) -> None:
        """Wake alarms and customers whether or not anything is due (a repeated or early tick)."""
        now = self.world.now
        for owner in sorted(owners):
            if owner in self.world.states:
                state = self.world.states[owner]
                self._apply(owner, on_time_passed(state, now, self._id("tick"), POLICY))
            if owner in self.world.customers:
                outcome = erasure.on_time_passed(self.world.customers[owner], now, CONFIRM, self._id("tick"))
                self._apply_customer(owner, outcome)

    def _advance(self, step: timedelta) -> None:
        """Let `step` pass, stopping where the reference expects something (and around it) and where
        the code asked to be woken."""
        target = self.world.now + step
        while True:
            now = self.world.now
            moments = self.ref.moments(now)
            stops = {m + around for m in moments for around in AROUND}
            stops.update(t for s in self.world.states.values() if (t := next_check_at(s, POLICY)))
            stops.update(t for r in self.world.customers.values() if (t := erasure.next_check_at(r, CONFIRM)))
            upcoming = [t for t in stops if now < t <= target]
            stop = min(upcoming) if upcoming else target
            # Just before a reference moment, the alarms and customers it concerns are woken needlessly;
            # never at the moment itself: there, only the code's own wake-up may act.
            early = moments.get(stop + timedelta(seconds=1), set()) - moments.get(stop, set())
            self._stop_at(stop, early)
            if stop >= target:
                return

    def _stop_at(self, moment: datetime, wake_needlessly: set[str]) -> None:
        self.world.now = moment
        self.ref.settle(moment)
        self._run_scheduler()
        self._wake_needlessly(wake_needlessly)
        if self.auto_confirm:
            for command_id, command in list(self.ref.commands.items()):
                if not command.confirmed:
                    self._deliver_and_check(self._confirmation(command_id))
        self._check_agreement()

    def _reference_hears(self, event: InputEvent) -> None:
        now = self.world.now
        if isinstance(event, AlarmTriggered | MediaStored):
            keys = [(m.bucket, m.key) for m in event.media]
            self.ref.alarm_event(event.alarm_id, event.customer_id, self.triggered[event.alarm_id], keys, now)
        elif isinstance(event, HoldPlaced):
            self.ref.hold_placed(event.hold_id, event.alarm_id, event.placed_at, now)
        elif isinstance(event, HoldReleased):
            self.ref.hold_released(event.hold_id, event.alarm_id, event.released_at, now)
        elif isinstance(event, ContractEnded):
            self.ref.contract_ended(event.customer_id, event.ended_at, now)
        elif isinstance(event, CallRecorded):
            self.ref.call_recorded(
                event.customer_id, event.recording_id, event.recorded_at, event.consent, now
            )
        elif isinstance(event, ErasureCompleted):
            self.ref.commands[event.command_id].confirmed = True
        elif isinstance(event, ErasureRequested):
            self.ref.erasure_requested(event.customer_id, event.requested_at)
        elif isinstance(event, RestrictionRequested):
            self.ref.restriction_requested(event.customer_id)

    # --- the answers to the customer's requests ------------------------------------------------------

    def _check_erasure_answer(self, customer: str, answer: RequestAnswered) -> None:
        now = self.world.now
        erased, kept = set(), {}
        for alarm in self.ref.known_alarms_of(customer):
            for key in alarm.pending:
                if self.ref.held(alarm, now):
                    kept[(alarm.alarm_id, *key)] = alarm.limit
                else:
                    erased.add((alarm.alarm_id, *key))
        assert {(i.alarm_id, i.bucket, i.key) for i in answer.media} == erased, "erasure answer: erased"
        assert {(i.alarm_id, i.bucket, i.key): i.kept_until for i in answer.kept} == kept, "erasure: kept"
        assert (answer.kept_because is not None) == bool(kept)

    def _check_access_answer(self, customer: str, answer: RequestAnswered) -> None:
        now = self.world.now
        # An alarm whose record has ended is no longer held: nothing of it to list (the audit trail,
        # kept for its own time, still says what was deleted when).
        alarms = {a.alarm_id: a for a in self.ref.known_alarms_of(customer) if self._held_state(a.alarm_id)}
        listed = {(i.alarm_id, i.bucket, i.key) for i in answer.media}
        assert listed == {(a, *key) for a, alarm in alarms.items() for key in alarm.objects}
        for item in answer.media:
            alarm = alarms[item.alarm_id]
            if (item.bucket, item.key) not in alarm.pending:
                assert item.status in ("being_deleted", "deleted")
                continue
            held = self.ref.held(alarm, now)
            assert item.status == "kept"
            assert item.deadline == self.ref.deadline(alarm, now), f"access answer: {item}"
            assert item.rule in self.ref.rules(alarm, now), f"access answer: {item}"
            assert item.kept_for_police == held
            assert item.kept_until == (alarm.limit if held else None)
            assert item.restricted == alarm.restricted

    # --- the invariants ---------------------------------------------------------------------------

    def _check_agreement(self) -> None:
        now = self.world.now
        self.ref.settle(now)
        for alarm in self.ref.alarms.values():
            self._check_alarm(alarm, now)
        self._check_waiting_holds(now)
        self._check_hold_records()
        self._check_erasure_commands(now)
        self._check_deletions_recorded_once()
        self._check_audit_ids_distinct()

    def _check_alarm(self, alarm: RefAlarm, now: datetime) -> None:
        state = self.world.states.get(alarm.alarm_id)
        if (state is not None and state.ended) or (state is None and alarm.alarm_id in self.world.forgotten):
            self._check_ended(alarm, state, now)
            return
        media = {m.ref: m for m in state.media} if state else {}
        assert set(media) == set(alarm.objects), f"{alarm.alarm_id}: objects differ"
        for key, expected in alarm.objects.items():
            pending = media[key].status is MediaStatus.PENDING
            if pending and expected.gone_at is not None:
                assert now < expected.gone_at + LATENESS_BOUND, (
                    f"{key} of {alarm.alarm_id} still pending at {now}: due at {expected.gone_at} "
                    f"(reference deadline {expected.deadline}, bound {LATENESS_BOUND})"
                )
            assert pending or expected.gone_at is not None, (
                f"{key} of {alarm.alarm_id} deleted by {now}, before its reference deadline "
                f"{self.ref.deadline(alarm, now)}"
            )
        if state is None or not alarm.known:
            return
        assert (state.restricted_at is not None) == alarm.restricted, f"{alarm.alarm_id}: restriction"
        # The code must ask to be woken by the reference's next moment for this alarm.
        wake = next_check_at(state, POLICY)
        owed = []
        if alarm.pending:
            owed.append(self.ref.deadline(alarm, now))
        if self.ref.active_holds(alarm):
            owed.append(alarm.limit)
            if self.ref.owes_warning(alarm):
                owed.append(alarm.warning_at)
        if owed:
            assert _due(wake, min(owed) + LATENESS_BOUND), (
                f"{alarm.alarm_id}: the code asks to be woken at {wake}, after {min(owed)}"
            )

    def _held_state(self, alarm_id: str) -> bool:
        state = self.world.states.get(alarm_id)
        return state is not None and not state.ended

    def _check_ended(self, alarm: RefAlarm, marker: AlarmState | None, now: datetime) -> None:
        """An alarm's record ends only once the reference has nothing left for it to do."""
        for key, expected in alarm.objects.items():
            assert expected.gone_at is not None, f"{alarm.alarm_id}'s record ended with {key} not yet due"
            assert expected.gone_at <= now, (
                f"{alarm.alarm_id}'s record ended at {now}, but {key} is due only at {expected.gone_at}"
            )
        assert not self.ref.active_holds(alarm), f"{alarm.alarm_id}'s record ended with a hold active"
        if marker is not None:
            assert (marker.customer_id, marker.triggered_at) == (None, None)
            assert all(m.status is MediaStatus.DELETING for m in marker.media), (
                "a marker keeps only keys in flight"
            )
            assert all(not h.case_reference and not h.placed_by for h in marker.holds)

    def _check_waiting_holds(self, now: datetime) -> None:
        for hold in self.ref.holds.values():
            if hold.waiting and hold.placed_at is not None:
                state = self.world.states.get(hold.alarm_id)
                wake = next_check_at(state, POLICY) if state else None
                ends = hold.placed_at + ref.HOLD_RETENTION
                assert _due(wake, ends), f"{hold.hold_id} waits: woken at {wake}, not {ends}"

    def _check_hold_records(self) -> None:
        answers: dict[str, list[AuditRecord]] = {}
        warned: dict[str, list[datetime]] = {}
        expired: dict[str, list[datetime]] = {}
        for record in self.world.audit:
            if record.hold_id is None:
                continue
            if record.type in ANSWERS:
                answers.setdefault(record.hold_id, []).append(record)
            elif record.type is AuditType.HOLD_EXPIRING:
                warned.setdefault(record.hold_id, []).append(record.occurred_at)
            elif record.type is AuditType.HOLD_EXPIRED:
                expired.setdefault(record.hold_id, []).append(record.occurred_at)
        assert set(answers) <= set(self.ref.holds)
        for hold in self.ref.holds.values():
            got = answers.get(hold.hold_id, [])
            if hold.answer is None:
                assert got == [], f"{hold.hold_id}: answered {got[0].type} before the reference answers"
            else:
                assert [(r.type.value, r.occurred_at) for r in got] == [(hold.answer, hold.answered_at)], (
                    f"{hold.hold_id}: got {[(r.type.value, r.occurred_at) for r in got]}, expected "
                    f"{hold.answer} at {hold.answered_at}"
                )
                if hold.reasons:
                    assert got[0].details.get("reason") in hold.reasons, (hold.hold_id, got[0].details)
            expected_warning = [hold.warned_at] if hold.warned_at else []
            got_warnings = warned.get(hold.hold_id, [])
            assert got_warnings == expected_warning, (
                f"{hold.hold_id}: hold.expiring at {got_warnings}, expected {expected_warning}"
            )
            expected_expiry = [hold.expired_at] if hold.expired_at else []
            assert expired.get(hold.hold_id, []) == expected_expiry, (
                f"{hold.hold_id}: hold.expired at {expired.get(hold.hold_id, [])}, expected {expected_expiry}"
            )

    def _check_erasure_commands(self, now: datetime) -> None:
        for customer_id in self.ref.customers:
            owed = self.ref.obligations(customer_id)
            for (rule_id, subject), moment in owed.items():
                assert now < moment + LATENESS_BOUND, (
                    f"{rule_id} ({subject}) for {customer_id} not sent by {now}; it was due at {moment}"
                )
            if owed:
                record = self.world.customers.get(customer_id)
                wake = erasure.next_check_at(record, CONFIRM) if record else None
                first = min(owed.values())
                assert _due(wake, first), f"{customer_id}: erasures wake at {wake}, after {first}"
        for command in self.ref.commands.values():
            if not command.confirmed:
                again = command.sends[-1] + ref.CONFIRM_WITHIN
                assert now < again + LATENESS_BOUND, (
                    f"{command.rule} for {command.customer_id}, unconfirmed, not sent again at {again}"
                )

    def _check_audit_ids_distinct(self) -> None:
        """Readers count audit ids (a crash may publish a record twice): no two decisions share one."""
        seen: dict[str, AuditRecord] = {}
        for record in self.world.audit:
            other = seen.setdefault(record.audit_id, record)
            assert other is record, f"{other.type} and {record.type} share the audit id {record.audit_id}"

    def _check_deletions_recorded_once(self) -> None:
        recorded = [
            (r.alarm_id, o.bucket, o.key)
            for r in self.world.audit
            if r.type is AuditType.DELETED
            for o in r.objects
        ]
        assert len(recorded) == len(set(recorded))
        assert set(recorded) == self.world.deleted
        for record in self.world.audit:
            if record.type is AuditType.DELETED and record.deadline is not None:
                assert record.occurred_at >= record.deadline

    def teardown(self) -> None:
        # Let everything arrive, and let time run out: every hold must have had its answer, every
        # object must have gone.
        while self.pending_events:
            self._deliver_and_check(self.pending_events.pop(0))
        # From here on the other systems confirm each erasure command as soon as it is sent (resending
        # was tested during the run; here it would only stop the clock every day for years).
        self.auto_confirm = True
        self._stop_at(self.world.now, set())
        self._advance(timedelta(days=65))
        for hold in self.ref.holds.values():
            if hold.placed_at is not None:
                assert hold.answer is not None, f"{hold.hold_id} has no answer from the reference"
        for state in self.world.states.values():
            assert not state.pending, f"{state.alarm_id} still has pending media after 65 days"
        # The object store confirms what is left; then every record ends: only markers remain, with
        # no personal data in them, and once their lifetime passes, nothing.
        for alarm_id, state in list(self.world.states.items()):
            if state.deleting:
                self._confirm_deleted(alarm_id, [m.ref for m in state.deleting])
        self._advance(timedelta(days=31))
        for state in self.world.states.values():
            assert state.ended, f"{state.alarm_id}: its record has not ended 96 days on"
        # Every erasure falls due, and is sent.
        self._advance(FAR_FUTURE)
        for customer_id in self.ref.customers:
            assert self.ref.obligations(customer_id) == {}, f"{customer_id}: erasures never sent"
        assert self.world.states == {}, f"records never forgotten: {sorted(self.world.states)}"
        self._advance(timedelta(days=31))
        assert self.world.customers == {}, f"customer records never forgotten: {sorted(self.world.customers)}"


MediaPolicyMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("POLICY_EXAMPLES", "1000")),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestMediaPolicy = MediaPolicyMachine.TestCase


@pytest.mark.xfail(
    ref.KNOWN_GAP_ONE_WARNING_PER_ALARM,
    reason="known gap: the expiry warning goes out once per alarm, so a hold accepted inside the last "
    "day after another hold of the alarm was warned is never warned (handlers/time_passed.py)",
    strict=True,
)
def test_a_hold_accepted_after_another_was_warned_is_warned_too() -> None:
    """README: HOLD_EXPIRY_WARNING before the limit, hold active: the police liaison is warned
    (`hold.expiring`). Hold B, accepted an hour after hold A of the same alarm was warned, has its own
    case and liaison, and is deleted at the limit without a warning."""

    def placed(hold_id: str, at: datetime) -> HoldPlaced:
        return HoldPlaced(
            type="hold.placed",
            event_id=f"evt-{hold_id}",
            hold_id=hold_id,
            alarm_id="alarm-a",
            case_reference=f"case-{hold_id}",
            placed_by="liaison",
            placed_at=at.isoformat(),  # type: ignore[arg-type]
        )

    alarm = AlarmTriggered(
        type="alarm.triggered",
        event_id="evt-alarm",
        alarm_id="alarm-a",
        customer_id="cust-1",
        triggered_at=T0.isoformat(),  # type: ignore[arg-type]
        media=(MediaRef(bucket="media", key="a.jpg"),),
    )
    state = on_alarm_event(None, alarm, T0, POLICY).state
    state = on_hold_placed(state, placed("A", T0 + timedelta(days=1)), T0 + timedelta(days=1), POLICY).state
    window = T0 + ref.HOLD_RETENTION - ref.HOLD_EXPIRY_WARNING
    warned_a = on_time_passed(state, window, "tick-1", POLICY)
    assert warned_a is not None
    state = warned_a.state  # A is warned
    later = window + timedelta(hours=1)
    outcome = on_hold_placed(state, placed("B", later), later, POLICY)
    records = list(outcome.audit)
    wake = next_check_at(outcome.state, POLICY)
    assert wake is not None
    moment = max(wake, later)
    woken = on_time_passed(outcome.state, moment, "tick-2", POLICY)
    assert woken is not None
    records += woken.audit
    warned = [r.hold_id for r in records if r.type is AuditType.HOLD_EXPIRING]
    assert warned == ["B"], f"hold B: accepted at {later}, warned {warned}; deleted at the limit"


@pytest.mark.xfail(
    KNOWN_GAP_SECOND_CONTRACT_END_REDELIVERY,
    reason="known gap: a second contract end, redelivered after the first end's R3 command was "
    "confirmed, schedules and sends a new R3 command (handlers/erasure.py _schedule)",
    strict=True,
)
def test_a_redelivered_second_contract_end_changes_nothing() -> None:
    """Two contract.ended events for one customer, the same ended_at: the second changes nothing. The
    R3 command is sent and confirmed. Redelivered (at-least-once), the second must still change
    nothing; it schedules a new R3 command, which the shell then sends."""
    record = erasure.on_contract_ended(None, "cust-1", T0, "evt-1", SCHEDULE, T0).record
    second = erasure.on_contract_ended(record, "cust-1", T0, "evt-2", SCHEDULE, T0)
    assert second.record == record
    assert second.audit == ()
    sent = erasure.on_time_passed(record, T0, CONFIRM, "tick")
    (command,) = sent.commands
    done = ErasureCompleted(
        type="erasure.completed",
        event_id="evt-done",
        command_id=command.command_id,
        customer_id="cust-1",
        system=command.system,
        completed_at=T0.isoformat(),  # type: ignore[arg-type]
    )
    record = erasure.on_erasure_completed(sent.record, done, T0).record
    again = erasure.on_contract_ended(record, "cust-1", T0, "evt-2", SCHEDULE, T0 + timedelta(hours=1))
    assert [e.rule for e in again.record.erasures] == [e.rule for e in record.erasures], "a new command"
    assert again.audit == ()
