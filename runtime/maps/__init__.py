"""Map pages of geo fields (built-in plugin `maps`)."""
