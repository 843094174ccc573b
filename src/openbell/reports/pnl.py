"""Realized P&L over a range of trading days: each completed trade, a summary, and totals per
day and per month (the brief's ``todays_pnl.py``, for any range, in one query).

Definitions:

* A *completed trade* is a position the ledger holds as CLOSED that bought something
  (``entry_quantity > 0``): a MASTER, a RESCAN, or an ADOPTED position openbell sold. An
  ADOPTED position's entry price is the one stated when it was adopted, not a fill.
  Positions that are still open, abandoned (never bought) or released (given back to the
  user) are not trades.
* A trade counts on the day it **closed** (``Position.closed_day``, the trading day its
  last exit fill was booked on). A position opened on one day and closed on a later one
  counts only on the later day, in that day's month.
* P&L is ``Position.realized_pnl``: exit proceeds minus the cost of the shares sold minus
  **every** commission of the position (entry and exit), i.e. net of commissions. A fill
  whose commission the broker has not reported yet adds nothing, so the P&L of a trade
  with ``unpriced_fills`` is provisional (see :attr:`Trade.unpriced_fills`).
* A winner made more than 0 after commissions, a loser less than 0; a trade of exactly 0
  is neither, but still counts in the win rate's denominator.

Money stays exact :class:`~decimal.Decimal` in the dataclasses; the rows show it rounded
to the cent (half up). Totals are summed exactly and rounded once, so a total can differ
by a cent from the sum of its rounded rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from openbell.domain.positions import Position
from openbell.ports import Ledger
from openbell.reports.common import cents, price

TRADE_COLUMNS = (
    "day",
    "symbol",
    "role",
    "shares",
    "entry_price",
    "exit_price",
    "pnl",
    "commissions",
    "exit_reason",
    "held_minutes",
    "entry_day",
    "position",
    "unpriced_fills",
)
SUMMARY_COLUMNS = (
    "trades",
    "winners",
    "losers",
    "win_rate_pct",
    "total_pnl",
    "average_win",
    "average_loss",
    "best",
    "worst",
    "commissions",
)
DAILY_COLUMNS = ("day", "trades", "winners", "losers", "pnl", "commissions", "cumulative_pnl")
MONTHLY_COLUMNS = ("month", "days", "trades", "winners", "losers", "pnl", "commissions")

_TENTH = Decimal("0.1")
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Trade:
    """A completed trade: one CLOSED position, counted on ``day`` (its closed day)."""

    day: date
    position: Position
    fills: int
    unpriced_fills: int
    """Fills of the position whose commission is not reported yet."""

    @property
    def pnl(self) -> Decimal:
        """Realized P&L net of every commission, exact."""
        return self.position.realized_pnl.amount

    @property
    def holding_minutes(self) -> Decimal | None:
        """Minutes from the first entry (or the adoption) to the last exit, to a tenth."""
        opened, closed = self.position.opened_at, self.position.closed_at
        if opened is None or closed is None:
            return None
        seconds = Decimal((closed - opened).total_seconds())
        return (seconds / 60).quantize(_TENTH, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Totals:
    """Trades, winners, losers, P&L and commissions of a group of trades."""

    trades: int = 0
    winners: int = 0
    losers: int = 0
    pnl: Decimal = _ZERO
    commissions: Decimal = _ZERO

    @classmethod
    def of(cls, trades: Iterable[Trade]) -> Totals:
        group = list(trades)
        return cls(
            trades=len(group),
            winners=sum(1 for t in group if t.pnl > 0),
            losers=sum(1 for t in group if t.pnl < 0),
            pnl=sum((t.pnl for t in group), _ZERO),
            commissions=sum((t.position.commissions for t in group), _ZERO),
        )


@dataclass(frozen=True, slots=True)
class DayTotal:
    day: date
    totals: Totals
    cumulative_pnl: Decimal


@dataclass(frozen=True, slots=True)
class MonthTotal:
    month: str
    """``YYYY-MM``."""
    days: int
    """Days of the report's range in this month (with or without trades)."""
    totals: Totals


@dataclass(frozen=True, slots=True)
class Summary:
    totals: Totals
    average_win: Decimal | None
    average_loss: Decimal | None
    best: Trade | None
    worst: Trade | None

    @property
    def win_rate_pct(self) -> Decimal | None:
        """Winners over all trades, in percent; None without trades."""
        t = self.totals
        return None if t.trades == 0 else Decimal(t.winners * 100) / t.trades


@dataclass(frozen=True, slots=True)
class PnlReport:
    days: tuple[date, ...]
    trades: tuple[Trade, ...]
    summary: Summary
    daily: tuple[DayTotal, ...]
    monthly: tuple[MonthTotal, ...]


def pnl_report(ledger: Ledger, days: Sequence[date]) -> PnlReport:
    """The completed trades of ``days`` (each counted on its closed day) and their totals.

    ``days`` are the trading days to report, in any order; each appears in the daily totals,
    with zeros if nothing closed on it. Reads one ``closed_positions`` query per day and one
    ``fills`` query per trade.
    """
    ordered = tuple(sorted(set(days)))
    trades = tuple(
        _trade(ledger, day, position)
        for day in ordered
        for position in ledger.closed_positions(day)
        if position.entry_quantity > 0
    )
    return PnlReport(
        days=ordered,
        trades=trades,
        summary=_summary(trades),
        daily=_daily(ordered, trades),
        monthly=_monthly(ordered, trades),
    )


def _trade(ledger: Ledger, day: date, position: Position) -> Trade:
    fills = ledger.fills(position.position_id) if position.position_id is not None else ()
    unpriced = sum(1 for f in fills if f.commission is None)
    return Trade(day, position, len(fills), unpriced)


def _summary(trades: Sequence[Trade]) -> Summary:
    wins = [t.pnl for t in trades if t.pnl > 0]
    losses = [t.pnl for t in trades if t.pnl < 0]
    # the first of equals wins a tie: trades are in closing order
    best = max(trades, key=lambda t: t.pnl, default=None)
    worst = min(trades, key=lambda t: t.pnl, default=None)
    return Summary(
        totals=Totals.of(trades),
        average_win=sum(wins, _ZERO) / len(wins) if wins else None,
        average_loss=sum(losses, _ZERO) / len(losses) if losses else None,
        best=best,
        worst=worst,
    )


def _daily(days: Sequence[date], trades: Sequence[Trade]) -> tuple[DayTotal, ...]:
    running = _ZERO
    found = []
    for day in days:
        totals = Totals.of(t for t in trades if t.day == day)
        running += totals.pnl
        found.append(DayTotal(day, totals, running))
    return tuple(found)


def _monthly(days: Sequence[date], trades: Sequence[Trade]) -> tuple[MonthTotal, ...]:
    months = sorted({_month(day) for day in days})
    return tuple(
        MonthTotal(
            month,
            sum(1 for day in days if _month(day) == month),
            Totals.of(t for t in trades if _month(t.day) == month),
        )
        for month in months
    )


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


# --- rows ------------------------------------------------------------------------------------


def trade_rows(report: PnlReport) -> list[dict[str, str]]:
    """One row per completed trade, in closing order, keyed by :data:`TRADE_COLUMNS`."""
    return [_trade_row(t) for t in report.trades]


def _trade_row(trade: Trade) -> dict[str, str]:
    p = trade.position
    minutes = trade.holding_minutes
    return {
        "day": trade.day.isoformat(),
        "symbol": p.symbol.value,
        "role": p.role.value,
        "shares": str(p.exit_quantity),
        "entry_price": price(None if p.entry_price is None else p.entry_price.value),
        "exit_price": price(None if p.exit_price is None else p.exit_price.value),
        "pnl": cents(trade.pnl),
        "commissions": cents(p.commissions),
        "exit_reason": "-" if p.exit_reason is None else p.exit_reason.value,
        "held_minutes": "-" if minutes is None else str(minutes),
        "entry_day": p.trading_day.isoformat(),
        "position": str(p.position_id),
        "unpriced_fills": str(trade.unpriced_fills),
    }


def _label(trade: Trade | None) -> str:
    if trade is None:
        return "-"
    return f"{cents(trade.pnl)} {trade.position.symbol} {trade.day.isoformat()}"


def summary_rows(report: PnlReport) -> list[dict[str, str]]:
    """One row with the range's summary, keyed by :data:`SUMMARY_COLUMNS`."""
    s = report.summary
    rate = s.win_rate_pct
    return [
        {
            "trades": str(s.totals.trades),
            "winners": str(s.totals.winners),
            "losers": str(s.totals.losers),
            "win_rate_pct": "-" if rate is None else str(rate.quantize(_TENTH, ROUND_HALF_UP)),
            "total_pnl": cents(s.totals.pnl),
            "average_win": cents(s.average_win),
            "average_loss": cents(s.average_loss),
            "best": _label(s.best),
            "worst": _label(s.worst),
            "commissions": cents(s.totals.commissions),
        }
    ]


def _totals_cells(totals: Totals) -> dict[str, str]:
    return {
        "trades": str(totals.trades),
        "winners": str(totals.winners),
        "losers": str(totals.losers),
        "pnl": cents(totals.pnl),
        "commissions": cents(totals.commissions),
    }


def daily_rows(report: PnlReport) -> list[dict[str, str]]:
    """One row per day of the range, zeros included, keyed by :data:`DAILY_COLUMNS`."""
    return [
        {
            "day": d.day.isoformat(),
            **_totals_cells(d.totals),
            "cumulative_pnl": cents(d.cumulative_pnl),
        }
        for d in report.daily
    ]


def monthly_rows(report: PnlReport) -> list[dict[str, str]]:
    """One row per month the range touches, keyed by :data:`MONTHLY_COLUMNS`."""
    return [
        {"month": m.month, "days": str(m.days), **_totals_cells(m.totals)} for m in report.monthly
    ]
