"""The simulated account merges the configured holdings with what the venue traded."""

from __future__ import annotations

import pytest

from openbell.venue import Position
from openbell.venue.tws.account import Account, Holding


class Venue:
    """The two queries :class:`Account` asks of the matching engine."""

    def __init__(self, *positions: Position) -> None:
        self._positions = {p.symbol: p for p in positions}

    def positions(self) -> dict[str, Position]:
        return self._positions

    def cash(self) -> float:
        return 0.0


@pytest.mark.parametrize(
    ("traded", "expected"),
    [
        (Position("WULF", 100, 10.00), (150, (50 * 8.00 + 100 * 10.00) / 150)),  # adds: averages
        (Position("WULF", -20, 10.00), (30, 8.00)),  # sells part of the holding: its cost stays
        (Position("WULF", -70, 10.00), (-20, 10.00)),  # flips through zero: the venue's cost
        (Position("WULF", -50, 10.00), (0, 0.0)),  # sells it all: flat
    ],
)
def test_a_holding_and_the_venue_position_net_like_one_account(
    traded: Position, expected: tuple[int, float]
) -> None:
    holdings = (Holding("WULF", 50, 8.00), Holding("SKYX", 182, 1.20))
    account = Account("DU1", 0.0, holdings, Venue(traded), lambda _s: None)  # type: ignore[arg-type]
    lines = {line.symbol: line for line in account.lines()}
    wulf = lines["WULF"]
    assert (wulf.quantity, wulf.average_cost) == (expected[0], pytest.approx(expected[1]))
    assert (lines["SKYX"].quantity, lines["SKYX"].average_cost) == (182, 1.20)
