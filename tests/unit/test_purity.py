"""The retention rules are pure: no Kafka, no S3, no clock of their own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

HANDLERS = Path(__file__).resolve().parents[2] / "handlers"
FORBIDDEN = {"faust", "mode", "aiokafka", "boto3", "botocore", "streams"}


def imported_modules(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(), filename=str(source))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_handler_module_imports_kafka_s3_or_the_shell() -> None:
    modules = sorted(HANDLERS.glob("*.py"))
    assert len(modules) >= 5
    offenders = {m.name: imported_modules(m) & FORBIDDEN for m in modules}
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_importing_the_handlers_loads_none_of_them() -> None:
    # The import graph, not just the text: a helper module could pull faust in indirectly.
    probe = (
        "import sys, handlers.policy, handlers.decoding, handlers.commands, handlers.state\n"
        f"print(sorted(m for m in {sorted(FORBIDDEN)!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_rules_never_read_the_clock() -> None:
    calls = []
    for module in HANDLERS.glob("*.py"):
        source = module.read_text()
        for needle in (
            "datetime.now(",
            "datetime.utcnow(",
            "time.time(",
            "time.monotonic(",
            "date.today(",
        ):
            if needle in source:
                calls.append(f"{module.name}: {needle}")
    assert calls == []
