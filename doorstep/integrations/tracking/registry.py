"""Every tracking source, one line each. Routes, docs and the contract test read this."""

from doorstep.integrations.tracking.protocol import TrackingSource

SOURCES: dict[str, TrackingSource] = {
    # aggregators (push)
    # carriers (poll)
    # doorstep's own
}


def get(name: str) -> TrackingSource | None:
    return SOURCES.get(name)
