"""How a task's command becomes its pane's process: `/bin/sh -c COMMAND`, with `exec`.

Debian's `/bin/sh` (dash) does not replace itself with the last command of `-c`, so
`sh -c "node server.js"` leaves a shell waiting between tmux and the task: one more
process per task (about 0.1 MB), and the pane then reports the shell's exit, not the
task's (a task killed by SIGKILL reads "exited 137"). When the command is one simple
command, taskmux hands the shell `exec COMMAND`: the task becomes the pane's own
process. Anything else (a pipeline, a list, redirections, a leading `VAR=value`, a
keyword or a builtin that only makes sense inside the shell) is passed as it was
written; the decision is conservative, pure, and tested on a table of commands.

That command runs as the child of a small `/bin/sh` (`pane_command`), not as the pane's
own process, for one reason: tmux throws away pane output it has not read yet when the
pane's process exits (tmux issue #506; 2 of 60 fast `seq` runs lost lines under load),
so the end of a quick task's output could miss its log. The waiting shell outlives the
task, asks tmux for a status report (`ESC [5n`) and waits for the answer (at most a
second): tmux answers only once it has read, and handed to the log pipe, every byte
written before the question. Then it ends the way the task did: the same exit code, or
the same signal raised on itself (no core file), so the pane's status and signal still
say how the task ended. Costs: one `sh` per task (about 0.1 MB), `stty` and `dd` at
exit (a few ms). It traps INT, QUIT and TERM only to outlive the task: a stop's signal
reaches the task through the process group, and SIGKILL ends both. Not HUP: when tmux
closes the pane's terminal (a respawn, `kill-window`, a dead server) the kernel sends
SIGHUP to the session's leader only, the waiter, whose exit then sends it to the task
(the terminal's foreground group), as when the task was the pane's process. It cannot
tell `exit 143` from a death by SIGTERM (a shell reads both as 143): a task's own exit
code above 128 that names a deadly signal is reported as that signal, as shells do.
The collector removes the question from the log (`logs/collector.py`).
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


def inner_command(command: str) -> str:
    """What the task's own `/bin/sh -c` runs: `exec COMMAND` for a simple command."""
    return f"exec {command}" if is_simple(command) else command


# Exit codes 128+N for the signals N whose default action ends a process (not CHLD, CONT,
# STOP, TSTP, TTIN, TTOU, URG, WINCH): only those can have ended the task.
_DEADLY = "[1-9]|1[0-6]|2[4-79]|3[01]|3[4-9]|[45][0-9]|6[0-4]"

# $1 is the task's command. The shell's own stderr goes nowhere (it would print
# "Terminated" into the pane); the task's is the terminal's (fd 3, closed for the task).
_WAITER = f"""trap : INT QUIT TERM
exec 3>&2 2>/dev/null
/bin/sh -c "exec 2>&3 3>&-
$1"
s=$?
exec 3>&-
PATH=/bin:/usr/bin:$PATH
if stty -echo -icanon min 0 time 10; then
printf '\\033[5n'
i=0
while [ $i -lt 8 ]; do
r=$(dd bs=64 count=1)
case $r in *'[0n'*|'') break;; esac
i=$((i+1))
done
fi
case $((s-128)) in {_DEADLY}) trap - INT QUIT TERM; ulimit -c 0; kill -$((s-128)) $$;; esac
exit $s"""


def pane_command(command: str) -> str:
    """What the pane's `/bin/sh -c` runs: a waiter that runs the task as its child, keeps
    the pane until tmux has read all the task printed, and ends as the task did."""
    return f"set -- {shlex.quote(inner_command(command))}\n{_WAITER}"
