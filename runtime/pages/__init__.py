"""End-user HTML pages: login, home, lists, statistics, forms, details and actions, per screen."""
