"""Crypto-shredding of the audit trail's personal fields: what is sealed, under whose key, until when,
and what readers show once a key is destroyed (handlers/personal_fields.py, streams/protection/)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.audit import AuditType, audit_record
from handlers.audit_chain import GENESIS, seal, verify
from handlers.commands import SubjectKeysDue
from handlers.personal_fields import ERASED, Subject, merge, split
from streams.protection.key_expiry import KeyExpiry
from streams.protection.protector import KeyLifetimes, Protector
from streams.protection.pseudonyms import Pseudonyms
from streams.protection.sealing import open_part, reveal
from streams.protection.subject_keys import SubjectKey, SubjectKeys, table_key
from streams.worker.scheduler import DeadlineIndex

T0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
CUSTOMER, CASE, OFFICER = "cust-4711", "case 2026/4711", "Officer Kari Nordmann"
R6 = timedelta(days=365)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


def hold_accepted(customer: str = CUSTOMER) -> dict[str, Any]:
    record = audit_record(
        AuditType.HOLD_ACCEPTED,
        occurred_at=T0,
        alarm_id="alarm-1",
        customer_id=customer,
        caused_by="ev-1",
        hold_id="hold-1",
        objects=[("media", f"{customer}/alarm-1/0.jpg"), ("media", f"{customer}/alarm-1/1.mp4")],
        details={"case_reference": CASE, "placed_by": OFFICER, "waited_for_alarm": "true"},
    )
    document: dict[str, Any] = orjson.loads(record.to_json())
    return document


class Keys:
    """A Protector over a dict table, as the worker builds it over the `subject-keys` table."""

    def __init__(self, contract_ended: datetime | None = None, in_stream: bool = True) -> None:
        self.clock = Clock(T0)
        self.table: dict[bytes, bytes] = {}
        self.keys = SubjectKeys(self.table)
        self.expiry = KeyExpiry(self.keys, timedelta(days=6 * 365), self.clock, self._sent, DeadlineIndex())
        self.sent: list[tuple[int, SubjectKeysDue]] = []
        self.protector = Protector(
            self.keys,
            Pseudonyms(b"test pseudonym key"),
            KeyLifetimes(lambda ended: ended + R6, timedelta(days=30 + 365), timedelta(days=6 * 365)),
            contract_ended=lambda _customer: contract_ended,
            clock=self.clock,
            on_key=self.expiry.track,
            in_stream=lambda: in_stream,
        )

    async def _sent(self, partition: int, value: bytes) -> None:
        self.sent.append((partition, SubjectKeysDue.model_validate_json(value)))

    def readable(self) -> dict[str, bytes]:
        """kid -> key, as a reader learns them from the table's changelog (latest values)."""
        return {k.kid: k.key for _, k in self.keys.entries() if k.kid is not None and k.key is not None}

    def run_due(self, partition: int = 0) -> None:
        """What the key expiry's scheduler would send, handled as the partition handles it."""
        names = self.expiry.scheduler.index.pop_due(self.clock.now()).get(partition, [])
        if names:
            command = SubjectKeysDue(event_id="e", names=tuple(names), checked_at=self.clock.now())
            self.expiry.on_due(command, partition)


class TestWhatIsSealed:
    def test_no_personal_field_is_left_in_the_clear(self) -> None:
        keys = Keys()
        published = json.dumps(keys.protector.protect(0, hold_accepted()))
        for personal in (CUSTOMER, CASE, OFFICER, "alarm-1/0.jpg"):
            assert personal not in published
        # What is not personal stays readable without any key: the chain, the ids, what happened.
        document = json.loads(published)
        assert (document["type"], document["hold_id"]) == ("hold.accepted", "hold-1")
        assert document["details"] == {"waited_for_alarm": "true"}
        assert [o["bucket"] for o in document["objects"]] == ["media", "media"]

    def test_a_reader_with_the_keys_sees_the_record_as_it_was_decided(self) -> None:
        keys = Keys()
        original = hold_accepted()
        assert reveal(keys.protector.protect(0, original), keys.readable()) == original

    def test_a_record_of_no_person_is_published_as_it_is(self) -> None:
        record = audit_record(
            AuditType.SWEEP_COMPLETED, occurred_at=T0, alarm_id=None, customer_id=None, caused_by="s"
        )
        document = orjson.loads(record.to_json())
        assert Keys().protector.protect(0, document) == document

    @given(
        customer=st.one_of(st.none(), st.text(min_size=1, max_size=8)),
        keys=st.lists(st.text(max_size=8), max_size=3),
        details=st.dictionaries(
            st.sampled_from(["case_reference", "placed_by", "released_by", "subject", "note"]),
            st.text(max_size=5),
            max_size=4,
        ),
        hold=st.one_of(st.none(), st.just("h1")),
    )
    def test_split_then_merge_gives_back_the_record(
        self, customer: str | None, keys: list[str], details: dict[str, str], hold: str | None
    ) -> None:
        document: dict[str, Any] = {"audit_id": "x", "customer_id": customer, "hold_id": hold}
        if keys:
            document["objects"] = [{"bucket": "b", "key": k} for k in keys]
        if details:
            document["details"] = details
        clear, parts = split(document)
        assert merge(clear, parts) == document


class TestKeys:
    def test_one_key_per_subject_and_partition(self) -> None:
        keys = Keys()
        keys.protector.protect(0, hold_accepted())
        keys.protector.protect(0, hold_accepted())
        keys.protector.protect(1, hold_accepted())
        names = sorted(name for name, _ in keys.keys.entries())
        pseudonym = Pseudonyms(b"test pseudonym key").customer(CUSTOMER)
        assert names == sorted(
            [f"0/customer/{pseudonym}", "0/hold/hold-1", f"1/customer/{pseudonym}", "1/hold/hold-1"]
        )
        assert CUSTOMER not in json.dumps([n for n, _ in keys.keys.entries()])

    def test_a_customer_key_ends_at_r6_once_the_contract_ended(self) -> None:
        keys = Keys()
        keys.protector.protect(0, hold_accepted())
        ended = T0 + timedelta(days=10)
        keys.protector.contract_ended(0, CUSTOMER, ended)
        (customer_key,) = [k for n, k in keys.keys.entries() if "/customer/" in n]
        assert customer_key.ends_at == ended + R6
        # A key made after the end ends at R6 from the start.
        later = Keys(contract_ended=ended)
        later.protector.protect(0, hold_accepted())
        assert [k.ends_at for n, k in later.keys.entries() if "/customer/" in n] == [ended + R6]

    def test_a_later_contract_end_does_not_postpone_the_key(self) -> None:
        keys = Keys()
        keys.protector.protect(0, hold_accepted())
        keys.protector.contract_ended(0, CUSTOMER, T0)
        keys.protector.contract_ended(0, CUSTOMER, T0 + timedelta(days=100))
        assert [k.ends_at for n, k in keys.keys.entries() if "/customer/" in n] == [T0 + R6]


class TestDestruction:
    def test_at_r6_the_customer_fields_are_erased_and_the_hold_fields_stay(self) -> None:
        keys = Keys()
        published = keys.protector.protect(0, hold_accepted())
        keys.protector.contract_ended(0, CUSTOMER, T0)
        keys.clock.at = T0 + R6 - timedelta(seconds=1)
        keys.run_due()
        assert reveal(published, keys.readable())["customer_id"] == CUSTOMER  # not yet
        keys.clock.at = T0 + R6
        keys.run_due()
        shown = reveal(published, keys.readable())
        assert shown["customer_id"] == ERASED
        assert [o["key"] for o in shown["objects"]] == [ERASED, ERASED]
        assert shown["erased"] == ["customer"]
        assert shown["details"]["case_reference"] == CASE  # the hold's key lives on (S5)
        # The table keeps no key material for the customer, only when it ended.
        (entry,) = [k for n, k in keys.keys.entries() if "/customer/" in n]
        # Nor its id: nothing leads from the customer to the records it sealed.
        assert (entry.key, entry.kid, entry.ended_at) == (None, None, T0 + R6)

    def test_the_hold_key_ends_after_the_hold_limit_plus_s5(self) -> None:
        keys = Keys()
        published = keys.protector.protect(0, hold_accepted())
        keys.clock.at = T0 + timedelta(days=30 + 365)
        keys.run_due()
        shown = reveal(published, keys.readable())
        assert shown["details"] == {"waited_for_alarm": "true"}
        assert (shown["erased"], shown["customer_id"]) == (["hold"], CUSTOMER)

    def test_the_chain_over_sealed_records_still_verifies_after_destruction(self) -> None:
        keys = Keys()
        sealed, prev = [], GENESIS
        for _ in range(3):
            record = seal(prev, keys.protector.protect(0, hold_accepted()))
            prev = record["hash"]
            sealed.append((len(sealed), orjson.dumps(record)))
        keys.protector.contract_ended(0, CUSTOMER, T0)
        keys.clock.at = T0 + timedelta(days=800)
        keys.run_due()
        assert keys.readable() == {}
        assert verify(0, sealed) == (3, None)

    def test_a_destroyed_entry_is_forgotten_when_its_records_are_gone(self) -> None:
        keys = Keys()
        keys.protector.protect(0, hold_accepted())
        keys.protector.contract_ended(0, CUSTOMER, T0)
        keys.clock.at = T0 + R6
        keys.run_due()
        keys.clock.at = T0 + R6 + timedelta(days=6 * 365)
        keys.run_due()
        assert [n for n, _ in keys.keys.entries() if "/customer/" in n] == []

    def test_a_record_republished_after_its_key_was_destroyed_is_erased_at_once(self) -> None:
        keys = Keys()
        keys.protector.protect(0, hold_accepted())
        keys.protector.contract_ended(0, CUSTOMER, T0)
        keys.clock.at = T0 + R6
        keys.run_due()
        # After a restart, outside stream processing: no key may be made.
        keys.protector._in_stream = lambda: False
        shown = reveal(keys.protector.protect(0, hold_accepted()), keys.readable())
        assert shown["customer_id"] == ERASED

    def test_a_new_record_after_the_end_gets_a_key_that_is_already_due(self) -> None:
        keys = Keys()
        keys.protector.protect(0, hold_accepted())
        keys.protector.contract_ended(0, CUSTOMER, T0)
        keys.clock.at = T0 + R6
        keys.run_due()
        published = keys.protector.protect(0, hold_accepted())
        keys.run_due()
        assert reveal(published, keys.readable())["customer_id"] == ERASED


class TestTampering:
    def test_a_sealed_part_moved_to_another_record_does_not_open(self) -> None:
        keys = Keys()
        first = keys.protector.protect(0, hold_accepted())
        other = hold_accepted()
        other["audit_id"] = "another"
        second = keys.protector.protect(0, other)
        moved = {**second, "encrypted": first["encrypted"]}
        with pytest.raises(ValueError, match="does not open"):
            reveal(moved, keys.readable())
        part = first["encrypted"]["customer"]
        with pytest.raises(ValueError, match="does not open"):
            open_part(keys.readable()[part["kid"]], first["audit_id"], Subject.HOLD, part)


def test_table_names_hold_no_customer_id() -> None:
    name = table_key(3, Subject.CUSTOMER, Pseudonyms(b"k").customer(CUSTOMER))
    assert CUSTOMER not in name
    assert name.startswith("3/customer/c-")
    assert SubjectKey.from_json(SubjectKey("k", b"1" * 32, T0, T0).to_json()).key == b"1" * 32


RECORDS = timedelta(days=6 * 365)


class TestAKeyWhileTheContractRuns:
    def test_lives_until_the_records_it_sealed_are_gone_counted_from_its_last_use(self) -> None:
        keys = Keys()
        keys.protector.protect(0, hold_accepted())
        keys.clock.at = T0 + timedelta(days=5 * 365)
        last = keys.protector.protect(0, hold_accepted())  # a record written five years on
        keys.clock.at = T0 + RECORDS + timedelta(days=1)
        keys.run_due()
        assert reveal(last, keys.readable())["customer_id"] == CUSTOMER
        keys.clock.at = T0 + timedelta(days=5 * 365) + RECORDS
        keys.run_due()
        assert reveal(last, keys.readable())["customer_id"] == ERASED

    def test_is_moved_on_once_a_day_at_most(self) -> None:
        keys = Keys()
        keys.protector.protect(0, hold_accepted())
        writes = len(keys.table)
        before = dict(keys.table)
        for hours in range(1, 20):
            keys.clock.at = T0 + timedelta(hours=hours)
            keys.protector.protect(0, hold_accepted())
        assert keys.table == before  # within a day: no write
        keys.clock.at = T0 + timedelta(days=2)
        keys.protector.protect(0, hold_accepted())
        assert keys.table != before
        assert len(keys.table) == writes

    def test_a_record_after_such_a_key_ended_gets_a_key_of_its_own_end(self) -> None:
        keys = Keys()
        keys.protector.protect(0, hold_accepted())
        keys.clock.at = T0 + RECORDS
        keys.run_due()
        later = keys.protector.protect(0, hold_accepted())
        keys.run_due()
        assert reveal(later, keys.readable())["customer_id"] == CUSTOMER


class TestAnErasureRequest:
    def test_ends_the_customers_fields_after_the_grace_and_a_later_record_is_readable(self) -> None:
        keys = Keys()
        sealed = keys.protector.protect(0, hold_accepted())
        keys.protector.end_customer_key(0, CUSTOMER, T0 + timedelta(days=1), "Art17")
        keys.clock.at = T0 + timedelta(days=1)
        keys.run_due()
        assert reveal(sealed, keys.readable())["customer_id"] == ERASED
        # The customer stays a customer: what is recorded after the request is theirs as before.
        after = keys.protector.protect(0, hold_accepted())
        keys.run_due()
        assert reveal(after, keys.readable())["customer_id"] == CUSTOMER

    def test_a_hold_accepted_meanwhile_keeps_them_until_its_limit(self) -> None:
        keys = Keys()
        sealed = keys.protector.protect(0, hold_accepted())
        keys.protector.end_customer_key(0, CUSTOMER, T0 + timedelta(days=1), "Art17")
        keys.protector.hold_accepted(0, CUSTOMER, T0 + timedelta(days=30))
        keys.clock.at = T0 + timedelta(days=2)
        keys.run_due()
        assert reveal(sealed, keys.readable())["customer_id"] == CUSTOMER
        keys.clock.at = T0 + timedelta(days=30)
        keys.run_due()
        assert reveal(sealed, keys.readable())["customer_id"] == ERASED

    def test_a_hold_does_not_move_an_r6_end(self) -> None:
        keys = Keys()
        keys.protector.protect(0, hold_accepted())
        keys.protector.contract_ended(0, CUSTOMER, T0)
        keys.protector.hold_accepted(0, CUSTOMER, T0 + R6 + timedelta(days=30))
        assert [k.ends_at for n, k in keys.keys.entries() if "/customer/" in n] == [T0 + R6]


class TestRecordsOfNoKnownCustomer:
    def test_the_sweeps_object_keys_go_under_a_key_of_the_day_that_ends_with_the_dead_letters(self) -> None:
        keys = Keys()
        record = audit_record(
            AuditType.SWEEP_UNKNOWN_FOUND,
            occurred_at=T0,
            alarm_id=None,
            customer_id=None,
            caused_by="sweep-1",
            objects=[("media", f"{CUSTOMER}/stray.jpg")],
            details={"sweep_id": "sweep-1"},
        )
        published = keys.protector.protect(0, orjson.loads(record.to_json()))
        assert CUSTOMER not in json.dumps(published)
        assert reveal(published, keys.readable())["objects"][0]["key"] == f"{CUSTOMER}/stray.jpg"
        keys.clock.at = T0 + timedelta(days=1 + 30)
        keys.run_due()
        assert reveal(published, keys.readable())["objects"][0]["key"] == ERASED


class TestWhoAskedOnTheCustomersBehalf:
    def test_is_the_customers_and_goes_with_their_key(self) -> None:
        keys = Keys()
        record = audit_record(
            AuditType.REQUEST_ANSWERED,
            occurred_at=T0,
            alarm_id=None,
            customer_id=CUSTOMER,
            caused_by="req-1",
            details={"request_id": "req-1", "kind": "access", "requested_by": "Kari Nordmann (by phone)"},
        )
        published = keys.protector.protect(0, orjson.loads(record.to_json()))
        assert "Kari Nordmann" not in json.dumps(published)
        assert published["details"] == {"request_id": "req-1", "kind": "access"}
        keys.protector.contract_ended(0, CUSTOMER, T0)
        keys.clock.at = T0 + R6
        keys.run_due()
        assert "requested_by" not in reveal(published, keys.readable())["details"]
