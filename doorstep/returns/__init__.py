"""Returns, exchanges, refunds, store credit and package-protection claims (see docs/returns.md)."""
