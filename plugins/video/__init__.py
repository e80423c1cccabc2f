"""Video plugins (seed 000 §二.3): ledger cameras checked against the video private network."""
