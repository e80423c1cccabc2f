"""Migrations: schema snapshot diff to Piccolo migration files, and the runner that applies them."""
