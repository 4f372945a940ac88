"""When a retention period that starts at a moment ends: exact durations and calendar rules.

"7 days" is an exact duration. "12 months" and "3 years" are calendar arithmetic in Norwegian time: the
same day of the month that many months later, or the month's last day when it has no such day (31
January + 1 month = 28 or 29 February; 29 February + 1 year = 28 February). "5 full accounting years"
counts whole calendar years after the year in which the period starts, so it ends on 1 January at
midnight, Norwegian time: a contract ending on 15 March 2026 has 2027-2031 as its full years and is
due on 1 January 2032.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

NORWAY = ZoneInfo("Europe/Oslo")


@dataclass(frozen=True)
class Period:
    """Exactly one of the fields is set; none at all means "at once"."""

    days: int = 0
    months: int = 0
    years: int = 0
    full_accounting_years: int = 0
    seconds: int = 0  # for drills and tests of the whole path; the statement speaks in days and up

    def __post_init__(self) -> None:
        values = (self.days, self.months, self.years, self.full_accounting_years, self.seconds)
        if len([v for v in values if v]) > 1:
            raise ValueError("a period is days, months, years or full accounting years, not several")
        if any(v < 0 for v in values):
            raise ValueError("a period cannot be negative")

    def describe(self) -> str:
        if self.seconds:
            return _plural(self.seconds, "second")
        if self.days:
            return _plural(self.days, "day")
        if self.months:
            return _plural(self.months, "month")
        if self.years:
            return _plural(self.years, "year")
        if self.full_accounting_years:
            return f"{self.full_accounting_years} full accounting years"
        return "until then"


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" + ("" if count == 1 else "s")


def period_end(start: datetime, period: Period, zone: ZoneInfo = NORWAY) -> datetime:
    """The moment (UTC) the period that starts at `start` (any timezone-aware moment) ends."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if period.days or period.seconds:
        return (start + timedelta(days=period.days, seconds=period.seconds)).astimezone(UTC)
    local = start.astimezone(zone)
    if period.full_accounting_years:
        first_after = datetime(local.year + 1 + period.full_accounting_years, 1, 1, tzinfo=zone)
        return first_after.astimezone(UTC)
    if period.months or period.years:
        moved = local.replace(tzinfo=None) + relativedelta(months=period.months, years=period.years)
        return _local_to_utc(moved, zone)
    return start.astimezone(UTC)


def _local_to_utc(wall_time: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time in `zone` as UTC. With fold=0 (PEP 495) a time skipped by the spring change
    (02:30 on the last Sunday of March) lands an hour later, just after the gap, and a time the autumn
    change repeats takes its first pass: never earlier than the wall clock says."""
    return wall_time.replace(tzinfo=zone, fold=0).astimezone(UTC)
