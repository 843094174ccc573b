"""Edges: settings and inputs the venue refuses, status steps, and fallbacks it documents."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import pytest
from venue_fakes import (
    BUY,
    LMT,
    NEXT_DAY,
    SELL,
    STP,
    STP_LMT,
    bars,
    engine,
    loaded,
    ny,
    only,
    order,
    session,
)

from openbell.domain.errors import IllegalTransition, InvalidValue
from openbell.venue import (
    Cancelled,
    Fill,
    FixedBps,
    FixedCommission,
    Tif,
    VenueConfig,
    VenueStatus,
)
from openbell.venue.orders import next_status

ROWS = [
    ("09:30", 10.0, 10.1, 9.9, 10.0, 1000),
    ("09:31", 10.0, 10.6, 9.4, 10.0, 1000),
]


@pytest.mark.parametrize(
    "settings",
    [
        {"max_volume_share": 0.0},
        {"moo_cutoff": timedelta(minutes=-1)},
        {"premarket_start": time(21, 0)},
    ],
)
def test_bad_venue_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(InvalidValue):
        VenueConfig(**settings)


def test_bad_slippage_is_refused() -> None:
    with pytest.raises(InvalidValue):
        FixedBps(-1.0)


def test_an_order_with_nothing_filled_costs_nothing() -> None:
    assert FixedCommission().order_commission(BUY, 0, 0.0, 0) == 0.0


def test_status_steps_follow_the_table() -> None:
    assert next_status(VenueStatus.PRE_SUBMITTED, VenueStatus.SUBMITTED) is VenueStatus.SUBMITTED
    assert next_status(VenueStatus.FILLED, VenueStatus.FILLED) is VenueStatus.FILLED
    with pytest.raises(IllegalTransition, match="terminal"):
        next_status(VenueStatus.FILLED, VenueStatus.CANCELLED)


def test_bars_under_the_wrong_symbol_are_refused() -> None:
    with pytest.raises(InvalidValue, match="bars of CYCU"):
        engine().load_day(session(), {"CYCU": bars("OTHER", ROWS)})


def test_seconds_must_be_one_second_bars_of_a_loaded_symbol() -> None:
    with pytest.raises(InvalidValue, match="resolution_s 1"):
        engine().load_day(session(), {"CYCU": bars("CYCU", ROWS)}, {"CYCU": bars("CYCU", ROWS)})
    seconds = {"OTHER": bars("OTHER", ROWS, resolution_s=1)}
    with pytest.raises(InvalidValue, match="also has bars"):
        engine().load_day(session(), {"CYCU": bars("CYCU", ROWS)}, seconds)


def test_days_are_loaded_in_order() -> None:
    venue = engine()
    venue.load_day(session(NEXT_DAY), {})
    assert venue.session == session(NEXT_DAY)
    with pytest.raises(InvalidValue, match="a session after 2026-08-03"):
        venue.load_day(session(), {})


def test_loading_the_next_day_finishes_the_previous_one() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, LMT, limit_price=1.0, outside_rth=True), ny("10:00"))
    (expired,) = venue.load_day(session(NEXT_DAY), {})
    assert isinstance(expired, Cancelled)
    assert expired.time == ny("20:00")
    assert venue.now == ny("20:00")


def test_without_seconds_for_that_minute_the_stop_first_rule_applies() -> None:
    seconds = bars("CYCU", [("09:30:10", 10.0, 10.0, 10.0, 10.0, 5)], resolution_s=1)
    venue = engine()
    venue.load_day(session(), {"CYCU": bars("CYCU", ROWS)}, {"CYCU": seconds})
    venue.submit(order(1, LMT, SELL, limit_price=10.5, oca_group="X"), ny("09:30:30"))
    venue.submit(order(2, STP, SELL, stop_price=9.5, oca_group="X"), ny("09:30:30"))
    (fill,) = only(venue.advance_to(ny("10:00")), Fill)
    assert fill.order_id == 2


def test_a_sell_limit_needing_a_trade_through_ignores_a_mere_touch() -> None:
    venue = loaded(ROWS, limit_needs_trade_through=True)
    venue.submit(order(1, LMT, SELL, limit_price=10.6), ny("09:30:30"))
    assert only(venue.advance_to(ny("10:00")), Fill) == []


def test_buy_stop_limit_fills_at_the_trigger_within_its_limit() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, STP_LMT, BUY, stop_price=10.5, limit_price=10.55), ny("09:30:30"))
    (fill,) = only(venue.advance_to(ny("10:00")), Fill)
    assert (fill.price, fill.time) == (10.5, ny("09:32"))


def test_a_filled_order_is_not_affected_by_the_next_day() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, LMT, limit_price=10.0), ny("09:30:30"))
    venue.submit(order(2, LMT, limit_price=1.0, tif=Tif.GTC), ny("09:30:30"))
    venue.advance_to(ny("12:00"))
    assert venue.load_day(session(NEXT_DAY), {}) == []
    assert venue.order_state(1).status is VenueStatus.FILLED
    assert [s.order.order_id for s in venue.open_orders()] == [2]
