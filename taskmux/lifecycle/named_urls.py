"""The named URLs (SPEC §14): the proxy's port in effect, a task's URL through it, and
whether anything serves it now.

Standard library only: the lean read path (`readmodel.py`) uses it.
"""

from __future__ import annotations

import os


def proxy_port(configured: int) -> int:
    """The URL proxy's port in effect: `TASKMUX_PROXY_PORT` (0: off) over `proxy_port`."""
    override = os.environ.get("TASKMUX_PROXY_PORT", "")
    if override.isascii() and override.isdigit() and int(override) < 65536:
        return int(override)
    return configured


def urls_served(root: str, port: int) -> bool:
    """Whether a taskmux process of this user serves the URL proxy on `port` now: it
    holds that port's lock (`statedir.proxyreg.serve_lock`, under the state root that
    holds `root`). Looked at with a shared lock for an instant: a keeper that races the
    look takes the port at its next one (`supervision/proxy/keeper.py`)."""
    from taskmux.statedir.lockprobe import is_locked

    lock = os.path.join(os.path.dirname(root), "proxy", f"serve-{port}.lock")
    return is_locked(lock)


def task_url(name: str, session: str, proxy_port: int) -> str:
    """The task's named URL through the proxy (SPEC §14); "" when the proxy is off."""
    return f"http://{name}.{session}.localhost:{proxy_port}/".lower() if proxy_port else ""
