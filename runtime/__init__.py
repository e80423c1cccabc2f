"""The runtime: everything a generated app runs on (app factory, data, security, pages, statistics, jobs, ...)."""
