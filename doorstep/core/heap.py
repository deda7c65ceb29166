"""Garbage-collector settings for the long-running processes (``doorstep serve``, ``doorstep worker``).

CPython's cyclic collector walks every tracked object of the generations it collects. A started app holds
a few hundred thousand objects that live as long as the process (modules, classes, SQLAlchemy and
pydantic metadata, templates), and each full collection walked them all: under the tracking-page
benchmark that paused the web server for 90-160 ms every few seconds, stalling every request in flight.

:func:`settle` moves the start-up heap into the permanent generation (``gc.freeze``), so full collections
only walk what was allocated since. It also raises the youngest generation's threshold: with a hundred
requests in flight, every young collection finds their objects alive and promotes them, and at the
default of 700 allocations that happens so often that the promoted objects alone triggered a full
collection every second or so. Garbage without cycles is freed by reference counting either way; only
cyclic garbage waits a little longer.
"""

import gc

YOUNG_THRESHOLD = 10_000  # net allocations between young collections (CPython's default: 700)


def settle() -> None:
    """Call once, when the process has started and before it serves: collect, freeze, raise the threshold."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
