"""Property: whatever sequence of events a position is offered, its books stay consistent."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from openbell.domain.enums import ExitReason, PositionRole, PositionState
from openbell.domain.errors import RefusedInput
from openbell.domain.positions import Position
from openbell.domain.values import Price, Quantity, Symbol

DAY = date(2025, 10, 29)
AT = datetime(2025, 10, 29, 14, 30, tzinfo=UTC)

steps = st.lists(
    st.tuples(
        st.sampled_from(
            ["submit", "entry", "failed", "abandon", "start", "abort", "exit", "release"]
        ),
        st.integers(min_value=1, max_value=150),
        st.integers(min_value=100, max_value=5000),
    ),
    max_size=30,
)


def _apply(position: Position, step: str, qty: int, cents: int) -> Position:
    price = Price(Decimal(cents) / 100)
    actions = {
        "submit": position.submit_entry,
        "entry": lambda: position.record_entry_fill(Quantity(qty), price, AT),
        "failed": position.entry_failed,
        "abandon": position.abandon,
        "start": lambda: position.start_exit(ExitReason.FLATTEN),
        "abort": position.exit_aborted,
        "exit": lambda: position.record_exit_fill(Quantity(qty), price, AT, ExitReason.STOP, DAY),
        "release": position.release,
    }
    return actions[step]()


@settings(max_examples=300, deadline=None)
@given(steps)
def test_refused_steps_change_nothing_and_books_always_balance(
    sequence: list[tuple[str, int, int]],
) -> None:
    position = Position(DAY, Symbol("WULF"), PositionRole.MASTER, Quantity(100))
    for step, qty, cents in sequence:
        try:
            after = _apply(position, step, qty, cents)
        except RefusedInput:
            continue  # refused: the old value object is untouched by construction
        assert 0 <= after.exit_quantity <= after.entry_quantity
        assert after.held_quantity == after.entry_quantity - after.exit_quantity
        if after.state is PositionState.CLOSED:
            assert after.held_quantity == 0
            assert after.closed_day == DAY
        if after.state.holds_shares:
            assert after.held_quantity > 0
        if after.exit_quantity > position.exit_quantity:
            assert position.state.holds_shares  # only a held position can sell
        position = after
