"""Stores (the tenant: a brand) and their API keys."""
