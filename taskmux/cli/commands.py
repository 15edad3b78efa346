"""Import every command module so each registers its commands on the app."""

from taskmux.cli import config_cmds, daemon_cmds, lifecycle_cmds, logs_cmd, supervise_cmds  # noqa: F401
from taskmux.cli.app import app

__all__ = ["app"]
