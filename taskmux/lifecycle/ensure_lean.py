"""`ensure` on the lean path: when every task in scope runs, is ready and is current,
the answer (all `kept`) comes from the config cache and one `list-panes`, at about the
cost of `status --json` (SPEC §13: under 2x). Anything else raises `NotHere` and the
service (`ensure.py`) looks again and acts: a task to start or restart, a probe not
yet seen passing, a task inside its `min_uptime`, a name not in the config.

Standard library only, as `readmodel.py`; the definition digest is `launchrecord.py`'s,
the one the service path compares.
"""

from __future__ import annotations

import os

from taskmux.config.cache import find_config, read_current, with_env_tables
from taskmux.lifecycle import launchrecord
from taskmux.lifecycle.readmodel import LeanRead, NotHere, moved_ports, port_of, url_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def all_kept(
    config: str | None, names: list[str], holder: str | None = None
) -> tuple[dict[str, Any], str]:
    """The `ensure` document when nothing needs doing, and the config's warnings as
    printed; `NotHere` otherwise. A `holder` claims (renews) the kept tasks."""
    lean = LeanRead(config)
    found = read_current(config)
    path = find_config(config)
    if found is None or path is None:
        raise NotHere
    data = found[1]
    plain: dict[str, Any] = data["config"]  # type: ignore[assignment]  # JSON
    if data.get("env_tables"):  # the cache keeps `env` values out: read them from the file
        plain = with_env_tables(plain, path)
    wanted = _scope(lean, plain, names)
    config_dir = os.path.dirname(os.path.realpath(path))
    tasks = {}
    for name in wanted:
        if not _is_kept(lean, plain, config_dir, name):
            raise NotHere
        port = port_of(name, lean.facts[name], lean.ports)
        url = url_of(name, lean.facts[name], lean.proxy)
        tasks[name] = launchrecord.entry("kept", "", port, True, url)
    if holder is not None:
        from taskmux.lifecycle.holds_lean import renew

        renew(lean, wanted, holder, float(plain["hold_ttl"]))
    return {"ok": True, "tasks": tasks}, lean.notes()


def _scope(lean: LeanRead, plain: dict[str, Any], names: list[str]) -> list[str]:
    """The named tasks (none: every auto_start one) and what they depend on, in the
    config's order."""
    facts = lean.facts
    if any(name not in facts for name in names):
        raise NotHere  # E201: the service names it
    if names:
        frontier = list(names)
    else:
        frontier = [n for n, f in facts.items() if f["auto_start"]] if plain["auto_start"] else []
    seen: set[str] = set()
    while frontier:
        name = frontier.pop()
        if name not in seen:
            seen.add(name)
            frontier += [dep for dep in facts[name]["depends_on"] if dep in facts]
    return [name for name in facts if name in seen]


def _is_kept(lean: LeanRead, plain: dict[str, Any], config_dir: str, name: str) -> bool:
    """Running, ready as `wait --ready` would find it without running a check, not stale."""
    facts, pane, table = lean.facts[name], lean.panes.get(name), plain["tasks"][name]
    if pane is None or not pane.is_alive or pane.started_at is None:
        return False
    if moved_ports(pane.built_from, lean.current):
        return False
    if facts["needs_check"]:
        if pane.health_verdict() is not True or (facts["ready_log"] and not pane.ready_seen):
            return False  # a check to run (or one failing): the service runs it
    elif lean.now - (pane.running_since or 0.0) < table["min_uptime"]:
        return False
    then = launchrecord.recorded(lean.root, name)
    files = launchrecord.env_file_paths(
        config_dir,
        [*launchrecord.as_list(plain["env_file"]), *launchrecord.as_list(table["env_file"])],
    )
    if then is None or then != launchrecord.digest(table, plain["env"], plain["env_file"], files):
        return False
    if not table["watch"]:
        return True
    from taskmux.config.watchglobs import WatchSpec  # only for a task that watches files
    from taskmux.lifecycle.watchscan import Scan

    cwd = os.path.realpath(os.path.join(config_dir, table["cwd"] or "."))
    spec = WatchSpec(cwd, tuple(table["watch"]), tuple(table["watch_ignore"]))
    scan = Scan()
    return scan.newer(name, spec, pane.started_at) is None and not scan.cut
