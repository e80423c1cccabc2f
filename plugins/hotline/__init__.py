"""12345 接诉即办 plugins (seed 000 §二.2): extracting epidemic tickets by category and keyword."""
