"""Streaming trade prices from IB, for exits that watch the tape (the ``monitored`` mode).

Every trade tick IB sends reaches the callback, in order, as soon as ib_async has read it:
a batch that carries several trades (a low, a high, then the close) gives several calls, so
a level crossed inside a batch is not missed. Subscriptions are made again after IB's 1101
("restored, data lost") and after every reconnect, as IBKR.md §3.4 requires.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from ib_async import IB, Contract, Ticker

from openbell.adapters.ib import mapping
from openbell.domain.errors import InvalidValue
from openbell.domain.values import Price, Symbol

log = logging.getLogger(__name__)

OnPrice = Callable[[Symbol, Price], None]
_TRADE_TICKS = frozenset({4, 48, 68})  # last, RT volume's last, delayed last
_DATA_LOST = 1101


@dataclass
class _Watch:
    symbol: Symbol
    contract: Contract
    on_price: OnPrice
    ticker: Ticker | None = None


class IbPrices:
    """Trade prices per symbol over one IB connection."""

    def __init__(self, ib: IB) -> None:
        self._ib = ib
        self._watches: dict[Symbol, _Watch] = {}
        self.resubscriptions = 0
        ib.errorEvent += self._on_error
        ib.connectedEvent += self._resubscribe

    def subscribe(self, symbol: Symbol, on_price: OnPrice) -> None:
        """Call ``on_price`` with every trade price of ``symbol`` from now on.

        Blocks while IB resolves the contract (ib_async keys tickers by contract id);
        an unknown symbol is refused with :class:`InvalidValue`.
        """
        contract = mapping.ib_contract(symbol)
        if not self._ib.qualifyContracts(contract) or not contract.conId:
            raise InvalidValue(f"{symbol} at IB", "a stock IB knows (a contract id)", "none")
        watch = _Watch(symbol, contract, on_price)
        self._watches[symbol] = watch
        self._start(watch)

    def unsubscribe(self, symbol: Symbol) -> None:
        watch = self._watches.pop(symbol, None)
        ticker = None if watch is None else watch.ticker
        if ticker is not None and ticker.contract is not None and self._ib.isConnected():
            self._ib.cancelMktData(ticker.contract)

    def _start(self, watch: _Watch) -> None:
        if not self._ib.isConnected():
            return
        ticker = self._ib.reqMktData(watch.contract, "", False, False)
        watch.ticker = ticker

        def on_update(updated: Ticker) -> None:
            for tick in updated.ticks:
                if tick.tickType in _TRADE_TICKS and math.isfinite(tick.price) and tick.price > 0:
                    watch.on_price(watch.symbol, Price.from_float(tick.price, 4))

        ticker.updateEvent += on_update

    def _on_error(self, _req_id: int, code: int, _text: str, _contract: object) -> None:
        if code == _DATA_LOST:
            self._resubscribe()

    def _resubscribe(self) -> None:
        if not self._watches:
            return
        log.info("re-subscribing market data for %d symbols", len(self._watches))
        self.resubscriptions += 1
        for watch in self._watches.values():
            if watch.ticker is not None:
                watch.ticker.updateEvent.clear()
            self._start(watch)
