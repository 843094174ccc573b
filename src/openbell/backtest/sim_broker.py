"""The Broker port over the in-process matching engine (the backtest's broker).

It speaks our vocabulary to the services and the venue's to the engine, exactly as the IB
adapter will speak IB's: an ``OrderIntent`` becomes a ``VenueOrder``, venue events become
``Fill``/``OrderUpdate`` in the order they happened. Time moves only when the backtest calls
:meth:`SimBroker.advance_to`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from openbell.bars.frame import DayBars
from openbell.domain.broker import BrokerEvent, OrderUpdate
from openbell.domain.enums import OrderStatus, OrderType, TimeInForce
from openbell.domain.orders import Fill, OrderIntent
from openbell.domain.sessions import Session
from openbell.domain.values import Money, OrderRef, Price, Quantity, Symbol, decimal_from_float
from openbell.ports import Clock
from openbell.venue import (
    Accepted,
    Cancelled,
    Event,
    MatchingEngine,
    Rejected,
    Tif,
    VenueOrder,
    VenueOrderType,
)
from openbell.venue import Fill as VenueFill

_TYPES = {
    OrderType.MARKET: VenueOrderType.MKT,
    OrderType.LIMIT: VenueOrderType.LMT,
    OrderType.STOP: VenueOrderType.STP,
    OrderType.STOP_LIMIT: VenueOrderType.STP_LMT,
}
_TIFS = {
    TimeInForce.DAY: Tif.DAY,
    TimeInForce.GTC: Tif.GTC,
    TimeInForce.IOC: Tif.IOC,
    TimeInForce.AT_THE_OPEN: Tif.OPG,
}
# Exit pairs reduce each other share for share (IB's bracket behaviour), so a partly filled
# target leaves the stop protecting exactly what is still held.
_OCA_REDUCE = 2


class SimBroker:
    """One client of the engine. Order ids count up from 1 across the whole run."""

    def __init__(
        self,
        engine: MatchingEngine,
        clock: Clock,
        *,
        starting_equity: Money,
        client_id: int = 1,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._client_id = client_id
        self._starting_equity = starting_equity
        self._next_id = 1
        self._ids: dict[OrderRef, int] = {}
        self._refs: dict[int, OrderRef] = {}
        self._queue: list[BrokerEvent] = []

    # --- the Broker port --------------------------------------------------------------------
    def place(self, intent: OrderIntent) -> None:
        order_id = self._next_id
        self._next_id += 1
        self._ids[intent.order_ref] = order_id
        self._refs[order_id] = intent.order_ref
        order = VenueOrder(
            order_id=order_id,
            client_id=self._client_id,
            symbol=intent.symbol.value,
            action=intent.side,
            quantity=intent.quantity.value,
            order_type=_TYPES[intent.order_type],
            tif=_TIFS[intent.time_in_force],
            limit_price=None if intent.limit_price is None else float(intent.limit_price.value),
            stop_price=None if intent.stop_price is None else float(intent.stop_price.value),
            outside_rth=intent.outside_rth,
            oca_group=intent.oca_group,
            oca_type=_OCA_REDUCE,
            order_ref=str(intent.order_ref),
        )
        self._translate(self._engine.submit(order, self._at()))

    def cancel(self, order_ref: OrderRef) -> None:
        order_id = self._ids.get(order_ref)
        if order_id is not None:
            self._translate(self._engine.cancel(order_id, self._client_id, self._at()))

    def _at(self) -> datetime:
        """Now for the venue: the clock, or the venue's time if it already ran further.

        The backtest applies events at their own instants after the venue has processed a
        step, so an order sent in reaction reaches the venue at the end of that step: a
        small, realistic delay, never a trade in the past.
        """
        now = self._clock.now()
        venue_now = self._engine.now
        return now if venue_now is None or venue_now <= now else venue_now

    def events(self) -> Sequence[BrokerEvent]:
        drained, self._queue = self._queue, []
        return drained

    def reconcile(self, order_refs: Sequence[OrderRef]) -> None:
        """The venue lives in this process: an order it never saw was never sent."""
        at = self._at()
        for ref in order_refs:
            if ref not in self._ids:
                reason = "not known to the broker after reconciling"
                self._queue.append(OrderUpdate(ref, OrderStatus.REJECTED, at, reason))

    def net_liquidation(self) -> Money:
        """Starting equity, plus cash moved, plus open positions at their cost."""
        held = sum(p.quantity * p.average_cost for p in self._engine.positions().values())
        value = self._engine.cash() + held
        return Money(self._starting_equity.amount + decimal_from_float(value, 2))

    # --- driving the simulation -------------------------------------------------------------
    def load_day(
        self,
        session: Session,
        bars: Mapping[str, DayBars],
        seconds: Mapping[str, DayBars] | None = None,
    ) -> None:
        self._translate(self._engine.load_day(session, bars, seconds))

    def advance_to(self, at: datetime) -> None:
        self._translate(self._engine.advance_to(at))

    def close(self) -> None:
        """Nothing to release: the venue lives in this process's memory."""

    def _translate(self, events: Sequence[Event]) -> None:
        for event in events:
            translated = self._ours(event)
            if translated is not None:
                self._queue.append(translated)

    def _ours(self, event: Event) -> BrokerEvent | None:
        ref = self._refs.get(event.order_id)
        if ref is None:
            return None
        if isinstance(event, VenueFill):
            return Fill(
                f"sim-{event.exec_id}.01",  # IB's form, so no fill looks like a correction
                ref,
                Symbol(event.symbol),
                event.action,
                Quantity(event.quantity),
                Price.from_float(event.price, 4),
                event.time,
                Money(decimal_from_float(event.commission, 4)),
            )
        if isinstance(event, Accepted):
            return OrderUpdate(ref, OrderStatus.SUBMITTED, event.time)
        if isinstance(event, Rejected):
            return OrderUpdate(ref, OrderStatus.REJECTED, event.time, f"{event.code} {event.text}")
        if isinstance(event, Cancelled):
            return OrderUpdate(ref, OrderStatus.CANCELLED, event.time, event.text)
        return None  # warnings (399, 2109) and refused cancels change no status
