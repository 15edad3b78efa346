"""Moving in: a Procfile or a process-compose.yaml as a taskmux config (SPEC §12). Pure.

The mappers (`procfile.py`, `process_compose.py`) take what was parsed (Procfile lines,
the YAML's data) and return an `ImportPlan` (`plan.py`): the keys of the new
`taskmux.toml` in order, plus one `Note` per source key saying where it went, or why it
has no equivalent. Nothing is dropped silently: a key with no equivalent is written into
the file as a comment naming it (with its value, unless the value could be a secret), and
reported. `render` (`render.py`) turns a plan into TOML text (tomlkit, so the comments
are kept). Reading the source and writing the file are `moving.py`'s job.
"""

from taskmux.interop.importers.plan import Format, ImportPlan, Note, TaskPlan
from taskmux.interop.importers.process_compose import (
    CONDITIONS,
    RESTART_POLICIES,
    from_process_compose,
)
from taskmux.interop.importers.procfile import (
    PROCFILE_BASE_PORT,
    PROCFILE_PORT_STEP,
    RELEASE,
    ProcfileEntry,
    from_procfile,
    parse_procfile,
)
from taskmux.interop.importers.render import render

__all__ = [
    "CONDITIONS",
    "PROCFILE_BASE_PORT",
    "PROCFILE_PORT_STEP",
    "RELEASE",
    "RESTART_POLICIES",
    "Format",
    "ImportPlan",
    "Note",
    "ProcfileEntry",
    "TaskPlan",
    "from_process_compose",
    "from_procfile",
    "parse_procfile",
    "render",
]
