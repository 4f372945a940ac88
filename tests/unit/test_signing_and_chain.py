"""Signed hold events and the audit trail's hash chain."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.audit_chain import GENESIS, seal, verify
from handlers.decoding import ForgedHold, InputTopic, decode_event
from handlers.signing import sign, signature_problem
from tests.builders import hold_placed_json

KEYS = {"k1": b"a-long-random-secret", "k2": b"another-secret"}


def signed_hold(**changes: object) -> bytes:
    document = json.loads(hold_placed_json("alarm-1", "hold-1"))
    document = sign(document, "k1", KEYS["k1"])
    document.update(changes)
    return json.dumps(document).encode()


class TestSignedHolds:
    def test_a_correctly_signed_hold_is_accepted(self) -> None:
        event = decode_event(signed_hold(), b"alarm-1", InputTopic.HOLDS, set(), KEYS)
        assert event.type == "hold.placed"

    @pytest.mark.parametrize(
        ("changes", "reason"),
        [
            ({"signature": None, "key_id": None}, "not signed"),
            ({"key_id": "k9"}, "unknown key_id"),
            ({"case_reference": "another case"}, "does not match"),
            ({"signature": "0" * 64}, "does not match"),
        ],
    )
    def test_unsigned_forged_or_altered_holds_are_refused(
        self, changes: dict[str, object], reason: str
    ) -> None:
        raw = signed_hold(**changes)
        document = {k: v for k, v in json.loads(raw).items() if v is not None}
        with pytest.raises(ForgedHold) as caught:
            decode_event(json.dumps(document).encode(), b"alarm-1", InputTopic.HOLDS, set(), KEYS)
        assert reason in caught.value.reason
        assert caught.value.alarm_id == "alarm-1"

    def test_without_keys_signatures_are_not_checked(self) -> None:
        decode_event(hold_placed_json("alarm-1", "hold-1"), b"alarm-1", InputTopic.HOLDS, set(), None)

    @given(st.dictionaries(st.text(max_size=5), st.text(max_size=10) | st.integers(), max_size=5))
    def test_any_document_signed_verifies_and_any_change_does_not(self, document: dict[str, object]) -> None:
        signed = sign(document, "k2", KEYS["k2"])
        assert signature_problem(signed, KEYS) is None
        tampered = {**signed, "extra-field": "x"}
        assert signature_problem(tampered, KEYS) is not None


class TestAuditChain:
    def chain(self, count: int) -> list[bytes]:
        records, prev = [], GENESIS
        for i in range(count):
            sealed = seal(prev, {"type": "media.deleted", "audit_id": str(i)})
            prev = sealed["hash"]
            records.append(json.dumps(sealed).encode())
        return records

    def test_an_intact_chain_verifies(self) -> None:
        count, broken = verify(0, enumerate(self.chain(5)))
        assert (count, broken) == (5, None)

    def test_an_altered_record_is_named(self) -> None:
        records = self.chain(5)
        document = json.loads(records[2])
        document["type"] = "media.deletion_scheduled"
        records[2] = json.dumps(document).encode()
        _, broken = verify(3, enumerate(records))
        assert broken is not None
        assert (broken.partition, broken.offset) == (3, 2)
        assert "content" in broken.reason

    def test_a_removed_record_is_noticed_at_the_next_one(self) -> None:
        records = self.chain(5)
        del records[1]
        _, broken = verify(0, enumerate(records))
        assert broken is not None
        assert broken.offset == 1
        assert "prev_hash" in broken.reason

    def test_a_record_without_chain_fields_breaks_it(self) -> None:
        _, broken = verify(0, enumerate([b'{"type": "media.deleted"}']))
        assert broken is not None
        assert broken.reason == "no hash chain fields"


class TestAKeyedChain:
    KEY = ("k1", b"chain key")

    def chain(
        self, n: int, key: tuple[str, bytes] | None, start: list[dict[str, object]] | None = None
    ) -> list[dict[str, object]]:
        records = list(start or [])
        for i in range(len(records), n):
            prev = str(records[-1]["hash"]) if records else GENESIS
            records.append(seal(prev, {"type": "media.deleted", "audit_id": f"a-{i}"}, key))
        return records

    def check(self, records: list[dict[str, object]], **options: bool) -> object:
        values = [(n, json.dumps(r).encode()) for n, r in enumerate(records)]
        return verify(0, values, dict([self.KEY]), **options)

    def test_verifies_with_its_key_and_not_without(self) -> None:
        keyed = self.chain(3, self.KEY)
        assert self.check(keyed) == (3, None)
        _, broken = verify(0, [(n, json.dumps(r).encode()) for n, r in enumerate(keyed)])
        assert broken is not None
        assert "was not given" in broken.reason

    def test_a_record_claiming_no_chain_key_is_a_forgery(self) -> None:
        keyed = self.chain(2, self.KEY)
        # A plain SHA-256 link whose record says `"chain_key": null`, as anyone could write.
        forged = seal(str(keyed[-1]["hash"]), {"type": "x", "audit_id": "f", "chain_key": None})
        _, broken = self.check([*keyed, forged])
        assert broken is not None
        assert broken.offset == 2

    def test_an_unkeyed_record_is_refused_even_where_no_keyed_one_came_before(self) -> None:
        _, broken = self.check(self.chain(2, None))
        assert broken is not None
        assert (broken.offset, "not keyed" in broken.reason) == (0, True)

    def test_a_trail_begun_before_keyed_chains_passes_only_up_to_its_first_keyed_record(self) -> None:
        legacy = self.chain(2, None)
        both = self.chain(4, self.KEY, start=legacy)
        assert self.check(both, legacy_unkeyed=True) == (4, None)
        appended = self.chain(5, None, start=both)
        _, broken = self.check(appended, legacy_unkeyed=True)
        assert broken is not None
        assert broken.offset == 4
