"""The seams to the machine: tmux, processes and ports, probes, hooks, pokes."""
