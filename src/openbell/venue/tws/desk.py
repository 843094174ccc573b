"""The gateway's order desk: IB's order vocabulary over the matching engine.

IB keys an API order by ``(clientId, orderId)``: each client counts its own ids up from
``nextValidId``, so two clients may use the same number. The engine needs one id per order
across the venue, so the desk gives every order a permId (IB's own venue-wide id) and uses it
as the engine's order id. An order is found only under the client that placed it, which is
how IB binds orders to their client: another client's cancel gets 10147 "not found".

The desk does no I/O. Every call returns the messages it caused as ``(client_id, fields)``
pairs, in the order IB would send them (IBKR.md §1.5): ``openOrder`` with the permId before
anything else about an order, then ``orderStatus``; for a fill ``orderStatus``, then
``execDetails`` (request id -1), then ``commissionReport``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from openbell.domain.enums import Side
from openbell.venue import messages as msg
from openbell.venue.engine import MatchingEngine
from openbell.venue.orders import (
    Accepted,
    Cancelled,
    CancelRejected,
    Event,
    Fill,
    Liquidity,
    OrderWarning,
    Rejected,
    Tif,
    VenueOrder,
    VenueOrderType,
)
from openbell.venue.tws import answers
from openbell.venue.tws.answers import ContractView, ExecutionView, OrderView
from openbell.venue.tws.requests import PlaceOrder

Outgoing = tuple[int, list[object]]
"""A message for one client: its client id and the fields."""

CODE_TIF_PRESET = 10349
TIF_PRESET = "Order TIF was set to DAY based on order preset."
FIRST_PERM_ID = 1_000_001
_LIQUIDITY = {Liquidity.ADDED: 1, Liquidity.REMOVED: 2, Liquidity.AUCTION: 2}
_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
_IB_SIDES = {Side.BUY: "BOT", Side.SELL: "SLD"}
_ORDER_TYPES = frozenset(t.value for t in VenueOrderType)
_TIFS = frozenset(t.value for t in Tif)


@dataclass
class DeskOrder:
    """One order as the gateway reports it to its client."""

    view: OrderView
    average_price: float = 0.0
    last_fill_price: float = 0.0

    @property
    def client_id(self) -> int:
        return self.view.client_id

    @property
    def filled(self) -> float:
        return self.view.filled

    @property
    def is_done(self) -> bool:
        return self.view.status in ("Filled", "Cancelled")

    @property
    def remaining(self) -> float:
        return 0.0 if self.view.status == "Cancelled" else self.view.quantity - self.filled

    def status_message(self) -> list[object]:
        v = self.view
        return answers.order_status(
            v.order_id,
            v.status,
            self.filled,
            self.remaining,
            self.average_price,
            v.perm_id,
            v.parent_id,
            self.last_fill_price,
            v.client_id,
        )


@dataclass(frozen=True)
class Execution:
    """One fill as IB reports it: the order it belongs to, the execution and its commission."""

    order: OrderView
    execution: ExecutionView
    commission: float


@dataclass
class OrderDesk:
    """Places, cancels and reports orders for every connected client of one account."""

    engine: MatchingEngine
    account: str
    con_id: Callable[[str], int]
    """The contract id the gateway reports for a symbol."""
    listing: Callable[[str], str]
    """The primary exchange of a symbol."""
    orders: dict[int, DeskOrder] = field(default_factory=dict)
    """Every order by permId, in arrival order."""
    executions: list[Execution] = field(default_factory=list)
    _keys: dict[tuple[int, int], int] = field(default_factory=dict)
    _next_perm: int = FIRST_PERM_ID

    # --- commands -----------------------------------------------------------------------------
    def place(self, client_id: int, request: PlaceOrder, at: datetime) -> list[Outgoing]:
        """Hand a client's order to the engine and report what became of it."""
        out = self.advance(at)
        key = (client_id, request.order_id)
        if key in self._keys:
            out.append(
                (
                    client_id,
                    answers.error(request.order_id, msg.CODE_DUPLICATE_ID, msg.DUPLICATE_ID),
                )
            )
            return out
        perm_id = self._next_perm
        self._next_perm += 1
        view = self._view(client_id, perm_id, request)
        problem = self._problem(request)
        venue_order = None if problem else self._venue_order(client_id, perm_id, request)
        if venue_order is None:
            text = msg.rejected(problem or "the parent order is not known to this client.")
            return [*out, (client_id, answers.error(request.order_id, msg.CODE_REJECTED, text))]
        self._keys[key] = perm_id
        self.orders[perm_id] = DeskOrder(view)
        if not request.tif:
            out.append((client_id, answers.error(request.order_id, CODE_TIF_PRESET, TIF_PRESET)))
        out.extend(self._translate(self.engine.submit(venue_order, at)))
        return out

    def cancel(self, client_id: int, order_id: int, at: datetime) -> list[Outgoing]:
        """Cancel one of this client's orders (10147 if it has none with that id)."""
        perm_id = self._keys.get((client_id, order_id))
        if perm_id is None:
            out = self.advance(at)
            text = msg.not_found(order_id)
            return [*out, (client_id, answers.error(order_id, msg.CODE_NOT_FOUND, text))]
        return self._translate(self.engine.cancel(perm_id, client_id, at))

    def advance(self, at: datetime) -> list[Outgoing]:
        """Let the market run to ``at``; report fills, expiries and orders going live."""
        if self.engine.session is None:
            return []
        now = self.engine.now
        if now is not None and at <= now:
            return []
        return self._translate(self.engine.advance_to(at))

    def load(self, events: Iterable[Event]) -> list[Outgoing]:
        """Report the events of a day change (the previous day's extended hours)."""
        return self._translate(events)

    # --- queries ------------------------------------------------------------------------------
    def open_orders(self, client_id: int | None) -> list[Outgoing]:
        """``openOrder`` + ``orderStatus`` for every working order (of one client, or all)."""
        out: list[Outgoing] = []
        for order in self.orders.values():
            if order.is_done or (client_id is not None and order.client_id != client_id):
                continue
            target = order.client_id if client_id is None else client_id
            out.append((target, answers.open_order(order.view)))
            out.append((target, order.status_message()))
        return out

    def completed_orders(self, client_id: int) -> list[Outgoing]:
        """``completedOrder`` for every order of this client that has ended."""
        return [
            (client_id, answers.completed_order(o.view, "", o.view.status))
            for o in self.orders.values()
            if o.is_done and o.client_id == client_id
        ]

    def execution_reports(
        self, client_id: int, req_id: int, wanted: Callable[[Execution], bool]
    ) -> list[Outgoing]:
        """``execDetails`` + ``commissionReport`` for the executions ``wanted`` accepts."""
        out: list[Outgoing] = []
        for e in self.executions:
            if wanted(e):
                out.append((client_id, answers.exec_details(req_id, e.order, e.execution)))
                out.append(
                    (client_id, answers.commission_report(e.execution.exec_id, e.commission))
                )
        return out

    def find(self, client_id: int, order_id: int) -> DeskOrder | None:
        perm_id = self._keys.get((client_id, order_id))
        return None if perm_id is None else self.orders[perm_id]

    # --- translation ----------------------------------------------------------------------------
    def _view(self, client_id: int, perm_id: int, r: PlaceOrder) -> OrderView:
        symbol = r.contract.symbol.upper()
        contract = ContractView(
            con_id=self.con_id(symbol),
            symbol=symbol,
            exchange=r.contract.exchange or "SMART",
            primary_exchange=self.listing(symbol),
            currency=r.contract.currency or "USD",
        )
        return OrderView(
            order_id=r.order_id,
            client_id=client_id,
            perm_id=perm_id,
            contract=contract,
            action=r.action,
            quantity=r.quantity,
            order_type=r.order_type,
            limit_price=r.limit_price,
            aux_price=r.aux_price,
            tif=r.tif or Tif.DAY.value,
            oca_group=r.oca_group,
            oca_type=r.oca_type,
            account=r.account or self.account,
            order_ref=r.order_ref,
            outside_rth=r.outside_rth,
            parent_id=r.parent_id,
            transmit=r.transmit,
            status="PendingSubmit",
        )

    def _problem(self, r: PlaceOrder) -> str | None:
        """Why IB would refuse this request before it reaches the venue, if it would."""
        whole = math.isfinite(r.quantity) and r.quantity == int(r.quantity)
        checks = (
            (
                r.contract.sec_type != "STK",
                f"the openbell gateway trades stocks (STK) only, not {r.contract.sec_type!r}.",
            ),
            (
                bool(r.account) and r.account != self.account,
                f"the account {r.account} is not managed by this login.",
            ),
            (r.action not in _SIDES, f"the action must be BUY or SELL, not {r.action!r}."),
            (not whole, f"the quantity must be a whole number of shares, not {r.quantity}."),
            (
                r.order_type not in _ORDER_TYPES,
                f"the order type {r.order_type!r} is not supported by the openbell gateway.",
            ),
            (
                bool(r.tif) and r.tif not in _TIFS,
                f"the time in force {r.tif!r} is not supported by the openbell gateway.",
            ),
        )
        return next((reason for failed, reason in checks if failed), None)

    def _venue_order(self, client_id: int, perm_id: int, r: PlaceOrder) -> VenueOrder | None:
        parent = None
        if r.parent_id:
            parent = self._keys.get((client_id, r.parent_id))
            if parent is None:
                return None
        return VenueOrder(
            order_id=perm_id,
            client_id=client_id,
            symbol=r.contract.symbol.upper(),
            action=_SIDES[r.action],
            quantity=int(r.quantity),
            order_type=VenueOrderType(r.order_type),
            tif=Tif(r.tif) if r.tif else Tif.DAY,
            limit_price=r.limit_price,
            stop_price=r.aux_price,
            outside_rth=r.outside_rth,
            oca_group=r.oca_group or None,
            # IB's ocaType 0 means "not set"; TWS then treats the group as type 1.
            oca_type=r.oca_type or 1,
            parent_id=parent,
            transmit=r.transmit,
            order_ref=r.order_ref,
        )

    def _translate(self, events: Iterable[Event]) -> list[Outgoing]:
        out: list[Outgoing] = []
        for event in events:
            order = self.orders.get(event.order_id)
            if order is not None:
                out.extend(self._report(order, event))
        return out

    def _report(self, order: DeskOrder, event: Event) -> list[Outgoing]:
        client, v = order.client_id, order.view
        if isinstance(event, Accepted):
            first = v.status == "PendingSubmit"
            order.view = replace(v, status=str(event.status))
            opened = [(client, answers.open_order(order.view))] if first else []
            return [*opened, (client, order.status_message())]
        if isinstance(event, OrderWarning | CancelRejected):
            # The engine names its own id (the permId); the client knows its order id.
            text = event.text.replace(f"OrderId {event.order_id} ", f"OrderId {v.order_id} ")
            return [(client, answers.error(v.order_id, event.code, text))]
        if isinstance(event, Rejected):
            order.view = replace(v, status="Cancelled")
            return [
                (client, answers.error(v.order_id, event.code, event.text)),
                (client, order.status_message()),
            ]
        if isinstance(event, Cancelled):
            order.view = replace(v, status="Cancelled")
            out: list[Outgoing] = []
            if event.code is not None:
                out.append((client, answers.error(v.order_id, event.code, event.text)))
            return [*out, (client, order.status_message())]
        return self._fill(order, event)

    def _fill(self, order: DeskOrder, fill: Fill) -> list[Outgoing]:
        client = order.client_id
        order.average_price = fill.average_price
        order.last_fill_price = fill.price
        status = "Filled" if fill.remaining == 0 else order.view.status
        order.view = replace(order.view, status=status, filled=float(fill.cumulative_quantity))
        execution = ExecutionView(
            exec_id=f"{fill.exec_id}.01",
            time=fill.time,
            side=_IB_SIDES[fill.action],
            shares=float(fill.quantity),
            price=fill.price,
            cum_qty=float(fill.cumulative_quantity),
            avg_price=fill.average_price,
            exchange=order.view.contract.primary_exchange,
            last_liquidity=_LIQUIDITY[fill.liquidity],
        )
        self.executions.append(Execution(order.view, execution, fill.commission))
        return [
            (client, order.status_message()),
            (client, answers.exec_details(-1, order.view, execution)),
            (client, answers.commission_report(execution.exec_id, fill.commission)),
        ]
