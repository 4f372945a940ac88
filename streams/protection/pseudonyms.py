"""Pseudonyms: a keyed hash (HMAC-SHA256 under PSEUDONYM_KEY) stands for a customer id where the id
itself is not needed: log lines, the keys of audit records on the topic, the archive's index of a
customer's records. The same id always gives the same pseudonym, so records about one customer can
still be found together; without the key, an id cannot be tested against it."""

from __future__ import annotations

import hashlib
import hmac


class Pseudonyms:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def customer(self, customer_id: str) -> str:
        return "c-" + self._digest("customer", customer_id)

    def case(self, case_reference: str) -> str:
        return "k-" + self._digest("case", case_reference)

    def _digest(self, kind: str, value: str) -> str:
        return hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]
