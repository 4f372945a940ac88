"""Loading the retention schedule (config/retention-schedule.toml) with a clear error when it is wrong."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from handlers.schedule import Schedule

DEFAULT_SCHEDULE = Path(__file__).with_name("retention-schedule.toml")


class ScheduleError(Exception):
    pass


def load_schedule(path: Path | None = None) -> Schedule:
    path = path or DEFAULT_SCHEDULE
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScheduleError(f"{path}: cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleError(f"{path}: not valid TOML ({exc})") from None
    try:
        return Schedule.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise ScheduleError(f"{path}: {problems}") from None
