"""The simulated account as IB reports it: holdings plus what the venue traded, valued at market.

Pre-existing holdings (the user's long-term positions, such as SKYX 182 @ 1.20) come from the
gateway's configuration; everything openbell trades comes from the matching engine. IB
reports one position per contract, so both are merged per symbol.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

from openbell.domain.errors import InvalidValue
from openbell.venue.engine import MatchingEngine

LISTING = "NASDAQ"
"""The primary exchange every simulated stock is reported on."""


@dataclass(frozen=True)
class Holding:
    """A position the account already holds when the gateway starts (not openbell's)."""

    symbol: str
    quantity: int
    average_cost: float
    con_id: int = 0

    @classmethod
    def parse(cls, text: str) -> Holding:
        """``SYMBOL:QTY@PRICE``, e.g. ``SKYX:182@1.20``."""
        try:
            symbol, rest = text.split(":", 1)
            quantity, price = rest.split("@", 1)
            return cls(symbol.strip().upper(), int(quantity), float(price))
        except ValueError:
            raise InvalidValue("holding", "SYMBOL:QTY@PRICE, e.g. SKYX:182@1.20", text) from None


def con_id_for(symbol: str) -> int:
    """A stable contract id for a symbol (the same in every run and after a restart)."""
    return zlib.crc32(symbol.encode()) % 900_000_000 + 100_000_000


def _net(held: int, held_cost: float, traded: int, traded_cost: float) -> tuple[int, float]:
    """A holding plus the venue's net position in the same symbol: shares and average cost.

    As for one account's fills: adding to a side averages the costs, reducing keeps the cost
    of what is left, and flipping through zero leaves shares at the venue's cost.
    """
    total = held + traded
    if total == 0:
        return 0, 0.0
    if held == 0 or (held > 0) == (traded > 0):
        return total, (held * held_cost + traded * traded_cost) / total
    return total, held_cost if (total > 0) == (held > 0) else traded_cost


@dataclass(frozen=True, slots=True)
class Line:
    """One position line: shares, average cost, and the last price (None if unknown)."""

    symbol: str
    con_id: int
    quantity: int
    average_cost: float
    market_price: float | None


@dataclass
class Account:
    """Cash, holdings and the engine's positions, valued with ``price_of``."""

    account_id: str
    cash: float
    holdings: tuple[Holding, ...]
    engine: MatchingEngine
    price_of: Callable[[str], float | None]

    def lines(self) -> list[Line]:
        merged: dict[str, tuple[int, float, int]] = {}
        for h in self.holdings:
            merged[h.symbol] = (h.quantity, h.average_cost if h.quantity else 0.0, h.con_id)
        for symbol, p in self.engine.positions().items():
            qty, cost, con_id = merged.get(symbol, (0, 0.0, 0))
            merged[symbol] = (*_net(qty, cost, p.quantity, p.average_cost), con_id)
        return [
            Line(symbol, con_id or con_id_for(symbol), qty, cost, self.price_of(symbol))
            for symbol, (qty, cost, con_id) in merged.items()
        ]

    def line(self, symbol: str) -> Line:
        for line in self.lines():
            if line.symbol == symbol:
                return line
        con_id = next((h.con_id for h in self.holdings if h.symbol == symbol), 0)
        return Line(symbol, con_id or con_id_for(symbol), 0, 0.0, self.price_of(symbol))

    def values(self) -> list[tuple[str, str]]:
        """Account values (tag, value) in USD."""
        cash = self.cash + self.engine.cash()
        worth = sum(
            line.quantity * (line.market_price or line.average_cost) for line in self.lines()
        )
        return [
            ("NetLiquidation", f"{cash + worth:.2f}"),
            ("TotalCashValue", f"{cash:.2f}"),
            ("AvailableFunds", f"{cash:.2f}"),
            ("BuyingPower", f"{cash * 4:.2f}"),
            ("GrossPositionValue", f"{worth:.2f}"),
        ]

    def value_messages(self) -> list[list[object]]:
        """``updateAccountValue`` (message 6) for each account value."""
        return [[6, 2, key, value, "USD", self.account_id] for key, value in self.values()]

    def contract(self, line: Line) -> list[object]:
        """The 11 contract fields of position and portfolio messages (no primaryExchange)."""
        symbol = line.symbol
        return [line.con_id, symbol, "STK", "", 0.0, "", "", LISTING, "USD", symbol, symbol]

    def position_message(self, line: Line) -> list[object]:
        return [61, 3, self.account_id, *self.contract(line), line.quantity, line.average_cost]

    def portfolio_message(self, line: Line) -> list[object]:
        price = line.market_price if line.market_price is not None else line.average_cost
        worth = line.quantity * price
        unrealized = worth - line.quantity * line.average_cost
        return [
            7,
            8,
            *self.contract(line),
            line.quantity,
            price,
            worth,
            line.average_cost,
            round(unrealized, 2),
            0.0,
            self.account_id,
        ]
