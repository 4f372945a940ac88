"""The short markdown table of a benchmark run: machine, versions, date, each figure with its baseline."""

from __future__ import annotations

from typing import Any

from bench.harness import Figure


def markdown(info: dict[str, Any], figures: list[Figure], failed: list[str]) -> str:
    lines = [
        f"Run of {info['date']} ({info['mode']}, {info['seconds']} s): {info['cpu']}, {info['cores']} cores, "
        f"Python {info['python']}, faust-streaming {info['faust-streaming']}, aiokafka {info['aiokafka']}, "
        f"boto3 {info['boto3']}, {info['tansu']}, SeaweedFS {info['seaweedfs']}.",
        "",
        "| Scenario | Figure | Value | Baseline | Baseline value | Ratio | Goal | Met |",
        "|---|---|---:|---|---:|---:|---|---|",
    ]
    for f in figures:
        baseline_value = f"{f.baseline_value:,.1f} {f.unit}" if f.baseline_value is not None else ""
        ratio = f"{f.ratio:.2f}" if f.ratio is not None else ""
        met = "" if f.met is None else ("yes" if f.met else "**no**")
        lines.append(
            f"| {f.scenario} | {f.name} | {f.value:,.3g} {f.unit} | {f.baseline or ''} | {baseline_value} | "
            f"{ratio} | {f.goal or ''} | {met} |"
        )
    if failed:
        lines += ["", f"Scenarios that failed: {', '.join(failed)}."]
    return "\n".join(lines) + "\n"
