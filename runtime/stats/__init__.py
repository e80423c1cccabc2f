"""Statistics screens: SQL queries, derived measures, the JSON endpoint, exports and big-screen feeds (the HTML page is runtime/pages/stat_page.py)."""
