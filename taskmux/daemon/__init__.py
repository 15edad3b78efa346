"""The daemon face: `taskmux daemon`'s lifecycle and WebSocket server (`server.py`) and its
request protocol (`api.py`). Both parse, make one service call, and reply."""
