"""The entity service: the one code path for list, read, create, update, delete, actions and export of every entity."""
