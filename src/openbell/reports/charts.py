"""Backtest charts (PNG, matplotlib): the equity curve and one intraday chart per trade."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no screen is needed or used

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from openbell.backtest.metrics import Trade
from openbell.bars.frame import DayBars
from openbell.domain.sessions import NEW_YORK

_DPI = 110


def equity_curve(trades: Sequence[Trade], starting_equity: float, path: Path) -> Path:
    """Cumulative equity after each closed trade, in dollars."""
    ordered = sorted(trades, key=lambda t: t.exit_at)
    times = [t.exit_at for t in ordered]
    equity = starting_equity + np.cumsum([float(t.pnl) for t in ordered])
    fig, ax = plt.subplots(figsize=(9, 3.6))
    if times:
        ax.step(mdates.date2num(times), equity, where="post", color="#1f5fa8")
        ax.xaxis_date()
    ax.axhline(starting_equity, color="#999999", linewidth=0.8)
    ax.set_title("equity after each closed trade")
    ax.set_ylabel("USD")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def _mark(ax: Axes, at: datetime, price: float, label: str, color: str, marker: str) -> None:
    ax.plot(
        mdates.date2num([at]),
        [price],
        marker=marker,
        color=color,
        markersize=9,
        linestyle="none",
        label=label,
    )


def trade_chart(trade: Trade, bars: DayBars, path: Path) -> Path:
    """The day's closes with the entry, target, stop and exit marked (New York time)."""
    times = mdates.date2num([bars.start(i) for i in range(len(bars))])
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(times, bars.close, color="#333333", linewidth=0.9, label="close")
    ax.axhline(float(trade.target_price), color="#2e8b57", linestyle="--", label="target")
    ax.axhline(float(trade.stop_price), color="#c0392b", linestyle="--", label="stop")
    _mark(ax, trade.entry_at, float(trade.entry_price), "entry", "#1f5fa8", "^")
    _mark(ax, trade.exit_at, float(trade.exit_price), f"exit ({trade.exit_reason})", "#8e44ad", "v")
    title = f"{trade.symbol} {trade.trading_day}: {trade.exit_reason}, P&L {trade.pnl:+.2f} USD"
    ax.set_title(title + ("  [synthetic path]" if trade.synthetic else ""))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=NEW_YORK))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def sweep_heatmap(rows: Sequence[dict[str, str]], path: Path) -> Path:
    """P&L over target x stop, one panel per entry timing."""
    entries = sorted({r["entry"] for r in rows})
    targets = sorted({float(r["target_pct"]) for r in rows})
    stops = sorted({float(r["stop_pct"]) for r in rows})
    fig, axes = plt.subplots(1, len(entries), figsize=(4.5 * len(entries), 3.8), squeeze=False)
    for ax, entry in zip(axes[0], entries, strict=True):
        grid = np.full((len(targets), len(stops)), np.nan)
        for r in rows:
            if r["entry"] == entry:
                grid[targets.index(float(r["target_pct"])), stops.index(float(r["stop_pct"]))] = (
                    float(r["pnl"])
                )
        image = ax.imshow(grid, cmap="RdYlGn", origin="lower", aspect="auto")
        ax.set_xticks(range(len(stops)), [f"-{s:g}%" for s in stops])
        ax.set_yticks(range(len(targets)), [f"+{t:g}%" for t in targets])
        ax.set_xlabel("stop")
        ax.set_ylabel("target")
        ax.set_title(f"P&L (USD), entry {entry}")
        for (i, j), value in np.ndenumerate(grid):
            ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=8)
        fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path
