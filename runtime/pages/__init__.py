"""End-user HTML pages: home, lists, statistics, forms, details and actions, per screen."""
