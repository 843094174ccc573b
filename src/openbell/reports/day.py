"""The day's report from the ledger: positions, P&L, orders, and how each bot fared."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from openbell.domain.enums import ExitReason, PositionRole
from openbell.domain.records import Heartbeat, LedgerEvent
from openbell.ports import Ledger
from openbell.reports.positions import SUMMARY_COLUMNS, position_row

_CENT = Decimal("0.01")
_PAGE = 1000

POSITION_COLUMNS = SUMMARY_COLUMNS
ORDER_COLUMNS = ("role", "status", "orders")
HEALTH_COLUMNS = ("process", "status", "restarts", "code_version", "last_beat", "detail")


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


def restarts_by_process(ledger: Ledger) -> Counter[str]:
    """How many times the supervisor restarted each process (RESTART events)."""
    counts: Counter[str] = Counter()
    for event in _all_events(ledger):
        if event.kind == "RESTART":
            counts[str(event.data.get("process", "?"))] += 1
    return counts


def _all_events(ledger: Ledger) -> list[LedgerEvent]:
    found: list[LedgerEvent] = []
    after = 0
    while page := ledger.events(after_id=after, limit=_PAGE):
        found.extend(page)
        after = page[-1].event_id
    return found


def health_rows(beats: Sequence[Heartbeat], restarts: Counter[str]) -> list[dict[str, str]]:
    return [
        {
            "process": b.process,
            "status": b.status,
            "restarts": str(restarts.get(b.process, 0)),
            "code_version": b.code_version,
            "last_beat": b.beat_at.isoformat(timespec="seconds"),
            "detail": b.detail if len(b.detail) <= 80 else b.detail[:77] + "...",
        }
        for b in beats
    ]
