"""A commit that does not complete says so every interval while it waits (the only trace of a consumer
group whose offsets stop moving), and a commit that completes says nothing."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from streams.kafka import transport


async def test_a_slow_step_is_logged_while_it_lasts_and_its_result_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport, "COMMIT_WAIT_LOG_SECONDS", 0.05)

    async def slow() -> str:
        await asyncio.sleep(0.18)
        return "committed"

    with capture_logs() as logs:
        assert await transport._said_while_waiting("the broker", slow()) == "committed"
    waits = [e for e in logs if e["event"] == "commit.waiting"]
    assert len(waits) == 3
    assert waits[0]["waiting_for"] == "the broker"


async def test_a_quick_step_says_nothing_and_its_error_comes_through() -> None:
    async def failing() -> None:
        raise RuntimeError("refused")

    with capture_logs() as logs, pytest.raises(RuntimeError, match="refused"):
        await transport._said_while_waiting("the broker", failing())
    assert logs == []
