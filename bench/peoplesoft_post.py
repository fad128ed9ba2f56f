"""Benchmark: post balanced journals to the PeopleSoft simulator through the real hook and poster.

    python -m bench.peoplesoft_post --journals 5000 --lines 6 --latency-ms 50 --concurrency 8

The simulator runs as a separate process (``python -m sandbox peoplesoft``) so that its threads
do not compete with the client's GIL. Journals go through ``post_journal(..., lookup_first=False)``
as the load step sends first attempts; afterwards every journal must be in the simulator exactly
once. Reports ``ps_journals_per_s`` and ``ps_peak_rss_mb`` (client process); target >= 100 / s and
< 500 MiB. Results are printed as JSON (and written to ``--json-out PATH`` when given).
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil
import requests
from ml_connector.audit import Exchange
from ml_connector.core.model import Journal, JournalKind, JournalLine, SourceRef
from ml_connector.erps.peoplesoft.hook import PeopleSoftHook
from ml_connector.erps.peoplesoft.poster import post_journal

from bench.common import bench_main, peak_rss_mb, processes, start_simulator

BU = "US001"
HEADER = (("BUSINESS_UNIT", BU), ("LEDGER_GROUP", "ACTUALS"), ("LEDGER", "ACTUALS"), ("SOURCE", "ECM"), ("RT_TYPE", "CRRNT"))
RULES = [{"ACCOUNT": "110100", "DEPTID": "*"}, {"ACCOUNT": "400100", "DEPTID": "*", "PRODUCT": "*"}, {"ACCOUNT": "210500"}]


class _CountingAudit:
    """Exchanges are built and redacted as in production, then only counted (no unbounded list)."""

    def __init__(self) -> None:
        self.statuses: Counter[int | None] = Counter()

    def record(self, exchange: Exchange) -> None:
        self.statuses[exchange.status] += 1


def make_journal(order: int, lines: int, day: dt.date) -> Journal:
    """A balanced sale: clearing debit, ``lines - 2`` revenue credits, one tax credit."""
    def jl(account: str, amount: Decimal, **dims: str) -> JournalLine:
        return JournalLine("x", (("ACCOUNT", account), *dims.items()), amount, amount, "USD", f"order {order}", str(order))

    revenue = [jl("400100", Decimal(-(10 + (order + n) % 90)) - Decimal("0.99"), DEPTID="SALES", PRODUCT="WEB")
               for n in range(lines - 2)]
    tax = jl("210500", Decimal("-1.37"))
    clearing = jl("110100", -sum((ln.amount for ln in (*revenue, tax)), Decimal(0)), DEPTID="TREAS")
    return Journal(pair="bigcommerce_to_peoplesoft", key=f"bench:sale:{order}", kind=JournalKind.SALE, store_id="s1",
                   currency="USD", base_currency="USD", fx_rate=Decimal(1), posting_date=day,
                   description=f"BigCommerce order {order}", lines=(clearing, *revenue, tax),
                   sources=(SourceRef("bigcommerce", "order", str(order)),), header=HEADER)


def run(journals: int = 5000, lines: int = 6, latency_ms: int = 50, concurrency: int = 8) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mlc-bench-ps-") as work, processes(Path(work)) as procs:
        sim = start_simulator(procs, "peoplesoft", ["--latency-ms", str(latency_ms)])
        base, proc = sim.url, sim.proc
        requests.post(f"{base}/_sandbox/combinations", json={"business_unit": BU, "rules": RULES, "replace": True}, timeout=10)
        audit = _CountingAudit()
        hook = PeopleSoftHook.from_params(base, "PSFT_EP", "ML_INTEGRATOR", "ps-sandbox-pass", audit=audit,
                                          concurrency=concurrency)
        hook.service(hook.journal_service)  # WSDL load is a one-off per worker, not per journal
        batch = [make_journal(n, lines, dt.date(2026, 10, 1) + dt.timedelta(days=n % 28)) for n in range(1, journals + 1)]
        sim_cpu = psutil.Process(proc.pid).cpu_times()
        own_cpu = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            results = list(pool.map(lambda j: post_journal(hook, j, lookup_first=False), batch))
        elapsed = time.perf_counter() - started
        own_after, sim_after = resource.getrusage(resource.RUSAGE_SELF), psutil.Process(proc.pid).cpu_times()
        client_cpu = own_after.ru_utime + own_after.ru_stime - own_cpu.ru_utime - own_cpu.ru_stime
        server_cpu = sim_after.user + sim_after.system - sim_cpu.user - sim_cpu.system
        stored = requests.get(f"{base}/_sandbox/journals", timeout=120).json()["journals"]
        ids = Counter(j["JOURNAL_ID"] for j in stored)
        expected = {r.journal_id for r in results}
        statuses = Counter(r.status for r in results)
        return {
            "ps_journals": journals,
            "ps_lines_per_journal": lines,
            "ps_latency_ms": latency_ms,
            "ps_concurrency": concurrency,
            "ps_elapsed_s": round(elapsed, 2),
            "ps_journals_per_s": round(journals / elapsed, 1),
            "ps_peak_rss_mb": peak_rss_mb(),
            "ps_client_cpu_ms_per_journal": round(client_cpu * 1000 / journals, 2),
            "ps_sim_cpu_ms_per_journal": round(server_cpu * 1000 / journals, 2),
            "ps_statuses": dict(statuses),
            "ps_http_statuses": {str(k): v for k, v in audit.statuses.items()},
            "ps_all_present_once": set(ids) == expected and len(expected) == journals and max(ids.values()) == 1,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peoplesoft_post", description=__doc__.splitlines()[0])
    parser.add_argument("--journals", type=int, default=5000)
    parser.add_argument("--lines", type=int, default=6)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    return bench_main(parser, lambda a: run(a.journals, a.lines, a.latency_ms, a.concurrency), argv,
                      ok=lambda result: bool(result["ps_all_present_once"]))


if __name__ == "__main__":
    raise SystemExit(main())
