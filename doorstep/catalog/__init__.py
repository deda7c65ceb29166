"""Catalog: product categories, products and the sellers (origins) they ship from."""
