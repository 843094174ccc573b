"""What a backtest did: one row per trade, and the summary a trader asks for first."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Trade:
    """One position from entry to exit, with how far the stock went after the entry."""

    trading_day: date
    symbol: str
    confidence: Decimal
    target_pct: Decimal
    quantity: int
    entry_at: datetime
    entry_price: Decimal
    exit_at: datetime
    exit_price: Decimal
    exit_reason: str
    pnl: Decimal
    """Net of commissions, in dollars."""
    commissions: Decimal
    target_price: Decimal
    stop_price: Decimal
    high_after_entry: Decimal
    """The highest price after the entry until the close (reached the target or not)."""
    open_price: Decimal
    """The session's opening print (the MOO price)."""
    synthetic: bool

    @property
    def return_pct(self) -> Decimal:
        return (self.exit_price / self.entry_price - 1) * _HUNDRED

    @property
    def high_from_open_pct(self) -> Decimal:
        return (self.high_after_entry / self.open_price - 1) * _HUNDRED

    @property
    def target_was_reachable(self) -> bool:
        """True if the price went as high as the target after the entry (pick accuracy)."""
        return self.high_after_entry >= self.target_price


@dataclass(frozen=True, slots=True)
class Summary:
    trades: int
    pnl: Decimal
    win_rate_pct: Decimal
    average_win: Decimal
    average_loss: Decimal
    profit_factor: Decimal | None
    """Gross wins over gross losses; None when nothing was lost."""
    max_drawdown: Decimal
    """The largest fall of cumulative P&L from a previous peak, in dollars (0 or more)."""
    exits_by_reason: dict[str, int]
    target_fill_rate_pct: Decimal
    pick_accuracy_pct: Decimal
    synthetic_trades: int


def _pct(part: int, whole: int) -> Decimal:
    return (Decimal(part) / whole * _HUNDRED).quantize(Decimal("0.1")) if whole else _ZERO


def _mean(values: Sequence[Decimal]) -> Decimal:
    return (sum(values, _ZERO) / len(values)).quantize(Decimal("0.01")) if values else _ZERO


def max_drawdown(pnls: Sequence[Decimal]) -> Decimal:
    """The largest peak-to-trough fall of the running total of ``pnls`` (starting at 0)."""
    peak = total = worst = _ZERO
    for pnl in pnls:
        total += pnl
        peak = max(peak, total)
        worst = max(worst, peak - total)
    return worst


def summarize(trades: Sequence[Trade]) -> Summary:
    """The summary of ``trades`` (in the order they closed)."""
    wins = [t.pnl for t in trades if t.pnl > 0]
    losses = [t.pnl for t in trades if t.pnl <= 0]
    gross_loss = -sum(losses, _ZERO)
    ordered = sorted(trades, key=lambda t: t.exit_at)
    return Summary(
        trades=len(trades),
        pnl=sum((t.pnl for t in trades), _ZERO),
        win_rate_pct=_pct(len(wins), len(trades)),
        average_win=_mean(wins),
        average_loss=_mean(losses),
        profit_factor=(sum(wins, _ZERO) / gross_loss).quantize(Decimal("0.01"))
        if gross_loss
        else None,
        max_drawdown=max_drawdown([t.pnl for t in ordered]),
        exits_by_reason=dict(sorted(Counter(t.exit_reason for t in trades).items())),
        target_fill_rate_pct=_pct(sum(t.exit_reason == "TARGET" for t in trades), len(trades)),
        pick_accuracy_pct=_pct(sum(t.target_was_reachable for t in trades), len(trades)),
        synthetic_trades=sum(t.synthetic for t in trades),
    )
