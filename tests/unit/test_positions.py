from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from openbell.domain.enums import ExitReason, PositionRole, PositionState
from openbell.domain.errors import IllegalTransition, InvalidValue, Oversell
from openbell.domain.positions import TRANSITIONS, Position, PositionEvent, next_state
from openbell.domain.values import Confidence, Money, Price, Quantity, Symbol

DAY = date(2025, 10, 29)
AT = datetime(2025, 10, 29, 13, 30, tzinfo=UTC)
LATER = datetime(2025, 10, 29, 14, 15, tzinfo=UTC)
S = PositionState


def planned(qty: int = 100) -> Position:
    return Position(
        DAY,
        Symbol("WULF"),
        PositionRole.MASTER,
        Quantity(qty),
        confidence=Confidence(Decimal("0.86")),
        target_pct=Decimal("2.6"),
        stop_loss_pct=Decimal("0.9"),
        metadata={"source": "test"},
    )


def opened(qty: int = 100, price: str = "15.19") -> Position:
    return planned(qty).submit_entry().record_entry_fill(Quantity(qty), Price(Decimal(price)), AT)


def px(raw: str) -> Price:
    return Price(Decimal(raw))


class TestTransitionTable:
    def test_every_pair_not_in_the_table_raises(self) -> None:
        for state in PositionState:
            for event in PositionEvent:
                if (state, event) in TRANSITIONS:
                    assert next_state(state, event) is TRANSITIONS[(state, event)]
                else:
                    with pytest.raises(IllegalTransition):
                        next_state(state, event)

    def test_terminal_states_only_allow_a_late_entry_fill(self) -> None:
        leaving = {state for (state, _event) in TRANSITIONS}
        assert S.RELEASED not in leaving  # the user's now: openbell takes nothing back
        for terminal in (S.ABANDONED, S.CLOSED):
            assert {e for (s, e) in TRANSITIONS if s is terminal} == {PositionEvent.ENTRY_FILLED}
            assert next_state(terminal, PositionEvent.ENTRY_FILLED) is S.OPEN

    def test_error_names_state_event_and_the_allowed_events(self) -> None:
        with pytest.raises(IllegalTransition) as caught:
            planned().start_exit(ExitReason.STOP)
        message = str(caught.value)
        assert "PLANNED" in message and "START_EXIT" in message and "SUBMIT_ENTRY" in message

    def test_state_properties(self) -> None:
        assert {s for s in S if s.holds_shares} == {S.OPEN, S.EXITING}
        assert {s for s in S if s.is_terminal} == {S.CLOSED, S.ABANDONED, S.RELEASED}


class TestLifecycle:
    def test_planned_to_closed_at_target(self) -> None:
        position = opened()
        assert position.state is S.OPEN
        assert position.entry_price == px("15.19")
        assert position.opened_at == AT
        closed = position.record_exit_fill(
            Quantity(100), px("15.58"), LATER, ExitReason.TARGET, DAY
        )
        assert closed.state is S.CLOSED
        assert closed.held_quantity == 0
        assert closed.exit_price == px("15.58")
        assert closed.realized_pnl == Money(Decimal("39.00"))
        assert (closed.closed_at, closed.closed_day, closed.exit_reason) == (
            LATER,
            DAY,
            ExitReason.TARGET,
        )

    def test_partial_exits_keep_the_position_open_until_the_last_share(self) -> None:
        position = opened(100, "10.00")
        part = position.record_exit_fill(Quantity(40), px("10.50"), LATER, ExitReason.TARGET, DAY)
        assert (part.state, part.held_quantity, part.closed_at) == (S.OPEN, 60, None)
        assert part.realized_pnl == Money(Decimal("20.00"))
        done = part.record_exit_fill(Quantity(60), px("9.90"), LATER, ExitReason.TARGET, DAY)
        assert done.state is S.CLOSED
        assert done.realized_pnl == Money(Decimal("14.00"))

    def test_several_entry_fills_average_the_entry_price(self) -> None:
        position = planned(300).submit_entry()
        position = position.record_entry_fill(Quantity(100), px("10.00"), AT)
        position = position.record_entry_fill(Quantity(200), px("10.30"), LATER)
        assert position.entry_price == px("10.2")
        assert position.opened_at == AT

    def test_selling_more_than_the_position_holds_is_refused(self) -> None:
        with pytest.raises(Oversell, match="at most the 100 it holds"):
            opened().record_exit_fill(Quantity(101), px("15"), LATER, ExitReason.STOP, DAY)

    def test_a_flatten_goes_through_exiting(self) -> None:
        exiting = opened().start_exit(ExitReason.FLATTEN)
        assert exiting.state is S.EXITING and exiting.exit_reason is ExitReason.FLATTEN
        assert exiting.exit_aborted().state is S.OPEN
        assert exiting.exit_aborted().exit_reason is None
        closed = exiting.record_exit_fill(Quantity(100), px("15"), LATER, ExitReason.FLATTEN, DAY)
        assert closed.state is S.CLOSED

    def test_an_entry_that_never_fills_is_abandoned_and_a_late_fill_revives_it(self) -> None:
        abandoned = planned().submit_entry().entry_failed()
        assert abandoned.state is S.ABANDONED
        revived = abandoned.record_entry_fill(Quantity(100), px("15.19"), LATER)
        assert revived.state is S.OPEN and revived.held_quantity == 100

    def test_abandon_a_plan_and_release_a_holding(self) -> None:
        assert planned().abandon().state is S.ABANDONED
        assert opened().release().state is S.RELEASED

    def test_adopt_opens_at_the_stated_cost(self) -> None:
        adopted = Position(DAY, Symbol("VMD"), PositionRole.ADOPTED, Quantity(35)).adopt(
            px("6.84"), AT
        )
        assert adopted.state is S.OPEN
        assert adopted.entry_price == px("6.84")
        assert adopted.held_quantity == 35

    def test_commissions_reduce_pnl(self) -> None:
        position = opened().add_commission(Money(Decimal("1.00")))
        assert position.realized_pnl == Money(Decimal("-1.00"))
        assert position.exit_price is None

    def test_exit_prices_are_kept(self) -> None:
        position = opened().with_exit_prices(px("15.58"), px("15.05"))
        assert (position.target_price, position.stop_price) == (px("15.58"), px("15.05"))

    def test_unfilled_position_has_no_prices(self) -> None:
        assert planned().entry_price is None
        assert planned().held_quantity == 0

    def test_naive_times_are_refused(self) -> None:
        naive = datetime(2025, 10, 29, 9, 30)
        with pytest.raises(InvalidValue):
            planned().submit_entry().record_entry_fill(Quantity(1), px("1"), naive)
        with pytest.raises(InvalidValue):
            opened().record_exit_fill(Quantity(1), px("1"), naive, ExitReason.STOP, DAY)
        with pytest.raises(InvalidValue):
            planned().adopt(px("1"), naive)

    def test_metadata_is_read_only(self) -> None:
        position = planned()
        with pytest.raises(TypeError):
            position.metadata["source"] = "changed"  # type: ignore[index]

    def test_exit_quantity_above_entry_is_refused_on_construction(self) -> None:
        with pytest.raises(InvalidValue, match="exit_quantity"):
            Position(DAY, Symbol("X"), PositionRole.MASTER, Quantity(1), exit_quantity=1)
