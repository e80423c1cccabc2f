"""Data access: engines, the entity service, list queries, row shapes, value checks and where clauses."""
