"""Rows for the positions view: active positions and those closed on a trading day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from openbell.domain.positions import Position
from openbell.ports import Ledger

_CENT = Decimal("0.01")

COLUMNS = (
    "id",
    "trading_day",
    "symbol",
    "role",
    "state",
    "held",
    "entry_price",
    "target_price",
    "stop_price",
    "exit_price",
    "exit_reason",
    "realized_pnl",
    "confidence",
    "opened_at",
    "closed_at",
)

_DETAIL_ONLY = frozenset({"id", "trading_day", "confidence", "opened_at", "closed_at"})
SUMMARY_COLUMNS = tuple(column for column in COLUMNS if column not in _DETAIL_ONLY)
"""The columns a terminal table shows; JSON and CSV carry all of :data:`COLUMNS`."""


def position_row(position: Position) -> dict[str, str]:
    """One position as display-ready text, keyed by :data:`COLUMNS`."""

    def shown(value: object) -> str:
        return "" if value is None else str(value)

    return {
        "id": shown(position.position_id),
        "trading_day": position.trading_day.isoformat(),
        "symbol": str(position.symbol),
        "role": str(position.role),
        "state": str(position.state),
        "held": str(position.held_quantity),
        "entry_price": shown(position.entry_price and position.entry_price.value.quantize(_CENT)),
        "target_price": shown(position.target_price),
        "stop_price": shown(position.stop_price),
        "exit_price": shown(position.exit_price and position.exit_price.value.quantize(_CENT)),
        "exit_reason": shown(position.exit_reason),
        "realized_pnl": str(position.realized_pnl.amount.quantize(_CENT)),
        "confidence": shown(position.confidence),
        "opened_at": shown(position.opened_at and position.opened_at.isoformat(timespec="seconds")),
        "closed_at": shown(position.closed_at and position.closed_at.isoformat(timespec="seconds")),
    }


def positions_view(
    ledger: Ledger, trading_day: date
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(active positions, positions closed on ``trading_day``) as rows."""
    active: Sequence[Position] = ledger.active_positions()
    closed: Sequence[Position] = ledger.closed_positions(trading_day)
    return [position_row(p) for p in active], [position_row(p) for p in closed]
