"""Built-in logs at run time: the exception log, log charts, and the read-only admin guard.

- exceptions.py: `record_exception` (called by the app's crash handler) names each
  unhandled error with a short id and stores it with its stack trace.
- charts.py / handlers.py: per-day and per-hour counts as JSON (/api/charts/*) and pages
  (/logs/exceptions, /logs/oplog).
- admin.py: piccolo-admin refuses writes to append-only tables.
The operation log itself is written by runtime/data/audit.py (every package writes it, so it
sits below them); both tables are declared in logs.yaml here.
"""
