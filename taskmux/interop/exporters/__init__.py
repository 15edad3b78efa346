"""Moving out: a taskmux config as systemd user units or a Docker Compose file (SPEC §12).

Pure: each exporter (`systemd.py`, `compose.py`) takes the validated config and the
project's folder and returns the files' text and the notes on what the target cannot
express (said in the files as comments too). Writing them is `moving.py`'s job. What both
targets share (`shared.py`): the ports (`port = "auto"` needs a fixed number outside
taskmux), each task's environment, and the probe as one shell command.
"""

from taskmux.interop.exporters.compose import compose_escape, compose_file
from taskmux.interop.exporters.shared import (
    MARK,
    Export,
    Notes,
    TaskEnv,
    probe_command,
    resolve_ports,
    task_env,
)
from taskmux.interop.exporters.systemd import (
    SystemdTarget,
    instance_units,
    one_shots,
    systemd_quote,
    systemd_units,
    target_name,
    unit_for,
    unit_name,
)

__all__ = [
    "MARK",
    "Export",
    "Notes",
    "SystemdTarget",
    "TaskEnv",
    "compose_escape",
    "compose_file",
    "instance_units",
    "one_shots",
    "probe_command",
    "resolve_ports",
    "systemd_quote",
    "systemd_units",
    "target_name",
    "task_env",
    "unit_for",
    "unit_name",
]
