"""Customers (shoppers): contact points, consents per channel, preferences, locale and time zone."""
