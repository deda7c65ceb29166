"""The only inbound door: every payload is verified, recorded raw (committed), then applied or rejected."""
