"""Flows react to milestones. For now: the milestone log that flows will read."""
