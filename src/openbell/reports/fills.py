"""Every execution of a trading day, grouped by symbol, and the round trips they make (the
brief's ``ibkr_report.py``, from the ledger).

The day's positions are those planned or adopted for the day and those closed on it (a
position opened earlier and closed that day), each listed once. All of their fills are
shown, so a trade is always complete; a fill executed on another day shows its date.

Round trips pair each position's sells with its buys first in, first out. A position whose
shares did not all come from fills (an ADOPTED one, brought in at a stated price) starts
with one lot of the missing shares at the position's remaining entry cost, labelled by its
role. Costs, proceeds and commissions are split between trips in proportion to shares, the
last piece of a fill taking the exact remainder, so nothing is lost to rounding:

* gross = proceeds - cost of the matched shares;
* net = gross - the matched shares' part of the buy's and the sell's commissions.

For a CLOSED position the trips' net sum equals ``Position.realized_pnl`` exactly (both
are proceeds - cost - every commission). For a position still holding shares they differ
by design: ``realized_pnl`` charges every commission paid so far and average cost, while
the trips charge first-in cost and only the commissions of the shares already sold.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from openbell.domain.enums import OrderRole, Side
from openbell.domain.positions import Position
from openbell.domain.records import FillRecord
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import OrderRef
from openbell.ports import Ledger
from openbell.reports.common import cents, price

FILL_COLUMNS = (
    "time",
    "symbol",
    "side",
    "quantity",
    "price",
    "commission",
    "role",
    "order_ref",
    "execution_id",
    "position",
)
ROUND_TRIP_COLUMNS = (
    "symbol",
    "position",
    "shares",
    "entry",
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "exit_role",
    "gross",
    "commissions",
    "net",
)
SYMBOL_COLUMNS = (
    "symbol",
    "fills",
    "bought",
    "sold",
    "commissions",
    "cash_pnl",
    "realized_pnl",
    "states",
)

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class FillLine:
    """A fill and the role of the order it executed."""

    fill: FillRecord
    role: OrderRole


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """``shares`` bought and sold again within one position, first in first out.

    ``entry`` is ``ENTRY`` for a bought lot, or the position's role (``ADOPTED``) for shares
    it came to hold without a fill.
    """

    position_id: int
    symbol: str
    shares: int
    entry: str
    entry_at: datetime | None
    entry_cost: Decimal
    entry_commission: Decimal
    exit_at: datetime
    exit_proceeds: Decimal
    exit_commission: Decimal
    exit_role: OrderRole

    @property
    def entry_price(self) -> Decimal:
        return self.entry_cost / self.shares

    @property
    def exit_price(self) -> Decimal:
        return self.exit_proceeds / self.shares

    @property
    def gross(self) -> Decimal:
        return self.exit_proceeds - self.entry_cost

    @property
    def commissions(self) -> Decimal:
        return self.entry_commission + self.exit_commission

    @property
    def net(self) -> Decimal:
        return self.gross - self.commissions


@dataclass(frozen=True, slots=True)
class FillsReport:
    trading_day: date
    positions: tuple[Position, ...]
    """The day's positions (of the day, or closed on it), by id."""
    fills: tuple[FillLine, ...]
    """Grouped by symbol (alphabetical), oldest first within a symbol."""
    round_trips: tuple[RoundTrip, ...]

    def trips_of(self, position_id: int) -> tuple[RoundTrip, ...]:
        return tuple(t for t in self.round_trips if t.position_id == position_id)


def pnl_from_fills(fills: Iterable[FillRecord]) -> Decimal:
    """Cash in (sells) - cash out (buys) - commissions reported, exact.

    It is the P&L only of fills that start and end flat; an unreported commission counts 0.
    """
    total = _ZERO
    for f in fills:
        notional = f.price.value * f.quantity.value
        total += notional if f.side is Side.SELL else -notional
        total -= f.commission.amount if f.commission is not None else _ZERO
    return total


def fills_report(ledger: Ledger, trading_day: date) -> FillsReport:
    """The executions and round trips of ``trading_day``'s positions.

    Reads ``positions_of_day``, ``closed_positions``, then per position its ``fills`` and
    ``orders`` (indexed by position), and one ``order`` per fill whose order belongs to
    another position (a late entry fill the ledger moved).
    """
    positions = _positions(ledger, trading_day)
    lines: list[FillLine] = []
    trips: list[RoundTrip] = []
    for position in positions:
        pid = position.position_id or 0
        roles = {o.order_ref: o.role for o in ledger.orders(pid)}
        own = [FillLine(f, _role(ledger, roles, f.order_ref)) for f in ledger.fills(pid)]
        lines.extend(own)
        trips.extend(round_trips(position, own))
    lines.sort(
        key=lambda line: (line.fill.symbol.value, line.fill.executed_at, line.fill.execution_id)
    )
    return FillsReport(trading_day, positions, tuple(lines), tuple(trips))


def _positions(ledger: Ledger, trading_day: date) -> tuple[Position, ...]:
    found: dict[int, Position] = {}
    for p in [*ledger.positions_of_day(trading_day), *ledger.closed_positions(trading_day)]:
        found.setdefault(p.position_id or 0, p)
    return tuple(found[pid] for pid in sorted(found))


def _role(ledger: Ledger, roles: dict[OrderRef, OrderRole], ref: OrderRef) -> OrderRole:
    if ref not in roles:
        roles[ref] = ledger.order(ref).role
    return roles[ref]


@dataclass(slots=True)
class _Lot:
    """What is left of one fill (or of an adoption) to match: shares, money, commission."""

    label: str
    at: datetime | None
    shares: int
    money: Decimal
    commission: Decimal

    def take(self, shares: int) -> tuple[Decimal, Decimal]:
        """Remove ``shares``; return their part of the money and commission (the last
        piece takes the exact remainder)."""
        if shares == self.shares:
            money, commission = self.money, self.commission
        else:
            money = self.money * shares / self.shares
            commission = self.commission * shares / self.shares
        self.shares -= shares
        self.money -= money
        self.commission -= commission
        return money, commission


def _lot(line: FillLine) -> _Lot:
    f = line.fill
    commission = _ZERO if f.commission is None else f.commission.amount
    shares = f.quantity.value
    return _Lot(str(line.role), f.executed_at, shares, f.price.value * shares, commission)


def _opening_lots(position: Position, lines: Sequence[FillLine]) -> list[_Lot]:
    buys = [_lot(line) for line in lines if line.fill.side is Side.BUY]
    missing = position.entry_quantity - sum(lot.shares for lot in buys)
    if missing <= 0:
        return buys
    cost = position.entry_cost - sum((lot.money for lot in buys), _ZERO)
    return [_Lot(str(position.role), position.opened_at, missing, cost, _ZERO), *buys]


def round_trips(position: Position, lines: Sequence[FillLine]) -> list[RoundTrip]:
    """Pair the position's sells with its buys, first in first out (see the module)."""
    ordered = sorted(lines, key=lambda line: (line.fill.executed_at, line.fill.execution_id))
    buys = _opening_lots(position, ordered)
    trips: list[RoundTrip] = []
    for line in ordered:
        if line.fill.side is not Side.SELL:
            continue
        sell = _lot(line)
        while sell.shares and buys:
            buy = buys[0]
            shares = min(buy.shares, sell.shares)
            cost, buy_commission = buy.take(shares)
            proceeds, sell_commission = sell.take(shares)
            trips.append(
                RoundTrip(
                    position_id=position.position_id or 0,
                    symbol=position.symbol.value,
                    shares=shares,
                    entry=buy.label,
                    entry_at=buy.at,
                    entry_cost=cost,
                    entry_commission=buy_commission,
                    exit_at=line.fill.executed_at,
                    exit_proceeds=proceeds,
                    exit_commission=sell_commission,
                    exit_role=line.role,
                )
            )
            if not buy.shares:
                buys.pop(0)
    return trips


# --- rows ------------------------------------------------------------------------------------


def clock_time(at: datetime | None, trading_day: date) -> str:
    """``HH:MM:SS`` in New York; prefixed with the date when it is not ``trading_day``."""
    if at is None:
        return "-"
    local = at.astimezone(NEW_YORK)
    shown = local.strftime("%H:%M:%S")
    return shown if local.date() == trading_day else f"{local.date().isoformat()} {shown}"


def fill_rows(report: FillsReport) -> list[dict[str, str]]:
    """One row per execution, grouped by symbol, keyed by :data:`FILL_COLUMNS`."""
    return [
        {
            "time": clock_time(line.fill.executed_at, report.trading_day),
            "symbol": line.fill.symbol.value,
            "side": line.fill.side.value,
            "quantity": str(line.fill.quantity.value),
            "price": str(line.fill.price),
            "commission": "pending"
            if line.fill.commission is None
            else cents(line.fill.commission.amount),
            "role": line.role.value,
            "order_ref": str(line.fill.order_ref),
            "execution_id": line.fill.execution_id,
            "position": str(line.fill.position_id),
        }
        for line in report.fills
    ]


def round_trip_rows(report: FillsReport) -> list[dict[str, str]]:
    """One row per round trip, by symbol then exit time, keyed by :data:`ROUND_TRIP_COLUMNS`."""
    ordered = sorted(report.round_trips, key=lambda t: (t.symbol, t.exit_at))
    return [
        {
            "symbol": t.symbol,
            "position": str(t.position_id),
            "shares": str(t.shares),
            "entry": t.entry,
            "entry_time": clock_time(t.entry_at, report.trading_day),
            "entry_price": price(t.entry_price),
            "exit_time": clock_time(t.exit_at, report.trading_day),
            "exit_price": price(t.exit_price),
            "exit_role": t.exit_role.value,
            "gross": cents(t.gross),
            "commissions": cents(t.commissions),
            "net": cents(t.net),
        }
        for t in ordered
    ]


def symbol_rows(report: FillsReport) -> list[dict[str, str]]:
    """Per symbol: fills, shares bought and sold, commissions, the fills' cash P&L
    (:func:`pnl_from_fills`, ``-`` unless the fills bought and sold as many shares: an adopted
    or still open position) and the ledger's realized P&L, keyed by :data:`SYMBOL_COLUMNS`."""
    symbols = sorted({p.symbol.value for p in report.positions})
    return [_symbol_row(report, symbol) for symbol in symbols]


def _symbol_row(report: FillsReport, symbol: str) -> dict[str, str]:
    fills = [line.fill for line in report.fills if line.fill.symbol.value == symbol]
    positions = [p for p in report.positions if p.symbol.value == symbol]
    commissions = sum((f.commission.amount for f in fills if f.commission is not None), _ZERO)
    bought = sum(f.quantity.value for f in fills if f.side is Side.BUY)
    sold = sum(f.quantity.value for f in fills if f.side is Side.SELL)
    return {
        "symbol": symbol,
        "fills": str(len(fills)),
        "bought": str(bought),
        "sold": str(sold),
        "commissions": cents(commissions),
        "cash_pnl": cents(pnl_from_fills(fills)) if bought == sold else "-",
        "realized_pnl": cents(sum((p.realized_pnl.amount for p in positions), _ZERO)),
        "states": ", ".join(str(p.state) for p in positions),
    }
