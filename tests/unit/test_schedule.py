"""The retention schedule file against the statement, rule by rule, and the README's table against it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.schedule import ScheduleError, load_schedule
from handlers.calendar import Period
from handlers.schedule import Schedule, ScheduleRule, render_markdown, render_record_of_processing
from streams.cli import main as retention

ROOT = Path(__file__).resolve().parents[2]
STATEMENT = ROOT / "docs" / "retention-rules.md"  # a copy of ../shared/seed/retention-rules.md
STARTS = {
    "the alarm activation": "alarm.triggered",
    "contract end": "contract.ended",
    "the recording": "call.recorded",
}
# Where the schedule deliberately reads the statement more precisely than its words; each is explained
# in the schedule file's note and in the README.
INTERPRETED = {"R7": ("5 years", "5 full accounting years")}


def statement_rules() -> dict[str, dict[str, str]]:
    rows = {}
    for line in STATEMENT.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.fullmatch(r"R[0-9]+", cells[0]):
            rows[cells[0]] = dict(zip(("id", "data", "kept", "then", "starts"), cells, strict=True))
    return rows


def amounts(text: str) -> list[tuple[int, str]]:
    """(number, unit) pairs in a "Kept" cell: "12 months, or 45 days" -> [(12, months), (45, days)]."""
    found = re.findall(r"(\d+) (full accounting years|days|months|years)", text)
    return [(int(n), unit) for n, unit in found]


def amounts_of(rule: ScheduleRule) -> list[tuple[int, str]]:
    keeps = [rule.keep] + ([rule.keep_with_consent] if rule.keep_with_consent else [])
    units = ("days", "months", "years", "full_accounting_years")
    return [(getattr(k, u), u.replace("_", " ")) for k in keeps for u in units if getattr(k, u)]


@pytest.fixture(scope="module")
def schedule() -> Schedule:
    return load_schedule()


class TestTheScheduleMatchesTheStatement:
    def test_every_rule_of_the_statement_is_in_the_schedule_and_no_other(self, schedule: Schedule) -> None:
        assert [r.id for r in schedule.rules] == list(statement_rules())

    @pytest.mark.parametrize("rule_id", [f"R{i}" for i in range(1, 9)])
    def test_rule_by_rule(self, schedule: Schedule, rule_id: str) -> None:
        promised = statement_rules()[rule_id]
        rule = schedule.rule(rule_id)
        assert rule.data == promised["data"].replace("**", "")
        assert rule.starts == STARTS[promised["starts"]]
        assert rule.action == ("anonymise" if "anonymised" in promised["then"] else "delete")
        kept = promised["kept"]
        if rule_id in INTERPRETED:
            said, read_as = INTERPRETED[rule_id]
            assert said in kept
            kept = kept.replace(said, read_as)
        assert amounts_of(rule) == amounts(kept)
        if not amounts(kept):  # R3: kept while the contract runs, then anonymised at once
            assert rule.keep.period() == Period()

    def test_the_media_rules_agree_with_the_services_default_settings(self, schedule: Schedule) -> None:
        from config.settings import Settings

        defaults = Settings.model_fields
        assert defaults["media_retention"].default.days == schedule.rule("R1").keep.days
        assert defaults["hold_retention"].default.days == schedule.rule("R2").keep.days


class TestTheReadmeTable:
    def test_the_readme_table_is_the_generated_one(self, schedule: Schedule) -> None:
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        between = re.search(r"<!-- schedule:start -->\n(.*?)<!-- schedule:end -->", readme, re.S)
        assert between is not None, "README.md has no generated schedule table"
        assert between.group(1) == render_markdown(schedule), "run: retention schedule --format markdown"

    def test_the_cli_prints_it(self, schedule: Schedule, capsys: pytest.CaptureFixture[str]) -> None:
        assert retention(["schedule", "--format", "markdown"]) == 0
        assert capsys.readouterr().out == render_markdown(schedule)


class TestScheduleErrors:
    def test_a_rule_with_two_units_is_refused_with_its_place(self, tmp_path: Path) -> None:
        bad = tmp_path / "s.toml"
        bad.write_text(
            'zone = "Europe/Oslo"\n[[rules]]\nid = "R1"\ncategory = "x"\ndata = "d"\n'
            'starts = "contract.ended"\n'
            'keep = { days = 1, months = 2 }\naction = "delete"\nsystem = "media"\n'
        )
        with pytest.raises(ScheduleError, match=r"rules\.0\.keep"):
            load_schedule(bad)

    def test_an_unknown_zone_is_refused(self, tmp_path: Path) -> None:
        bad = tmp_path / "s.toml"
        bad.write_text('zone = "Europe/Atlantis"\nrules = []\n')
        with pytest.raises(ScheduleError, match="zone"):
            load_schedule(bad)

    def test_due_times_come_from_the_rules(self, schedule: Schedule) -> None:
        ended = datetime(2026, 3, 15, 11, 0, tzinfo=UTC)
        assert schedule.rule("R4").due_at(ended, schedule.tz) == datetime(2031, 12, 31, 23, 0, tzinfo=UTC)
        assert schedule.rule("R8").due_at(ended, schedule.tz, consent=True) == datetime(
            2026, 4, 29, 11, 0, tzinfo=UTC
        )


class TestTheRecordOfProcessing:
    def test_docs_hold_the_generated_record(self, schedule: Schedule) -> None:
        record = (ROOT / "docs" / "record-of-processing.md").read_text(encoding="utf-8")
        assert record == render_record_of_processing(schedule), "run: retention schedule --format record"

    def test_every_category_has_its_time_limit(self, schedule: Schedule) -> None:
        record = render_record_of_processing(schedule)
        for rule in schedule.rules:
            row = next(line for line in record.splitlines() if f"`{rule.category}`" in line)
            assert rule.keep.period().describe() in row or rule.kept() in row
