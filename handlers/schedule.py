"""The retention schedule as data: one rule per kind of personal data (R1-R8 of the statement).

Loaded from config/retention-schedule.toml (config/schedule.py); the rules here only describe and
compute. The README's retention table and the record of processing (GDPR Art. 30) are rendered from
the same rules, so the statement, the documentation and the code cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from handlers.calendar import Period, period_end

Starts = Literal["alarm.triggered", "contract.ended", "call.recorded"]
MEDIA_SYSTEM = "media"  # this service deletes media itself; every other system is told by command


class Keep(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    days: int = Field(default=0, ge=0)
    months: int = Field(default=0, ge=0)
    years: int = Field(default=0, ge=0)
    full_accounting_years: int = Field(default=0, ge=0)
    seconds: int = Field(default=0, ge=0)  # for drills and tests only

    @model_validator(mode="after")
    def _one_unit(self) -> Keep:
        self.period()  # raises when more than one unit is given
        return self

    def period(self) -> Period:
        return Period(self.days, self.months, self.years, self.full_accounting_years, self.seconds)


class ScheduleRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^R[0-9]+$")
    category: str = Field(pattern=r"^[a-z_]+$")
    data: str
    starts: Starts
    keep: Keep
    keep_with_consent: Keep | None = None  # R8: a shorter period when the customer consented
    action: Literal["delete", "anonymise"]
    system: str = Field(pattern=r"^[a-z-]+$")
    note: str | None = None

    @property
    def by_command(self) -> bool:
        """Carried out by another system, told through the erasure-commands topic."""
        return self.system != MEDIA_SYSTEM

    def due_at(self, start: datetime, zone: ZoneInfo, consent: bool = False) -> datetime:
        keep = self.keep_with_consent if consent and self.keep_with_consent else self.keep
        return period_end(start, keep.period(), zone)

    def kept(self) -> str:
        period = self.keep.period()
        text = period.describe() if period != Period() else f"until {_STARTS_TEXT[self.starts]}"
        if self.keep_with_consent is not None:
            text += f", or {self.keep_with_consent.period().describe()} with consent"
        return text


class ServiceRecord(BaseModel):
    """A record the service keeps itself about people's data (its own state): how long it lives."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^S[0-9]+$")
    category: str = Field(pattern=r"^[a-z_]+$")
    data: str
    kept_in: str
    starts: str  # the moment its clock starts, in words
    keep: Keep
    setting: str | None = None  # the setting that may shorten or lengthen it, where one does
    note: str | None = None

    @field_validator("keep")
    @classmethod
    def _exact(cls, keep: Keep) -> Keep:
        if keep.months or keep.years or keep.full_accounting_years:
            raise ValueError("the service's own records are kept for days (or seconds), not calendar periods")
        return keep

    def lifetime(self) -> timedelta:
        return timedelta(days=self.keep.days, seconds=self.keep.seconds)

    def kept(self) -> str:
        period = self.keep.period()
        text = f"{period.describe()} after {self.starts}" if period != Period() else f"until {self.starts}"
        return f"{text} ({self.note})" if self.note else text


StoreKind = Literal["topic", "changelog", "table", "archive table", "bucket", "log", "disk index"]


class Store(BaseModel):
    """A place the service writes to, with how long what it holds is kept: every one is declared (the
    test tests/unit/test_declared_stores.py fails for a store the service writes and this omits)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str  # as the code names it (a topic's default name, a table's, an archive table's)
    kind: StoreKind
    holds: str  # what personal data, if any
    kept: str  # until when, in words, naming the setting
    rows: tuple[str, ...] = ()  # the schedule rows (R*, S*) whose data it holds


class Schedule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    zone: str
    rules: tuple[ScheduleRule, ...]
    service_records: tuple[ServiceRecord, ...] = ()
    stores: tuple[Store, ...] = ()

    @field_validator("zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _unique(self) -> Schedule:
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique")
        categories = [r.category for r in self.rules]
        if len(categories) != len(set(categories)):
            raise ValueError("categories must be unique")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def rule(self, rule_id: str) -> ScheduleRule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def service_record(self, category: str) -> ServiceRecord:
        for record in self.service_records:
            if record.category == category:
                return record
        raise KeyError(category)

    def started_by(self, event_type: str) -> tuple[ScheduleRule, ...]:
        """The rules another system carries out whose clock this event starts."""
        return tuple(r for r in self.rules if r.starts == event_type and r.by_command)


_STARTS_TEXT = {
    "alarm.triggered": "the alarm activation",
    "contract.ended": "contract end",
    "call.recorded": "the recording",
}
_ACTION_TEXT = {"delete": "deleted", "anonymise": "anonymised"}


def render_markdown(schedule: Schedule) -> str:
    """The retention table: the statement's columns, then who carries each rule out and how."""
    lines = [
        "| # | Data | Kept | Then | Starts at | Carried out by |",
        "|---|------|------|------|-----------|----------------|",
    ]
    for r in schedule.rules:
        by = "this service" if not r.by_command else f"`{r.system}`, by `erasure.due` command"
        note = f" ({r.note})" if r.note else ""
        lines.append(
            f"| {r.id} | {r.data} | {r.kept()}{note} | {_ACTION_TEXT[r.action]} | "
            f"{_STARTS_TEXT[r.starts]} | {by} |"
        )
    return "\n".join(lines) + "\n"


def render_record_of_processing(schedule: Schedule) -> str:
    """The erasure part of the record of processing activities (GDPR Art. 30(1)(c) and (f)): each
    category of personal data and the envisaged time limit for its erasure, and where it is kept."""
    lines = [
        "# Record of processing: categories of personal data and time limits for erasure",
        "",
        "Generated from config/retention-schedule.toml by `retention schedule --format record`;",
        f"calendar periods are counted in {schedule.zone} time.",
        "",
        "| Category (Art. 30(1)(c)) | Personal data | Kept in "
        "| Time limit for erasure (Art. 30(1)(f)) | Then | Rule |",
        "|---|---|---|---|---|---|",
    ]
    for r in schedule.rules:
        kept_in = "object storage (alarm media buckets)" if not r.by_command else f"`{r.system}`"
        if r.keep.period() == Period():
            limit = r.kept()
        else:
            limit = f"{r.keep.period().describe()} after {_STARTS_TEXT[r.starts]}"
        if r.keep_with_consent is not None:
            limit += f"; {r.keep_with_consent.period().describe()} with the customer's consent"
        lines.append(
            f"| `{r.category}` | {r.data} | {kept_in} | {limit} | {_ACTION_TEXT[r.action]} | {r.id} |"
        )
    if schedule.service_records:
        lines += [
            "",
            "## The service's own records",
            "",
            "What the retention service itself keeps about the data above, and for how long.",
            "",
            "| Category | Personal data | Kept in | Time limit for erasure | Setting | Rule |",
            "|---|---|---|---|---|---|",
        ]
        for s in schedule.service_records:
            setting = f"`{s.setting}`" if s.setting else ""
            lines.append(f"| `{s.category}` | {s.data} | {s.kept_in} | {s.kept()} | {setting} | {s.id} |")
    if schedule.stores:
        lines += [
            "",
            "## Every store the service writes",
            "",
            "What it holds and how long; a test fails for a store the service writes and this omits.",
            "",
            "| Store | Kind | Holds | Kept | Rows |",
            "|---|---|---|---|---|",
        ]
        for store in schedule.stores:
            rows = ", ".join(store.rows)
            lines.append(f"| `{store.name}` | {store.kind} | {store.holds} | {store.kept} | {rows} |")
    return "\n".join(lines) + "\n"


def render_json(schedule: Schedule) -> str:
    return schedule.model_dump_json(indent=2) + "\n"
