"""A store's channel connections: which providers carry its messages, with what credentials."""
