"""Start, stop, restart and kill in dependency order; waits, readiness, status reads."""
