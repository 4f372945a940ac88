"""A pytest plugin for `make mutation` only: [tool.mutmut] in pyproject.toml loads it with `-p`.

mutmut 3 runs pytest several times in one process (the coverage pass, the clean pass) and then forks a
child per mutant from it. Two things in this project's tool chain trip over that; each fix is confined
to the mutation run, and an ordinary `pytest` never loads this module.
"""

from __future__ import annotations

from typing import Any

import _pytest.nodes
import hypothesis.core
from hypothesis import HealthCheck, Phase, settings

# Hypothesis remembers which instance of a test class ran a @given method and fails the next run from a
# fresh instance as "differing executors". Under mutmut every run after the first is such a run, and
# every forked mutant would be reported killed by a health check instead of by a test. The check stays
# on in normal runs, where it means something.
_fail_health_check = hypothesis.core.fail_health_check  # type: ignore[attr-defined]


def _fail_health_check_but_executors(settings: Any, message: str, health_check: HealthCheck) -> None:
    __tracebackhide__ = True
    if health_check is not HealthCheck.differing_executors:
        _fail_health_check(settings, message, health_check)


hypothesis.core.fail_health_check = _fail_health_check_but_executors  # type: ignore[attr-defined]

# The same examples on every run, and none replayed from an earlier run's database: a mutant's verdict
# (and so the score) depends on the code and the tests only. No shrinking either: a failing example kills
# the mutant as well as the smallest one does, and shrinking a stateful run takes a minute per mutant.
# Tests that set their own values for these keep them.
settings.register_profile(
    "mutation", derandomize=True, database=None, phases=(Phase.explicit, Phase.reuse, Phase.generate)
)
settings.load_profile("mutation")

# mutmut 3.7 reads Item._nodeid, which pytest 9.2 no longer has (mutmut 3.8.1 reads nodeid, but needs a
# click that faust-streaming refuses). Drop this when mutmut can be upgraded.
if not hasattr(_pytest.nodes.Node, "_nodeid"):
    _pytest.nodes.Node._nodeid = property(lambda self: self.nodeid)  # type: ignore[attr-defined]
