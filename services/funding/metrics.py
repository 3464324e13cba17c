"""Funding's figures for ``/metrics``, read from its read models at each scrape.

``songji_funding_ledger_lines{status}`` and ``songji_funding_ledger_fen{status}``: the recorded
ledger lines and their amounts by settled status (``due`` is money due, ``paid`` money paid;
``unsettled`` is a line the read models have not settled yet); ``songji_funding_fund_fen{fund,
figure}``: each fund's running figures (allocated, committed, queued, paid, recovered). One
grouped read of the ledger (over its status index) and one of the funds' table, under the
scrape's time limit. The same from every replica: aggregate with ``max``.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Gauge

from shared.runtime.metrics import ServiceMetrics
from shared.runtime.service import ServiceContext

_FUND_FIGURES = ("allocated", "committed", "queued", "paid", "recovered")


def funding_gauges(metrics: ServiceMetrics) -> tuple[Gauge, Gauge, Gauge]:
    """Funding's own gauges in ``metrics``' registry (made once)."""
    return (metrics.gauge("songji_funding_ledger_lines",
                          "Recorded ledger lines by settled status", ["status"]),
            metrics.gauge("songji_funding_ledger_fen",
                          "Amount of the recorded ledger lines by settled status, in fen",
                          ["status"]),
            metrics.gauge("songji_funding_fund_fen",
                          "Each fund's running figures, in fen", ["fund", "figure"]))


async def funding_metrics(ctx: ServiceContext[Any]) -> None:
    lines, amounts, funds = funding_gauges(ctx.metrics)
    async with ctx.pool.acquire() as conn:
        by_status = await conn.fetch(
            """SELECT coalesce(status, 'unsettled') AS status, count(*) AS lines,
                      coalesce(sum(amount_fen), 0) AS fen
               FROM funding_ledger GROUP BY 1""")
        fund_rows = await conn.fetch(
            """SELECT fund, allocated_fen AS allocated, committed_fen AS committed,
                      queued_fen AS queued, paid_fen AS paid, recovered_fen AS recovered
               FROM funding_funds""")
    lines.clear()
    amounts.clear()
    for row in by_status:
        lines.labels(row["status"]).set(row["lines"])
        amounts.labels(row["status"]).set(row["fen"])
    funds.clear()
    for row in fund_rows:
        for figure in _FUND_FIGURES:
            funds.labels(row["fund"], figure).set(row[figure])
