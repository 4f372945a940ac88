"""Bearer tokens and roles, and slowing down whoever keeps presenting wrong ones.

Tokens are stored only as SHA-256 hashes: they are long random strings, so a fast hash is enough (a
password would need a slow one). Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from config.settings import ApiToken, Role
from handlers.state import Hold

TOKEN_PREFIX = "rt_"  # noqa: S105 - a prefix that makes leaked tokens easy to find, not a secret
ROLES: tuple[Role, ...] = ("police-liaison", "operator", "auditor")


@dataclass(frozen=True)
class Identity:
    name: str  # recorded as placed_by / released_by and in the audit trail
    role: Role
    unit: str | None = None  # a police liaison's unit


def sees(identity: Identity, hold: Hold) -> bool:
    """Least privilege: a police liaison sees (and releases, and collects) only their own unit's holds."""
    return identity.role != "police-liaison" or (hold.unit is not None and hold.unit == identity.unit)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class Authenticator:
    def __init__(self, tokens: Iterable[ApiToken]) -> None:
        self._tokens = list(tokens)

    def identify(self, authorization: str | None) -> Identity | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        presented = hash_token(authorization.removeprefix("Bearer ").strip())
        found = None
        for token in self._tokens:  # no early exit: the time taken says nothing about which matched
            if hmac.compare_digest(token.sha256, presented):
                found = Identity(token.name, token.role, token.unit)
        return found


class FailedAttempts:
    """Per client: after `free` failures within `window` seconds, each further failure waits longer
    (doubling, capped), so guessing tokens gets slow while a typo costs nothing."""

    def __init__(
        self, free: int = 5, window: float = 60.0, first_delay: float = 0.25, max_delay: float = 8.0
    ) -> None:
        self._free = free
        self._window = window
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._failures: dict[str, deque[float]] = {}

    def record(self, client: str, now: float | None = None) -> float:
        """Note a failure; return how many seconds to hold the answer back."""
        moment = time.monotonic() if now is None else now
        recent = self._failures.setdefault(client, deque())
        while recent and moment - recent[0] > self._window:
            recent.popleft()
        recent.append(moment)
        excess = len(recent) - self._free
        if excess <= 0:
            return 0.0
        return float(min(self._max_delay, self._first_delay * 2 ** (excess - 1)))

    def forget_idle(self, now: float | None = None) -> None:
        moment = time.monotonic() if now is None else now
        for client in [c for c, r in self._failures.items() if not r or moment - r[-1] > self._window]:
            del self._failures[client]
