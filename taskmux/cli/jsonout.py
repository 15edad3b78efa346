"""One JSON document on stdout, for every command and every path that answers one.

While a stand-in config is in use (an invalid file, see `load`), every document carries
`config_error`. No typer here: the lean paths of `cli/fast.py` and the error report of
`cli/entry.py` write through it without importing the Typer app.
"""

from __future__ import annotations

import json
import sys

TYPE_CHECKING = False  # `typing` costs the lean paths an import; mypy reads this
if TYPE_CHECKING:
    from typing import Any

config_error: dict[str, Any] | None = None  # set while running on a stand-in config


def print_json(data: Any) -> None:
    if config_error is not None and isinstance(data, dict):
        data = {**data, "config_error": config_error}
    sys.stdout.write(json.dumps(data, default=str) + "\n")
    sys.stdout.flush()
