"""Domain-free building blocks. Nothing here imports the rest of doorstep."""
