"""Data feeds: inbound push APIs and outbound pushes after commit (see specs/REFERENCE.md, feeds)."""
