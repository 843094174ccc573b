"""The day's report from the ledger: positions, P&L, orders, and how each bot fared."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from openbell.domain.enums import ExitReason, PositionRole
from openbell.ports import Ledger
from openbell.reports.health import HEALTH_COLUMNS, health_rows, restarts_by_process
from openbell.reports.positions import SUMMARY_COLUMNS, position_row

_CENT = Decimal("0.01")

__all__ = [
    "HEALTH_COLUMNS",
    "ORDER_COLUMNS",
    "POSITION_COLUMNS",
    "DayReport",
    "day_report",
    "health_rows",  # moved to reports.health; imported from here by the CLI
    "restarts_by_process",
]

POSITION_COLUMNS = SUMMARY_COLUMNS
ORDER_COLUMNS = ("role", "status", "orders")


@dataclass(frozen=True)
class DayReport:
    trading_day: date
    positions: list[dict[str, str]]
    orders: list[dict[str, str]]
    health: list[dict[str, str]]
    realized_pnl: Decimal
    commissions: Decimal
    fills: int
    at_target: int
    masters: int

    def summary(self) -> str:
        return (
            f"{self.trading_day}: {len(self.positions)} positions, {self.fills} fills, "
            f"{self.at_target} of {self.masters} masters at target, "
            f"realized P&L {self.realized_pnl:+.2f} USD after {self.commissions:.2f} commissions"
        )


def day_report(ledger: Ledger, trading_day: date) -> DayReport:
    """Everything the ledger knows of ``trading_day``, as rows."""
    positions = list(ledger.positions_of_day(trading_day))
    ids = {p.position_id for p in positions}
    orders = [o for o in ledger.orders() if o.position_id in ids]
    by_kind = Counter((str(o.role), str(o.status)) for o in orders)
    fills = [f for f in ledger.fills() if f.position_id in ids]
    masters = [p for p in positions if p.role is PositionRole.MASTER and p.entry_quantity > 0]
    return DayReport(
        trading_day=trading_day,
        positions=[position_row(p) for p in positions],
        orders=[
            {"role": role, "status": status, "orders": str(count)}
            for (role, status), count in sorted(by_kind.items())
        ],
        health=health_rows(ledger.heartbeats(), restarts_by_process(ledger)),
        realized_pnl=sum((p.realized_pnl.amount for p in positions), Decimal(0)).quantize(_CENT),
        commissions=sum((p.commissions for p in positions), Decimal(0)).quantize(_CENT),
        fills=len(fills),
        at_target=sum(1 for p in masters if p.exit_reason is ExitReason.TARGET),
        masters=len(masters),
    )
