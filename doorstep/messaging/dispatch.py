"""Run ``message.send`` jobs, many at a time: decide (one transaction for the batch), then render and send
each message (no transaction open), record.

The order of writes is what makes each effect exactly once:

1. the message rows are claimed by their unique keys and the decisions committed (``sending`` + the kind
   and address), before any I/O: a second run of the same job finds its row and never decides twice;
2. each message is rendered from its draft (:mod:`doorstep.messaging.draft`), then its channel is called
   with the row's public id as the message id (devbox stores a message id once; SMTP sends it as the
   Message-ID; providers with idempotency keys receive it as one);
3. ``sent`` is committed every :data:`RECORD_EVERY` sends, and for the last ones by the worker in the same
   transaction that marks the jobs done (:func:`send_many` returns that write rather than committing it).
   A crash between 2 and 3 leaves the row ``sending``: the job's lease expires, the job runs again and
   sends the same message id again, which the channel stores once (an SMTP receiver sees the same
   Message-ID): at most :data:`RECORD_EVERY` messages per thread.

A batch shares its reads and its commits; nothing else. Rendering after the decisions' commit keeps the
batch's transaction short, and lets a thread render one message while the pool's other threads wait on
their providers (rendering is CPU, sending is mostly waiting). Should deciding the batch fail (a bug, a
database error), its jobs are decided again one at a time, so one bad job fails alone. A provider outage
raises :class:`doorstep.jobs.retry.Retryable` for that job only, so it retries with backoff; on its last
attempt the row is marked ``failed`` with the reason before the job goes dead. A refusal that retrying
cannot fix (an invalid number) falls back to the step's next kind, if any.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.db import transaction
from doorstep.integrations.channels.protocol import SendFailed
from doorstep.jobs.queue import ClaimedJob
from doorstep.jobs.retry import Retryable
from doorstep.messaging import service as message_service
from doorstep.messaging.draft import Draft, Unwritten, write

# Sends between two commits of "sent": at most this many messages per thread are sent again after a crash
# (the messages a channel accepted that Doorstep had not yet recorded). A commit costs about what 2 sends do.
RECORD_EVERY = 8


@dataclass
class Outcome:
    """How a batch of jobs went: failures by job id (the other jobs are done), and the messages the
    channels accepted, which :meth:`settle` records ``sent`` in the caller's transaction."""

    errors: dict[int, Exception] = field(default_factory=dict)
    sent: list[message_service.SentRow] = field(default_factory=list)

    def settle(self, session: Session) -> None:
        message_service.mark_sent_many(session, rows=self.sent)


def send_many(
    factory: sessionmaker[Session], *, settings: Settings, client: httpx.Client, jobs: Sequence[ClaimedJob]
) -> Outcome:
    """Run the jobs: decide each store's jobs as one batch, then hand each message to its channel."""
    outcome = Outcome()
    for batch in _batches(jobs, outcome):
        prepared = _prepare(factory, settings, batch)
        if isinstance(prepared, Exception):
            if len(batch) == 1:  # recorded on the job; the worker decides whether it runs again
                outcome.errors[batch[0].id] = prepared
                continue
            for job in batch:  # decide again one at a time, so only the job at fault fails
                single = send_many(factory, settings=settings, client=client, jobs=[job])
                outcome.errors.update(single.errors)
                outcome.sent.extend(single.sent)
            continue
        for job, first in zip(batch, prepared, strict=True):
            row = _deliver_or_error(factory, settings, client, job, first)
            if isinstance(row, Exception):
                outcome.errors[job.id] = row
            elif row is not None:
                outcome.sent.append(row)
                if len(outcome.sent) >= RECORD_EVERY:
                    _record_sent(factory, outcome)
    return outcome


def _record_sent(factory: sessionmaker[Session], outcome: Outcome) -> None:
    """Commit ``sent`` for the messages accepted so far, so a crash later in the batch resends none of
    them; should the database refuse, they stay for the worker's final write (at least once)."""
    try:
        with transaction(factory) as session:
            message_service.mark_sent_many(session, rows=outcome.sent)
    except SQLAlchemyError:
        return
    outcome.sent.clear()


def _prepare(
    factory: sessionmaker[Session], settings: Settings, batch: list[ClaimedJob]
) -> list[message_service.Prepared] | Exception:
    """Decide the batch in one transaction; its error (any), to be recorded, rather than raised."""
    try:
        with transaction(factory) as session:
            return message_service.prepare_many(
                session, store_id=_store(batch[0]), batch=[job.args for job in batch], settings=settings
            )
    except Exception as exc:  # returned: recorded on the batch's jobs by the caller
        return exc


def _deliver_or_error(
    factory: sessionmaker[Session],
    settings: Settings,
    client: httpx.Client,
    job: ClaimedJob,
    prepared: message_service.Prepared,
) -> message_service.SentRow | Exception | None:
    try:
        return _deliver(factory, settings, client, job, prepared)
    except Exception as exc:  # returned: recorded on this job only
        return exc


def _store(job: ClaimedJob) -> int:
    if job.store_id is None:
        raise ValueError("a message.send job needs a store")
    return job.store_id


def _batches(jobs: Sequence[ClaimedJob], outcome: Outcome) -> list[list[ClaimedJob]]:
    """The jobs by store, in order, each batch holding a message key once (a twin waits for the next)."""
    batches: list[list[ClaimedJob]] = []
    open_batches: dict[int, list[tuple[list[ClaimedJob], set[str]]]] = {}
    for job in jobs:
        try:
            store_id = _store(job)
        except ValueError as exc:
            outcome.errors[job.id] = exc
            continue
        key = str(job.args.get("message_key") or "")
        candidates = open_batches.setdefault(store_id, [])
        target = next((pair for pair in candidates if key not in pair[1]), None)
        if target is None:
            target = ([], set())
            candidates.append(target)
            batches.append(target[0])
        target[0].append(job)
        target[1].add(key)
    return batches


def _deliver(
    factory: sessionmaker[Session],
    settings: Settings,
    client: httpx.Client,
    job: ClaimedJob,
    prepared: message_service.Prepared,
) -> message_service.SentRow | None:
    """Render one decided message and send it; the row to record ``sent``, or None when it settled
    another way (no template could render it, or every kind the step allows was refused)."""
    store_id = _store(job)
    last_attempt = job.attempt >= job.max_attempts
    while isinstance(prepared, Draft):
        draft = prepared
        written = write(draft)
        if isinstance(written, Unwritten):
            with transaction(factory) as session:
                message_service.record_unwritten(
                    session, store_id=store_id, message_pk=draft.message_pk, reason=written.reason
                )
            return None
        if written.override_failed is not None:
            with transaction(factory) as session:
                message_service.record_override_failure(
                    session, store_id=store_id, failed=written.override_failed
                )
        subject = written.outbound.rendered.subject
        try:
            sent = draft.route.channel.send(written.outbound, draft.route.config, client=client)
        except SendFailed as exc:
            if exc.retryable:
                with transaction(factory) as session:
                    if last_attempt:
                        reason = f"gave up after {job.attempt} attempts: {exc.reason}"
                        message_service.mark_failed(session, store_id=store_id, message_pk=draft.message_pk,
                                                    reason=reason, subject=subject)  # fmt: skip
                    else:
                        message_service.note_retry(session, store_id=store_id, message_pk=draft.message_pk,
                                                   reason=exc.reason, subject=subject)  # fmt: skip
                raise Retryable(exc.reason) from exc
            with transaction(factory) as session:
                prepared = message_service.fall_back(
                    session, store_id=store_id, message_pk=draft.message_pk, args=job.args, settings=settings,
                    reason=exc.reason,
                )  # fmt: skip
            continue
        except Exception as exc:
            # A channel bug: the worker records it on the job; the row says why once retries are over.
            if last_attempt:
                with transaction(factory) as session:
                    message_service.mark_failed(session, store_id=store_id, message_pk=draft.message_pk,
                                                reason=f"{type(exc).__name__}: {exc}", subject=subject)  # fmt: skip
            raise
        return message_service.SentRow(store_id, draft.message_pk, sent.provider_message_id, subject)
    return None
