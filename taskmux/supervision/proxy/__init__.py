"""The URL proxy (SPEC §14): `http://TASK.SESSION.localhost:PORT/` reaches a task's port.

A face-like server run under supervision (`start -m`, the daemon) and by `taskmux
proxy`; one per user serves every project (`statedir/proxyreg.py`). `hosts.py` reads a
Host name (pure), `routes.py` builds the table of names from the registry, `pages.py`
writes the 404 and 503 answers, `server.py` is the aiohttp engine, `keeper.py` decides
who serves and takes over when the server ends. Nothing here is imported by the other
commands: aiohttp is loaded only where a proxy may serve.
"""
