"""Adapters to the outside world, one file per provider. They import only core, milestones, commands
and shipments.status: they translate, services decide."""
