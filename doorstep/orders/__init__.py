"""Orders and their line items."""
