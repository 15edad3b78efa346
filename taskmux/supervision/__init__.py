"""The loop shared by `start -m` and the daemon: exits, checks, restarts, watches."""
