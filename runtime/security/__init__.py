"""Who is asking and what they may see: sessions, principals, data scope, hardening headers."""
