"""Periods as the schedule states them: drills in seconds are exact durations like days, and a period
reads as the record of processing and the README print it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from handlers.calendar import Period, period_end

START = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)


class TestSecondsAreExactDurations:
    def test_a_drill_period_in_seconds_ends_that_many_seconds_later(self) -> None:
        assert period_end(START, Period(seconds=90)) == START + timedelta(seconds=90)


class TestAPeriodReadsAsWritten:
    @pytest.mark.parametrize(
        ("period", "text"),
        [
            (Period(days=1), "1 day"),
            (Period(days=7), "7 days"),
            (Period(months=1), "1 month"),
            (Period(months=12), "12 months"),
            (Period(years=1), "1 year"),
            (Period(years=3), "3 years"),
            (Period(seconds=1), "1 second"),
            (Period(full_accounting_years=5), "5 full accounting years"),
            (Period(), "until then"),
        ],
    )
    def test_one_unit_in_the_singular_more_in_the_plural(self, period: Period, text: str) -> None:
        assert period.describe() == text
