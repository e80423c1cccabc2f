"""Related lists on detail pages (screen key `related:`)."""
