"""Backtest report rows, and the files a run leaves: PNG charts and one HTML page."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path

from openbell.backtest.metrics import Summary, Trade
from openbell.bars.frame import DayBars
from openbell.domain.sessions import NEW_YORK
from openbell.reports.charts import equity_curve, html_table, trade_chart

TRADE_COLUMNS = (
    "day",
    "symbol",
    "confidence",
    "qty",
    "entry",
    "entry_price",
    "exit",
    "exit_price",
    "reason",
    "pnl",
    "return_pct",
    "high_from_open_pct",
    "path",
)


def trade_row(trade: Trade) -> dict[str, str]:
    """One trade as display-ready text, keyed by :data:`TRADE_COLUMNS`."""
    return {
        "day": trade.trading_day.isoformat(),
        "symbol": trade.symbol,
        "confidence": f"{trade.confidence:.2f}",
        "qty": str(trade.quantity),
        "entry": trade.entry_at.astimezone(NEW_YORK).strftime("%H:%M"),
        "entry_price": f"{trade.entry_price:.2f}",
        "exit": trade.exit_at.astimezone(NEW_YORK).strftime("%H:%M"),
        "exit_price": f"{trade.exit_price:.2f}",
        "reason": trade.exit_reason,
        "pnl": f"{trade.pnl:.2f}",
        "return_pct": f"{trade.return_pct:+.2f}",
        "high_from_open_pct": f"{trade.high_from_open_pct:+.2f}",
        "path": "synthetic" if trade.synthetic else "real",
    }


def summary_rows(summary: Summary) -> list[dict[str, str]]:
    """The summary as (metric, value) rows."""
    factor = "n/a (no loss)" if summary.profit_factor is None else str(summary.profit_factor)
    exits = ", ".join(f"{k} {v}" for k, v in summary.exits_by_reason.items()) or "none"
    pairs = [
        ("trades", str(summary.trades)),
        ("P&L (USD, net of commissions)", f"{summary.pnl:.2f}"),
        ("win rate", f"{summary.win_rate_pct}%"),
        ("average win (USD)", f"{summary.average_win}"),
        ("average loss (USD)", f"{summary.average_loss}"),
        ("profit factor", factor),
        ("max drawdown (USD)", f"{summary.max_drawdown:.2f}"),
        ("exits by reason", exits),
        ("target fill rate", f"{summary.target_fill_rate_pct}%"),
        ("pick accuracy (high after entry reached the target)", f"{summary.pick_accuracy_pct}%"),
        ("trades on synthetic paths", str(summary.synthetic_trades)),
    ]
    return [{"metric": k, "value": v} for k, v in pairs]


def summary_json(summary: Summary) -> dict[str, object]:
    def plain(value: object) -> object:
        return str(value) if isinstance(value, Decimal) else value

    return {key: plain(value) for key, value in asdict(summary).items()}


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def write_report(
    out: Path,
    title: str,
    trades: Sequence[Trade],
    summary: Summary,
    starting_equity: float,
    bars: Mapping[tuple[str, str], DayBars],
    notes: Sequence[str] = (),
) -> Path:
    """Write ``equity.png``, one PNG per trade and ``report.html`` into ``out``."""
    charts = out / "charts"
    charts.mkdir(parents=True, exist_ok=True)
    images = [equity_curve(trades, starting_equity, out / "equity.png")]
    for trade in trades:
        day_bars = bars.get((trade.symbol, trade.trading_day.isoformat()))
        if day_bars is not None:
            name = f"{trade.trading_day}-{trade.symbol}.png"
            images.append(trade_chart(trade, day_bars, charts / name))
    page = "".join(
        [
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}img{max-width:100%}"
            "</style></head><body>",
            f"<h1>{html.escape(title)}</h1>",
            "".join(f"<p><em>{html.escape(n)}</em></p>" for n in notes),
            "<h2>Summary</h2>",
            html_table(summary_rows(summary), ("metric", "value")),
            "<h2>Trades</h2>",
            html_table([trade_row(t) for t in trades], TRADE_COLUMNS),
            "<h2>Charts</h2>",
            "".join(_img(p) for p in images),
            "</body></html>",
        ]
    )
    report = out / "report.html"
    report.write_text(page, encoding="utf-8")
    return report
