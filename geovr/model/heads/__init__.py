"""One module per training-only objective: the head and its loss."""
