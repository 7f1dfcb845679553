"""Runs SQL against a SQLite file for the migration tests: `python3 sqlite.py DB` with a JSON
list of {"script": SQL} (executescript) or {"query": SQL} (rows as dicts) on stdin; prints a
JSON list with one result per entry. SQLite is what D1 runs; Python's module is the stdlib's."""
import json
import sqlite3
import sys

db = sqlite3.connect(sys.argv[1])
db.row_factory = sqlite3.Row
db.execute("PRAGMA foreign_keys = ON")
out = []
for step in json.load(sys.stdin):
    if "script" in step:
        db.executescript(step["script"])
        out.append(None)
    else:
        out.append([dict(r) for r in db.execute(step["query"]).fetchall()])
db.commit()
print(json.dumps(out))
