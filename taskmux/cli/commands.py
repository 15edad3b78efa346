"""Import every command module so each registers its commands on the app."""

from taskmux.cli import (  # noqa: F401
    agent_cmds,
    config_cmds,
    daemon_cmds,
    env_cmd,
    lifecycle_cmds,
    logs_cmd,
    move_cmds,
    supervise_cmds,
)
from taskmux.cli.app import app

__all__ = ["app"]
