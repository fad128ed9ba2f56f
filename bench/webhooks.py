"""Benchmark: signed BigCommerce webhooks against the receiver on a real Airflow api-server.

    python -m bench.webhooks --seconds 30 --concurrency 8

Starts ``airflow api-server`` (which mounts the ml-connector plugin) on a private SQLite
AIRFLOW_HOME, with the pair's DAGs serialised so the wake-up asset exists, then fires a burst
of correctly signed deliveries (Standard Webhooks signature + the registered secret header)
from an asyncio client (aiohttp) holding ``concurrency`` requests in flight. aiohttp, not
httpx: on this 2-core machine httpx's client spent ~3 ms of CPU per request (aiohttp ~0.5),
which the api-server would have had to share, so the benchmark measured its own client.
Every delivery has its own id; afterwards the state database's inbox is read back, and

    webhook_lost = sent - (answered 200 "accepted" AND present in the inbox)

so a delivery that was refused, timed out, errored or answered 200 without being stored
counts as lost. Reports accepted deliveries per second over the burst and latency
percentiles measured at the client (request written to response read).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bench.common import PY, bench_main, free_port, percentile, processes, wait_http
from bench.stack import (
    BC_CLIENT_SECRET,
    BC_CONN,
    WEBHOOK_HEADER_NAME,
    WEBHOOK_HEADER_SECRET,
    airflow_env,
    init_airflow,
)

STORE_HASH = "sandbox1"


@dataclass
class Burst:
    """What the client saw: one entry per delivery it sent."""

    latencies_ms: list[float] = field(default_factory=list)
    accepted_ids: set[str] = field(default_factory=set)
    statuses: dict[str, int] = field(default_factory=dict)
    sent: int = 0

    def note(self, status: str) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


def signed_delivery(order_id: int) -> tuple[str, dict[str, str], bytes]:
    """One ``store/order/created`` delivery as BigCommerce sends it: thin payload, signed headers."""
    from ml_connector.storefronts.bigcommerce.webhooks import standard_signature

    delivery_id = f"bench-{uuid.uuid4()}"
    now = int(time.time())
    body = json.dumps({
        "scope": "store/order/created", "store_id": "1001", "producer": f"stores/{STORE_HASH}",
        "hash": uuid.uuid4().hex, "created_at": now, "data": {"type": "order", "id": order_id},
    }, separators=(",", ":")).encode()
    headers = {
        "content-type": "application/json",
        "webhook-id": delivery_id,
        "webhook-timestamp": str(now),
        "webhook-signature": standard_signature(BC_CLIENT_SECRET, delivery_id, str(now), body),
        WEBHOOK_HEADER_NAME: WEBHOOK_HEADER_SECRET,
    }
    return delivery_id, headers, body


async def _sender(session: aiohttp.ClientSession, url: str, deadline: float, counter: list[int], burst: Burst) -> None:
    while time.monotonic() < deadline:
        counter[0] += 1
        delivery_id, headers, body = signed_delivery(100_000 + counter[0])
        burst.sent += 1
        started = time.perf_counter()
        try:
            async with session.post(url, data=body, headers=headers) as response:
                answer = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            burst.note(type(exc).__name__)
            continue
        burst.latencies_ms.append((time.perf_counter() - started) * 1000)
        burst.note(str(status))
        if status == 200 and isinstance(answer, dict) and answer.get("accepted"):
            burst.accepted_ids.add(delivery_id)


async def fire(url: str, seconds: float, concurrency: int) -> tuple[Burst, float]:
    """``concurrency`` senders in a closed loop for ``seconds``; returns what they saw and the elapsed time."""
    burst = Burst()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        started = time.monotonic()
        counter = [0]
        await asyncio.gather(*(_sender(session, url, started + seconds, counter, burst) for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return burst, elapsed


def process_tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its children (uvicorn workers)."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in (root, *root.children(recursive=True)):
        times = proc.cpu_times()
        total += times.user + times.system
    return total


def stored_delivery_ids(state_db: Path) -> set[str]:
    from ml_connector.state.db import get_engine
    from ml_connector.state.schema import webhook_inbox
    from sqlalchemy import select

    with get_engine(f"sqlite:///{state_db}").connect() as conn:
        query = select(webhook_inbox.c.delivery_id).where(webhook_inbox.c.conn_id == BC_CONN)
        return {str(row[0]) for row in conn.execute(query)}


def run(seconds: float = 30.0, concurrency: int = 8, workers: int = 1, keep: bool = False) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="mlc-bench-webhooks-"))
    api_port = free_port()
    state_db = work / "state.db"
    # The receiver only verifies and stores: the connections' URLs are never called here.
    env = airflow_env(work / "airflow", api_port=api_port, state_db=state_db,
                      bc_url="http://127.0.0.1:9", ps_url="http://127.0.0.1:9")
    init_airflow(env)
    with processes(work / "logs") as procs:
        server = procs.start([PY, "-m", "airflow", "api-server", "--port", str(api_port), "--workers", str(workers)],
                             "api-server", env)
        base = f"http://127.0.0.1:{api_port}/ml-connector"
        wait_http(f"{base}/health", 180, server, work / "logs" / "api-server.log")
        url = f"{base}/webhooks/bigcommerce/{BC_CONN}"
        # First deliveries open the state database (migration) in the api-server: not measured.
        asyncio.run(fire(url, 3.0, 2))
        cpu_before, server_before = resource.getrusage(resource.RUSAGE_SELF), process_tree_cpu_s(server.pid)
        burst, elapsed = asyncio.run(fire(url, seconds, concurrency))
        cpu_after, server_after = resource.getrusage(resource.RUSAGE_SELF), process_tree_cpu_s(server.pid)
        stored = stored_delivery_ids(state_db)
    client_cpu_s = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    delivered = burst.accepted_ids & stored
    result = {
        "webhook_accepted_per_s": round(len(burst.accepted_ids) / elapsed, 1),
        "webhook_p50_ms": _round(percentile(burst.latencies_ms, 50)),
        "webhook_p99_ms": _round(percentile(burst.latencies_ms, 99)),
        "webhook_max_ms": _round(max(burst.latencies_ms, default=None)),
        "webhook_lost": burst.sent - len(delivered),
        "webhook_sent": burst.sent,
        "webhook_accepted": len(burst.accepted_ids),
        "webhook_statuses": burst.statuses,
        "webhook_client_cpu_ms_per_request": round(client_cpu_s * 1000 / max(burst.sent, 1), 2),
        "webhook_server_cpu_ms_per_request": round((server_after - server_before) * 1000 / max(burst.sent, 1), 2),
        "params": {"seconds": seconds, "concurrency": concurrency, "api_server_workers": workers,
                   "client": "asyncio + aiohttp", "state_db": "SQLite (WAL)", "airflow_db": "SQLite"},
    }
    if keep:
        result["work_dir"] = str(work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="api-server worker processes")
    parser.add_argument("--keep", action="store_true", help="keep the AIRFLOW_HOME and logs for inspection")
    return bench_main(parser, lambda a: run(a.seconds, a.concurrency, a.workers, a.keep), argv)


if __name__ == "__main__":
    raise SystemExit(main())
