"""Trade rows for the report, from the ledger (what happened) and the bars (what was possible)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

import numpy as np

from openbell.backtest.metrics import Trade
from openbell.bars.frame import DayBars, to_ns
from openbell.domain.enums import Side
from openbell.domain.positions import Position
from openbell.domain.values import decimal_from_float
from openbell.ports import Ledger


def _trade(ledger: Ledger, position: Position, bars: DayBars | None) -> Trade | None:
    fills = ledger.fills(position.position_id)
    buys = [f for f in fills if f.side is Side.BUY]
    sells = [f for f in fills if f.side is Side.SELL]
    entry, exit_ = position.entry_price, position.exit_price
    if not buys or not sells or entry is None or exit_ is None:
        return None
    entry_at = buys[0].executed_at
    high, opening = entry.value, entry.value
    if bars is not None and len(bars):
        after = bars.start_ns >= to_ns(entry_at) - bars.resolution_s * 1_000_000_000
        rth = bars.index_at_or_after(position.opened_at or entry_at)
        if after.any():
            high = decimal_from_float(float(np.max(bars.high[after])), 4)
        opening = decimal_from_float(float(bars.open[min(rth, len(bars) - 1)]), 4)
    return Trade(
        trading_day=position.trading_day,
        symbol=position.symbol.value,
        confidence=position.confidence.value if position.confidence else Decimal(0),
        target_pct=position.target_pct or Decimal(0),
        quantity=position.entry_quantity,
        entry_at=entry_at,
        entry_price=entry.value.quantize(Decimal("0.0001")),
        exit_at=sells[-1].executed_at,
        exit_price=exit_.value.quantize(Decimal("0.0001")),
        exit_reason=str(position.exit_reason),
        pnl=position.realized_pnl.amount,
        commissions=position.commissions,
        target_price=position.target_price.value if position.target_price else Decimal(0),
        stop_price=position.stop_price.value if position.stop_price else Decimal(0),
        high_after_entry=max(high, exit_.value),
        open_price=opening,
        synthetic=bool(bars is not None and bars.synthetic),
    )


def trades_of_day(ledger: Ledger, day: date, bars: Mapping[str, DayBars]) -> list[Trade]:
    """One row per position closed on ``day``, in the order they closed."""
    rows = []
    for position in ledger.closed_positions(day):
        row = _trade(ledger, position, bars.get(position.symbol.value))
        if row is not None:
            rows.append(row)
    return rows
