"""Charts (PNG, matplotlib) and the HTML page that shows them with their tables.

Backtest and ledger alike: an equity or realized-P&L curve, one intraday chart per trade or
position, how close each profit target came, and the sweep heatmap. Each function draws rows
a report computed; none reads the ledger or the bars itself.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no screen is needed or used
# Figures are made with Figure(), never pyplot: no global state, so the dashboard may draw
# in several threads at once.

import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from openbell.backtest.metrics import Trade
from openbell.bars.frame import DayBars
from openbell.bars.source import BarSource
from openbell.domain.errors import InvalidValue
from openbell.domain.positions import Position
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Price
from openbell.reports.targets import TargetRow

_DPI = 110


def equity_curve(trades: Sequence[Trade], starting_equity: float, path: Path) -> Path:
    """Cumulative equity after each closed trade, in dollars."""
    points = [(t.exit_at, float(t.pnl)) for t in trades]
    return _step_curve(points, starting_equity, "equity after each closed trade", path)


def realized_pnl_curve(positions: Sequence[Position], path: Path) -> Path:
    """Cumulative realized P&L (net of commissions) at each position's close, in dollars.

    ``positions`` are the ledger's closed positions of a range (``reports.pnl.pnl_report``
    selects them); one that is not closed is refused, so an open P&L never enters the curve.
    """
    points = []
    for p in positions:
        if p.closed_at is None:
            raise InvalidValue(f"{p.symbol} position {p.position_id}", "a closed position", p.state)
        points.append((p.closed_at, float(p.realized_pnl.amount)))
    return _step_curve(points, 0.0, "cumulative realized P&L at each close", path)


def _step_curve(
    points: Sequence[tuple[datetime, float]], start: float, title: str, path: Path
) -> Path:
    ordered = sorted(points, key=lambda point: point[0])
    times = [at for at, _ in ordered]
    equity = start + np.cumsum([pnl for _, pnl in ordered])
    fig = Figure(figsize=(9, 3.6))
    ax = fig.subplots()
    if times:
        ax.step(mdates.date2num(times), equity, where="post", color="#1f5fa8")
        locator = mdates.AutoDateLocator(tz=NEW_YORK)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=NEW_YORK))
    ax.axhline(start, color="#999999", linewidth=0.8)
    ax.set_title(f"{title} (New York time)")
    ax.set_ylabel("USD")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    return path


@dataclass(frozen=True, slots=True)
class TradeMarks:
    """What an intraday chart marks: a backtest Trade and a ledger Position both give it.

    Prices in USD per share; a position still held has no exit, one never priced no target
    or stop.
    """

    symbol: str
    trading_day: date
    entry_at: datetime
    entry_price: float
    exit_at: datetime | None
    exit_price: float | None
    target_price: float | None
    stop_price: float | None
    outcome: str
    """The exit reason, or the state of a position still held."""
    pnl: Decimal
    synthetic: bool = False

    @classmethod
    def of(cls, trade: Trade | Position) -> TradeMarks:
        return cls._of_position(trade) if isinstance(trade, Position) else cls._of_trade(trade)

    @classmethod
    def _of_trade(cls, trade: Trade) -> TradeMarks:
        return cls(
            trade.symbol,
            trade.trading_day,
            trade.entry_at,
            float(trade.entry_price),
            trade.exit_at,
            float(trade.exit_price),
            float(trade.target_price),
            float(trade.stop_price),
            trade.exit_reason,
            trade.pnl,
            trade.synthetic,
        )

    @classmethod
    def _of_position(cls, p: Position) -> TradeMarks:
        entry = p.entry_price
        if entry is None or p.opened_at is None:
            raise InvalidValue(f"{p.symbol} position {p.position_id}", "an entry fill", p.state)
        closed = p.exit_price if p.closed_at is not None else None

        def price(value: Price | None) -> float | None:
            return None if value is None else float(value.value)

        return cls(
            str(p.symbol),
            p.trading_day,
            p.opened_at,
            float(entry.value),
            p.closed_at if closed is not None else None,
            price(closed),
            price(p.target_price),
            price(p.stop_price),
            str(p.exit_reason or p.state),
            p.realized_pnl.amount,
        )


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


def trade_chart(trade: Trade | Position | TradeMarks, bars: DayBars, path: Path) -> Path:
    """The day's closes with the entry, target, stop and exit marked (New York time).

    ``trade`` is a backtest trade or a ledger position with an entry fill (one still held
    shows no exit; one never priced no target or stop).
    """
    marks = trade if isinstance(trade, TradeMarks) else TradeMarks.of(trade)
    times = mdates.date2num([bars.start(i) for i in range(len(bars))])
    fig = Figure(figsize=(9, 4))
    ax = fig.subplots()
    ax.plot(times, bars.close, color="#333333", linewidth=0.9, label="close")
    if marks.target_price is not None:
        ax.axhline(marks.target_price, color="#2e8b57", linestyle="--", label="target")
    if marks.stop_price is not None:
        ax.axhline(marks.stop_price, color="#c0392b", linestyle="--", label="stop")
    _mark(ax, marks.entry_at, marks.entry_price, "entry", "#1f5fa8", "^")
    if marks.exit_at is not None and marks.exit_price is not None:
        _mark(ax, marks.exit_at, marks.exit_price, f"exit ({marks.outcome})", "#8e44ad", "v")
    title = f"{marks.symbol} {marks.trading_day}: {marks.outcome}, P&L {marks.pnl:+.2f} USD"
    ax.set_title(title + ("  [synthetic path]" if marks.synthetic else ""))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=NEW_YORK))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


_TARGET_COLORS = {"hit": "#2e8b57", "touched": "#e67e22", "missed": "#1f5fa8"}


def trade_charts(
    positions: Sequence[Position], bars: BarSource, day: date, folder: Path, prefix: str = ""
) -> list[Path]:
    """One :func:`trade_chart` per position whose symbol has bars on ``day``, written to
    ``folder`` as ``<prefix><SYMBOL>-<position id>.png``."""
    drawn = []
    for position in positions:
        day_bars = bars.day(position.symbol.value, day)
        if day_bars is not None:
            name = f"{prefix}{position.symbol}-{position.position_id}.png"
            drawn.append(trade_chart(position, day_bars, folder / name))
    return drawn


def _reach(row: TargetRow) -> str:
    return "hit" if row.hit else "touched" if row.reached else "missed"


def target_distance_chart(rows: Sequence[TargetRow], path: Path) -> Path:
    """One bar per profit target: how far the price got toward it, in % of the way from
    the entry (100 % is the target). Green: hit; orange: touched without filling; blue: not
    reached. A target without bars gets no bar, only the label "no bars"."""
    labels = [str(r.position.symbol) for r in rows]
    ways = [0.0 if r.way_pct is None else float(r.way_pct) for r in rows]
    fig = Figure(figsize=(max(5.0, 0.6 * len(rows) + 2), 3.8))
    ax = fig.subplots()
    ax.bar(range(len(rows)), ways, color=[_TARGET_COLORS[_reach(r)] for r in rows])
    for x, (row, way) in enumerate(zip(rows, ways, strict=True)):
        text = "no bars" if row.way_pct is None else f"{row.way_pct:.0f}%"
        ax.text(x, max(way, 0.0) + 2, text, ha="center", fontsize=7)
    ax.axhline(100, color="#2e8b57", linestyle="--", linewidth=1, label="target")
    ax.axhline(0, color="#999999", linewidth=0.8)
    ax.set_xticks(range(len(rows)), labels, rotation=45, ha="right")
    ax.set_ylabel("% of the way from entry to target")
    ax.set_title("how close each profit target came")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def sweep_heatmap(rows: Sequence[dict[str, str]], path: Path) -> Path:
    """P&L over target x stop, one panel per entry timing."""
    entries = sorted({r["entry"] for r in rows})
    targets = sorted({float(r["target_pct"]) for r in rows})
    stops = sorted({float(r["stop_pct"]) for r in rows})
    fig = Figure(figsize=(4.5 * len(entries), 3.8))
    axes = fig.subplots(1, len(entries), squeeze=False)
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
    return _save(fig, path)


@dataclass(frozen=True, slots=True)
class Section:
    """One part of an HTML page: a heading, then notes, a table and images, in that order."""

    heading: str
    rows: Sequence[Mapping[str, str]] = ()
    columns: Sequence[str] = ()
    images: Sequence[Path] = ()
    notes: Sequence[str] = ()


_STYLE = (
    "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}img{max-width:100%}"
    "</style>"
)


def html_page(path: Path, title: str, sections: Sequence[Section], *, embed: bool = True) -> Path:
    """Write one HTML page of ``sections`` to ``path``.

    ``embed`` puts every PNG inside the page (base64), so the file stands alone; otherwise
    each image is linked relative to the page's folder (it must lie under it).
    """
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        _STYLE,
        f"</head><body><h1>{html.escape(title)}</h1>",
    ]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.heading)}</h2>")
        parts += [f"<p><em>{html.escape(note)}</em></p>" for note in section.notes]
        if section.columns:
            parts.append(html_table(section.rows, section.columns))
        parts += [_image(image, path.parent, embed) for image in section.images]
    parts.append("</body></html>")
    path.write_text("".join(parts), encoding="utf-8")
    return path


def html_table(rows: Sequence[Mapping[str, str]], columns: Sequence[str]) -> str:
    """An HTML table of ``rows``, one column per name in ``columns``, every cell escaped."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(row.get(c, ''))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(image: Path, folder: Path, embed: bool) -> str:
    alt = html.escape(image.name)
    if embed:
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        return f'<img alt="{alt}" src="data:image/png;base64,{data}">'
    try:
        link = image.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        raise InvalidValue("linked image", f"a file under {folder}", str(image)) from None
    return f'<img alt="{alt}" src="{html.escape(link)}">'
