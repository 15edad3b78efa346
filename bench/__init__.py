"""taskmux's benchmark suite: `python -m bench` measures the SPEC §7 figures.

Every scenario runs the real CLI in a fresh process, on a private tmux server in a temp
folder, and cleans up after itself. Only the standard library is imported up front;
psutil and websockets are imported by the scenarios that need them.
"""
