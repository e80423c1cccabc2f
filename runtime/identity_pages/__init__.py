"""Pages for signing in and managing access (built-in plugin `identity_pages`)."""
