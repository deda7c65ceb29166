"""Checkpoints applied per second through the full path, next to a raw insert of the same rows.

Full path: HTTP (uvicorn on loopback) → bearer auth → recorded raw in inbound_events (committed) →
parsed → applied (checkpoints inserted, status re-derived, milestones recorded) → answered. The
baseline inserts the very same checkpoint rows into the same database with SQLAlchemy Core, one
transaction per payload as the path uses, with no HTTP, no recording, no derivation.

    python -m benchmarks.ingest [--payloads 300] [--scans 8] [--database-url URL]
"""

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

from benchmarks._figure import Figure
from benchmarks._server import serving
from doorstep import migrate
from doorstep.app import create_app
from doorstep.config import Settings
from doorstep.core import ids
from doorstep.db import make_engine, make_session_factory, transaction
from doorstep.shipments.models import Checkpoint
from doorstep.stores import service as store_service
from doorstep.stores.commands import CreateStore

STATUSES = (
    "info_received",
    "in_transit",
    "in_transit",
    "in_transit",
    "in_transit",
    "out_for_delivery",
    "delivered",
)


def _scans(n: int, start: datetime) -> list[dict[str, object]]:
    return [
        {
            "occurred_at": (start + timedelta(hours=6 * i)).isoformat(),
            "status": STATUSES[min(i, len(STATUSES) - 1)],
            "message": f"Scan {i} at facility",
            "city": "Louisville",
            "region": "KY",
            "postal_code": "40209",
            "country": "US",
        }
        for i in range(n)
    ]


def run(payloads: int, scans: int, database_url: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        engine = make_engine(settings)
        migrate.upgrade(engine)
        factory = make_session_factory(engine)
        with transaction(factory) as session:
            store = store_service.create_store(
                session, cmd=CreateStore(slug=f"bench-{ids.new_id('sto')[-8:]}", name="Bench")
            )
            key = store_service.create_api_key(session, store_id=store.id, name="bench").secret
            store_id = store.id
        headers = {"Authorization": f"Bearer {key}"}
        app = create_app(settings, engine=engine)
        start = datetime(2026, 11, 1, tzinfo=UTC)
        with serving(app) as base, httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            order = client.post(
                "/api/v1/orders",
                json={
                    "number": "#1",
                    "placed_at": start.isoformat(),
                    "currency": "USD",
                    "line_items": [{"title": "Tee", "quantity": 1, "unit_price_minor": 1000}],
                },
            ).json()
            shipment_ids = [
                client.post(
                    "/api/v1/shipments",
                    json={
                        "order_id": order["id"],
                        "carrier": "ups",
                        "tracking_number": f"1ZBENCH{i:011d}",
                        "items": [],
                    },
                ).json()["id"]
                for i in range(payloads)
            ]
            bodies = [
                json.dumps({"checkpoints": _scans(scans, start + timedelta(minutes=i))})
                for i in range(payloads)
            ]
            began = time.perf_counter()
            for shipment_id, body in zip(shipment_ids, bodies, strict=True):
                response = client.post(
                    f"/api/v1/shipments/{shipment_id}/checkpoints",
                    content=body,
                    headers={"content-type": "application/json"},
                )
                assert response.status_code == 201, response.text
            path_seconds = time.perf_counter() - began

        with transaction(factory) as session:
            from sqlalchemy import select

            from doorstep.shipments.models import Shipment

            ids_ = list(
                session.scalars(
                    select(Shipment.id).where(Shipment.store_id == store_id).order_by(Shipment.id)
                )
            )
        rows_per_payload = [
            [
                {
                    "public_id": ids.new_id("cp"),
                    "store_id": store_id,
                    "shipment_id": sid,
                    "occurred_at": datetime.fromisoformat(str(s["occurred_at"])),
                    "utc_offset": "+00:00",
                    "status": s["status"],
                    "substatus": None,
                    "raw_code": None,
                    "raw_message": s["message"],
                    "city": s["city"],
                    "region": s["region"],
                    "postal_code": s["postal_code"],
                    "country": s["country"],
                    "source": "bench",
                    "fingerprint": f"raw-{sid}-{n}",
                    "created_at": start,
                }
                for n, s in enumerate(_scans(scans, start))
            ]
            for sid in ids_[:payloads]
        ]
        began = time.perf_counter()
        for rows in rows_per_payload:
            with engine.begin() as connection:
                connection.execute(insert(Checkpoint), rows)
        raw_seconds = time.perf_counter() - began
        engine.dispose()
    total = payloads * scans
    return {"path_rows_per_s": total / path_seconds, "raw_rows_per_s": total / raw_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payloads", type=int, default=300)
    parser.add_argument("--scans", type=int, default=8, help="checkpoints per payload")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    result = run(args.payloads, args.scans, args.database_url)
    ratio = result["path_rows_per_s"] / result["raw_rows_per_s"]
    print(
        f"ingest {result['path_rows_per_s']:,.0f} checkpoints/s · raw insert {result['raw_rows_per_s']:,.0f} rows/s"
        f" · ratio {ratio:.2f}  ({args.payloads} payloads x {args.scans} scans)"
    )


if __name__ == "__main__":
    main()


def run_figure() -> Figure:
    """The figure for `python -m benchmarks`: 300 payloads of 8 scans on SQLite."""
    result = run(300, 8, None)
    return Figure(
        name="ingest",
        value=result["path_rows_per_s"],
        unit="checkpoints/s",
        baseline=result["raw_rows_per_s"],
        baseline_name="raw insert",
        note="HTTP → inbound log → apply, 300 payloads x 8 scans",
    )
