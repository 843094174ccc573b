"""Sending the day's entries: each order is in the ledger before it leaves."""

from __future__ import annotations

from collections.abc import Sequence

from openbell.domain.enums import OrderRole, PositionState
from openbell.domain.positions import Position
from openbell.domain.values import OrderRef
from openbell.ports import Broker, Ledger
from openbell.services.sending import record_then_send
from openbell.strategy.management import order_ref
from openbell.strategy.timing import EntryTiming

ENTRY_OWNER = "day-trader"


def entry_ref(position: Position) -> OrderRef:
    return order_ref(position, OrderRole.ENTRY)


def send_entries(
    ledger: Ledger,
    broker: Broker,
    planned: Sequence[Position],
    timing: EntryTiming,
    *,
    entries_allowed: bool = True,
) -> list[OrderRef]:
    """Record, then send, one entry per still-planned position; return the refs sent.

    Recording first means a crash between the two leaves a PENDING order the next start
    finds by its ``order_ref`` at the broker, instead of an order nobody knows about; an
    order the broker could not send is marked REJECTED (:func:`record_then_send`).
    """
    sent = []
    for position in planned:
        current = ledger.position(position.position_id or 0)
        if current.state is not PositionState.PLANNED:
            continue
        if not entries_allowed:
            ledger.abandon(current.position_id or 0, "entries are paused or the kill switch is on")
            continue
        intent = timing.entry_intent(entry_ref(current), current.symbol, current.planned_quantity)
        record_then_send(ledger, broker, current.position_id or 0, intent, ENTRY_OWNER)
        sent.append(intent.order_ref)
    return sent
