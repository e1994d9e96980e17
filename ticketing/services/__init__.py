"""Domain operations: take a session, change models, flush; never commit."""
