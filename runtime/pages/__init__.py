"""End-user HTML pages: login, home, lists, forms, details and actions, per screen."""
