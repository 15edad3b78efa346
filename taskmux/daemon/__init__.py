"""The daemon face: `taskmux daemon`'s lifecycle and listeners (`server.py`), its request
protocol (`api.py`), event push to subscribers (`push.py`), its state and token files
(`statefile.py`), its private log (`logfile.py`), and a one-request client (`client.py`).
Requests are parsed, make one service call, and are answered."""
