"""The daemon's log file: rotated, private (0600, never opened through a symlink), and
with the API token redacted from every line, whoever logs it."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path
from typing import Any

from taskmux.statedir.files import open_private

LOG_MAX_BYTES = 1024 * 1024
LOG_BACKUPS = 2

log = logging.getLogger("taskmux.daemon")


class _Redact(logging.Filter):
    """Belt and braces: the token never reaches the log file, whoever logs it."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "[token]"), None
        return True


class _PrivateLog(logging.handlers.RotatingFileHandler):
    """A rotating log that never opens its file through a symlink, and makes it 0600."""

    def _open(self) -> Any:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        fd = open_private(Path(self.baseFilename), flags, replace=True)
        return os.fdopen(fd, "a", encoding="utf-8")


def open_log(path: Path, secret: str) -> logging.Handler:
    handler = _PrivateLog(path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.addFilter(_Redact(secret))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    logging.getLogger("taskmux.daemon.websockets").setLevel(logging.WARNING)
    return handler


def close_log(handler: logging.Handler) -> None:
    log.removeHandler(handler)
    handler.close()
