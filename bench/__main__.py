"""`make bench` (quick, under 10 minutes on 2 cores) and `make bench-full`.

Starts its own Tansu and SeaweedFS, runs each scenario against its baseline in the same run, and writes
bench/results/<date>-<mode>.json and .md; a full run also bench/results/latest.json and latest.md (the
committed record the README's table is generated from), a quick run latest-quick.json and .md.
`--readme` regenerates the README's table (and latest.md) from bench/results/latest.json; `--check-readme`
only compares.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Bench, machine
from bench.report import LATEST_FULL, README, RESULTS, document, latest_full, markdown, readme_with
from bench.scenarios import SCENARIOS
from config.logging import configure_logging
from streams.local.stack import BROKER_STORAGE, LocalStack, Ports


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--full", action="store_true", help="the full sizes (100,000 and 1,000,000 objects)")
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append", help="run only these scenarios")
    parser.add_argument(
        "--readme", action="store_true", help=f"write the README's table from {LATEST_FULL.name}"
    )
    parser.add_argument("--check-readme", action="store_true", help="exit 1 if the README's table differs")
    parser.add_argument(
        "--broker",
        choices=BROKER_STORAGE,
        default="s3",
        help="Tansu's storage engine: s3 (durable, its log in SeaweedFS, as `make run` uses; the default) "
        "or memory",
    )
    args = parser.parse_args()
    if args.readme or args.check_readme:
        return _readme(write=args.readme)
    configure_logging("WARNING", "console")

    root = Path(tempfile.mkdtemp(prefix="retention-bench-"))
    stack = LocalStack(root / "stack", Ports.free(), broker_storage=args.broker)
    info = {**machine(), "mode": "full" if args.full else "quick", "broker_storage": args.broker}
    print(f"load average at the start: {info['load_average_at_start']}", flush=True)
    print(f"starting Tansu and SeaweedFS in {root}", flush=True)
    stack.start()
    bench = Bench(root=root, full=args.full, stack=stack)
    started = time.monotonic()
    failed: list[str] = []
    try:
        for name in args.only or list(SCENARIOS):
            try:
                asyncio.run(SCENARIOS[name](bench))
            except Exception as exc:  # one broken scenario should not hide the others' figures
                print(f"  {name} FAILED: {type(exc).__name__}: {exc}", flush=True)
                failed.append(name)
    finally:
        bench.close()
        stack.stop()
    info |= {"seconds": round(time.monotonic() - started), "load_average_at_end": list(os.getloadavg())}
    if args.only:
        info["only"] = args.only
    run = document(info, bench.figures, failed, bench.problems)
    table = markdown(run)
    RESULTS.mkdir(exist_ok=True)
    stamp = f"{info['date'].replace(':', '')}-{info['mode']}"
    latest = "latest" if args.full and not args.only else f"latest-{info['mode']}"
    for name in (stamp, latest):
        (RESULTS / f"{name}.json").write_text(json.dumps(run, indent=2) + "\n")
        (RESULTS / f"{name}.md").write_text(table)
    print("\n" + table)
    print(f"written to {RESULTS / latest}.json and .md")
    if not failed and not bench.problems:  # keep the logs of a failed run
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"logs kept in {root}")
    return 1 if failed or bench.problems else 0


def _readme(write: bool) -> int:
    run = latest_full()
    table = LATEST_FULL.with_suffix(".md")
    if table.read_text() != markdown(run):
        if not write:
            print(f"{table} is not {LATEST_FULL}'s table: run python -m bench --readme", file=sys.stderr)
            return 1
        table.write_text(markdown(run))  # rendered again from the same figures
    current = README.read_text()
    wanted = readme_with(current, run)
    if current == wanted:
        print(f"the README's table is {LATEST_FULL}'s")
        return 0
    if write:
        README.write_text(wanted)
        print(f"the README's table rewritten from {LATEST_FULL}")
        return 0
    print(f"the README's table differs from {LATEST_FULL}: run python -m bench --readme", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
