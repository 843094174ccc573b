"""The Ledger port's contract, run against every implementation."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import pytest

from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.adapters.sqlite.schema import _V1, APPLICATION_ID, LATEST_VERSION
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
from openbell.domain.errors import (
    Conflict,
    IllegalTransition,
    InvalidValue,
    NotFound,
    Oversell,
    ProtectedSymbol,
)
from openbell.domain.orders import Fill, OrderIntent
from openbell.domain.positions import Position
from openbell.domain.records import EventDraft, LlmCallDraft, LlmUsage, ScoreDraft
from openbell.domain.values import Confidence, Money, OrderRef, Price, Quantity, Symbol
from openbell.ports import Ledger

DAY = date(2025, 10, 29)
NEXT_DAY = date(2025, 10, 30)
START = datetime(2025, 10, 29, 12, 0, tzinfo=UTC)
SKYX = Symbol("SKYX")


class LedgerFactory(Protocol):
    """Open the ledger under test; each call is another process sharing the same ledger."""

    def __call__(self, clock: ManualClock, process: str = "test") -> Ledger: ...


def _sqlite(tmp_path: Path) -> LedgerFactory:
    def build(clock: ManualClock, process: str = "test") -> Ledger:
        return SqliteLedger.open(
            tmp_path / "ledger.sqlite", clock, process=process, protected_symbols=frozenset({SKYX})
        )

    return build


@pytest.fixture(params=["sqlite"])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> LedgerFactory:
    return {"sqlite": _sqlite}[request.param](tmp_path)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def ledger(factory: LedgerFactory, clock: ManualClock) -> Iterator[Ledger]:
    built = factory(clock)
    yield built
    built.close()


def px(raw: str) -> Price:
    return Price(Decimal(raw))


def plan(ledger: Ledger, symbol: str = "WULF", qty: int = 100) -> Position:
    return ledger.plan_position(
        Position(
            DAY,
            Symbol(symbol),
            PositionRole.MASTER,
            Quantity(qty),
            confidence=Confidence(Decimal("0.86")),
            target_pct=Decimal("2.6"),
            stop_loss_pct=Decimal("0.9"),
            metadata={"atr_pct": "4.1"},
        )
    )


def moo(position: Position, ref: str = "e1") -> OrderIntent:
    return OrderIntent(
        OrderRef(ref),
        position.symbol,
        Side.BUY,
        position.planned_quantity,
        OrderType.MARKET,
        TimeInForce.AT_THE_OPEN,
        OrderRole.ENTRY,
    )


def sell(
    position: Position,
    ref: str,
    qty: int,
    role: OrderRole = OrderRole.TARGET,
    oca: str | None = None,
) -> OrderIntent:
    stop = role is OrderRole.STOP
    return OrderIntent(
        OrderRef(ref),
        position.symbol,
        Side.SELL,
        Quantity(qty),
        OrderType.STOP if stop else OrderType.LIMIT,
        TimeInForce.DAY,
        role,
        limit_price=None if stop else px("15.58"),
        stop_price=px("15.05") if stop else None,
        oca_group=oca,
    )


def fill(
    ref: str,
    exec_id: str,
    symbol: str,
    side: Side,
    qty: int,
    price: str,
    at: datetime = START,
    commission: str | None = "1.00",
) -> Fill:
    return Fill(
        exec_id,
        OrderRef(ref),
        Symbol(symbol),
        side,
        Quantity(qty),
        px(price),
        at,
        None if commission is None else Money(Decimal(commission)),
    )


def opened(ledger: Ledger, symbol: str = "WULF", qty: int = 100, price: str = "15.19") -> Position:
    position = plan(ledger, symbol, qty)
    pid = position.position_id or 0
    ledger.record_order(pid, moo(position, f"{symbol}-entry"), "day-trader")
    return ledger.record_entry_fill(
        fill(f"{symbol}-entry", f"{symbol}-x1", symbol, Side.BUY, qty, price)
    )


class TestPositions:
    def test_plan_assigns_an_id_and_keeps_the_facts(self, ledger: Ledger) -> None:
        position = plan(ledger)
        assert position.position_id is not None
        stored = ledger.position(position.position_id)
        assert stored.state is PositionState.PLANNED
        assert stored.confidence == Confidence(Decimal("0.86"))
        assert stored.target_pct == Decimal("2.6")
        assert dict(stored.metadata) == {"atr_pct": "4.1"}
        assert not ledger.is_active(Symbol("WULF"))

    def test_only_planned_new_positions_can_be_planned(self, ledger: Ledger) -> None:
        with pytest.raises(InvalidValue):
            ledger.plan_position(plan(ledger, "RCAT"))

    def test_one_live_position_per_symbol(self, ledger: Ledger) -> None:
        plan(ledger)
        with pytest.raises(Conflict, match="expected no live position"):
            plan(ledger)

    def test_open_after_entry_fill_then_close_after_exit_fill(
        self, ledger: Ledger, clock: ManualClock
    ) -> None:
        position = opened(ledger)
        assert position.state is PositionState.OPEN
        assert ledger.is_active(Symbol("WULF"))
        assert [p.symbol for p in ledger.positions_of_day(DAY)] == [Symbol("WULF")]
        pid = position.position_id or 0
        ledger.set_exit_prices(pid, px("15.58"), px("15.05"))
        ledger.record_order(pid, sell(position, "t1", 100), "exit-manager")
        clock.advance(timedelta(minutes=20))
        closed = ledger.record_exit_fill(fill("t1", "t1-x1", "WULF", Side.SELL, 100, "15.58"), DAY)
        assert closed.state is PositionState.CLOSED
        assert closed.exit_reason is ExitReason.TARGET
        assert closed.realized_pnl == Money(Decimal("37.00"))
        assert not ledger.is_active(Symbol("WULF"))
        assert ledger.was_closed_on(Symbol("WULF"), DAY)
        assert not ledger.was_closed_on(Symbol("WULF"), NEXT_DAY)  # keyed by day: no clearing
        assert [p.position_id for p in ledger.closed_positions(DAY)] == [pid]
        assert ledger.closed_positions(NEXT_DAY) == []
        assert ledger.active_positions() == []
        assert [o.status for o in ledger.orders(pid)] == [OrderStatus.FILLED, OrderStatus.FILLED]
        with pytest.raises(Conflict, match="no re-entry"):  # closed today: no second entry
            plan(ledger)
        assert ledger.positions_of_day(DAY)[-1].position_id == pid
        refused = [e for e in ledger.events(limit=1000) if e.kind == "REFUSED"]
        assert refused and "no re-entry" in refused[-1].message

    def test_recording_the_same_fill_twice_is_a_no_op(self, ledger: Ledger) -> None:
        position = opened(ledger)
        again = ledger.record_entry_fill(
            fill("WULF-entry", "WULF-x1", "WULF", Side.BUY, 100, "15.19")
        )
        assert again.held_quantity == 100 == position.held_quantity
        assert len(ledger.fills(position.position_id)) == 1
        assert ledger.order(OrderRef("WULF-entry")).filled_quantity == 100

    def test_the_ledger_never_sells_more_than_the_position_holds(self, ledger: Ledger) -> None:
        # The account may also hold WULF (a long-term holding); only the ledger's 100 count.
        position = opened(ledger)
        pid = position.position_id or 0
        with pytest.raises(Conflict, match="at most the 100"):
            ledger.record_order(pid, sell(position, "big", 150), "exit-manager")
        # A target and a stop for all 100 shares are fine in one OCA group: one cancels the other.
        ledger.record_order(pid, sell(position, "t1", 100, oca="bracket-1"), "exit-manager")
        ledger.record_order(
            pid, sell(position, "s1", 100, OrderRole.STOP, "bracket-1"), "exit-manager"
        )
        ledger.record_exit_fill(fill("t1", "t1-x1", "WULF", Side.SELL, 60, "15.58"), DAY)
        with pytest.raises(Oversell):
            ledger.record_exit_fill(fill("s1", "s1-x1", "WULF", Side.SELL, 41, "15.05"), DAY)
        assert ledger.position(pid).held_quantity == 40
        assert len(ledger.fills(pid)) == 2  # the refused fill left nothing behind

    def test_working_exits_outside_one_oca_group_cannot_cover_more_than_is_held(
        self, ledger: Ledger
    ) -> None:
        position = opened(ledger)
        pid = position.position_id or 0
        ledger.record_order(pid, sell(position, "t1", 100, oca="bracket-1"), "exit-manager")
        ledger.record_order(
            pid, sell(position, "s1", 100, OrderRole.STOP, "bracket-1"), "exit-manager"
        )
        flatten = sell(position, "f1", 100, OrderRole.FLATTEN)
        with pytest.raises(Conflict, match="exit orders for 200 shares"):
            ledger.record_order(pid, flatten, "exit-manager")
        ledger.update_order(OrderRef("t1"), OrderStatus.CANCELLED)
        with pytest.raises(Conflict):  # the stop still covers all 100
            ledger.record_order(pid, flatten, "exit-manager")
        ledger.update_order(OrderRef("s1"), OrderStatus.CANCELLED)
        assert ledger.record_order(pid, flatten, "exit-manager").oca_group is None

    def test_a_partly_filled_exit_counts_only_its_remainder(self, ledger: Ledger) -> None:
        position = opened(ledger)
        pid = position.position_id or 0
        ledger.record_order(pid, sell(position, "t1", 60), "exit-manager")
        ledger.record_exit_fill(fill("t1", "t1-x1", "WULF", Side.SELL, 20, "15.58"), DAY)
        # 80 held; t1 may still sell 40, so 40 more can go out separately, not 41.
        with pytest.raises(Conflict):
            ledger.record_order(pid, sell(position, "t2", 41), "exit-manager")
        assert ledger.record_order(pid, sell(position, "t2", 40), "exit-manager").quantity == (
            Quantity(40)
        )

    def test_partial_entry_then_remainder_cancelled(self, ledger: Ledger) -> None:
        position = plan(ledger, qty=300)
        pid = position.position_id or 0
        ledger.record_order(pid, moo(position), "day-trader")
        ledger.record_entry_fill(fill("e1", "x1", "WULF", Side.BUY, 120, "10.00"))
        order = ledger.update_order(
            OrderRef("e1"), OrderStatus.CANCELLED, reason="auction remainder"
        )
        assert order.status is OrderStatus.CANCELLED
        assert ledger.position(pid).state is PositionState.OPEN
        assert ledger.position(pid).held_quantity == 120

    def test_an_entry_rejected_unfilled_abandons_the_position(self, ledger: Ledger) -> None:
        position = plan(ledger)
        pid = position.position_id or 0
        ledger.record_order(pid, moo(position), "day-trader")
        ledger.update_order(OrderRef("e1"), OrderStatus.SUBMITTED, broker_order_id=7, perm_id=99)
        order = ledger.update_order(
            OrderRef("e1"), OrderStatus.REJECTED, reason="201 Exchange is closed."
        )
        assert (order.broker_order_id, order.perm_id) == (7, 99)
        assert order.status_reason == "201 Exchange is closed."
        assert ledger.position(pid).state is PositionState.ABANDONED
        plan(ledger)  # the symbol is free again

    def test_a_fill_after_a_cancel_is_kept_and_managed(self, ledger: Ledger) -> None:
        position = plan(ledger)
        pid = position.position_id or 0
        ledger.record_order(pid, moo(position), "day-trader")
        ledger.update_order(OrderRef("e1"), OrderStatus.CANCELLED)
        assert ledger.position(pid).state is PositionState.ABANDONED
        revived = ledger.record_entry_fill(fill("e1", "late", "WULF", Side.BUY, 100, "15.19"))
        assert revived.state is PositionState.OPEN
        assert ledger.order(OrderRef("e1")).filled_quantity == 100

    def test_a_late_fill_after_the_sale_reopens_the_closed_position(self, ledger: Ledger) -> None:
        # 60 of 100 fill at the open, the target sells them, then IB tells the other 40 (after
        # the entry's cancel): the shares are real, so the position is open again to manage them.
        position = plan(ledger)
        pid = position.position_id or 0
        ledger.record_order(pid, moo(position), "day-trader")
        ledger.record_entry_fill(fill("e1", "x1", "WULF", Side.BUY, 60, "15.00"))
        ledger.update_order(OrderRef("e1"), OrderStatus.CANCELLED)
        ledger.record_order(pid, sell(position, "t1", 60), "exit-manager")
        closed = ledger.record_exit_fill(fill("t1", "t1-x1", "WULF", Side.SELL, 60, "15.39"), DAY)
        assert closed.state is PositionState.CLOSED
        reopened = ledger.record_entry_fill(fill("e1", "x2", "WULF", Side.BUY, 40, "15.10"))
        assert (reopened.position_id, reopened.state, reopened.held_quantity) == (
            pid,
            PositionState.OPEN,
            40,
        )
        assert (reopened.closed_at, reopened.closed_day, reopened.exit_reason) == (None, None, None)
        assert [p.position_id for p in ledger.active_positions()] == [pid]
        revived = [e for e in ledger.events(limit=100) if e.kind == "LATE_FILL_REVIVES"]
        assert [(e.position_id, e.data["execution_id"], e.data["was"]) for e in revived] == [
            (pid, "x2", "CLOSED")
        ]
        ledger.record_order(pid, sell(position, "t2", 40), "exit-manager")
        done = ledger.record_exit_fill(fill("t2", "t2-x1", "WULF", Side.SELL, 40, "15.49"), DAY)
        assert done.state is PositionState.CLOSED
        # 60 x (15.39 - 15.00) + 40 x (15.49 - 15.10), less the fills' commissions
        gross = Decimal("60") * Decimal("0.39") + Decimal("40") * Decimal("0.39")
        assert done.realized_pnl.amount == gross - done.commissions

    def test_a_fill_beyond_the_order_or_a_correction_is_refused_and_kept_in_the_log(
        self, ledger: Ledger
    ) -> None:
        position = plan(ledger)
        pid = position.position_id or 0
        ledger.record_order(pid, moo(position), "day-trader")
        ledger.record_entry_fill(fill("e1", "0000e0d5.6575a5b1.01.01", "WULF", Side.BUY, 70, "15"))
        # IB's correction of that execution: only the digits after the last period differ
        with pytest.raises(InvalidValue, match="correction of the booked execution"):
            ledger.record_entry_fill(
                fill("e1", "0000e0d5.6575a5b1.01.02", "WULF", Side.BUY, 70, "15")
            )
        with pytest.raises(InvalidValue, match="at most the 30 shares the order has left"):
            ledger.record_entry_fill(
                fill("e1", "0000e0d5.6575a5b2.01.01", "WULF", Side.BUY, 31, "15")
            )
        assert ledger.position(pid).held_quantity == 70
        assert [f.execution_id for f in ledger.fills()] == ["0000e0d5.6575a5b1.01.01"]
        refused = [e.message for e in ledger.events(limit=100) if e.kind == "REFUSED"]
        assert len(refused) == 2
        assert all("BUY 70 WULF @ 15" in m or "BUY 31 WULF @ 15" in m for m in refused)
        last = ledger.record_entry_fill(
            fill("e1", "0000e0d5.6575a5b2.01.01", "WULF", Side.BUY, 30, "15")
        )
        assert last.held_quantity == 100  # another execution is booked as usual

    def test_a_late_fill_revives_its_position_over_a_newer_plan(self, ledger: Ledger) -> None:
        old = plan(ledger)
        old_id = old.position_id or 0
        ledger.record_order(old_id, moo(old, "old-entry"), "day-trader")
        ledger.update_order(OrderRef("old-entry"), OrderStatus.CANCELLED)
        newer = plan(ledger)  # nothing sent for it yet
        revived = ledger.record_entry_fill(fill("old-entry", "late", "WULF", Side.BUY, 100, "15"))
        assert revived.position_id == old_id
        assert revived.state is PositionState.OPEN
        assert ledger.position(newer.position_id or 0).state is PositionState.ABANDONED

    def test_a_late_fill_joins_a_newer_position_that_already_sent_its_entry(
        self, ledger: Ledger
    ) -> None:
        old = plan(ledger)
        ledger.record_order(old.position_id or 0, moo(old, "old-entry"), "day-trader")
        ledger.update_order(OrderRef("old-entry"), OrderStatus.CANCELLED)
        newer = plan(ledger, qty=50)
        newer_id = newer.position_id or 0
        ledger.record_order(newer_id, moo(newer, "new-entry"), "day-trader")
        booked = ledger.record_entry_fill(fill("old-entry", "late", "WULF", Side.BUY, 100, "15"))
        assert booked.position_id == newer_id
        assert booked.held_quantity == 100
        assert ledger.position(old.position_id or 0).state is PositionState.ABANDONED
        assert [f.position_id for f in ledger.fills()] == [newer_id]
        assert "LATE_FILL_MOVED" in [e.kind for e in ledger.events(limit=100)]
        again = ledger.record_entry_fill(fill("old-entry", "late", "WULF", Side.BUY, 100, "15"))
        assert again.held_quantity == 100  # still a no-op the second time

    def test_no_exit_order_for_a_position_that_holds_nothing(self, ledger: Ledger) -> None:
        position = plan(ledger)
        with pytest.raises(Conflict, match="OPEN or EXITING"):
            ledger.record_order(position.position_id or 0, sell(position, "x", 1), "exit-manager")
        adopted = ledger.adopt(Symbol("VMD"), Quantity(35), px("6.84"), "mine", DAY)
        ledger.release(Symbol("VMD"), "given back")
        with pytest.raises(Conflict, match="RELEASED"):
            ledger.record_order(adopted.position_id or 0, sell(adopted, "y", 35), "exit-manager")
        assert ledger.orders(adopted.position_id) == []

    def test_order_refs_are_unique_and_statuses_move_forward(self, ledger: Ledger) -> None:
        position = plan(ledger)
        pid = position.position_id or 0
        ledger.record_order(pid, moo(position), "day-trader")
        with pytest.raises(IllegalTransition):
            ledger.record_order(pid, moo(position, "e2"), "day-trader")
        ledger.update_order(OrderRef("e1"), OrderStatus.REJECTED)
        with pytest.raises(IllegalTransition):
            ledger.update_order(OrderRef("e1"), OrderStatus.SUBMITTED)
        other = plan(ledger)
        with pytest.raises(Conflict, match="already recorded"):
            ledger.record_order(other.position_id or 0, moo(other, "e1"), "day-trader")

    def test_orders_and_fills_must_match(self, ledger: Ledger) -> None:
        position = opened(ledger)
        pid = position.position_id or 0
        with pytest.raises(InvalidValue):
            ledger.record_order(pid, sell(opened(ledger, "RCAT"), "x", 1), "exit-manager")
        with pytest.raises(InvalidValue):  # an entry fill recorded as an exit
            ledger.record_exit_fill(fill("WULF-entry", "y", "WULF", Side.BUY, 1, "15"), DAY)
        with pytest.raises(InvalidValue):  # wrong symbol for the order
            ledger.record_entry_fill(fill("WULF-entry", "z", "RCAT", Side.BUY, 1, "15"))
        with pytest.raises(NotFound):
            ledger.record_entry_fill(fill("unknown", "w", "WULF", Side.BUY, 1, "15"))
        with pytest.raises(NotFound):
            ledger.position(999)
        with pytest.raises(NotFound):
            ledger.order(OrderRef("nope"))

    def test_commission_arriving_after_its_fill(self, ledger: Ledger) -> None:
        position = plan(ledger)
        pid = position.position_id or 0
        ledger.record_order(pid, moo(position), "day-trader")
        ledger.record_entry_fill(fill("e1", "x1", "WULF", Side.BUY, 100, "15", commission=None))
        ledger.record_commission("x1", Money(Decimal("0.35")))
        ledger.record_commission("x1", Money(Decimal("0.35")))  # repeated: no-op
        assert ledger.position(pid).realized_pnl == Money(Decimal("-0.35"))
        assert ledger.fills(pid)[0].commission == Money(Decimal("0.35"))
        with pytest.raises(NotFound):
            ledger.record_commission("nope", Money(Decimal(1)))

    def test_flatten_exit_and_abort(self, ledger: Ledger) -> None:
        position = opened(ledger)
        pid = position.position_id or 0
        assert ledger.start_exit(pid, ExitReason.KILL).state is PositionState.EXITING
        assert ledger.abort_exit(pid, "flatten rejected").state is PositionState.OPEN
        ledger.start_exit(pid, ExitReason.FLATTEN)
        ledger.record_order(pid, sell(position, "f1", 100, OrderRole.FLATTEN), "exit-manager")
        closed = ledger.record_exit_fill(fill("f1", "f1-x", "WULF", Side.SELL, 100, "15.00"), DAY)
        assert closed.exit_reason is ExitReason.FLATTEN

    def test_abandon_a_plan(self, ledger: Ledger) -> None:
        position = plan(ledger)
        assert (
            ledger.abandon(position.position_id or 0, "not in top 3").state
            is PositionState.ABANDONED
        )
        assert ledger.positions_of_day(DAY)[0].state is PositionState.ABANDONED


class TestProtection:
    def test_protected_symbols_are_never_opened_adopted_or_exited(self, ledger: Ledger) -> None:
        with pytest.raises(ProtectedSymbol):
            plan(ledger, "SKYX")
        with pytest.raises(ProtectedSymbol):
            ledger.adopt(SKYX, Quantity(182), px("1.20"), "mine", DAY)
        assert ledger.positions_of_day(DAY) == []
        kinds = [e.kind for e in ledger.events()]
        assert kinds == ["REFUSED", "REFUSED"]
        assert ledger.is_protected(SKYX) and not ledger.is_protected(Symbol("WULF"))

    def test_adopt_and_release_are_explicit_and_logged(self, ledger: Ledger) -> None:
        adopted = ledger.adopt(Symbol("VMD"), Quantity(35), px("6.84"), "user asked", DAY)
        assert adopted.state is PositionState.OPEN
        assert adopted.role is PositionRole.ADOPTED
        assert ledger.is_active(Symbol("VMD"))
        released = ledger.release(Symbol("VMD"), "user takes it back")
        assert released.state is PositionState.RELEASED
        assert not ledger.is_active(Symbol("VMD"))
        assert [e.kind for e in ledger.events()] == ["ADOPTED", "RELEASED"]

    def test_adopt_needs_a_reason_and_a_free_symbol(self, ledger: Ledger) -> None:
        with pytest.raises(InvalidValue):
            ledger.adopt(Symbol("VMD"), Quantity(35), px("6.84"), "  ", DAY)
        opened(ledger)
        with pytest.raises(Conflict):
            ledger.adopt(Symbol("WULF"), Quantity(10), px("15"), "dup", DAY)

    def test_release_refuses_unknown_symbols_and_working_orders(self, ledger: Ledger) -> None:
        with pytest.raises(NotFound):
            ledger.release(Symbol("NOPE"), "x")
        position = opened(ledger)
        ledger.record_order(position.position_id or 0, sell(position, "t1", 100), "exit-manager")
        with pytest.raises(Conflict, match="t1"):
            ledger.release(Symbol("WULF"), "x")


class TestJournal:
    def test_events_are_ordered_and_tail_from_an_id(self, ledger: Ledger) -> None:
        first = ledger.append_event("NOTE", "one", symbol=Symbol("WULF"), data={"k": 1})
        second = ledger.append_event("NOTE", "two", position_id=3)
        assert second.event_id > first.event_id
        assert first.symbol == Symbol("WULF") and dict(first.data) == {"k": 1}
        assert [e.message for e in ledger.events(after_id=first.event_id)] == ["two"]
        with pytest.raises(InvalidValue):
            ledger.events(limit=0)

    def test_scores_keep_inputs_and_outputs(self, ledger: Ledger) -> None:
        record = ledger.record_score(
            DAY,
            Symbol("WULF"),
            "rules",
            Confidence(Decimal("0.86")),
            {"gap_pct": 4.2},
            {"reason": "gap and volume"},
        )
        assert record.inputs == {"gap_pct": 4.2}
        assert [s.score_id for s in ledger.scores(DAY)] == [record.score_id]

    def test_llm_calls_are_journaled_whole_and_summed_per_day(
        self, ledger: Ledger, clock: ManualClock
    ) -> None:
        scored = LlmCallDraft(
            trading_day=DAY,
            symbol=Symbol("WULF"),
            provider="deepseek",
            model="deepseek-chat",
            prompt_version="v1",
            prompt_hash="ab" * 32,
            inputs={"gap_pct": "6.85"},
            outcome=LlmOutcome.SCORED,
            raw_answer='{"confidence": 0.86}',
            parsed={"confidence": 0.86, "direction": "long"},
            confidence=Confidence(Decimal("0.86")),
            latency_ms=420,
            prompt_tokens=900,
            completion_tokens=80,
            cost_usd=Decimal("0.000331"),
        )
        failed = LlmCallDraft(
            trading_day=DAY,
            symbol=Symbol("RCAT"),
            provider="deepseek",
            model="deepseek-chat",
            prompt_version="v1",
            prompt_hash="cd" * 32,
            inputs={},
            outcome=LlmOutcome.FAILED,
            reason="no answer within 20 s",
            latency_ms=20_000,
        )
        other_day = LlmCallDraft(
            trading_day=DAY + timedelta(days=1),
            symbol=Symbol("WULF"),
            provider="gemini",
            model="gemini-2.5-flash",
            prompt_version="v1",
            prompt_hash="ef" * 32,
            inputs={},
            outcome=LlmOutcome.INVALID,
            reason="expected JSON, found prose",
            raw_answer="I think WULF looks strong",
            prompt_tokens=10,
            completion_tokens=5,
            cost_usd=Decimal("0.01"),
        )
        records = [ledger.record_llm_call(c) for c in (scored, failed, other_day)]
        assert [r.call for r in records] == [scored, failed, other_day]
        assert records[0].called_at == clock.now()
        assert [r.call for r in ledger.llm_calls(DAY)] == [scored, failed]
        assert ledger.llm_usage(DAY) == LlmUsage(2, 980, Decimal("0.000331"))
        assert ledger.llm_usage(DAY + timedelta(days=2)) == LlmUsage()

    def test_scores_and_events_in_batches(self, ledger: Ledger) -> None:
        kept = ledger.record_scores(
            DAY,
            "rules",
            [
                ScoreDraft(Symbol("WULF"), Confidence(Decimal("0.86")), {"gap_pct": "4"}, {}),
                ScoreDraft(Symbol("RCAT"), Confidence(Decimal("0.5")), {}, {"reason": "flat"}),
            ],
        )
        assert kept == 2
        assert [(s.symbol.value, s.scorer) for s in ledger.scores(DAY)] == [
            ("WULF", "rules"),
            ("RCAT", "rules"),
        ]
        assert (
            ledger.append_events(
                [
                    EventDraft("SKIPPED", "ranked below", Symbol("RCAT")),
                    EventDraft("NOTE", "two", position_id=4),
                ]
            )
            == 2
        )
        assert [(e.kind, e.message) for e in ledger.events()] == [
            ("SKIPPED", "ranked below"),
            ("NOTE", "two"),
        ]

    def test_approvals_are_decided_once(self, ledger: Ledger) -> None:
        request = ledger.request_approval(DAY, Symbol("RCAT"), "rescan entry RCAT 100 shares")
        assert request.status == "PENDING"
        decided = ledger.decide_approval(request.approval_id, True, "alice")
        assert (decided.status, decided.decided_by) == ("APPROVED", "alice")
        with pytest.raises(Conflict):
            ledger.decide_approval(request.approval_id, False, "bob")
        with pytest.raises(NotFound):
            ledger.decide_approval(999, True, "bob")
        assert [a.status for a in ledger.approvals(DAY)] == ["APPROVED"]
        later = ledger.request_approval(NEXT_DAY, Symbol("BBAR"), "rescan entry BBAR")
        assert [a.approval_id for a in ledger.approvals()] == [
            request.approval_id,
            later.approval_id,
        ]
        assert ledger.approvals(pending_only=True) == [later]
        assert ledger.approvals(DAY, pending_only=True) == []
        assert ledger.approval(later.approval_id) == later
        with pytest.raises(NotFound):
            ledger.approval(999)

    def test_controls_and_heartbeats(self, ledger: Ledger, clock: ManualClock) -> None:
        assert ledger.controls() == {}
        ledger.set_control("kill_switch", True, "manual stop")
        ledger.set_control("kill_switch", False, "resume")
        control = ledger.controls()["kill_switch"]
        assert (control.enabled, control.reason, control.changed_by) == (False, "resume", "test")
        with pytest.raises(InvalidValue):
            ledger.set_control("self_destruct", True, "no")
        ledger.beat("scanning")
        clock.advance(timedelta(seconds=30))
        beat = ledger.beat("waiting", "for the open")
        assert [h.status for h in ledger.heartbeats()] == ["waiting"]
        assert beat.beat_at == START + timedelta(seconds=30)


class TestDaySteps:
    def test_a_step_is_marked_once_per_trading_day(
        self, ledger: Ledger, clock: ManualClock
    ) -> None:
        assert ledger.mark_step(DAY, "morning_plan", "3 entries planned")
        clock.advance(timedelta(minutes=5))
        assert not ledger.mark_step(DAY, "morning_plan", "again")
        assert ledger.mark_step(NEXT_DAY, "morning_plan")  # keyed by day: no clearing
        step = ledger.day_steps(DAY)["morning_plan"]
        assert (step.trading_day, step.process, step.done_at, step.detail) == (
            DAY,
            "test",
            START,
            "3 entries planned",
        )
        assert list(ledger.day_steps(NEXT_DAY)) == ["morning_plan"]
        assert ledger.day_steps(date(2025, 10, 31)) == {}
        assert [(e.kind, e.message) for e in ledger.events()] == [
            ("STEP", "morning_plan done: 3 entries planned"),
            ("STEP", "morning_plan done"),
        ]

    def test_another_process_sees_the_step_and_cannot_mark_it_again(
        self, ledger: Ledger, factory: LedgerFactory, clock: ManualClock
    ) -> None:
        planner = factory(clock, "planner")
        try:
            assert planner.mark_step(DAY, "smart_shutdown")
            assert not ledger.mark_step(DAY, "smart_shutdown")
            assert ledger.day_steps(DAY)["smart_shutdown"].process == "planner"
            assert ledger.mark_step(DAY, "approval:7.executed")
            assert set(planner.day_steps(DAY)) == {"smart_shutdown", "approval:7.executed"}
        finally:
            planner.close()

    @pytest.mark.parametrize("step", ["", "Morning", "morning plan", "morning/plan", "é", "x" * 65])
    def test_malformed_step_names_are_refused(self, ledger: Ledger, step: str) -> None:
        with pytest.raises(InvalidValue, match="day step"):
            ledger.mark_step(DAY, step)
        assert ledger.day_steps(DAY) == {}

    def test_a_detail_longer_than_2000_characters_is_refused(self, ledger: Ledger) -> None:
        assert ledger.mark_step(DAY, "x" * 64, "d" * 2000)
        with pytest.raises(InvalidValue, match="at most 2000"):
            ledger.mark_step(DAY, "eod", "d" * 2001)
        assert list(ledger.day_steps(DAY)) == ["x" * 64]


class TestOperatorRequests:
    def test_a_request_is_pending_until_finished_once(
        self, ledger: Ledger, factory: LedgerFactory, clock: ManualClock
    ) -> None:
        first = ledger.request_work("LIQUIDATE_MANAGED", "leaving early")
        second = ledger.request_work("LIQUIDATE_TODAY", "news on WULF")
        assert (first.status, first.requested_by, first.requested_at) == ("PENDING", "test", START)
        assert [r.request_id for r in ledger.pending_requests()] == [
            first.request_id,
            second.request_id,
        ]
        clock.advance(timedelta(minutes=1))
        trader = factory(clock, "day-trader")
        try:
            done = trader.finish_request(first.request_id, True, "3 positions flattened")
        finally:
            trader.close()
        assert ledger.operator_request(first.request_id) == done
        assert (done.status, done.finished_by, done.finished_at, done.outcome) == (
            "DONE",
            "day-trader",
            START + timedelta(minutes=1),
            "3 positions flattened",
        )
        failed = ledger.finish_request(second.request_id, False, "gateway down")
        assert failed.status == "FAILED"
        assert ledger.pending_requests() == []

    def test_a_request_cannot_be_finished_twice(self, ledger: Ledger) -> None:
        request = ledger.request_work("LIQUIDATE_TODAY", "stop for the day")
        ledger.finish_request(request.request_id, False, "gateway down")
        with pytest.raises(Conflict, match="expected PENDING, found FAILED"):
            ledger.finish_request(request.request_id, True, "retried")
        kept = ledger.operator_request(request.request_id)
        assert (kept.status, kept.outcome) == ("FAILED", "gateway down")
        with pytest.raises(NotFound):
            ledger.operator_request(999)
        with pytest.raises(NotFound):
            ledger.finish_request(999, True, "nothing")

    def test_unknown_kinds_are_refused(self, ledger: Ledger) -> None:
        with pytest.raises(InvalidValue, match="LIQUIDATE_MANAGED or LIQUIDATE_TODAY"):
            ledger.request_work("SELL_EVERYTHING", "panic")
        assert ledger.pending_requests() == []

    def test_requests_and_their_outcomes_are_logged(self, ledger: Ledger) -> None:
        request = ledger.request_work("LIQUIDATE_MANAGED", "leaving early")
        ledger.finish_request(request.request_id, True, "flattened")
        with pytest.raises(Conflict):
            ledger.finish_request(request.request_id, True, "again")
        events = ledger.events()
        assert [(e.kind, e.message) for e in events] == [
            ("REQUESTED", "LIQUIDATE_MANAGED: leaving early"),
            ("REQUEST_DONE", "LIQUIDATE_MANAGED: flattened"),
            ("REFUSED", f"request {request.request_id}: expected PENDING, found DONE"),
        ]
        assert {e.data["request_id"] for e in events[:2]} == {request.request_id}


class TestSqliteLedgerFile:
    """What only the SQLite ledger has: batches and a schema migrated on open."""

    def test_a_step_marked_in_a_failed_batch_is_undone_with_it(self, tmp_path: Path) -> None:
        ledger = SqliteLedger.open(tmp_path / "ledger.sqlite", ManualClock(START), process="test")

        def plan_the_morning_then_fail() -> None:
            with ledger.batch():
                plan(ledger)
                assert ledger.mark_step(DAY, "morning_plan")
                raise RuntimeError("crashed before the plan was complete")

        with pytest.raises(RuntimeError):
            plan_the_morning_then_fail()
        assert ledger.day_steps(DAY) == {}
        assert ledger.positions_of_day(DAY) == []
        with ledger.batch():
            plan(ledger)
            assert ledger.mark_step(DAY, "morning_plan")
            assert not ledger.mark_step(DAY, "morning_plan")
        assert list(ledger.day_steps(DAY)) == ["morning_plan"]
        assert [e.kind for e in ledger.events()] == ["PLANNED", "STEP"]
        ledger.close()

    def test_a_version_1_file_is_migrated_on_open_and_keeps_its_rows(self, tmp_path: Path) -> None:
        path = tmp_path / "ledger.sqlite"
        conn = sqlite3.connect(path)
        for statement in _V1:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO positions (trading_day, symbol, role, state, planned_quantity, "
            "created_at, updated_at) VALUES (?, 'WULF', 'MASTER', 'PLANNED', 100, ?, ?)",
            (DAY.isoformat(), START.isoformat(), START.isoformat()),
        )
        conn.execute(
            "INSERT INTO events (at, process, kind, message) VALUES (?, 'old', 'NOTE', 'kept')",
            (START.isoformat(),),
        )
        conn.execute("PRAGMA user_version = 1")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.commit()
        conn.close()
        ledger = SqliteLedger.open(path, ManualClock(START), process="test")
        assert [(p.symbol, p.state) for p in ledger.positions_of_day(DAY)] == [
            (Symbol("WULF"), PositionState.PLANNED)
        ]
        assert [(e.process, e.message) for e in ledger.events()] == [("old", "kept")]
        assert ledger.mark_step(DAY, "morning_plan")
        assert ledger.request_work("LIQUIDATE_TODAY", "after upgrade").request_id == 1
        ledger.close()
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION == 4
        conn.close()

    @pytest.mark.parametrize("version", [1, 2])
    def test_a_file_from_before_oca_groups_gets_the_column_on_open(
        self, tmp_path: Path, version: int
    ) -> None:
        """The first released version 1 had no ``orders.oca_group`` (added to its DDL later);
        such a file, even migrated to version 2 since, must still take orders."""
        path = tmp_path / "ledger.sqlite"
        SqliteLedger.open(path, ManualClock(START), process="old").close()
        conn = sqlite3.connect(path)
        conn.execute("ALTER TABLE orders DROP COLUMN oca_group")
        conn.execute("DROP TABLE llm_calls")
        if version == 1:
            conn.execute("DROP TABLE day_steps")
            conn.execute("DROP TABLE requests")
        conn.execute(f"PRAGMA user_version = {version}")
        conn.commit()
        conn.close()
        ledger = SqliteLedger.open(path, ManualClock(START), process="test")
        position = plan(ledger)
        recorded = ledger.record_order(position.position_id or 0, moo(position), "day-trader")
        assert recorded.oca_group is None
        assert ledger.order(recorded.order_ref) == recorded
        ledger.close()
