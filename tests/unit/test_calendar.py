"""Calendar rules in Norwegian time: pinned cases and properties over a century of start moments."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.calendar import NORWAY, Period, period_end


def oslo(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=NORWAY)  # type: ignore[misc]


class TestPinnedCases:
    @pytest.mark.parametrize(
        ("start", "period", "due"),
        [
            # The statement's own example: full years 2027-2031, due 1 January 2032, Oslo time.
            (oslo(2026, 3, 15, 12), Period(full_accounting_years=5), oslo(2032, 1, 1)),
            # The last hour of a year in Oslo is still that year, though UTC says the next one...
            (oslo(2026, 12, 31, 23, 30), Period(full_accounting_years=5), oslo(2032, 1, 1)),
            # ...and the first hour of a year in Oslo is the new year, though UTC still says the old one.
            (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), Period(full_accounting_years=5), oslo(2033, 1, 1)),
            (oslo(2026, 1, 31, 9), Period(months=1), oslo(2026, 2, 28, 9)),
            (oslo(2028, 1, 31, 9), Period(months=1), oslo(2028, 2, 29, 9)),
            (oslo(2026, 3, 31, 9), Period(months=12), oslo(2027, 3, 31, 9)),
            (oslo(2026, 8, 31, 9), Period(months=6), oslo(2027, 2, 28, 9)),
            (oslo(2028, 2, 29, 9), Period(years=3), oslo(2031, 2, 28, 9)),
            (oslo(2028, 2, 29, 9), Period(months=12), oslo(2029, 2, 28, 9)),
            (oslo(2028, 2, 29, 9), Period(years=4), oslo(2032, 2, 29, 9)),
            # Summer time to winter time: the wall clock is kept, so the UTC hour moves.
            (oslo(2026, 7, 15, 10), Period(months=6), oslo(2027, 1, 15, 10)),
            # 02:30 on the spring-change night does not exist: the first moment after the gap.
            (oslo(2025, 3, 29, 2, 30), Period(years=1), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
            # Days are exact durations, whatever the clocks do.
            (datetime(2026, 3, 28, 12, tzinfo=UTC), Period(days=7), datetime(2026, 4, 4, 12, tzinfo=UTC)),
            (oslo(2026, 3, 15, 12), Period(), oslo(2026, 3, 15, 12)),
        ],
    )
    def test_due(self, start: datetime, period: Period, due: datetime) -> None:
        assert period_end(start, period) == due.astimezone(UTC)
        assert period_end(start, period).tzinfo is UTC

    def test_naive_moments_are_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            period_end(datetime(2026, 1, 1), Period(days=1))

    def test_a_period_has_one_unit(self) -> None:
        with pytest.raises(ValueError, match="not several"):
            Period(days=1, months=1)


starts = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


class TestProperties:
    @given(start=starts, months=st.integers(0, 240))
    def test_months_keep_the_wall_clock_day_or_the_months_last_day(
        self, start: datetime, months: int
    ) -> None:
        due = period_end(start, Period(months=months)).astimezone(NORWAY)
        local = start.astimezone(NORWAY)
        month_index = local.year * 12 + local.month - 1 + months
        year, month = divmod(month_index, 12)
        assert (due.year, due.month) == (year, month + 1)
        assert due.day == min(local.day, calendar.monthrange(year, month + 1)[1])
        assert due >= start  # never early

    @given(start=starts, years=st.integers(1, 20))
    def test_years_are_twelve_months(self, start: datetime, years: int) -> None:
        assert period_end(start, Period(years=years)) == period_end(start, Period(months=12 * years))

    @given(start=starts, years=st.integers(1, 10))
    def test_full_accounting_years_end_on_new_years_night_after_that_many_whole_years(
        self, start: datetime, years: int
    ) -> None:
        due = period_end(start, Period(full_accounting_years=years)).astimezone(NORWAY)
        local = start.astimezone(NORWAY)
        assert (due.month, due.day, due.hour, due.minute) == (1, 1, 0, 0)
        assert due.year == local.year + years + 1
        # Whole calendar years lie between: never earlier than `years` plain years after the start.
        assert due > period_end(start, Period(years=years))
        assert due - start.astimezone(NORWAY) <= timedelta(days=366 * (years + 1))

    @given(start=starts, days=st.integers(0, 400))
    def test_days_are_exact(self, start: datetime, days: int) -> None:
        assert period_end(start, Period(days=days)) - start == timedelta(days=days)
