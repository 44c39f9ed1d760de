"""A small demo catalog written for promptrec (not taken from any dataset)."""
