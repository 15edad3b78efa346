"""How a task's command becomes its pane's process: `/bin/sh -c COMMAND`, with `exec`.

Debian's `/bin/sh` (dash) does not replace itself with the last command of `-c`, so
`sh -c "node server.js"` leaves a shell waiting between tmux and the task: one more
process per task (about 0.1 MB), and the pane then reports the shell's exit, not the
task's (a task killed by SIGKILL reads "exited 137"). When the command is one simple
command, taskmux hands the shell `exec COMMAND`: the task becomes the pane's own
process. Anything else (a pipeline, a list, redirections, a leading `VAR=value`, a
keyword or a builtin that only makes sense inside the shell) is passed as it was
written; the decision is conservative, pure, and tested on a table of commands.
"""

from __future__ import annotations

import re
import shlex

_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
# Words whose meaning `exec` would change or break: shell grammar, and builtins that act
# on the shell itself (there is no program of that name to exec, or it would do nothing).
_NOT_EXECUTABLE = frozenset(
    {
        "!", "{", "}", "(", ")", "[[", "]]", "if", "then", "else", "elif", "fi", "case",
        "esac", "for", "while", "until", "do", "done", "in", "function", "select", "time",
        ".", ":", "alias", "bg", "break", "cd", "command", "continue", "eval", "exec",
        "exit", "export", "fg", "getopts", "hash", "jobs", "local", "read", "readonly",
        "return", "set", "shift", "source", "times", "trap", "type", "ulimit", "umask",
        "unalias", "unset", "wait",
    }
)  # fmt: skip


def is_simple(command: str) -> bool:
    """Whether `command` is one simple command that `exec` can run in the shell's place."""
    if "\n" in command or not command.strip():
        return False
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""  # `a#b` is one word to sh: a comment must not hide `; rest`
    try:
        words = list(lexer)
    except ValueError:  # an unclosed quote: leave it to the shell (and its error)
        return False
    if not words or words[0] in _NOT_EXECUTABLE or _ASSIGNMENT.match(words[0]):
        return False
    if any(word.startswith("#") for word in words):
        return False  # a comment: what follows it is the shell's business
    return not any(word and set(word) <= set("();<>|&") for word in words)


def pane_command(command: str) -> str:
    """What the pane's `/bin/sh -c` runs: `exec COMMAND` for a simple command."""
    return f"exec {command}" if is_simple(command) else command
