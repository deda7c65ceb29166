"""Tracking page throughput and latency under many concurrent shoppers, next to a bare route.

The app runs in its own process (uvicorn, one worker, SQLite in WAL mode) on loopback; this process
drives it with ``--concurrency`` keep-alive connections (asyncio, raw HTTP/1.1, so the client costs
little). Three runs, each ``--seconds`` long, on the same server:

- bare: ``GET /healthz`` (routing, middleware, JSON; no database): the baseline;
- page: ``GET /t/{token}`` across many orders (read transaction, render, visit counter);
- revisit: the same with ``If-None-Match`` (a 304: read, no render; the visit is still counted).

It prints requests per second and p50/p99 latency for each, the ratio page/bare, and the page's
transfer size (HTML + its two stylesheets, product images excluded).

    python -m benchmarks.tracking_page [--concurrency 100] [--seconds 10] [--orders 200]
"""

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks._cpu import process_seconds
from benchmarks._figure import Figure
from doorstep import migrate
from doorstep.config import Settings
from doorstep.core import heap
from doorstep.db import make_engine, make_session_factory, transaction
from doorstep.stores import service as store_service
from doorstep.stores.commands import CreateStore


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(database_url: str, port: int) -> None:
    import uvicorn

    import doorstep.schema  # noqa: F401 - every model registered, whatever the app imports
    from doorstep.app import create_app

    app = create_app(Settings(database_url=database_url))
    heap.settle()  # as `doorstep serve` does
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _seed(client: httpx.Client, key: str, orders: int) -> list[str]:
    headers = {"Authorization": f"Bearer {key}"}
    products = [(f"p-{i}", f"Product {i}") for i in range(12)]
    links: list[str] = []
    for n in range(orders):
        picks = [products[(n + k * 5) % len(products)] for k in range(1 + n % 3)]
        order = client.post(
            "/api/v1/orders",
            headers=headers,
            json={
                "number": f"#{5000 + n}", "placed_at": "2026-11-20T10:00:00-05:00", "currency": "USD",
                "customer": {"email": f"s{n}@example.com", "locale": ["en", "es", "de", "fr", "pt-BR"][n % 5],
                             "timezone": "America/New_York"},
                "line_items": [{"product_id": pid, "title": title, "quantity": 1, "unit_price_minor": 2500}
                               for pid, title in picks],
                "shipping_address": {"name": "Ana Souza", "line1": "1 Main St", "city": "Austin",
                                     "region": "TX", "postal_code": "78704", "country": "US"},
            },
        ).json()  # fmt: skip
        if "id" not in order:
            raise RuntimeError(f"seeding failed: {order}")
        parcel = client.post(
            "/api/v1/shipments",
            headers=headers,
            json={"order_id": order["id"], "carrier": "ups", "tracking_number": f"1Z999AA1{n:010d}"},
        ).json()
        scans = [
            {"occurred_at": f"2026-11-2{d}T0{d}:00:00-05:00", "status": s, "message": m, "city": "Louisville",
             "region": "KY", "country": "US"}
            for d, (s, m) in enumerate([("info_received", "Label created"), ("in_transit", "Picked up"),
                                        ("in_transit", "Departed facility"), ("in_transit", "Arrived at hub"),
                                        ("out_for_delivery", "Out for delivery")][: 2 + n % 4], start=1)
        ]  # fmt: skip
        client.post(
            f"/api/v1/shipments/{parcel['id']}/checkpoints", headers=headers, json={"checkpoints": scans}
        )
        link = client.get(f"/api/v1/orders/{order['id']}/status-link", headers=headers).json()
        links.append(link["path"])
    return links


async def _connection(
    port: int, paths: list[str], offset: int, deadline: float, latencies: list[float],
    etags: dict[str, str] | None,
) -> int:  # fmt: skip
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    i = offset
    while time.perf_counter() < deadline:
        path = paths[i % len(paths)]
        i += 1
        extra = f"If-None-Match: {etags[path]}\r\n" if etags else ""
        started = time.perf_counter()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        done += 1
    writer.close()
    return done


def _load(
    port: int, paths: list[str], concurrency: int, seconds: float, etags: dict[str, str] | None = None
) -> dict[str, float]:
    latencies: list[float] = []

    async def run() -> float:
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        await asyncio.gather(
            *(_connection(port, paths, c * 7, deadline, latencies, etags) for c in range(concurrency))
        )
        return time.perf_counter() - started

    elapsed = asyncio.run(run())
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "n": len(latencies),
    }


def measure(concurrency: int, seconds: float, orders: int) -> dict[str, Any]:
    """Seed a store, start the server, and load the three routes; every figure of one run."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        engine = make_engine(Settings(database_url=url))
        migrate.upgrade(engine)
        with transaction(make_session_factory(engine)) as session:
            store = store_service.create_store(
                session, cmd=CreateStore(slug="bench", name="Bench Outfitters")
            )
            key = store_service.create_api_key(session, store_id=store.id, name="bench").secret
        engine.dispose()
        port = _free_port()
        server = multiprocessing.get_context("spawn").Process(target=_serve, args=(url, port), daemon=True)
        server.start()
        base = f"http://127.0.0.1:{port}"
        runs: dict[str, Any] = {}
        try:
            with httpx.Client(base_url=base, timeout=30) as client:
                for _ in range(300):
                    try:
                        client.get("/healthz")
                        break
                    except httpx.TransportError:
                        time.sleep(0.05)
                links = _seed(client, key, orders)
                first = client.get(links[0])
                hrefs = [p.split('"')[0] for p in first.text.split('rel="stylesheet" href="')[1:]]
                css = sum(len(client.get(h).content) for h in hrefs)
                etags = {link: client.get(link).headers["etag"] for link in links}
            # warm up both paths, then measure
            _load(port, ["/healthz"], 20, 1.0)
            _load(port, links, 20, 1.0)
            for name, paths, tags in (
                ("bare", ["/healthz"], None),
                ("page", links, None),
                ("revisit", links, etags),
            ):
                cpu = process_seconds(server.pid)
                runs[name] = _load(port, paths, concurrency, seconds, tags)
                runs[name]["cpu_ms"] = (process_seconds(server.pid) - cpu) * 1000 / max(runs[name]["n"], 1)
        finally:
            server.terminate()
            server.join(timeout=10)
    runs["html_bytes"] = len(first.content)
    runs["css_bytes"] = css
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--orders", type=int, default=200)
    args = parser.parse_args()
    runs = measure(args.concurrency, args.seconds, args.orders)
    bare, page, revisit = runs["bare"], runs["page"], runs["revisit"]
    c = args.concurrency
    for name, r in (("bare /healthz", bare), ("tracking page", page), ("revisit (304)", revisit)):
        print(f"{name:<15} {r['rps']:>8,.0f} req/s · p50 {r['p50']:6.1f} ms · p99 {r['p99']:6.1f} ms "
              f"· server CPU {r['cpu_ms']:.2f} ms/req ({int(r['n']):,} requests, {c} concurrent)")  # fmt: skip
    print(
        f"ratio page/bare {page['rps'] / bare['rps']:.2f} · revisit/bare {revisit['rps'] / bare['rps']:.2f}"
        f" · server CPU per request page/bare {page['cpu_ms'] / bare['cpu_ms']:.2f}"
    )
    html, css = runs["html_bytes"], runs["css_bytes"]
    print(
        f"transfer: page {html:,} B + CSS {css:,} B = {html + css:,} B "
        "(first visit, product images excluded; repeat visits: 304 and cached CSS)"
    )


def run_figure() -> Figure:
    """The figure for `python -m benchmarks`: 100 concurrent shoppers for 5 s per route."""
    runs = measure(100, 5.0, 100)
    page, bare = runs["page"], runs["bare"]
    return Figure(
        name="tracking page",
        value=page["rps"],
        unit="req/s",
        baseline=bare["rps"],
        baseline_name="bare /healthz",
        note=f"100 concurrent; page p99 {page['p99']:.0f} ms (bare {bare['p99']:.0f} ms); "
        f"{runs['html_bytes'] + runs['css_bytes']:,} B",
    )


if __name__ == "__main__":
    main()
