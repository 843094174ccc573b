"""The monitored exit mode: watch the tape, exit with a market order when a level is crossed.

The brief's exit manager polled prices every 10 seconds. Here every trade price the feed
delivers is checked the moment it arrives, against the target and stop recorded in the
ledger. Nothing rests at the broker, so a crashed exit-manager leaves the position
unprotected until it is back: that is why ``native`` (resting OCA orders) is the default.
Exits are sent only during regular hours, where a market order is marketable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from openbell.domain.enums import ExitReason, OrderRole, PositionState
from openbell.domain.errors import RefusedInput
from openbell.domain.positions import Position
from openbell.domain.values import Price, Symbol
from openbell.ports import Ledger, PriceFeed
from openbell.services.exits import ExitManager
from openbell.strategy.management import crossed_level, market_exit

log = logging.getLogger(__name__)


class TapeWatch:
    """Subscribes to the symbols of the ledger's open positions and exits on a crossing."""

    def __init__(
        self,
        ledger: Ledger,
        manager: ExitManager,
        prices: PriceFeed,
        in_regular_hours: Callable[[], bool],
    ) -> None:
        self._ledger, self._manager, self._prices = ledger, manager, prices
        self._in_regular_hours = in_regular_hours
        self._watched: dict[Symbol, int] = {}  # symbol -> position id

    def follow(self, positions: Sequence[Position]) -> None:
        """Watch every open position that has exit prices; drop the rest."""
        wanted = {
            p.symbol: p.position_id or 0
            for p in positions
            if p.state is PositionState.OPEN and p.target_price is not None
        }
        for symbol in set(self._watched) - set(wanted):
            self._prices.unsubscribe(symbol)
            del self._watched[symbol]
        for symbol, pid in wanted.items():
            if symbol not in self._watched:
                self._prices.subscribe(symbol, self.on_price)
                self._watched[symbol] = pid

    def on_price(self, symbol: Symbol, price: Price) -> None:
        """Check one trade price; never raises (it runs inside the feed's callback)."""
        pid = self._watched.get(symbol)
        if pid is None or not self._in_regular_hours():
            return
        try:
            self._check(self._ledger.position(pid), price)
        except RefusedInput as exc:
            log.warning("monitored exit of %s refused: %s", symbol, exc)

    def _check(self, position: Position, price: Price) -> None:
        if position.state is not PositionState.OPEN:
            return
        role = crossed_level(position, price)
        if role is None:
            return
        reason = ExitReason.TARGET if role is OrderRole.TARGET else ExitReason.STOP
        pid = position.position_id or 0
        self._ledger.append_event(
            "CROSSED",
            f"trade at {price} crossed the {str(role).lower()} "
            f"({position.target_price} / {position.stop_price}): selling at market",
            symbol=position.symbol,
            position_id=pid,
        )
        exiting = self._ledger.start_exit(pid, reason)
        attempt = sum(1 for o in self._ledger.orders(pid) if o.role is role)
        self._manager.send(pid, market_exit(exiting, role, attempt))
