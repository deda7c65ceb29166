"""Pollers: ask carriers about parcels whose next poll is due, and feed each answer through the inbound log.

Each response body is recorded raw (source = the carrier, topic ``poll``) and applied by the same adapter
``parse`` a push would use, so a poll answer is replayable like any webhook. Failures postpone the batch
with backoff instead of hammering the provider; batches respect each provider's documented batch size.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from doorstep.core import clock
from doorstep.db import transaction
from doorstep.inbound import service as inbound_service
from doorstep.integrations.tracking import registry as tracking_registry
from doorstep.integrations.tracking import simulated
from doorstep.integrations.tracking.protocol import PollingSource
from doorstep.shipments import service as shipment_service
from doorstep.shipments.models import Shipment
from doorstep.stores import service as store_service

RETRY_AFTER = timedelta(minutes=15)


@dataclass
class PollReport:
    polled: int = 0
    recorded: int = 0
    failed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Due:
    store_id: int
    public_id: str
    number: str
    source: str
    service: str | None
    shipped_at: datetime
    destination: dict[str, Any]


def poll_due(
    factory: sessionmaker[Session],
    *,
    secret: str,
    client: httpx.Client,
    now: datetime | None = None,
    limit: int = 500,
) -> PollReport:
    """Poll every parcel that is due (up to ``limit``), grouped by store and source."""
    now = now or clock.now()
    with transaction(factory) as session:
        due = [_snapshot(s) for s in shipment_service.due_for_polling(session, now=now, limit=limit)]
    groups: dict[tuple[int, str], list[_Due]] = defaultdict(list)
    for item in due:
        groups[(item.store_id, item.source)].append(item)
    report = PollReport()
    for (store_id, source), items in groups.items():
        try:
            bodies = _fetch(factory, secret, client, store_id, source, items, now)
        except (httpx.HTTPError, ValueError) as exc:
            report.failed.append(f"{source} for store {store_id}: {type(exc).__name__}: {exc}")
            with transaction(factory) as session:
                shipment_service.postpone_poll(
                    session,
                    store_id=store_id,
                    shipment_ids=[i.public_id for i in items],
                    until=now + RETRY_AFTER,
                )
            continue
        report.polled += len(items)
        for body in bodies:
            sub = inbound_service.Submission(
                store_id=store_id, source=source, topic="poll", body=body, dedupe_by_hash=True
            )
            inbound_service.submit(factory, sub)
            report.recorded += 1
        # A parcel whose answer changed nothing (a duplicate body) still gets its next poll time.
        with transaction(factory) as session:
            shipment_service.reschedule_polls(
                session, store_id=store_id, shipment_ids=[i.public_id for i in items], now=now
            )
    return report


def _snapshot(shipment: Shipment) -> _Due:
    order = shipment.order
    return _Due(
        store_id=shipment.store_id,
        public_id=shipment.public_id,
        number=shipment.tracking_number,
        source=shipment.poll_source or shipment.carrier,
        service=shipment.service,
        shipped_at=shipment.created_at,
        destination=dict(order.shipping_address or {}) if order else {},
    )


def _fetch(
    factory: sessionmaker[Session], secret: str, client: httpx.Client, store_id: int, source: str,
    items: list[_Due], now: datetime,
) -> list[bytes]:  # fmt: skip
    if source == simulated.SOURCE.name:
        return [_simulate(item, now) for item in items]
    adapter = tracking_registry.get(source)
    if adapter is None or not callable(getattr(adapter, "fetch", None)):
        raise ValueError(f"{source} cannot be polled")
    poller = cast(PollingSource, adapter)  # duck-typed: it has ``fetch``
    with transaction(factory) as session:
        stored = store_service.get_connection(session, store_id=store_id, provider=source, secret=secret)
    if stored is None:
        raise ValueError(f"store has no {source} connection")
    config: BaseModel = poller.config_model.model_validate(stored)
    fetched = poller.fetch(client, config, [i.number for i in items])
    # Every answer is recorded, whatever its HTTP status: the parser turns "not found" into Parsed.errors.
    return [f.body for f in fetched]


def _simulate(item: _Due, now: datetime) -> bytes:
    city = str(item.destination.get("city") or "Austin")
    region = str(item.destination.get("region") or "TX")
    postal = str(item.destination.get("postal_code") or "78704")
    country = str(item.destination.get("country") or "US")
    route = (
        simulated.Place("Reno", "NV", "89502", "US", -8),
        simulated.Place("Salt Lake City", "UT", "84104", "US", -7),
        simulated.Place(city, region, postal, country, -6),
    )
    return simulated.generate(
        item.number, service=item.service or "ground", shipped_at=item.shipped_at, now=now, route=route
    )
