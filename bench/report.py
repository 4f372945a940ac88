"""The markdown of a benchmark run, from its JSON document: machine, versions, date, load, each figure
with its sample size and baseline; and the README's copy of the latest full run.

The table is always rendered from the JSON (`bench/results/latest.json` for the README), so the file,
the README and a re-rendering can be compared: `python -m bench --readme` writes the README's block,
`python -m bench --check-readme` fails when it differs, and tests/chaos/test_bench_report.py checks it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.harness import Figure

RESULTS = Path(__file__).parent / "results"
LATEST_FULL = RESULTS / "latest.json"  # the last `make bench-full`; committed, with latest.md
README = Path(__file__).parents[1] / "README.md"
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def document(
    info: dict[str, Any], figures: list[Figure], failed: list[str], problems: list[str]
) -> dict[str, Any]:
    return {
        "machine": info,
        "figures": [asdict(f) | {"ratio": f.ratio} for f in figures],
        "failed": failed,
        "problems": problems,
    }


def _number(value: float) -> str:
    """Three significant figures, never in exponent form."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if "e" not in f"{value:.3g}" else f"{value:.6f}".rstrip("0")


def _engine(info: dict[str, Any]) -> str:
    storage = info.get("broker_storage", "memory")  # runs before the option existed used memory
    return "its log in SeaweedFS: the S3 engine" if storage == "s3" else "memory engine"


def _load(values: list[float] | None) -> str:
    return "unknown" if not values else f"{values[0]:.2f}"


def markdown(run: dict[str, Any]) -> str:
    info = run["machine"]
    lines = [
        f"Run of {info['date']} ({info['mode']}, {info['seconds']} s): {info['cpu']}, {info['cores']} cores, "
        f"Python {info['python']}, faust-streaming {info['faust-streaming']}, aiokafka {info['aiokafka']}, "
        f"boto3 {info['boto3']}, {info['tansu']} ({_engine(info)}), SeaweedFS {info['seaweedfs']}. "
        f"Load average (1 min) {_load(info.get('load_average_at_start'))} at the start, "
        f"{_load(info.get('load_average_at_end'))} at the end. Code: commit {info.get('commit', 'unknown')}"
        + (
            f", with uncommitted changes to {', '.join(info['uncommitted'])}"
            if info.get("uncommitted")
            else ""
        )
        + ".",
        "",
        "| Scenario | Figure | n | Value | Baseline | Baseline value | Ratio | Goal | Met |",
        "|---|---|---:|---:|---|---:|---:|---|---|",
    ]
    notes: list[str] = []
    for f in run["figures"]:
        baseline_value = (
            f"{_number(f['baseline_value'])} {f['unit']}" if f["baseline_value"] is not None else ""
        )
        ratio = f"{f['ratio']:.2f}" if f["ratio"] is not None else ""
        met = "" if f["met"] is None else ("yes" if f["met"] else "**no**")
        n = f"{f['n']:,}" if f.get("n") is not None else ""
        name = f["name"].replace("|", "\\|")  # a figure's name must not end its table cell
        if f.get("note") and f["note"] not in notes:
            notes.append(f["note"])
        if f.get("note"):
            name += f" [{notes.index(f['note']) + 1}]"
        lines.append(
            f"| {f['scenario']} | {name} | {n} | {_number(f['value'])} {f['unit']} | {f['baseline'] or ''} | "
            f"{baseline_value} | {ratio} | {f['goal'] or ''} | {met} |"
        )
    if notes:
        lines += ["", *(f"[{i}] {note}." for i, note in enumerate(notes, 1))]
    lines += [
        "",
        "Percentiles are nearest-rank and reported only where n supports them: p50 from n >= 2, p95 "
        "from n >= 20, p99 from n >= 100 (below that a percentile would be the maximum); max is the "
        "largest value.",
    ]
    if run["failed"]:
        lines += ["", f"Scenarios that failed: {', '.join(run['failed'])}."]
    if run.get("problems"):
        lines += ["", "Problems:", *(f"- {p}" for p in run["problems"])]
    return "\n".join(lines) + "\n"


def readme_block(run: dict[str, Any], source: str = "bench/results/latest.json") -> str:
    return (
        f"{README_START}\n"
        f"From [`{source}`]({source}) (the same table: `bench/results/latest.md`), written by the last "
        "`make bench-full`; this block is regenerated from it by `python -m bench --readme`, and a test "
        "checks the two agree.\n\n"
        f"{markdown(run)}"
        f"{README_END}"
    )


def readme_with(readme: str, run: dict[str, Any]) -> str:
    start, end = readme.index(README_START), readme.index(README_END) + len(README_END)
    return readme[:start] + readme_block(run) + readme[end:]


def latest_full() -> dict[str, Any]:
    run: dict[str, Any] = json.loads(LATEST_FULL.read_text())
    return run
