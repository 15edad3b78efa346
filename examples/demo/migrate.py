"""A one-shot task, like a database migration: apply what is missing, then exit 0.

It records applied steps in data/schema.txt, so a second run has nothing to do. The web
task waits for it to complete successfully (its depends_on condition in taskmux.toml).
To watch `taskmux start --wait` report a failed migration: `taskmux stop`, then
`rm -r data && mkdir data && touch data/fail`, and start again (`rm data/fail` undoes it).
"""

import sys
import time
from pathlib import Path

MIGRATIONS = ["0001_create_pages", "0002_add_visits"]

state = Path("data") / "schema.txt"
state.parent.mkdir(exist_ok=True)
applied = state.read_text().split() if state.exists() else []
for name in MIGRATIONS:
    if name in applied:
        continue
    print(f"migrate: applying {name}")
    time.sleep(0.5)  # a real migration takes a moment
    if (state.parent / "fail").exists():
        print(f"migrate: {name} failed: relation 'pages' already exists", file=sys.stderr)
        sys.exit(1)
    applied.append(name)
    state.write_text("\n".join(applied) + "\n")
print(f"migrate: schema up to date ({len(applied)} migrations)")
