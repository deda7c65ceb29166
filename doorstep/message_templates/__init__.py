"""Merchant overrides of the shipped message templates, per store, milestone, kind and locale."""
