"""The Broker port over ib_async: IB paper, IB live, or ``openbell gateway`` on loopback.

The adapter runs ib_async in its synchronous style: the caller's loop (``events``,
``pump``) lets ib_async read the socket, and handlers turn what arrives into our events, in
arrival order. ib_async's own idea of an order's status is not trusted where IBKR.md §2.7
shows it lies: it marks a live order Cancelled on any error code that is not in its warning
list (10349, a late 10147). So statuses come only from IB's ``orderStatus`` messages and
from error codes classified by :mod:`.mapping`:

* 399, 2109, 10349 and the other informational codes never end an order;
* 201 (and the other rejections) end a new order as REJECTED;
* 10147/10148 answering *our* cancel mean the order is already gone: the adapter asks IB
  for open orders and today's executions and reports what they show; unasked, they are
  logged and ignored;
* a Cancelled followed by fills is reported as both: the fills win (the ledger allows
  CANCELLED → FILLED because IB does exactly this).

A fill is reported once per execution id, only for this client id's own orders (each role
books what it placed; the ledger joins them), with its commission when IB's commission report
arrives (at most ``commission_wait_s`` later, else without it). After every reconnect, and
after 1101/1102, the adapter reconciles open orders and today's executions before it
accepts another order; until then ``place`` raises :class:`BrokerUnavailable`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ib_async import IB, Fill, Trade

from openbell.adapters.ib import mapping
from openbell.adapters.ib.mapping import ErrorKind
from openbell.domain.broker import BrokerEvent, OrderUpdate
from openbell.domain.enums import OrderStatus
from openbell.domain.errors import BrokerUnavailable, InvalidValue, InvariantBroken
from openbell.domain.orders import OrderIntent
from openbell.domain.values import Money, OrderRef, decimal_from_float
from openbell.ports import Clock

log = logging.getLogger(__name__)

_REPORTED = (OrderStatus.SUBMITTED, OrderStatus.CANCELLED, OrderStatus.REJECTED)
"""The statuses the adapter reports; fills say the rest (as the in-process broker does)."""


@dataclass(frozen=True)
class IbConnection:
    """Where and as whom to connect. ``readonly`` connections may not place orders."""

    host: str = "127.0.0.1"
    port: int = 4002
    client_id: int = 1
    account: str = ""
    readonly: bool = False
    timeout_s: float = 10.0
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    commission_wait_s: float = 2.0


class IbBroker:
    """One IB client id. Build, ``connect()``, then use as a :class:`~openbell.ports.Broker`."""

    def __init__(self, connection: IbConnection, clock: Clock, ib: IB | None = None) -> None:
        self.connection = connection
        self.ib = ib or IB()
        self._clock = clock
        self._queue: list[BrokerEvent] = []
        self._status: dict[OrderRef, OrderStatus] = {}
        self._placed: set[OrderRef] = set()
        self._cancelling: set[OrderRef] = set()
        self._seen_exec: set[str] = set()
        self._waiting: dict[str, tuple[float, Fill]] = {}
        self._ready = False
        self._closed = True
        """Never connected, or disconnected on purpose: nothing reconnects on its own."""
        self._outage = False
        self._reconcile_due = False
        self._next_attempt = 0.0
        self._backoff = connection.backoff_s
        self.reconnects = 0
        self._unreadable: list[str] = []
        # A blocking request IB never answers must fail, not hang the bot.
        self.ib.RequestTimeout = connection.timeout_s
        self.ib.orderStatusEvent += self._on_status
        self.ib.execDetailsEvent += self._on_execution
        self.ib.commissionReportEvent += self._on_commission
        self.ib.errorEvent += self._on_error
        self.ib.disconnectedEvent += self._on_disconnected

    # --- connection -------------------------------------------------------------------------
    def connect(self) -> None:
        """Connect and reconcile; raise :class:`BrokerUnavailable` if the gateway is not there."""
        c = self.connection
        self._closed = False  # from now on, a lost connection is reconnected
        try:
            self.ib.connect(
                c.host,
                c.port,
                clientId=c.client_id,
                timeout=c.timeout_s,
                readonly=c.readonly,
                account=c.account,
            )
        except (ConnectionError, OSError, TimeoutError) as exc:
            self.ib.disconnect()
            raise BrokerUnavailable(
                f"could not connect to IB at {c.host}:{c.port} as client {c.client_id}: "
                f"{type(exc).__name__}"
            ) from None
        self._backoff = c.backoff_s
        self._outage = False
        self._reconcile(fetch=False)

    def disconnect(self) -> None:
        """Close the connection on purpose: no reconnect follows until ``connect()``."""
        self._closed = True
        self._ready = False
        self.ib.disconnect()

    @property
    def ready(self) -> bool:
        """Connected, reconciled, and IB reachable: orders may be sent."""
        return self._ready and not self._outage and self.ib.isConnected()

    def pump(self, seconds: float = 0.0) -> None:
        """Let ib_async read for ``seconds``; reconnect or reconcile if either is due."""
        if self.ib.isConnected():
            try:
                self.ib.sleep(seconds)
            except ConnectionError as exc:  # a reset socket (the gateway died) is raised here
                log.warning("IB connection failed while reading (%s): reconnecting", exc)
                if self.ib.isConnected():
                    self.ib.disconnect()
                self._on_disconnected()
        elif seconds:
            time.sleep(seconds)
        self._maintain()

    def _maintain(self) -> None:
        if self._closed:
            return
        if not self.ib.isConnected():
            if time.monotonic() >= self._next_attempt:
                self._try_reconnect()
            return
        if self._reconcile_due and not self._outage:
            try:
                self._reconcile(fetch=True)
            except (ConnectionError, TimeoutError) as exc:  # tried again at the next call
                log.warning("reconciling with IB failed (%s); will retry", type(exc).__name__)

    def _try_reconnect(self) -> None:
        try:
            self.connect()
        except BrokerUnavailable as exc:
            self._next_attempt = time.monotonic() + self._backoff
            log.warning("%s; next attempt in %.1f s", exc, self._backoff)
            self._backoff = min(self._backoff * 2, self.connection.max_backoff_s)
            return
        self.reconnects += 1
        log.info("reconnected to IB (reconnect %d) and reconciled", self.reconnects)

    # --- the Broker port ------------------------------------------------------------------
    def place(self, intent: OrderIntent) -> None:
        if self.connection.readonly:
            raise InvalidValue("IB connection", "a trading (not readonly) connection", "readonly")
        if not self.ready:
            raise BrokerUnavailable(
                f"not placing {intent.order_ref}: IB is not connected and reconciled"
            )
        order = mapping.ib_order(intent, account=self.connection.account)
        self._placed.add(intent.order_ref)
        self.ib.placeOrder(mapping.ib_contract(intent.symbol), order)
        log.info(
            "placed %s: %s %s %s", intent.order_ref, intent.side, intent.quantity, intent.symbol
        )

    def cancel(self, order_ref: OrderRef) -> None:
        if not self.ready:
            raise BrokerUnavailable(f"not cancelling {order_ref}: IB is not connected")
        trade = self._trade(order_ref)
        if trade is None or (trade.isDone() and trade.orderStatus.status != "Cancelled"):
            if self._status.get(order_ref) not in (OrderStatus.FILLED, OrderStatus.CANCELLED):
                log.info("cancel %s: not working at IB; asking IB what became of it", order_ref)
                self._reconcile_due = True
            return
        self._cancelling.add(order_ref)
        self.ib.cancelOrder(trade.order)

    def events(self) -> Sequence[BrokerEvent]:
        self._maintain()
        self._flush_fills(force_older_than=self.connection.commission_wait_s)
        if self._unreadable:
            raise InvariantBroken(
                "IB reported executions of our orders that openbell cannot read; "
                "stop and check them at IB: " + "; ".join(self._unreadable)
            )
        drained, self._queue = self._queue, []
        return drained

    def reconcile(self, order_refs: Sequence[OrderRef]) -> None:
        """Take over orders an earlier life of this client id placed: at the next ``events``
        IB is asked for open and completed orders and executions, and each ref's status is
        reported (one IB does not know is reported REJECTED). No order goes out meanwhile."""
        self._placed.update(order_refs)
        self._reconcile_due = True
        self._ready = False

    def net_liquidation(self) -> Money:
        for value in self.ib.accountValues(self.connection.account):
            if value.tag == "NetLiquidation" and value.currency in ("USD", "BASE"):
                return Money(decimal_from_float(float(value.value), 2))
        raise BrokerUnavailable("IB has not reported NetLiquidation for the account yet")

    # --- handlers (called while ib_async reads) --------------------------------------------------
    def _on_status(self, trade: Trade) -> None:
        ref = mapping.our_order_ref(trade.order.orderRef)
        if ref is None or (trade.log and trade.log[-1].errorCode):
            return  # not ours, or ib_async's reaction to an error code (handled in _on_error)
        status = _status_of(trade)
        if status is not None:
            self._report(ref, status, trade, "")

    def _on_execution(self, trade: Trade, fill: Fill) -> None:
        self._waiting.setdefault(fill.execution.execId, (time.monotonic(), fill))

    def _on_commission(self, trade: Trade, fill: Fill, _report: object) -> None:
        self._waiting.setdefault(fill.execution.execId, (time.monotonic(), fill))
        self._flush_fills(force_older_than=None, only=fill.execution.execId)

    def _on_error(self, req_id: int, code: int, text: str, _contract: object) -> None:
        trade = self.ib.wrapper.trades.get((self.connection.client_id, req_id))
        ref = None if trade is None else mapping.our_order_ref(trade.order.orderRef)
        kind = mapping.classify_error(code, about_order=ref is not None)
        if kind is ErrorKind.CONNECTION_LOST:
            log.warning("IB connectivity lost (%s): orders paused", code)
            self._outage = True
            return
        if kind in (ErrorKind.CONNECTION_RESTORED, ErrorKind.CONNECTION_RESTORED_DATA_LOST):
            log.warning("IB connectivity restored (%s): reconciling before acting", code)
            self._outage = False
            self._reconcile_due = True
            self._ready = False
            return
        if ref is None:
            if kind not in (ErrorKind.INFORMATIONAL, ErrorKind.DATA_FARM):
                log.info("IB %s about request %s: %s", code, req_id, text)
            return
        if kind is ErrorKind.ORDER_REJECTED:
            self._report(ref, OrderStatus.REJECTED, trade, f"{code} {text}")
        elif kind is ErrorKind.CANCEL_CONFIRMED:
            self._report(ref, OrderStatus.CANCELLED, trade, f"{code} {text}")
        elif kind is ErrorKind.CANCEL_TARGET_GONE and ref in self._cancelling:
            log.info("cancel of %s answered %s: already gone; reconciling", ref, code)
            self._reconcile_due = True
        else:
            log.info("IB %s about %s ignored (the order lives on): %s", code, ref, text)

    def _on_disconnected(self) -> None:
        if self._closed:
            return
        log.warning("IB connection lost: orders paused until reconnected and reconciled")
        self._ready = False
        self._next_attempt = time.monotonic() + self._backoff

    # --- reconciliation ---------------------------------------------------------------------
    def _reconcile(self, *, fetch: bool) -> None:
        """Report every execution and status IB knows that we have not reported yet."""
        if fetch:
            self.ib.reqOpenOrders()
            self.ib.reqCompletedOrders(apiOnly=True)
            self.ib.reqExecutions()
        self._reconcile_due = False
        for fill in self.ib.fills():
            self._waiting.setdefault(fill.execution.execId, (0.0, fill))
        self._flush_fills(force_older_than=0.0)
        for ref in sorted(self._placed, key=str):
            if self._status.get(ref) in (
                OrderStatus.CANCELLED,
                OrderStatus.REJECTED,
                OrderStatus.FILLED,
            ):
                continue
            trade = self._trade(ref)
            if trade is None:
                self._report(ref, OrderStatus.CANCELLED, None, "not known to IB after reconciling")
                continue
            status = _status_of(trade)
            if status is not None:
                self._report(ref, status, trade, "reconciled")
        self._ready = True

    def _trade(self, ref: OrderRef) -> Trade | None:
        """The newest trade IB knows for ``ref``."""
        found = [t for t in self.ib.trades() if t.order.orderRef == str(ref)]
        return found[-1] if found else None

    # --- reporting ----------------------------------------------------------------------------
    def _report(self, ref: OrderRef, status: OrderStatus, trade: Trade | None, reason: str) -> None:
        if status is OrderStatus.FILLED or status is OrderStatus.PARTIALLY_FILLED:
            self._status[ref] = status
            return
        current = self._status.get(ref)
        unasked = ref not in self._cancelling
        if status is OrderStatus.CANCELLED and current is None and unasked:
            # IB ended an order it never acknowledged, and we did not ask: a rejection
            # whose 201 may still be on its way (IBKR.md §2.7 ordering races).
            status, reason = OrderStatus.REJECTED, reason or "ended by IB before acknowledgement"
        if status not in _REPORTED or current in (OrderStatus.FILLED, OrderStatus.REJECTED):
            self._better_reason(ref, status, reason)
            return
        if current is status:
            return
        self._status[ref] = status
        order_id = None if trade is None else trade.order.orderId
        self._queue.append(OrderUpdate(ref, status, self._clock.now(), reason, order_id))

    def _better_reason(self, ref: OrderRef, status: OrderStatus, reason: str) -> None:
        """A 201 after its Cancelled: give the queued rejection IB's own words."""
        for i in range(len(self._queue) - 1, -1, -1):
            event = self._queue[i]
            if isinstance(event, OrderUpdate) and event.order_ref == ref:
                if event.status is status and reason and reason[:3].isdigit():
                    self._queue[i] = OrderUpdate(
                        ref, status, event.at, reason, event.broker_order_id
                    )
                return

    def _flush_fills(self, force_older_than: float | None, only: str | None = None) -> None:
        now = time.monotonic()
        for exec_id, (seen_at, fill) in list(self._waiting.items()):
            if only is not None and exec_id != only:
                continue
            has_commission = bool(fill.commissionReport.execId)
            if not has_commission and (
                force_older_than is None or now - seen_at < force_older_than
            ):
                continue
            del self._waiting[exec_id]
            if exec_id in self._seen_exec or fill.execution.clientId != self.connection.client_id:
                continue  # told already, or another client's (each role books its own fills)
            commission = fill.commissionReport.commission if has_commission else None
            try:
                ours = mapping.domain_fill(fill.execution, fill.contract.symbol, commission)
            except InvalidValue as exc:  # ours by its orderRef, but not a fill we can book
                log.error("unreadable execution %s: %s", exec_id, exc)
                self._seen_exec.add(exec_id)
                self._unreadable.append(f"{exec_id}: {exc}")
                continue
            if ours is None:
                continue
            self._seen_exec.add(exec_id)
            self._queue.append(ours)


def _status_of(trade: Trade) -> OrderStatus | None:
    s = trade.orderStatus
    return mapping.domain_status(s.status, s.filled, s.remaining, why_held=s.whyHeld)
