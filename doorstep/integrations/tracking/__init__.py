"""Tracking sources: aggregators (push), carriers (poll), Doorstep's simulated carrier."""
