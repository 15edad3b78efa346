"""Print a line whenever a file under the watched folder changes (polling, stdlib only)."""

import os
import sys
import time

folder = sys.argv[1] if len(sys.argv) > 1 else "."
seen: dict[str, float] = {}
print(f"watcher: watching {os.path.abspath(folder)}")
while True:
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            mtime = os.stat(path).st_mtime
            if seen.get(path) != mtime:
                print(f"watcher: {'changed' if path in seen else 'found'} {path}")
                seen[path] = mtime
    time.sleep(1)
