"""Every tracking source, one line each. Routes, docs and the contract test read this."""

from doorstep.integrations.tracking import (
    aftership,
    dhl,
    easypost,
    fedex,
    seventeentrack,
    shippo,
    simulated,
    ups,
    usps,
)
from doorstep.integrations.tracking.protocol import TrackingSource

SOURCES: dict[str, TrackingSource] = {
    # aggregators (push)
    easypost.SOURCE.name: easypost.SOURCE,
    aftership.SOURCE.name: aftership.SOURCE,
    shippo.SOURCE.name: shippo.SOURCE,
    seventeentrack.SOURCE.name: seventeentrack.SOURCE,
    # carriers (poll)
    ups.SOURCE.name: ups.SOURCE,
    fedex.SOURCE.name: fedex.SOURCE,
    usps.SOURCE.name: usps.SOURCE,
    dhl.SOURCE.name: dhl.SOURCE,
    # doorstep's own
    simulated.SOURCE.name: simulated.SOURCE,
}


def get(name: str) -> TrackingSource | None:
    return SOURCES.get(name)
