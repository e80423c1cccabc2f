"""Declarative rules (spec key `rules:`): evaluate one rule for the windows ending in a date range.

`engine.evaluate(ctx, rule, first, last)` returns a summary dict with at least `created`; the
kinds live in `consecutive`, `missing` and `threshold` (shared helpers in `common`, the bound set
in `bounds`, the PostgreSQL breaching-window query in `breaches_pg`, the closing of alerts whose
condition no longer holds in `closing`, the entity hooks for the rows a rule writes in `written`).
Every kind is idempotent, so the job runner can re-run a day or backfill a range without duplicates.
"""
