"""Scheduled pulls from an external database into an entity (app.yaml `external_databases:`, module key `pulls:`)."""
