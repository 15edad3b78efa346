"""What a supervising process imports (SPEC: CLI start-up time matters): `start -m`
with the proxy off and a config that validated before loads neither pydantic (its
catch-up reload trusts the cache) nor the proxy's keeper and asyncio; `stop` loads
none of the start's modules."""

from __future__ import annotations

import signal
import subprocess
import sys

from harness import Project, project, wait_until

from taskmux.statedir.wakesock import SOCKET_NAME

__all__ = ["project"]

NEVER_UNDER_START_M = {"pydantic", "asyncio", "aiohttp", "taskmux.supervision.proxy.keeper"}


def _imported(importtime: str) -> set[str]:
    """The modules a `python -X importtime` run loaded, from its report on stderr."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in importtime.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_start_m_with_the_proxy_off_imports_no_pydantic_nor_proxy(project: Project) -> None:
    project.write('[tasks.web]\ncommand = "exec sleep 300"\n')
    assert project.run("check").returncode == 0  # validated once: the cache is warm
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "taskmux", "start", "-m", "--json"],
        cwd=project.root,
        env={**project.env, "TASKMUX_PROXY_PORT": "0"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    project.children.append(proc)
    # The supervisor binds its wake socket as its loop begins, the proxy's turn next.
    wait_until(lambda: (project.paths.root / SOCKET_NAME).exists(), timeout=20)
    proc.send_signal(signal.SIGINT)
    _, report = proc.communicate(timeout=20)
    imported = _imported(report)
    assert "taskmux.supervision.monitor" in imported
    assert not imported & NEVER_UNDER_START_M, imported & NEVER_UNDER_START_M


def test_stop_imports_none_of_the_start(project: Project) -> None:
    project.write('[tasks.web]\ncommand = "exec sleep 300"\n')
    assert project.run("check").returncode == 0
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "taskmux", "stop"],
        cwd=project.root,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    imported = _imported(done.stderr)
    assert "taskmux.lifecycle.stop" in imported
    assert not imported & {"taskmux.lifecycle.start", "taskmux.lifecycle.launch", "pydantic"}
