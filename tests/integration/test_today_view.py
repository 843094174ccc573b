"""The Today page's numbers over a real ledger: every sold share's P&L counted once, the open
P&L from the last prices, and nothing guessed for a symbol without one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.config import Settings
from openbell.domain.enums import OrderRole, OrderStatus, OrderType, PositionRole, Side, TimeInForce
from openbell.domain.orders import Fill, OrderIntent
from openbell.domain.positions import Position
from openbell.domain.sessions import Session
from openbell.domain.values import Money, OrderRef, Price, Quantity, Symbol
from openbell.reports.today import today_view

DAY = date(2016, 4, 29)


def at(hour: int, minute: int) -> datetime:
    return datetime(2016, 4, 29, hour + 4, minute, tzinfo=UTC)  # EDT: New York + 4 h


def trade(
    ledger: SqliteLedger,
    clock: ManualClock,
    symbol: str,
    buy: tuple[int, str],
    sells: list[tuple[int, str]],
) -> int:
    """Buy ``buy`` (shares, price), then each sell a minute apart, 1.00 USD commission each."""
    position = ledger.plan_position(
        Position(DAY, Symbol(symbol), PositionRole.MASTER, Quantity(buy[0]))
    )
    pid = position.position_id or 0
    fills = [(OrderRole.ENTRY, Side.BUY, buy[0], buy[1])]
    fills += [(OrderRole.FLATTEN, Side.SELL, qty, price) for qty, price in sells]
    for number, (role, side, qty, price) in enumerate(fills, start=1):
        ref = OrderRef(f"ob-{symbol}-{number}")
        intent = OrderIntent(
            ref, Symbol(symbol), side, Quantity(qty), OrderType.MARKET, TimeInForce.DAY, role
        )
        ledger.record_order(pid, intent, "day-trader" if side is Side.BUY else "exit-manager")
        ledger.update_order(ref, OrderStatus.SUBMITTED)
        clock.set(clock.now() + timedelta(minutes=1))
        fill = Fill(
            f"{ref}.1",
            ref,
            Symbol(symbol),
            side,
            Quantity(qty),
            Price(Decimal(price)),
            clock.now(),
            Money(Decimal("1.00")),
        )
        if side is Side.BUY:
            ledger.record_entry_fill(fill)
        else:
            ledger.record_exit_fill(fill, DAY)
    return pid


def test_realized_and_open_pnl_count_each_share_once(tmp_path: Path) -> None:
    clock = ManualClock(at(9, 31))
    ledger = SqliteLedger.open(tmp_path / "ledger.sqlite", clock, process="test")
    try:
        trade(ledger, clock, "WULF", (100, "10.00"), [(40, "11.00")])  # 60 still held
        trade(ledger, clock, "FCX", (10, "5.00"), [(10, "6.00")])  # closed: +10 - 2.00
        trade(ledger, clock, "AMZN", (5, "600.00"), [])  # held, no price to mark it
        session = Session(DAY, at(9, 30), at(16, 0))
        timeline = Settings().day_plan().resolve(session)  # the default schedule
        marks = {Symbol("WULF"): Price(Decimal("10.50"))}
        clock.set(at(11, 0))
        view = today_view(ledger, timeline, clock.now(), marks.get, ledger.last_events(100))
    finally:
        ledger.close()
    # WULF sold 40 at +1.00 less 2.00 commissions (38.00); FCX +10.00 less 2.00 (8.00);
    # AMZN's entry commission (-1.00) is realized too.
    assert view.realized == Decimal("45.00")
    assert view.unrealized == Decimal("30.00")  # WULF's 60 held at +0.50; AMZN not priced
    assert view.unpriced == ("AMZN",)
    assert view.pnl_line() == (
        "realized 45.00 USD, open 30.00 USD, total 75.00 USD (no price yet for AMZN: not counted)"
    )
    live = {row["symbol"]: row for row in view.live}
    assert (live["WULF"]["held"], live["WULF"]["unrealized"]) == ("60", "30.00")
    assert (live["WULF"]["change"], live["AMZN"]["last"]) == ("+5.00%", "")
    assert [row["symbol"] for row in view.closed] == ["FCX"]
    assert [row["passed"] for row in view.timeline if row["step"] == "open"] == ["yes"]
    assert [row["passed"] for row in view.timeline if row["step"] == "flatten"] == [""]
