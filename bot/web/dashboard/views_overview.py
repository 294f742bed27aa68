"""The overview page: what came in and went out, two charts drawn as SVG on the server (no
script), the latest records, and what needs someone's attention."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.web.dashboard.auth import requires
from bot.web.dashboard.keys import CONTAINER_KEY
from bot.web.dashboard.render import render
from bot.web.dashboard.render import status_parts

PERIODS = {"today": "Today", "7d": "7 days", "30d": "30 days"}
CHART_W, CHART_H, CHART_PAD = 600, 180, 24


def flow_chart(days: list[Any]) -> dict[str, Any]:
    """Bar geometry of money in and out per day (SVG user units; heights scaled to the peak)."""
    peak = max([max(d.received, d.sent) for d in days] + [1])
    slot = CHART_W / max(len(days), 1)
    bar = max(slot / 2 - 1, 1)
    usable = CHART_H - CHART_PAD
    bars = []
    for n, d in enumerate(days):
        x = n * slot
        h_in = round(usable * d.received / peak, 1)
        h_out = round(usable * d.sent / peak, 1)
        bars.append(
            {
                "day": d,
                "x_in": round(x, 1),
                "x_out": round(x + bar, 1),
                "w": round(bar, 1),
                "y_in": round(usable - h_in, 1),
                "h_in": h_in,
                "y_out": round(usable - h_out, 1),
                "h_out": h_out,
                "label": n % 7 == 0 or n == len(days) - 1,
                "x_label": round(x, 1),
            }
        )
    return {"bars": bars, "peak": peak, "w": CHART_W, "h": CHART_H, "base": usable}


def outcome_bars(by_status: dict[str, int]) -> list[dict[str, Any]]:
    """One bar per payment status (words and count; width as a share of the largest)."""
    top = max([*by_status.values(), 1])
    rows = []
    for status, count in sorted(by_status.items(), key=lambda kv: -kv[1]):
        symbol, label, tone = status_parts(status)
        rows.append(
            {
                "status": status,
                "symbol": symbol,
                "label": label,
                "tone": tone,
                "count": count,
                "width": max(round(100 * count / top, 1), 1),
            }
        )
    return rows


@requires("cashier")
async def overview(request: web.Request) -> web.StreamResponse:
    """GET /dashboard/[?period=today|7d|30d]: figures, charts, latest records, attention."""
    period = request.query.get("period", "today")
    if period not in PERIODS:
        period = "today"
    services = request.app[CONTAINER_KEY]
    stats = await services.reports.stats(period)
    view = await services.overview.overview(days=30)
    return render(
        request,
        "overview.html",
        stats=stats,
        period=period,
        periods=PERIODS,
        view=view,
        flows=flow_chart(view.days),
        outcomes=outcome_bars(stats.payments_by_status),
        received_30=sum(d.received for d in view.days),
        sent_30=sum(d.sent for d in view.days),
    )


def add_routes(router: web.UrlDispatcher) -> None:
    """The overview route."""
    router.add_get("/", overview, name="overview")
