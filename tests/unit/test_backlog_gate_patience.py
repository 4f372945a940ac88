"""A gate that stays shut holds every deletion back: how long it has been shut is known, and /health
says degraded past PATIENCE_SECONDS (streams/worker/service.py)."""

from __future__ import annotations

import time

from streams.worker.backlog_gate import BacklogGate


def test_a_new_gate_counts_from_its_creation_and_an_open_one_counts_nothing() -> None:
    gate = BacklogGate({}, "group", "police-holds", "retention-alarm-stream")
    gate.closed_since = time.monotonic() - 400
    assert gate.closed_for() >= 400
    gate.open = True
    assert gate.closed_for() == 0.0


def test_closing_an_open_gate_starts_the_count_again() -> None:
    gate = BacklogGate({}, "group", "police-holds", "retention-alarm-stream")
    gate.closed_since = time.monotonic() - 400
    gate.open = True
    gate.close()
    assert gate.closed_for() < 5
    gate.close()  # closing it again (a second rebalance) keeps counting from the first
    assert gate.closed_for() < 5
