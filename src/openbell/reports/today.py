"""Today, at a glance: positions with their live P&L, working orders, the bots' health and
the day's timeline. The dashboard's first page and ``openbell status`` read these rows.

Prices come from a :data:`Marks` function (the dashboard's read-only IB client, or nothing):
a position without a price shows no unrealized P&L rather than a guessed one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from openbell.domain.positions import Position
from openbell.domain.records import LedgerEvent, OrderRecord
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Price, Symbol
from openbell.ports import Ledger
from openbell.reports.common import cents, pct_change, price
from openbell.reports.health import health_rows, restarts_by_process
from openbell.strategy.schedule import DayTimeline

Marks = Callable[[Symbol], Price | None]
"""The last trade price of a symbol, or None when there is none to show."""

WORKING_COLUMNS = ("order_ref", "symbol", "role", "side", "qty", "filled", "type", "status")
LIVE_COLUMNS = (
    "id",
    "symbol",
    "role",
    "state",
    "held",
    "entry_price",
    "last",
    "change",
    "unrealized",
    "target_price",
    "to_target",
    "stop_price",
)
CLOSED_COLUMNS = ("id", "symbol", "role", "exit_reason", "entry_price", "exit_price", "pnl")
TIMELINE_COLUMNS = ("step", "time_et", "passed")
EVENT_COLUMNS = ("at_et", "process", "kind", "symbol", "message")
CONTROL_COLUMNS = ("control", "state", "since_et", "by", "reason")
REQUEST_COLUMNS = ("id", "kind", "status", "requested_by", "requested_et", "outcome")


def working_row(order: OrderRecord) -> dict[str, str]:
    """One working order as text, keyed by :data:`WORKING_COLUMNS`."""
    return {
        "order_ref": str(order.order_ref),
        "symbol": str(order.symbol),
        "role": str(order.role),
        "side": str(order.side),
        "qty": str(order.quantity),
        "filled": str(order.filled_quantity),
        "type": f"{order.order_type}/{order.time_in_force}",
        "status": str(order.status),
    }


def _et(at: datetime | None) -> str:
    return "" if at is None else at.astimezone(NEW_YORK).strftime("%H:%M:%S")


def _pct(start: Price | None, end: Price | None) -> str:
    if start is None or end is None:
        return ""
    return f"{pct_change(start.value, end.value):+.2f}%"


def unrealized(position: Position, last: Price | None) -> Decimal | None:
    """Open P&L of the shares held at ``last`` (before the exit's commission), or None."""
    entry = position.entry_price
    if last is None or entry is None or position.held_quantity <= 0:
        return None
    return (last.value - entry.value) * position.held_quantity


def live_row(position: Position, last: Price | None) -> dict[str, str]:
    """An active position with its last price and open P&L, keyed by :data:`LIVE_COLUMNS`."""
    entry, target = position.entry_price, position.target_price
    open_pnl = unrealized(position, last)
    return {
        "id": str(position.position_id or ""),
        "symbol": str(position.symbol),
        "role": str(position.role),
        "state": str(position.state),
        "held": str(position.held_quantity),
        "entry_price": price(entry.value) if entry else "",
        "last": price(last.value) if last else "",
        "change": _pct(entry, last),
        "unrealized": cents(open_pnl) if open_pnl is not None else "",
        "target_price": str(target or ""),
        "to_target": _pct(last, target),
        "stop_price": str(position.stop_price or ""),
    }


def closed_row(position: Position) -> dict[str, str]:
    """A position closed today, keyed by :data:`CLOSED_COLUMNS`."""
    entry, exit_ = position.entry_price, position.exit_price
    return {
        "id": str(position.position_id or ""),
        "symbol": str(position.symbol),
        "role": str(position.role),
        "exit_reason": str(position.exit_reason or ""),
        "entry_price": price(entry.value) if entry else "",
        "exit_price": price(exit_.value) if exit_ else "",
        "pnl": cents(position.realized_pnl.amount),
    }


def event_row(event: LedgerEvent) -> dict[str, str]:
    return {
        "at_et": _et(event.at),
        "process": event.process,
        "kind": event.kind,
        "symbol": str(event.symbol or ""),
        "message": event.message,
    }


@dataclass(frozen=True)
class TodayView:
    """Everything the Today page shows, as display-ready rows."""

    trading_day: date
    now: datetime
    live: list[dict[str, str]]
    closed: list[dict[str, str]]
    realized: Decimal
    unrealized: Decimal
    unpriced: tuple[str, ...]
    """Symbols held with no price to mark them: their open P&L is not in ``unrealized``."""
    working: list[dict[str, str]]
    processes: list[dict[str, str]]
    controls: list[dict[str, str]]
    halted: bool
    approvals_waiting: int
    requests: list[dict[str, str]]
    timeline: list[dict[str, str]]
    events: list[dict[str, str]]

    def pnl_line(self) -> str:
        """The day's P&L in one line: realized, open, and what could not be priced."""
        line = (
            f"realized {cents(self.realized)} USD, open {cents(self.unrealized)} USD, "
            f"total {cents(self.realized + self.unrealized)} USD"
        )
        if self.unpriced:
            line += f" (no price yet for {', '.join(self.unpriced)}: not counted)"
        return line


def today_view(
    ledger: Ledger,
    timeline: DayTimeline,
    now: datetime,
    marks: Marks,
    recent: Sequence[LedgerEvent],
) -> TodayView:
    """The Today page for ``timeline``'s session as of ``now``; ``recent`` are the latest
    events of the log (the day's are kept, newest first)."""
    day = timeline.session.trading_day
    active = list(ledger.active_positions())
    prices = {p.symbol: marks(p.symbol) for p in active if p.held_quantity > 0}
    opens = [unrealized(p, prices.get(p.symbol)) for p in active]
    closed = list(ledger.closed_positions(day))
    controls = ledger.controls()
    return TodayView(
        trading_day=day,
        now=now,
        live=[live_row(p, prices.get(p.symbol)) for p in active],
        closed=[closed_row(p) for p in closed],
        # Closed today, and what the active ones realized already (a partial exit; the
        # entry's commission): every sold share counts once, in one place.
        realized=sum(
            (
                p.realized_pnl.amount
                for p in [*closed, *(a for a in active if a.trading_day == day)]
            ),
            Decimal(0),
        ),
        unrealized=sum((o for o in opens if o is not None), Decimal(0)),
        unpriced=tuple(str(s) for s, last in prices.items() if last is None),
        working=[working_row(o) for o in ledger.orders(live_only=True)],
        processes=health_rows(ledger.heartbeats(), restarts_by_process(ledger)),
        controls=[
            {
                "control": c.name,
                "state": "ON" if c.enabled else "off",
                "since_et": c.changed_at.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M"),
                "by": c.changed_by,
                "reason": c.reason,
            }
            for c in controls.values()
        ],
        halted=any(c.enabled for c in controls.values()),
        approvals_waiting=len(ledger.approvals(pending_only=True)),
        requests=[
            {
                "id": str(r.request_id),
                "kind": r.kind,
                "status": r.status,
                "requested_by": r.requested_by,
                "requested_et": _et(r.requested_at),
                "outcome": r.outcome,
            }
            for r in ledger.pending_requests()
        ],
        timeline=[
            {"step": step, "time_et": _et(at), "passed": "yes" if at <= now else ""}
            for step, at in timeline.steps()
        ],
        events=[event_row(e) for e in reversed(recent) if e.at.astimezone(NEW_YORK).date() == day],
    )
