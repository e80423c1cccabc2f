"""The built-in modules generated once for every app: tables, controllers, screens, admin and migrations."""
