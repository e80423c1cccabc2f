"""Statistics screens: SQL queries, derived measures, pages, exports and big-screen feeds."""
