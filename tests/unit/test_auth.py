"""Bearer tokens: stored as hashes, compared in constant time, failures slowed down."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.settings import ApiToken
from streams.api.auth import Authenticator, FailedAttempts, hash_token, new_token


def authenticator() -> Authenticator:
    return Authenticator(
        [
            ApiToken(
                name="liaison-oslo", role="police-liaison", unit="oslo", sha256=hash_token("rt_liaison")
            ),
            ApiToken(name="ops", role="operator", sha256=hash_token("rt_ops")),
        ]
    )


class TestTokens:
    def test_a_known_token_gives_its_identity_and_role(self) -> None:
        identity = authenticator().identify("Bearer rt_liaison")
        assert identity is not None
        assert (identity.name, identity.role, identity.unit) == ("liaison-oslo", "police-liaison", "oslo")

    def test_a_police_liaison_token_must_name_its_unit(self) -> None:
        with pytest.raises(ValidationError, match="names its unit"):
            ApiToken(name="liaison", role="police-liaison", sha256=hash_token("rt_x"))

    def test_unknown_missing_or_malformed_tokens_give_nothing(self) -> None:
        auth = authenticator()
        for header in (None, "", "Bearer", "Bearer rt_nope", "Basic cnQ6b3Bz", "rt_ops"):
            assert auth.identify(header) is None

    def test_new_tokens_are_long_random_and_prefixed(self) -> None:
        first, second = new_token(), new_token()
        assert first != second
        assert first.startswith("rt_")
        assert len(first) > 40

    def test_only_the_hash_is_needed_to_admit_a_token(self) -> None:
        token = new_token()
        auth = Authenticator([ApiToken(name="x", role="auditor", sha256=hash_token(token))])
        assert auth.identify(f"Bearer {token}") is not None
        assert token not in repr(auth.__dict__)


class TestFailedAttempts:
    def test_the_first_failures_cost_nothing(self) -> None:
        attempts = FailedAttempts(free=5)
        assert [attempts.record("10.0.0.1", now=t) for t in range(5)] == [0.0] * 5

    def test_further_failures_wait_longer_and_longer_up_to_a_cap(self) -> None:
        attempts = FailedAttempts(free=2, first_delay=0.25, max_delay=2.0)
        delays = [attempts.record("10.0.0.1", now=float(t)) for t in range(8)]
        assert delays == [0.0, 0.0, 0.25, 0.5, 1.0, 2.0, 2.0, 2.0]

    def test_clients_are_counted_apart(self) -> None:
        attempts = FailedAttempts(free=1)
        attempts.record("a", now=0)
        attempts.record("a", now=0)
        assert attempts.record("b", now=0) == 0.0

    def test_failures_outside_the_window_are_forgiven(self) -> None:
        attempts = FailedAttempts(free=1, window=60)
        attempts.record("a", now=0)
        attempts.record("a", now=1)
        assert attempts.record("a", now=200) == 0.0
