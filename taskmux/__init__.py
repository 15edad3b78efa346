"""taskmux: a project's development processes as supervised tasks in one tmux session."""
