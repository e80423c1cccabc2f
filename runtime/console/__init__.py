"""The ops console: piccolo-admin mounted at /admin/ for superusers."""
