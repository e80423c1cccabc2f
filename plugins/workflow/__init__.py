"""The workflow plugin: persisted, permissioned state machines declared under a module's `workflow:` key."""
