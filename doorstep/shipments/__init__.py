"""Shipments (parcels), their items and checkpoints (carrier scans); status is derived from scans."""
