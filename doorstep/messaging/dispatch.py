"""Run one ``message.send`` job: decide and render (one transaction), send (no transaction open), record.

The order of writes is what makes the effect exactly once:

1. the message row is claimed by its unique key and the decision committed (``sending`` + the kind and
   address), before any I/O — a second run of the same job finds the row and never decides twice;
2. the channel is called with the row's public id as the message id (devbox stores a message id once;
   SMTP sends it as the Message-ID; providers with idempotency keys receive it as one);
3. ``sent`` is committed, by the worker in the same transaction that marks the job done (``send`` returns
   that write rather than committing it: one commit fewer per message). A crash between 2 and 3 leaves
   the row ``sending``: the job's lease expires, the job runs again and sends the same message id again,
   which the channel stores once.

A provider outage raises :class:`doorstep.jobs.retry.Retryable`, so the job retries with backoff; on its
last attempt the row is marked ``failed`` with the reason before the job goes dead. A refusal that
retrying cannot fix (an invalid number) falls back to the step's next kind, if any.
"""

from collections.abc import Callable
from functools import partial

import httpx
from sqlalchemy.orm import Session, sessionmaker

from doorstep.config import Settings
from doorstep.db import transaction
from doorstep.integrations.channels.protocol import SendFailed
from doorstep.jobs.queue import ClaimedJob
from doorstep.jobs.retry import Retryable
from doorstep.messaging import service as message_service


def send(
    factory: sessionmaker[Session], *, settings: Settings, client: httpx.Client, job: ClaimedJob
) -> Callable[[Session], None] | None:
    """Run the job. Once the channel took the message, return the write that records it ``sent``, for the
    caller to commit (with the job's completion); None when the run settled the message another way."""
    if job.store_id is None:
        raise ValueError("a message.send job needs a store")
    store_id = job.store_id
    with transaction(factory) as session:
        prepared = message_service.prepare(session, store_id=store_id, args=job.args, settings=settings)
    last_attempt = job.attempt >= job.max_attempts
    while isinstance(prepared, message_service.Ready):
        ready = prepared
        try:
            sent = ready.route.channel.send(ready.outbound, ready.route.config, client=client)
        except SendFailed as exc:
            if exc.retryable:
                with transaction(factory) as session:
                    if last_attempt:
                        reason = f"gave up after {job.attempt} attempts: {exc.reason}"
                        message_service.mark_failed(session, store_id=store_id, message_pk=ready.message_pk,
                                                    reason=reason)  # fmt: skip
                    else:
                        message_service.note_retry(session, store_id=store_id, message_pk=ready.message_pk,
                                                   reason=exc.reason)  # fmt: skip
                raise Retryable(exc.reason) from exc
            with transaction(factory) as session:
                prepared = message_service.fall_back(
                    session, store_id=store_id, message_pk=ready.message_pk, args=job.args, settings=settings,
                    reason=exc.reason,
                )  # fmt: skip
            continue
        except Exception as exc:
            # A channel bug: the worker records it on the job; the row says why once retries are over.
            if last_attempt:
                with transaction(factory) as session:
                    message_service.mark_failed(session, store_id=store_id, message_pk=ready.message_pk,
                                                reason=f"{type(exc).__name__}: {exc}")  # fmt: skip
            raise
        return partial(
            _record_sent, store_id=store_id, message_pk=ready.message_pk,
            provider_message_id=sent.provider_message_id,
        )  # fmt: skip
    return None


def _record_sent(
    session: Session, *, store_id: int, message_pk: int, provider_message_id: str | None
) -> None:
    message_service.mark_sent(
        session, store_id=store_id, message_pk=message_pk, provider_message_id=provider_message_id
    )
