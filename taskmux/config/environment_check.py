"""Checks of a valid config against this machine: missing folders, programs not there."""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
from pathlib import Path

from taskmux.config.schema import ProjectConfig
from taskmux.errors import Problem

# Only the start of a command is read: splitting a whole 1 MB command line took seconds.
_SCAN_LIMIT = 4096
_ASSIGNMENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_EXPANSIONS = set("$`*?[")  # a word the shell expands cannot be looked up as written

# Words the shell runs itself (POSIX special and regular built-ins, and bash's common
# ones) and its reserved words: a command that starts with one starts no program.
_SHELL_WORDS_TEXT = """
    . : [ [[ ]] ! { } alias bg break builtin case cd command continue declare dirs disown do
    done echo elif else enable esac eval exit export false fc fg fi for function getopts hash
    if in jobs kill let local logout mapfile popd printf pushd pwd read readonly return select
    set shift shopt source test then time times trap true type typeset ulimit umask unalias
    unset until wait while
"""
_SHELL_WORDS = frozenset(_SHELL_WORDS_TEXT.split())


def program_of(command: str) -> str | None:
    """The program a command line starts (its first word after `VAR=value` prefixes and
    `exec`), or None when the shell runs it itself or the syntax makes it unclear."""
    prefix = command[:_SCAN_LIMIT]
    stream = io.StringIO(prefix)
    lexer = shlex.shlex(stream, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        while True:
            word = lexer.get_token()
            if not word:
                return None
            if len(command) > len(prefix) and stream.tell() >= len(prefix):
                return None  # the word may go on past what was read
            if _ASSIGNMENT_RE.match(word):
                continue
            if word == "exec":
                continue  # `exec uvicorn …`: the shell becomes that program
            if word in _SHELL_WORDS or word[0] in "#();<>|&-" or _EXPANSIONS & set(word):
                return None
            return word
    except ValueError:  # an unterminated quote: the shell will complain itself
        return None


def program_problem(program: str, cwd: Path) -> str | None:
    """Why `program` cannot run from `cwd`, or None. A word with a slash is a path (relative
    to the task's folder, as the shell resolves it); any other word is looked up on PATH."""
    if "/" not in program:
        return None if shutil.which(program) else f"program {program!r} is not on PATH"
    path = cwd / Path(program).expanduser()
    if not path.exists():
        return f"program {program!r} not found (looked for {os.path.normpath(path)})"
    if path.is_dir():
        return f"program {program!r} is a folder"
    if not os.access(path, os.X_OK):
        return f"program {program!r} is not executable (chmod +x it, or run it with sh)"
    return None


def environment_problems(root: Path, config: ProjectConfig) -> list[Problem]:
    problems = []
    for name, task in config.tasks.items():
        cwd = root / task.cwd if task.cwd else root
        found = cwd.is_dir()
        if not found:
            message = f"folder {task.cwd!r} does not exist"
            problems.append(Problem("W120", message, "warning", task=name, key="cwd"))
        program = program_of(task.command)
        # A path is relative to the task's folder: unknowable while that folder is missing.
        why = program_problem(program, cwd) if program and (found or "/" not in program) else None
        if why:
            problems.append(Problem("W121", why, "warning", task=name, key="command"))
    return problems
