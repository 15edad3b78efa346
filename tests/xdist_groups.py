"""`xdist_group` for pytest 9: the tests of a group go to one worker.

pytest-xdist's `--dist loadgroup` marks a grouped test by appending `@GROUP` to its node
id in the worker (`item._nodeid`); pytest 9 keeps node ids elsewhere (`item._id`), so
with pytest-xdist 3.8 no test was ever grouped: every worker that ran an MCP test paid
~1.1 s of CPU to import the SDK. The controller never sees markers (only node ids), so
the groups are read here from the test files' own `xdist_group("NAME")` lines: a
module-level `pytestmark` groups the module, a decorator the test function below it.
The scheduler is xdist's own scope scheduler with those groups as scopes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# A line that is the mark: `pytestmark = pytest.mark.xdist_group("NAME")` (the module)
# or `@pytest.mark.xdist_group("NAME")` (the test function below it).
_MARK = re.compile(
    r"""^(pytestmark\s*=\s*|\s*@)pytest\.mark\.xdist_group\(\s*(?:name\s*=\s*)?["']([^"']+)["']""",
    re.MULTILINE,
)
_TEST = re.compile(r"^\s*(?:async\s+)?def\s+(test\w*)", re.MULTILINE)


def declared_groups(tests: Path, rootdir: Path) -> dict[str, str]:
    """Node-id prefix → group: `path::` for a grouped module, `path::test_name` for a
    grouped function (the decorator's next `def test...`)."""
    groups: dict[str, str] = {}
    for path in sorted(tests.rglob("test_*.py")):
        text = path.read_text(encoding="utf-8")
        if "xdist_group" not in text:
            continue
        where = path.relative_to(rootdir).as_posix()
        for mark in _MARK.finditer(text):
            if mark.group(1).startswith("pytestmark"):
                groups[f"{where}::"] = mark.group(2)
                continue
            test = _TEST.search(text, mark.end())
            if test is not None:
                groups[f"{where}::{test.group(1)}"] = mark.group(2)
    return groups


def group_of(nodeid: str, groups: dict[str, str]) -> str | None:
    """The group a node id belongs to, if any (a function prefix matches the function
    and its parametrized cases, never a longer name)."""
    for prefix, group in groups.items():
        if prefix.endswith("::"):
            if nodeid.startswith(prefix):
                return group
        elif nodeid == prefix or nodeid.startswith(prefix + "["):
            return group
    return None


def make_scheduler(config: Any, log: Any, groups: dict[str, str]) -> Any:
    """xdist's scope scheduler, a group one scope and every other test its own."""
    from xdist.scheduler import LoadScopeScheduling

    class Grouped(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            group = group_of(nodeid, groups)
            return f"@{group}" if group is not None else nodeid

    return Grouped(config, log)
