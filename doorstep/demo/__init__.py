"""The demo brand: seeded through the same record-then-apply path as real traffic."""
