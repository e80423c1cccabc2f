"""SM4 field keys: where they come from, sensitive-field encoding, and key rotation."""
