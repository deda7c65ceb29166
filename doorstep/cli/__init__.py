"""The `doorstep` command: one module per command group."""
