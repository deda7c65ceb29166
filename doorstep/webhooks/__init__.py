"""Outbound webhooks: endpoints a store registers, signed deliveries of its milestones, and their log."""
