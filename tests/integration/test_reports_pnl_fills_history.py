"""``reports.pnl``, ``reports.fills`` and ``reports.history`` over a real SQLite ledger.

Four trading days are built through the ledger's own commands, in time order:

* 2025-10-29 (Wed): WULF hits its target (+26.00), VMD hits its target (+12.00), BYND is
  stopped out (-12.00, its commission reported after the fill), RCAT's limit entry fills
  150 + 50 of 300 and is flattened at 15:45 in two executions (+7.85); BBAR is planned but
  abandoned.
* 2025-10-30 (Thu): VMD, an outside holding, is adopted by mistake and sold by a stop
  (-53.00, the brief's VMD case); LBRT hits its target (+9.00); PRME's flatten is rejected,
  so it stays open overnight; a rescan of VMD is rejected by a person.
* 2025-10-31 (Fri): nothing closes (a zero day); the scan drops VMD.
* 2025-11-03 (Mon, EST): PRME is flattened (+8.00, counted on 11-03); AMD is stopped out
  (-12.00); the user's long-term VMD shares are adopted, then released untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

import pytest

from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.domain.enums import (
    ExitReason,
    LlmOutcome,
    OrderRole,
    OrderStatus,
    OrderType,
    PositionRole,
    PositionState,
    Side,
    TimeInForce,
)
from openbell.domain.orders import Fill, OrderIntent
from openbell.domain.positions import Position
from openbell.domain.records import LlmCallDraft
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Confidence, Money, OrderRef, Price, Quantity, Symbol
from openbell.reports.fills import (
    FILL_COLUMNS,
    ROUND_TRIP_COLUMNS,
    SYMBOL_COLUMNS,
    FillsReport,
    fill_rows,
    fills_report,
    pnl_from_fills,
    round_trip_rows,
    symbol_rows,
)
from openbell.reports.history import COLUMNS, history_rows, symbol_history
from openbell.reports.pnl import (
    DAILY_COLUMNS,
    MONTHLY_COLUMNS,
    SUMMARY_COLUMNS,
    TRADE_COLUMNS,
    daily_rows,
    monthly_rows,
    pnl_report,
    summary_rows,
    trade_rows,
)

D1, D2, D3, D4 = date(2025, 10, 29), date(2025, 10, 30), date(2025, 10, 31), date(2025, 11, 3)
DAYS = (D1, D2, D3, D4)
VMD = Symbol("VMD")
ACCOUNT_VMD_SHARES = 682
"""What the broker account holds in VMD outside openbell: 500 old shares + 182 long-term."""


def at(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm, ss), NEW_YORK)


@dataclass
class Book:
    """Drives the ledger the way the bots do, moving the clock to each step's time."""

    ledger: SqliteLedger
    clock: ManualClock
    ids: dict[str, int] = field(default_factory=dict)

    def to(self, when: datetime) -> None:
        self.clock.set(when)

    def plan(self, when: datetime, day: date, symbol: str, qty: int) -> int:
        self.to(when)
        position = self.ledger.plan_position(
            Position(day, Symbol(symbol), PositionRole.MASTER, Quantity(qty))
        )
        pid = position.position_id or 0
        self.ids[f"{symbol}@{day}"] = pid
        return pid

    def order(
        self,
        pid: int,
        ref: str,
        role: OrderRole,
        qty: int,
        kind: OrderType = OrderType.MARKET,
        *,
        limit: str | None = None,
        stop: str | None = None,
        tif: TimeInForce = TimeInForce.DAY,
        oca: str | None = None,
        owner: str = "day-trader",
    ) -> OrderRef:
        symbol = self.ledger.position(pid).symbol
        intent = OrderIntent(
            OrderRef(ref),
            symbol,
            Side.BUY if role is OrderRole.ENTRY else Side.SELL,
            Quantity(qty),
            kind,
            tif,
            role,
            limit_price=None if limit is None else Price(Decimal(limit)),
            stop_price=None if stop is None else Price(Decimal(stop)),
            oca_group=oca,
        )
        self.ledger.record_order(pid, intent, owner)
        self.ledger.update_order(intent.order_ref, OrderStatus.SUBMITTED)
        return intent.order_ref

    def fill(
        self,
        when: datetime,
        day: date,
        ref: OrderRef,
        qty: int,
        price: str,
        commission: str | None,
        n: int = 1,
    ) -> Position:
        self.to(when)
        order = self.ledger.order(ref)
        fill = Fill(
            f"{ref}.{n}.01",  # IB's form: a correction only changes the last digits
            ref,
            order.symbol,
            order.side,
            Quantity(qty),
            Price(Decimal(price)),
            when,
            None if commission is None else Money(Decimal(commission)),
        )
        if order.side is Side.BUY:
            return self.ledger.record_entry_fill(fill)
        return self.ledger.record_exit_fill(fill, day)

    def bracket(
        self, when: datetime, pid: int, name: str, qty: int, target: str, stop: str
    ) -> None:
        """The exit prices, then a target and a stop in one OCA group."""
        self.to(when)
        self.ledger.set_exit_prices(pid, Price(Decimal(target)), Price(Decimal(stop)))
        oca = f"{name}-oca"
        self.order(pid, f"{name}-t", OrderRole.TARGET, qty, OrderType.LIMIT, limit=target, oca=oca)
        self.order(pid, f"{name}-s", OrderRole.STOP, qty, OrderType.STOP, stop=stop, oca=oca)

    def cancel(self, when: datetime, ref: str, reason: str) -> None:
        self.to(when)
        self.ledger.update_order(OrderRef(ref), OrderStatus.CANCELLED, reason=reason)

    def scan(self, when: datetime, kept: list[str], dropped: dict[str, str]) -> None:
        self.to(when)
        self.ledger.append_event(
            "SCAN",
            f"{len(kept) + len(dropped)} scanned, {len(kept)} kept",
            data={"at": "morning", "kept": kept, "drops": {}, "dropped": dropped},
        )


def moo(book: Book, pid: int, name: str, qty: int) -> OrderRef:
    return book.order(pid, f"{name}-e", OrderRole.ENTRY, qty, tif=TimeInForce.AT_THE_OPEN)


def day_one(book: Book) -> None:
    ledger = book.ledger
    book.to(at(D1, 8, 30))
    ledger.record_llm_call(
        LlmCallDraft(
            D1,
            VMD,
            "deepseek",
            "deepseek-chat",
            "v1",
            "h" * 64,
            {"gap_pct": "5.1"},
            LlmOutcome.SCORED,
            parsed={"reason": "earnings gap on volume"},
            confidence=Confidence(Decimal("0.80")),
            prompt_tokens=900,
            completion_tokens=60,
        )
    )
    for symbol, confidence in (("WULF", "0.85"), ("VMD", "0.80"), ("RCAT", "0.75")):
        ledger.record_score(
            D1,
            Symbol(symbol),
            "deepseek:deepseek-chat",
            Confidence(Decimal(confidence)),
            {"gap_pct": "5.1"},
            {"reason": f"{symbol} gap on volume"},
        )
    book.scan(at(D1, 8, 30), ["WULF", "VMD", "RCAT", "BYND", "BBAR"], {"GILD": "gap -4.22%"})
    wulf = book.plan(at(D1, 8, 31), D1, "WULF", 100)
    vmd = book.plan(at(D1, 8, 31), D1, "VMD", 100)
    rcat = book.plan(at(D1, 8, 31), D1, "RCAT", 300)
    bynd = book.plan(at(D1, 8, 31), D1, "BYND", 500)
    bbar = book.plan(at(D1, 8, 31), D1, "BBAR", 200)
    book.to(at(D1, 8, 32))
    ledger.abandon(bbar, "not enough buying power")

    book.to(at(D1, 9, 28))
    wulf_e, vmd_e, bynd_e = (
        moo(book, wulf, "WULF-1", 100),
        moo(book, vmd, "VMD-1", 100),
        moo(book, bynd, "BYND-1", 500),
    )
    rcat_e = book.order(rcat, "RCAT-1-e", OrderRole.ENTRY, 300, OrderType.LIMIT, limit="11.06")
    book.fill(at(D1, 9, 30), D1, wulf_e, 100, "15.36", "1.00")
    book.fill(at(D1, 9, 30), D1, vmd_e, 100, "7.00", "0.50")
    book.fill(at(D1, 9, 30), D1, bynd_e, 500, "2.04", "1.00")
    book.bracket(at(D1, 9, 30, 30), wulf, "WULF-1", 100, "15.64", "15.22")
    book.bracket(at(D1, 9, 30, 30), vmd, "VMD-1", 100, "7.13", "6.94")
    book.bracket(at(D1, 9, 30, 30), bynd, "BYND-1", 500, "2.09", "2.02")
    book.fill(at(D1, 9, 31, 5), D1, rcat_e, 150, "11.04", "1.00", 1)
    book.fill(at(D1, 9, 33, 10), D1, rcat_e, 50, "11.06", "0.35", 2)
    book.cancel(at(D1, 9, 45), "RCAT-1-e", "the rest did not fill")
    book.bracket(at(D1, 9, 45), rcat, "RCAT-1", 200, "11.30", "10.94")

    book.fill(at(D1, 10, 5), D1, OrderRef("WULF-1-t"), 100, "15.64", "1.00")
    book.cancel(at(D1, 10, 5), "WULF-1-s", "OCA")
    book.fill(at(D1, 10, 12), D1, OrderRef("VMD-1-t"), 100, "7.13", "0.50")
    book.cancel(at(D1, 10, 12), "VMD-1-s", "OCA")
    book.fill(at(D1, 10, 40), D1, OrderRef("BYND-1-s"), 500, "2.02", None)
    book.to(at(D1, 10, 40, 5))
    ledger.record_commission("BYND-1-s.1.01", Money(Decimal("1.00")))  # reported after the fill
    book.cancel(at(D1, 10, 40, 5), "BYND-1-t", "OCA")

    book.cancel(at(D1, 15, 45), "RCAT-1-t", "flatten")
    book.cancel(at(D1, 15, 45), "RCAT-1-s", "flatten")
    ledger.start_exit(rcat, ExitReason.FLATTEN)
    flat = book.order(rcat, "RCAT-1-f", OrderRole.FLATTEN, 200, owner="exit-manager")
    book.fill(at(D1, 15, 45, 1), D1, flat, 120, "11.10", "0.60", 1)
    book.fill(at(D1, 15, 45, 2), D1, flat, 80, "11.09", "0.40", 2)


def day_two(book: Book) -> None:
    ledger = book.ledger
    book.scan(at(D2, 8, 30), ["LBRT", "PRME"], {"VMD": "gap +0.40% outside 1%..8%"})
    book.to(at(D2, 8, 40))
    adopted = ledger.adopt(
        VMD, Quantity(200), Price(Decimal("6.80")), "manual add by add_vmd_to_database.py", D2
    )
    vmd = adopted.position_id or 0
    book.ids[f"VMD@{D2}"] = vmd
    book.to(at(D2, 8, 41))
    ledger.set_exit_prices(vmd, Price(Decimal("6.97")), Price(Decimal("6.54")))
    lbrt = book.plan(at(D2, 8, 45), D2, "LBRT", 50)
    prme = book.plan(at(D2, 8, 45), D2, "PRME", 100)
    book.to(at(D2, 9, 28))
    lbrt_e, prme_e = moo(book, lbrt, "LBRT-2", 50), moo(book, prme, "PRME-2", 100)
    book.fill(at(D2, 9, 30), D2, lbrt_e, 50, "8.00", "0.50")
    book.fill(at(D2, 9, 30), D2, prme_e, 100, "5.00", "1.00")
    book.to(at(D2, 9, 30, 30))
    book.order(lbrt, "LBRT-2-t", OrderRole.TARGET, 50, OrderType.LIMIT, limit="8.20")

    book.to(at(D2, 10, 20))
    ledger.start_exit(vmd, ExitReason.STOP)
    stop = book.order(vmd, "VMD-2-x", OrderRole.STOP, 200, owner="exit-manager")
    book.fill(at(D2, 10, 20, 1), D2, stop, 200, "6.54", "1.00")
    book.fill(at(D2, 11, 2), D2, OrderRef("LBRT-2-t"), 50, "8.20", "0.50")

    book.to(at(D2, 11, 30))
    approval = ledger.request_approval(D2, VMD, "rescan: enter VMD at confidence 0.75")
    book.to(at(D2, 11, 35))
    ledger.decide_approval(approval.approval_id, False, "alice")
    book.to(at(D2, 11, 36))
    ledger.append_event("SKIPPED", "rescan entry rejected by alice", symbol=VMD)

    book.to(at(D2, 15, 45))
    ledger.start_exit(prme, ExitReason.FLATTEN)
    book.order(prme, "PRME-2-f", OrderRole.FLATTEN, 100, owner="exit-manager")
    ledger.update_order(OrderRef("PRME-2-f"), OrderStatus.REJECTED, reason="no liquidity")
    ledger.abort_exit(prme, "flatten rejected: no liquidity")


def day_three_and_four(book: Book) -> None:
    ledger = book.ledger
    book.scan(at(D3, 8, 30), ["AMD"], {"VMD": "gap -4.00% outside -1%..8%"})
    prme = book.ids[f"PRME@{D2}"]
    amd = book.plan(at(D4, 8, 45), D4, "AMD", 10)
    book.to(at(D4, 9, 28))
    amd_e = moo(book, amd, "AMD-4", 10)
    book.fill(at(D4, 9, 30), D4, amd_e, 10, "100.00", "1.00")
    book.to(at(D4, 9, 31))
    ledger.start_exit(prme, ExitReason.FLATTEN)
    flat = book.order(prme, "PRME-4-f", OrderRole.FLATTEN, 100, owner="exit-manager")
    book.fill(at(D4, 9, 31, 30), D4, flat, 100, "5.10", "1.00")
    book.to(at(D4, 9, 32))
    book.order(amd, "AMD-4-s", OrderRole.STOP, 10, OrderType.STOP, stop="99.00")
    book.fill(at(D4, 11, 15), D4, OrderRef("AMD-4-s"), 10, "99.00", "1.00")

    book.to(at(D4, 12, 0))
    released = ledger.adopt(VMD, Quantity(182), Price(Decimal("6.50")), "SKYX-style holding", D4)
    book.ids[f"VMD@{D4}"] = released.position_id or 0
    book.to(at(D4, 12, 5))
    ledger.release(VMD, "long-term holding: not ours to trade")


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Book]:
    clock = ManualClock(at(D1, 8, 0))
    ledger = SqliteLedger.open(
        tmp_path_factory.mktemp("reports") / "ledger.sqlite", clock, process="test", durable=False
    )
    built = Book(ledger, clock)
    day_one(built)
    day_two(built)
    day_three_and_four(built)
    yield built
    ledger.close()


# --- P&L -------------------------------------------------------------------------------------


def test_trades_count_on_their_closed_day_with_realized_pnl_net_of_commissions(
    book: Book,
) -> None:
    report = pnl_report(book.ledger, [D4, D3, D2, D1, D1])
    rows = trade_rows(report)
    assert all(tuple(r) == TRADE_COLUMNS for r in rows)
    assert [(r["day"], r["symbol"], r["role"], r["pnl"]) for r in rows] == [
        ("2025-10-29", "WULF", "MASTER", "26.00"),
        ("2025-10-29", "VMD", "MASTER", "12.00"),
        ("2025-10-29", "BYND", "MASTER", "-12.00"),
        ("2025-10-29", "RCAT", "MASTER", "7.85"),
        ("2025-10-30", "VMD", "ADOPTED", "-53.00"),
        ("2025-10-30", "LBRT", "MASTER", "9.00"),
        # opened 10-30, closed 11-03: it counts on 11-03, in November
        ("2025-11-03", "PRME", "MASTER", "8.00"),
        ("2025-11-03", "AMD", "MASTER", "-12.00"),
    ]
    rcat = rows[3]
    assert (rcat["shares"], rcat["entry_price"], rcat["exit_price"]) == (
        "200",
        "11.0450",
        "11.0960",
    )
    assert (rcat["commissions"], rcat["exit_reason"], rcat["held_minutes"]) == (
        "2.35",
        "FLATTEN",
        "374.0",  # 09:31:05 -> 15:45:02
    )
    assert rows[0]["held_minutes"] == "35.0" and rows[0]["exit_reason"] == "TARGET"
    assert rows[4]["entry_price"] == "6.8000" and rows[4]["exit_reason"] == "STOP"
    prme = rows[6]
    assert (prme["entry_day"], prme["held_minutes"]) == ("2025-10-30", "5821.5")
    assert {r["unpriced_fills"] for r in rows} == {"0"}  # BYND's commission came later
    # exact Decimals underneath: the P&L is the ledger's own realized P&L
    assert report.trades[3].pnl == Decimal("7.85")
    assert report.trades[3].pnl == report.trades[3].position.realized_pnl.amount


def test_summary_daily_and_monthly_totals(book: Book) -> None:
    report = pnl_report(book.ledger, DAYS)
    assert summary_rows(report) == [
        {
            "trades": "8",
            "winners": "5",
            "losers": "3",
            "win_rate_pct": "62.5",
            "total_pnl": "-14.15",
            "average_win": "12.57",
            "average_loss": "-25.67",
            "best": "26.00 WULF 2025-10-29",
            "worst": "-53.00 VMD 2025-10-30",
            "commissions": "13.35",
        }
    ]
    assert tuple(summary_rows(report)[0]) == SUMMARY_COLUMNS
    assert report.summary.totals.pnl == Decimal("-14.15")
    assert report.summary.average_loss == Decimal(-77) / 3
    assert daily_rows(report) == [
        {"day": "2025-10-29", "trades": "4", "winners": "3", "losers": "1", "pnl": "33.85",
         "commissions": "7.35", "cumulative_pnl": "33.85"},
        {"day": "2025-10-30", "trades": "2", "winners": "1", "losers": "1", "pnl": "-44.00",
         "commissions": "2.00", "cumulative_pnl": "-10.15"},
        {"day": "2025-10-31", "trades": "0", "winners": "0", "losers": "0", "pnl": "0.00",
         "commissions": "0.00", "cumulative_pnl": "-10.15"},
        {"day": "2025-11-03", "trades": "2", "winners": "1", "losers": "1", "pnl": "-4.00",
         "commissions": "4.00", "cumulative_pnl": "-14.15"},
    ]  # fmt: skip
    assert all(tuple(r) == DAILY_COLUMNS for r in daily_rows(report))
    assert monthly_rows(report) == [
        {"month": "2025-10", "days": "3", "trades": "6", "winners": "4", "losers": "2",
         "pnl": "-10.15", "commissions": "9.35"},
        {"month": "2025-11", "days": "1", "trades": "2", "winners": "1", "losers": "1",
         "pnl": "-4.00", "commissions": "4.00"},
    ]  # fmt: skip
    assert all(tuple(r) == MONTHLY_COLUMNS for r in monthly_rows(report))


def test_a_range_without_trades_reports_zeros_and_no_averages(book: Book) -> None:
    report = pnl_report(book.ledger, [D3])
    assert trade_rows(report) == []
    summary = summary_rows(report)[0]
    assert (summary["trades"], summary["win_rate_pct"], summary["total_pnl"]) == ("0", "-", "0.00")
    assert (summary["average_win"], summary["best"], summary["worst"]) == ("-", "-", "-")
    assert daily_rows(report)[0]["pnl"] == "0.00"


# --- fills -----------------------------------------------------------------------------------


def assert_trips_match_the_ledger(report: FillsReport) -> None:
    """Every closed position's round trips add up to its realized P&L, exactly."""
    for position in report.positions:
        if position.state is PositionState.CLOSED:
            trips = report.trips_of(position.position_id or 0)
            net = sum((t.net for t in trips), Decimal(0))
            assert net == position.realized_pnl.amount, position.symbol


def test_the_days_executions_grouped_by_symbol_with_their_order_roles(book: Book) -> None:
    report = fills_report(book.ledger, D1)
    rows = fill_rows(report)
    assert all(tuple(r) == FILL_COLUMNS for r in rows)
    assert [(r["symbol"], r["time"], r["side"], r["quantity"], r["role"]) for r in rows] == [
        ("BYND", "09:30:00", "BUY", "500", "ENTRY"),
        ("BYND", "10:40:00", "SELL", "500", "STOP"),
        ("RCAT", "09:31:05", "BUY", "150", "ENTRY"),
        ("RCAT", "09:33:10", "BUY", "50", "ENTRY"),
        ("RCAT", "15:45:01", "SELL", "120", "FLATTEN"),
        ("RCAT", "15:45:02", "SELL", "80", "FLATTEN"),
        ("VMD", "09:30:00", "BUY", "100", "ENTRY"),
        ("VMD", "10:12:00", "SELL", "100", "TARGET"),
        ("WULF", "09:30:00", "BUY", "100", "ENTRY"),
        ("WULF", "10:05:00", "SELL", "100", "TARGET"),
    ]
    assert rows[1] == {
        "time": "10:40:00",
        "symbol": "BYND",
        "side": "SELL",
        "quantity": "500",
        "price": "2.02",
        "commission": "1.00",  # reported after the fill, attached to it
        "role": "STOP",
        "order_ref": "BYND-1-s",
        "execution_id": "BYND-1-s.1.01",
        "position": str(book.ids[f"BYND@{D1}"]),
    }
    # BBAR was planned and abandoned: a position of the day without executions
    assert "BBAR" in {p.symbol.value for p in report.positions}
    symbols = {r["symbol"]: r for r in symbol_rows(report)}
    assert all(tuple(r) == SYMBOL_COLUMNS for r in symbols.values())
    assert symbols["BBAR"] == {
        "symbol": "BBAR", "fills": "0", "bought": "0", "sold": "0", "commissions": "0.00",
        "cash_pnl": "0.00", "realized_pnl": "0.00", "states": "ABANDONED",
    }  # fmt: skip
    assert symbols["RCAT"]["cash_pnl"] == symbols["RCAT"]["realized_pnl"] == "7.85"


def test_round_trips_match_buys_and_sells_first_in_first_out(book: Book) -> None:
    report = fills_report(book.ledger, D1)
    rows = [r for r in round_trip_rows(report) if r["symbol"] == "RCAT"]
    assert all(tuple(r) == ROUND_TRIP_COLUMNS for r in rows)
    assert [
        (r["shares"], r["entry_price"], r["exit_price"], r["gross"], r["commissions"], r["net"])
        for r in rows
    ] == [
        # 150 @ 11.04 (commission 1.00) and 50 @ 11.06 (0.35) sold as 120 @ 11.10 (0.60) and
        # 80 @ 11.09 (0.40): commissions split by shares
        ("120", "11.0400", "11.1000", "7.20", "1.40", "5.80"),
        ("30", "11.0400", "11.0900", "1.50", "0.35", "1.15"),
        ("50", "11.0600", "11.0900", "1.50", "0.60", "0.90"),
    ]
    assert [(r["entry_time"], r["exit_time"], r["exit_role"]) for r in rows] == [
        ("09:31:05", "15:45:01", "FLATTEN"),
        ("09:31:05", "15:45:02", "FLATTEN"),
        ("09:33:10", "15:45:02", "FLATTEN"),
    ]
    assert_trips_match_the_ledger(report)
    rcat = book.ledger.fills(book.ids[f"RCAT@{D1}"])
    assert pnl_from_fills(rcat) == Decimal("7.85")
    nets = {r["symbol"]: r["net"] for r in round_trip_rows(report) if r["symbol"] != "RCAT"}
    assert nets == {"BYND": "-12.00", "VMD": "12.00", "WULF": "26.00"}


def test_an_adopted_position_trips_from_its_stated_price_and_an_overnight_one_shows_dates(
    book: Book,
) -> None:
    report = fills_report(book.ledger, D2)
    trips = {r["symbol"]: r for r in round_trip_rows(report)}
    assert trips["VMD"] == {
        "symbol": "VMD",
        "position": str(book.ids[f"VMD@{D2}"]),
        "shares": "200",
        "entry": "ADOPTED",  # no buy in the ledger: the shares were adopted at 6.80
        "entry_time": "08:40:00",
        "entry_price": "6.8000",
        "exit_time": "10:20:01",
        "exit_price": "6.5400",
        "exit_role": "STOP",
        "gross": "-52.00",
        "commissions": "1.00",
        "net": "-53.00",
    }
    assert (trips["PRME"]["entry_time"], trips["PRME"]["exit_time"]) == (
        "09:30:00",
        "2025-11-03 09:31:30",
    )
    assert_trips_match_the_ledger(report)
    # the adopted VMD sold shares it never bought: its cash flow is no P&L
    by_symbol = {r["symbol"]: (r["cash_pnl"], r["realized_pnl"]) for r in symbol_rows(report)}
    assert by_symbol == {
        "LBRT": ("9.00", "9.00"),
        "PRME": ("8.00", "8.00"),
        "VMD": ("-", "-53.00"),
    }

    later = fills_report(book.ledger, D4)
    # PRME closed on 11-03 is listed there once, with its 10-30 entry dated
    prme = [r for r in fill_rows(later) if r["symbol"] == "PRME"]
    assert [(r["time"], r["role"]) for r in prme] == [
        ("2025-10-30 09:30:00", "ENTRY"),
        ("09:31:30", "FLATTEN"),
    ]
    assert sorted({p.symbol.value for p in later.positions}) == ["AMD", "PRME", "VMD"]
    assert_trips_match_the_ledger(later)
    assert {r["symbol"]: r["states"] for r in symbol_rows(later)}["VMD"] == "RELEASED"


def test_pnl_from_fills_is_cash_in_minus_cash_out_minus_commissions(book: Book) -> None:
    wulf = book.ledger.fills(book.ids[f"WULF@{D1}"])
    assert pnl_from_fills(wulf) == Decimal("1564.00") - Decimal("1536.00") - Decimal("2.00")
    assert pnl_from_fills([]) == Decimal(0)


# --- history ---------------------------------------------------------------------------------


def test_history_tells_which_vmd_shares_openbell_owned_and_why_it_sold_them(book: Book) -> None:
    history = symbol_history(book.ledger, VMD)
    rows = history_rows(history)
    assert all(tuple(r) == COLUMNS for r in rows)
    seen = [(r["new_york"], r["kind"]) for r in rows]
    assert seen == [
        ("2025-10-29 08:30:00", "LLM_CALL"),
        ("2025-10-29 08:30:00", "SCORE"),
        ("2025-10-29 08:30:00", "SCAN_KEPT"),
        ("2025-10-29 08:31:00", "PLANNED"),
        ("2025-10-29 09:28:00", "ORDER"),
        ("2025-10-29 09:28:00", "ORDER_STATUS"),
        ("2025-10-29 09:30:00", "ENTRY_FILL"),
        ("2025-10-29 09:30:00", "OPENED"),
        ("2025-10-29 09:30:30", "EXIT_PRICES"),
        ("2025-10-29 09:30:30", "ORDER"),
        ("2025-10-29 09:30:30", "ORDER_STATUS"),
        ("2025-10-29 09:30:30", "ORDER"),
        ("2025-10-29 09:30:30", "ORDER_STATUS"),
        ("2025-10-29 10:12:00", "TARGET_FILL"),
        ("2025-10-29 10:12:00", "CLOSED"),
        ("2025-10-29 10:12:00", "ORDER_STATUS"),
        ("2025-10-30 08:30:00", "SCAN_DROPPED"),
        ("2025-10-30 08:40:00", "ADOPTED"),
        ("2025-10-30 08:41:00", "EXIT_PRICES"),
        ("2025-10-30 10:20:00", "EXITING"),
        ("2025-10-30 10:20:00", "ORDER"),
        ("2025-10-30 10:20:00", "ORDER_STATUS"),
        ("2025-10-30 10:20:01", "STOP_FILL"),
        ("2025-10-30 10:20:01", "CLOSED"),
        ("2025-10-30 11:30:00", "APPROVAL_REQUESTED"),
        ("2025-10-30 11:35:00", "APPROVAL_REJECTED"),
        ("2025-10-30 11:36:00", "SKIPPED"),
        ("2025-10-31 08:30:00", "SCAN_DROPPED"),
        ("2025-11-03 12:00:00", "ADOPTED"),
        ("2025-11-03 12:05:00", "RELEASED"),
    ]
    detail = {(r["new_york"], r["kind"]): r["detail"] for r in rows}
    assert detail[("2025-10-29 08:30:00", "LLM_CALL")] == (
        "deepseek:deepseek-chat SCORED confidence 0.80: earnings gap on volume "
        "[prompt v1, 960 tokens]"
    )
    assert detail[("2025-10-29 08:30:00", "SCORE")] == (
        "deepseek:deepseek-chat: confidence 0.80, VMD gap on volume"
    )
    assert detail[("2025-10-29 08:30:00", "SCAN_KEPT")] == "morning scan: kept, #2 of 5 kept"
    # the shares of 10-29 were openbell's own: bought by its entry and sold by its target
    assert detail[("2025-10-29 09:30:00", "ENTRY_FILL")] == (
        "BUY 100 @ 7.00 (VMD-1-e, execution VMD-1-e.1.01, commission 0.50); the position holds 100"
    )
    assert detail[("2025-10-29 10:12:00", "CLOSED")] == (
        "TARGET: sold 100 @ avg 7.1300; realized P&L 12.00 after 1.00 commissions"
    )
    # the 200 of 10-30 were never bought by openbell: an outside holding adopted by hand,
    # then sold by the exit manager's stop - the brief's VMD mistake, told by the ledger
    assert detail[("2025-10-30 08:40:00", "ADOPTED")] == (
        "adopted 200 @ 6.80: manual add by add_vmd_to_database.py"
    )
    assert detail[("2025-10-30 10:20:00", "EXITING")] == "STOP"
    assert detail[("2025-10-30 10:20:00", "ORDER")].startswith(
        "STOP SELL 200 MARKET/DAY by exit-manager (VMD-2-x); now FILLED, 200 filled"
    )
    assert detail[("2025-10-30 10:20:01", "STOP_FILL")].endswith("; the position holds 0")
    assert detail[("2025-10-30 10:20:01", "CLOSED")] == (
        "STOP: sold 200 @ avg 6.5400; realized P&L -53.00 after 1.00 commissions"
    )
    assert detail[("2025-10-30 11:35:00", "APPROVAL_REJECTED")] == (
        "rescan: enter VMD at confidence 0.75 (decided by alice)"
    )
    assert detail[("2025-10-31 08:30:00", "SCAN_DROPPED")] == (
        "morning scan: dropped, gap -4.00% outside -1%..8%"
    )
    assert detail[("2025-11-03 12:05:00", "RELEASED")] == (
        "released 182 shares: long-term holding: not ours to trade"
    )

    # what openbell sold is exactly what its positions held: 100 it bought, 200 adopted;
    # so 200 of the account's outside VMD shares were sold, the 182 released were not
    def shares(kind: str) -> list[int]:
        return [int(r["detail"].split()[1]) for r in rows if r["kind"] == kind]

    bought, adopted = shares("ENTRY_FILL"), shares("ADOPTED")
    sold = shares("TARGET_FILL") + shares("STOP_FILL")
    assert (bought, adopted, sold, shares("RELEASED")) == ([100], [200, 182], [100, 200], [182])
    outside_sold = sum(sold) - sum(bought)
    assert outside_sold == adopted[0] == 200
    assert ACCOUNT_VMD_SHARES - outside_sold == 482
    assert rows[0]["at"] == "2025-10-29T12:30:00+00:00"
    assert rows[6]["at"] == "2025-10-29T13:30:00+00:00"  # a fill's instant, in UTC too
    assert all(row.at.tzinfo is not None for row in history)


def test_history_of_chosen_days_only(book: Book) -> None:
    rows = history_rows(symbol_history(book.ledger, VMD, [D2]))
    assert {r["new_york"][:10] for r in rows} == {"2025-10-30"}
    assert [r["kind"] for r in rows][:2] == ["SCAN_DROPPED", "ADOPTED"]
    assert [r["kind"] for r in rows][-3:] == [
        "APPROVAL_REQUESTED",
        "APPROVAL_REJECTED",
        "SKIPPED",
    ]
    assert symbol_history(book.ledger, Symbol("NONE"), None) == []


def test_history_of_a_partial_entry_and_a_flatten(book: Book) -> None:
    rows = history_rows(symbol_history(book.ledger, Symbol("RCAT")))
    fills = [(r["kind"], r["detail"].rsplit("holds ", 1)[1]) for r in rows if "FILL" in r["kind"]]
    assert fills == [
        ("ENTRY_FILL", "150"),
        ("ENTRY_FILL", "200"),
        ("FLATTEN_FILL", "80"),
        ("FLATTEN_FILL", "0"),
    ]
    kinds = [r["kind"] for r in rows]
    assert kinds.count("ORDER") == 4 and "EXITING" in kinds and kinds[-1] == "CLOSED"
    entry = next(r["detail"] for r in rows if r["kind"] == "ORDER")
    assert entry == (
        "ENTRY BUY 300 LIMIT/DAY limit 11.06 by day-trader (RCAT-1-e); "
        "now CANCELLED, 200 filled (the rest did not fill)"
    )
