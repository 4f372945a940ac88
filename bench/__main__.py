"""`make bench` (quick, under 10 minutes on 2 cores) and `make bench-full`.

Starts its own Tansu and SeaweedFS, runs each scenario against its baseline in the same run, and writes
bench/results/<date>.json and bench/results/latest.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from bench.harness import Bench, machine
from bench.report import markdown
from bench.scenarios import SCENARIOS
from config.logging import configure_logging
from streams.local_stack import LocalStack, Ports

RESULTS = Path(__file__).parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--full", action="store_true", help="the full sizes (100,000 and 1,000,000 objects)")
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append", help="run only these scenarios")
    args = parser.parse_args()
    configure_logging("WARNING", "console")

    root = Path(tempfile.mkdtemp(prefix="retention-bench-"))
    stack = LocalStack(root / "stack", Ports.free())
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
        stack.stop()
    elapsed = time.monotonic() - started
    info = {**machine(), "mode": "full" if args.full else "quick", "seconds": round(elapsed)}
    RESULTS.mkdir(exist_ok=True)
    stamp = info["date"].replace(":", "")
    figures = [asdict(f) | {"ratio": f.ratio} for f in bench.figures]
    document = {"machine": info, "figures": figures, "failed": failed}
    (RESULTS / f"{stamp}-{info['mode']}.json").write_text(json.dumps(document, indent=2))
    table = markdown(info, bench.figures, failed)
    (RESULTS / "latest.md").write_text(table)
    print("\n" + table)
    if not failed:  # keep the logs of a failed run
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"logs kept in {root}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
