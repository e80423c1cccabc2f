"""Data access: engines, the entity service, list queries, row shapes, value checks, where clauses and the operation log."""
