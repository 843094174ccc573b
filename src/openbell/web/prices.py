"""Live prices for the Today page: the last trade of each held symbol.

:class:`IbPriceBook` streams trades over the dashboard's own IB client id, read-only (IB
refuses orders from it), in a thread with its own event loop, so the pages never wait on IB.
The pages ask for the symbols they show (``watch``); the book subscribes to those and drops
the rest. While the connection is down the book has no prices, rather than stale ones: a
position without a price shows no open P&L.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from openbell.domain.errors import OpenbellError
from openbell.domain.values import Price, Symbol

if TYPE_CHECKING:
    from ib_async import IB

    from openbell.adapters.ib.broker import IbBroker
    from openbell.adapters.ib.prices import IbPrices

log = logging.getLogger(__name__)


class PriceBook(Protocol):
    def watch(self, symbols: Iterable[Symbol]) -> None:
        """Keep prices of exactly ``symbols`` from now on."""

    def price(self, symbol: Symbol) -> Price | None:
        """The last trade of ``symbol``, or None when there is none to show."""

    def status(self) -> str:
        """Where prices come from, or why there are none, for the page."""


class NoPrices:
    """No live prices (``openbell dashboard --no-prices``, or tests): P&L is realized only."""

    def __init__(self, why: str = "live prices are off") -> None:
        self._why = why

    def watch(self, symbols: Iterable[Symbol]) -> None:
        return None

    def price(self, symbol: Symbol) -> Price | None:
        return None

    def status(self) -> str:
        return self._why


class IbPriceBook:
    """Last trade prices over a read-only IB client, kept by a thread of its own."""

    def __init__(
        self,
        make_broker: Callable[[], IbBroker],
        where: str,
        *,
        step_s: float = 0.25,
        retry_s: float = 10.0,
    ) -> None:
        self._make_broker = make_broker
        self._where = where
        self._step_s = step_s
        self._retry_s = retry_s
        self._lock = threading.Lock()
        self._wanted: set[Symbol] = set()
        self._last: dict[Symbol, Price] = {}
        self._refused: dict[Symbol, str] = {}
        self._status = f"connecting to IB at {where} for live prices"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dashboard-prices", daemon=True)

    # --- the pages' side ----------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def watch(self, symbols: Iterable[Symbol]) -> None:
        with self._lock:
            self._wanted = set(symbols)

    def price(self, symbol: Symbol) -> Price | None:
        with self._lock:
            return self._last.get(symbol)

    def status(self) -> str:
        with self._lock:
            refused = "; ".join(f"{s}: {why}" for s, why in sorted(self._refused.items()))
            return self._status + (f" (no price for {refused})" if refused else "")

    # --- the thread -------------------------------------------------------------------------

    def _say(self, status: str) -> None:
        with self._lock:
            if status != self._status:
                log.info("live prices: %s", status)
            self._status = status

    def _run(self) -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())  # ib_async runs in this thread's loop
        from openbell.adapters.ib.prices import IbPrices  # noqa: PLC0415 - see the module doc

        while not self._stop.is_set():
            try:
                self._serve(IbPrices)
            except Exception:  # the pages go on without prices, and the book tries again
                log.exception("live prices failed")
                self._forget(
                    f"live prices failed (see the dashboard's log); trying again every "
                    f"{self._retry_s:g} s"
                )
                self._stop.wait(self._retry_s)

    def _forget(self, status: str) -> None:
        """No prices until IB is back: a stale price would show a wrong open P&L."""
        with self._lock:
            self._last.clear()
        self._say(status)

    def _serve(self, make_feed: Callable[[IB], IbPrices]) -> None:
        broker = self._make_broker()
        feed = make_feed(broker.ib)
        subscribed: set[Symbol] = set()
        try:
            while not self._stop.is_set():
                if not broker.ib.isConnected():
                    self._reconnect(broker)
                    continue
                if broker.ready:
                    self._follow(feed, subscribed)
                else:  # IB said 1100: connected to the gateway, but the gateway is cut off
                    self._forget("IB reports a lost connection: no live prices until it is back")
                try:
                    broker.pump(self._step_s)
                except ConnectionError:  # ib_async raises it from sleep when the socket drops
                    self._forget("IB connection lost: no live prices until it is back")
        finally:
            broker.disconnect()

    def _reconnect(self, broker: IbBroker) -> None:
        """Connect; the feed subscribes its symbols again by itself once connected."""
        with self._lock:
            self._last.clear()  # no stale prices while IB is away
        try:
            broker.connect()
        except OpenbellError as exc:
            self._say(f"no live prices: {exc}; retrying every {self._retry_s:g} s")
            self._stop.wait(self._retry_s)
            return
        with self._lock:
            self._refused.clear()  # a symbol refused before the outage may be known now
        self._say(f"live prices from IB at {self._where} (read-only client)")

    def _follow(self, feed: IbPrices, subscribed: set[Symbol]) -> None:
        """Subscribe to the symbols the pages want, and drop the others."""
        with self._lock:
            wanted = set(self._wanted)
        for symbol in sorted(subscribed - wanted, key=str):
            feed.unsubscribe(symbol)
            subscribed.discard(symbol)
            with self._lock:
                self._last.pop(symbol, None)
                self._refused.pop(symbol, None)
        for symbol in sorted(wanted - subscribed, key=str):
            with self._lock:
                if symbol in self._refused:
                    continue
            try:
                feed.subscribe(symbol, self._on_price)
            except (OpenbellError, TimeoutError, ConnectionError) as exc:
                with self._lock:
                    self._refused[symbol] = str(exc)
                continue
            subscribed.add(symbol)

    def _on_price(self, symbol: Symbol, price: Price) -> None:
        with self._lock:
            if symbol in self._wanted:
                self._last[symbol] = price
