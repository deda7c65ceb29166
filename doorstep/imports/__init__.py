"""History imports: Olist and Shopify order exports, through one bulk path (doorstep/imports/bulk.py)."""
