"""`doorstep.core.heap.settle`: the start-up heap is frozen and young collections come less often."""

import gc
from collections.abc import Iterator

import pytest

from doorstep.core import heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_settle_freezes_what_is_alive_and_raises_the_young_threshold() -> None:
    alive = [[n] for n in range(1000)]  # containers the collector tracks
    gc.unfreeze()
    heap.settle()
    assert gc.get_freeze_count() >= len(alive)
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
    collectable = {id(o) for o in gc.get_objects()}  # the three generations, not the permanent one
    assert not any(id(a) in collectable for a in alive)
    later = [0]
    assert id(later) in {id(o) for o in gc.get_objects()}  # what comes after is collected as before
