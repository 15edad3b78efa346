"""Create a new project's `taskmux.toml`."""

from __future__ import annotations

import re
from pathlib import Path

from taskmux.config.project import CONFIG_NAME, atomic_write
from taskmux.errors import ConfigExists


def session_name_for(folder: Path) -> str:
    """A tmux-safe session name from a folder name (`my app.v2` → `my-app-v2`)."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", folder.name).strip("-")
    return name or "taskmux"


def config_text(session: str) -> str:
    return f'''# taskmux.toml: this project's development processes, one [tasks.NAME] table each.
# Add tasks here or with: taskmux add NAME "COMMAND"
name = "{session}"

# [tasks.web]
# command = "python3 -m http.server 8000"
# port = 8000                       # whatever listens here is stopped before start
# health_url = "http://127.0.0.1:8000/"   # healthy when it answers 200-399
# health_expect_body = "ok"         # ... and its body matches this regex
# restart_policy = "on-failure"     # "no", "on-failure" or "always"
# depends_on = []                   # or [{{ task = "migrate", condition = "completed_successfully" }}]
# watch = ["**/*.py"]               # restart it when these change (start -m, daemon)
'''


def create_config(root: Path, session: str, force: bool = False) -> Path:
    path = root / CONFIG_NAME
    if path.exists() and not force:
        raise ConfigExists(f"{path} already exists (use --force to overwrite it)")
    atomic_write(path, config_text(session))
    return path
