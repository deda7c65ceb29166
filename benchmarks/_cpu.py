"""CPU time, per process and per thread, for benchmarks that must say where the time goes.

Wall-clock rates on a shared 2-core machine move with the neighbours; CPU seconds per unit of work move much
less, and per-thread CPU (``time.thread_time``) is not fooled by threads waiting for the GIL, as sampling
profilers that record the GIL holder can be.
"""

import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def process_seconds(pid: int | None) -> float:
    """User + system CPU time a process has used (Linux /proc); 0 when it is gone or unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def named_seconds(name: str) -> float:
    """CPU time of every process whose command name is ``name`` (the PostgreSQL server's, say)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if command == name:
                total += process_seconds(int(entry.name))
    return total


@dataclass
class Stages:
    """Thread CPU seconds per named stage, summed over every thread that ran it."""

    seconds: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _inside: threading.local = field(default_factory=threading.local)

    def timed(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if getattr(self._inside, name, False):  # a stage that calls itself counts once
                return fn(*args, **kwargs)
            setattr(self._inside, name, True)
            started = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                setattr(self._inside, name, False)
                spent = time.thread_time() - started
                with self._lock:
                    self.seconds[name] = self.seconds.get(name, 0.0) + spent

        return wrapper


@contextmanager
def staged(stages: Stages, targets: dict[str, tuple[Any, str]]) -> Iterator[Stages]:
    """Time each ``name → (owner, attribute)`` while the block runs, then put the originals back."""
    originals = {name: getattr(owner, attribute) for name, (owner, attribute) in targets.items()}
    try:
        for name, (owner, attribute) in targets.items():
            setattr(owner, attribute, stages.timed(name, originals[name]))
        yield stages
    finally:
        for name, (owner, attribute) in targets.items():
            setattr(owner, attribute, originals[name])
