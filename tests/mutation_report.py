"""The mutation score per module, from the results `mutmut run` left in mutants/ (`make mutation` prints it).

    python tests/mutation_report.py [PATH ...] [--survivors] [--min-score PERCENT]

PATH is a module or a folder (default: the six rule modules `make mutation` mutates). A mutant counts as
killed when a test failed on it or it ran past mutmut's time limit (an endless loop is caught too);
survivors, mutants no test reaches, and anything else count against the score. --survivors lists each
survivor with the line it changes and the change, as `mutmut show NAME` would; --min-score makes the exit
status fail when any module scores below PERCENT.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODULES = (
    "handlers/policy.py",
    "handlers/holds.py",
    "handlers/time_passed.py",
    "handlers/deletions.py",
    "handlers/calendar.py",
    "handlers/erasure.py",
)
MUTANTS = Path("mutants")
KILLED = {"killed", "timeout", "caught by type check"}


@dataclass(frozen=True)
class ModuleScore:
    path: Path
    statuses: dict[str, str]  # mutant name -> mutmut's status

    @property
    def total(self) -> int:
        return len(self.statuses)

    @property
    def killed(self) -> int:
        return sum(status in KILLED for status in self.statuses.values())

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.total if self.total else 100.0

    def survivors(self) -> list[str]:
        return sorted((n for n, s in self.statuses.items() if s not in KILLED), key=_natural)


def _natural(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("__mutmut_")
    return stem, int(number) if number.isdigit() else 0


def modules(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return [p for p in found if p.name != "__init__.py"]


def score(path: Path, status_by_exit_code: dict[int | None, str]) -> ModuleScore | None:
    meta = MUTANTS / f"{path}.meta"
    if not meta.exists():
        return None
    exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
    return ModuleScore(path, {name: status_by_exit_code[code] for name, code in exit_codes.items()})


def function_start(path: Path, mutant: str) -> int:
    """The first line (decorators included) of the function the mutant changes, in the original file."""
    qualified = mutant.rpartition(".")[2].rsplit("__mutmut_", 1)[0]
    parts = qualified.split("ǁ")  # mutmut spells a method xǁClassǁmethod, a function x_name
    class_name, name = (parts[1], parts[2]) if len(parts) == 3 else (None, qualified.removeprefix("x_"))
    tree = ast.parse(path.read_text())
    scope: list[ast.stmt] = tree.body
    if class_name is not None:
        scope = next(n.body for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    for node in scope:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return min([node.lineno, *(d.lineno for d in node.decorator_list)])
    raise LookupError(f"{qualified} not found in {path}")


def describe(path: Path, mutant: str, diff: str) -> str:
    """`file:line  name` and the changed lines of the diff mutmut shows for the mutant."""
    lines = diff.splitlines()
    changed = [line for line in lines if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    line_in_function: int | None = None
    for line in lines:
        hunk = re.match(r"@@ -(\d+)", line)
        if hunk:
            line_in_function = int(hunk.group(1))
        elif line_in_function is not None:
            if line[:1] in "+-":
                break
            line_in_function += 1
    guess = function_start(path, mutant) + (line_in_function or 1) - 1
    # The diff's text may start a little off the def line (a comment above it): find the removed line.
    source = path.read_text().splitlines()
    removed = next((line[1:] for line in changed if line.startswith("-")), None)
    matches = [n for n, text in enumerate(source, 1) if removed is not None and text == removed]
    where = min(matches, key=lambda n: abs(n - guess)) if matches else guess
    return f"{path}:{where}  {mutant}\n" + "\n".join(f"      {line}" for line in changed)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*", default=list(DEFAULT_MODULES))
    parser.add_argument(
        "--survivors", action="store_true", help="list every mutant not killed, with its change"
    )
    parser.add_argument("--min-score", type=float, default=None, metavar="PERCENT")
    arguments = parser.parse_args()

    # mutmut's own reading of its results: the status names and the diffs `mutmut show` prints.
    from mutmut.__main__ import get_diff_for_mutant, status_by_exit_code

    scores = [s for p in modules(arguments.paths) if (s := score(p, status_by_exit_code)) is not None]
    if not scores:
        print("No mutation results in mutants/: run `make mutation` first.")
        return 1
    scores = [s for s in scores if s.total]
    width = max(len(str(s.path)) for s in scores)
    print(f"\n{'module':<{width}}  {'killed':>6}  {'total':>5}  {'score':>6}  not killed")
    for s in scores:
        others = Counter(st for st in s.statuses.values() if st not in KILLED)
        rest = ", ".join(f"{n} {st}" for st, n in sorted(others.items())) or "-"
        print(f"{s.path!s:<{width}}  {s.killed:>6}  {s.total:>5}  {s.percent:>5.1f}%  {rest}")
    killed, total = sum(s.killed for s in scores), sum(s.total for s in scores)
    print(f"{'all':<{width}}  {killed:>6}  {total:>5}  {100.0 * killed / total:>5.1f}%")

    if arguments.survivors:
        for s in scores:
            for mutant in s.survivors():
                print(
                    f"\n[{s.statuses[mutant]}] "
                    + describe(s.path, mutant, get_diff_for_mutant(mutant, path=s.path))
                )

    if arguments.min_score is not None:
        low = [s for s in scores if s.percent < arguments.min_score]
        for s in low:
            print(f"{s.path} scores {s.percent:.1f}%, below {arguments.min_score:.0f}%", file=sys.stderr)
        return 1 if low else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
