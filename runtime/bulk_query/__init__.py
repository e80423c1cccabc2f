"""Bulk queries: look up a batch of keys (e.g. ID numbers) in a results table (see specs/REFERENCE.md)."""
