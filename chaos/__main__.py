"""`make chaos`: every fault scenario at full length, then the report table.

Each scenario gets a fresh local stack with cuttable lines in front of the broker and the store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from chaos.check import Report, table
from chaos.rig import ChaosRig
from chaos.scenarios import (
    broker_killed,
    broker_unreachable,
    burst_then_kill,
    killed_repeatedly,
    one_of_two_lost,
    stack_restarted,
    store_killed,
    store_unreachable,
)
from config.logging import configure_logging

RESULTS = Path(__file__).parent / "results"
SCENARIOS: dict[str, Callable[[ChaosRig], Coroutine[Any, Any, Report]]] = {
    "burst-kill": lambda rig: burst_then_kill(rig, alarms=20, rounds=3),
    "burst-kill-s3": lambda rig: burst_then_kill(rig, alarms=20, rounds=3),
    "kill": lambda rig: killed_repeatedly(rig, seconds=60, kills=3),
    "lose-one": lambda rig: one_of_two_lost(rig, seconds=45),
    "store": lambda rig: store_unreachable(rig, seconds=75, outage=60),
    "broker": lambda rig: broker_unreachable(rig, seconds=60, at_start=20, outage=30),
    "kill-s3": lambda rig: killed_repeatedly(rig, seconds=60, kills=4),
    "broker-killed-s3": lambda rig: broker_killed(rig, seconds=60, down=15),
    "store-killed-s3": lambda rig: store_killed(rig, seconds=60, down=15),
    "stack-restarted-s3": lambda rig: stack_restarted(rig, seconds=60, down=10),
}
# A stopped stack takes about 45 s to be back (stop, 10 s down, start, recover): longer than the default
# 45 s hold limit, after which a hold is rightly refused. Here holds must outlive the restart.
RIG_OPTIONS: dict[str, dict[str, Any]] = {"stack-restarted-s3": {"hold_limit": timedelta(seconds=120)}}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append")
    args = parser.parse_args()
    configure_logging("WARNING", "console")
    # The load's own producer logs every refused connection while the broker is cut: the scenario
    # reports the outage itself.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    reports: list[Report] = []
    for name in args.only or list(SCENARIOS):
        root = Path(tempfile.mkdtemp(prefix=f"retention-chaos-{name}-"))
        rig = ChaosRig(
            root, broker_storage="s3" if name.endswith("-s3") else "memory", **RIG_OPTIONS.get(name, {})
        )
        print(f"{name}: starting (logs in {root})", flush=True)
        rig.start()
        report: Report
        try:
            report = asyncio.run(SCENARIOS[name](rig))
        except Exception as exc:
            report = Report(name, problems=[f"{type(exc).__name__}: {exc}"])
        finally:
            rig.stop()
        reports.append(report)
        print(table([report]), flush=True)
        for problem in report.problems[:10]:
            print(f"  problem: {problem}")
        if report.passed:
            shutil.rmtree(root, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.md").write_text(table(reports))
    (RESULTS / "latest.json").write_text(
        json.dumps([asdict(r) for r in reports], indent=2, default=str) + "\n"
    )
    print("\n" + table(reports))
    return 0 if all(r.passed for r in reports) else 1


if __name__ == "__main__":
    raise SystemExit(main())
