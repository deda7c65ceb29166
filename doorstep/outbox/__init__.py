"""The devbox outbox: messages "delivered" locally in dev and the demo, shown at /dev/outbox."""
