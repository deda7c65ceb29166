"""Planned batches for an import run: in this process, or from a second process that plans ahead.

A history import spends its time in two places of about the same size: reading files and applying the
rules to build rows (Python, CPU-bound), and inserting the rows (the database). In one process they take
turns. With ``parallel=True`` a planner process reads the source and plans batch N+1
(:class:`doorstep.imports.plan.BatchPlanner`) while this process writes batch N, so on two cores the run
takes about as long as the larger of the two instead of their sum. The planner never touches the
database; it sends each planned batch (plain encoded columns, cheap to pickle) through a pipe, whose
small buffer keeps it at most one batch ahead, so memory stays bounded by two batches.

The source must then be picklable (a module-level function or a ``functools.partial`` of a method of a
picklable object, not a lambda): it is called in the planner process with that process's own
:class:`Rejects`, and the rejects it finds travel back with the batch they were found in.
"""

import multiprocessing
import traceback
from collections.abc import Callable, Generator, Iterable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from doorstep.imports.drafts import OrderDraft
from doorstep.imports.plan import BatchPlanner, PlannedBatch
from doorstep.imports.rejects import Rejects

BatchSource = Callable[[Rejects], Iterable[Sequence[OrderDraft]]]


class PlannerFailed(RuntimeError):
    """The planner process stopped with an error (its traceback is the message) or died."""


def planned_batches(
    source: BatchSource, rejects: Rejects, planner: dict[str, Any], *, parallel: bool = False
) -> Generator[PlannedBatch, None, None]:
    """Each batch of ``source`` planned by a :class:`BatchPlanner` made from ``planner`` (its keyword
    arguments). Rejects the source finds are added to ``rejects`` by the time their batch is yielded.
    Closing the iterator early (a stopped run, an error while writing) stops the planner process."""
    if not parallel:
        plans = BatchPlanner(**planner)
        for drafts in source(rejects):
            yield plans.plan(drafts)
        return
    context = multiprocessing.get_context("spawn")  # no fork: the parent holds database connections
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_plan_all, args=(source, planner, sender), name="doorstep-import-planner", daemon=True
    )
    process.start()
    sender.close()  # the child holds its own end; EOF here means it is gone
    finished = False
    try:
        while True:
            try:
                kind, payload = receiver.recv()
            except EOFError:
                raise PlannerFailed(
                    f"the import planner process died (exit code {process.exitcode})"
                ) from None
            if kind == "batch":
                rejects.items.extend(payload.rejects)
                payload.rejects = []
                yield payload
            elif kind == "done":
                rejects.items.extend(payload)
                finished = True
                return
            else:
                raise PlannerFailed(f"the import planner process failed:\n{payload}")
    finally:
        receiver.close()
        if not finished:  # stopped early: what the planner is working on is not wanted
            process.terminate()
        process.join(timeout=10)


def _plan_all(source: BatchSource, planner: dict[str, Any], sender: Connection) -> None:
    """The planner process: plan every batch of ``source`` and send it, then say done (or why not)."""
    found = Rejects()
    sent = 0
    try:
        plans = BatchPlanner(**planner)
        for drafts in source(found):
            batch = plans.plan(drafts)
            batch.rejects, sent = found.items[sent:], len(found.items)
            sender.send(("batch", batch))
        sender.send(("done", found.items[sent:]))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the writer stopped reading (a stopped run or an error there): nothing left to do
    except Exception:  # whatever it was, the writer must hear why: it raises PlannerFailed with this
        sender.send(("error", traceback.format_exc()))
        return
    finally:
        sender.close()
