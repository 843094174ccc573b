"""Continuous trading: each order type and time in force against hand-built minute bars."""

from __future__ import annotations

import pytest
from venue_fakes import (
    BUY,
    LMT,
    MKT,
    NEXT_DAY,
    SELL,
    STP,
    STP_LMT,
    bars,
    loaded,
    ny,
    only,
    order,
    session,
)

from openbell.venue import (
    Accepted,
    Cancelled,
    Fill,
    FixedBps,
    Liquidity,
    Tif,
    VenueStatus,
)

ROWS = [
    ("09:30", 10.0, 10.5, 9.8, 10.2, 1000),
    ("09:31", 10.3, 10.6, 10.1, 10.4, 1000),
    ("09:32", 9.5, 9.7, 9.4, 9.6, 1000),
    ("09:33", 9.6, 9.9, 9.5, 9.85, 1000),
]


def test_market_fills_at_the_next_bar_open_never_inside_the_bar_it_was_sent_in() -> None:
    venue = loaded(ROWS)
    accepted = venue.submit(order(1, MKT), ny("09:30:30"))
    assert accepted == [Accepted(1, VenueStatus.SUBMITTED, ny("09:30:30"))]
    assert venue.advance_to(ny("09:31")) == []  # the 09:31 open comes after calls at 09:31
    (fill,) = only(venue.advance_to(ny("09:31:01")), Fill)
    assert (fill.price, fill.time, fill.quantity) == (10.3, ny("09:31"), 100)
    assert fill.exec_id == "1.1"
    assert fill.liquidity is Liquidity.REMOVED
    assert venue.positions()["CYCU"].quantity == 100
    assert venue.cash() == pytest.approx(-1030.0)


def test_market_sent_at_a_bar_start_gets_that_bars_open() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, MKT), ny("09:31"))
    (fill,) = only(venue.advance_to(ny("09:32")), Fill)
    assert fill.price == 10.3


def test_buy_limit_touched_inside_a_bar_fills_at_the_limit_at_the_bars_end() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, LMT, limit_price=10.15), ny("09:30:30"))
    assert venue.advance_to(ny("09:31:59")) == []
    (fill,) = only(venue.advance_to(ny("09:32")), Fill)
    assert (fill.price, fill.time, fill.liquidity) == (10.15, ny("09:32"), Liquidity.ADDED)


def test_buy_limit_gets_a_better_open_when_the_bar_gaps_through_it() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, LMT, limit_price=10.4), ny("09:30:30"))
    (fill,) = only(venue.advance_to(ny("09:31:01")), Fill)
    assert (fill.price, fill.time, fill.liquidity) == (10.3, ny("09:31"), Liquidity.REMOVED)


def test_sell_limit_fills_when_the_high_reaches_it() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, LMT, SELL, limit_price=10.55), ny("09:30:30"))
    (fill,) = only(venue.advance_to(ny("10:00")), Fill)
    assert (fill.price, fill.time) == (10.55, ny("09:32"))


def test_sell_stop_through_a_gap_fills_at_the_worse_open_not_the_stop() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, STP, SELL, stop_price=10.0), ny("09:30:30"))
    (fill,) = only(venue.advance_to(ny("10:00")), Fill)
    assert (fill.price, fill.time) == (9.5, ny("09:32"))


def test_sell_stop_touched_inside_a_bar_fills_at_the_stop() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, STP, SELL, stop_price=10.15), ny("09:30:30"))
    (fill,) = only(venue.advance_to(ny("10:00")), Fill)
    assert (fill.price, fill.time) == (10.15, ny("09:32"))


def test_buy_stop_triggers_on_the_high() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, STP, BUY, stop_price=10.5), ny("09:30:30"))
    (fill,) = only(venue.advance_to(ny("10:00")), Fill)
    assert (fill.price, fill.time) == (10.5, ny("09:32"))


def test_stops_wait_presubmitted_until_triggered() -> None:
    venue = loaded(ROWS)
    events = venue.submit(order(1, STP, SELL, stop_price=5.0), ny("09:30:30"))
    assert events == [Accepted(1, VenueStatus.PRE_SUBMITTED, ny("09:30:30"))]


def test_stop_limit_gapped_through_its_limit_waits_then_fills_at_the_limit() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, STP_LMT, SELL, stop_price=10.0, limit_price=9.8), ny("09:30:30"))
    events = venue.advance_to(ny("09:33"))
    assert events == [Accepted(1, VenueStatus.SUBMITTED, ny("09:32"))]  # triggered, not filled
    (fill,) = only(venue.advance_to(ny("10:00")), Fill)
    assert (fill.price, fill.time) == (9.8, ny("09:34"))


def test_stop_limit_triggered_inside_a_bar_fills_at_the_stop_when_within_the_limit() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, STP_LMT, SELL, stop_price=10.15, limit_price=10.1), ny("09:30:30"))
    (fill,) = only(venue.advance_to(ny("10:00")), Fill)
    assert (fill.price, fill.time) == (10.15, ny("09:32"))


def test_ioc_limit_that_cannot_trade_is_cancelled_at_the_end_of_its_bar() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, LMT, limit_price=10.0, tif=Tif.IOC), ny("09:30:30"))
    (cancelled,) = only(venue.advance_to(ny("10:00")), Cancelled)
    assert (cancelled.time, cancelled.filled, cancelled.remaining) == (ny("09:32"), 0, 100)


def test_ioc_fills_what_the_bar_allows_and_cancels_the_rest() -> None:
    venue = loaded(ROWS, max_volume_share=0.025)
    venue.submit(order(1, MKT, tif=Tif.IOC), ny("09:30:30"))
    events = venue.advance_to(ny("10:00"))
    (fill,) = only(events, Fill)
    (cancelled,) = only(events, Cancelled)
    assert (fill.quantity, fill.price) == (25, 10.3)
    assert (cancelled.filled, cancelled.remaining, cancelled.time) == (25, 75, ny("09:32"))


def test_ioc_without_a_bar_right_after_it_is_cancelled_at_once() -> None:
    venue = loaded([("09:30", 10, 10, 10, 10, 100), ("09:45", 10, 10, 10, 10, 100)])
    events = venue.submit(order(1, MKT, tif=Tif.IOC), ny("09:31"))
    assert [type(e) for e in events] == [Accepted, Cancelled]


def test_day_order_is_cancelled_at_the_close() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, LMT, limit_price=5.0), ny("09:30:30"))
    assert venue.advance_to(ny("15:59:59")) == []
    (cancelled,) = venue.advance_to(ny("16:00"))
    assert isinstance(cancelled, Cancelled)
    assert (cancelled.code, cancelled.time, cancelled.remaining) == (None, ny("16:00"), 100)
    assert venue.open_orders() == []


def test_day_order_is_cancelled_at_a_1300_early_close() -> None:
    venue = loaded([])
    venue.load_day(session(NEXT_DAY, close="13:00"), {"CYCU": bars("CYCU", ROWS, NEXT_DAY)})
    venue.submit(order(1, LMT, limit_price=5.0), ny("09:30:30", NEXT_DAY))
    assert venue.advance_to(ny("12:59:59", NEXT_DAY)) == []
    (cancelled,) = venue.advance_to(ny("13:00", NEXT_DAY))
    assert isinstance(cancelled, Cancelled)
    assert cancelled.time == ny("13:00", NEXT_DAY)


def test_gtc_order_survives_the_close_and_fills_the_next_day() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, LMT, limit_price=9.0, tif=Tif.GTC), ny("09:30:30"))
    next_rows = [("09:30", 9.2, 9.3, 8.9, 9.1, 1000)]
    events = venue.load_day(session(NEXT_DAY), {"CYCU": bars("CYCU", next_rows, NEXT_DAY)})
    assert events == []
    (fill,) = only(venue.advance_to(ny("10:00", NEXT_DAY)), Fill)
    assert (fill.price, fill.time) == (9.0, ny("09:31", NEXT_DAY))


def test_slippage_worsens_market_and_stop_fills_but_never_limit_fills() -> None:
    venue = loaded(ROWS, slippage=FixedBps(2.0))
    venue.submit(order(1, MKT), ny("09:30:30"))
    venue.submit(order(2, STP, SELL, stop_price=10.0), ny("09:30:30"))
    venue.submit(order(3, LMT, limit_price=10.15), ny("09:30:30"))
    fills = {f.order_id: f.price for f in only(venue.advance_to(ny("10:00")), Fill)}
    assert fills[1] == 10.3021  # 10.3 * 1.0002 = 10.30206, on the 0.0001 grid
    assert fills[2] == 9.4981  # 9.5 * 0.9998 = 9.4981
    assert fills[3] == 10.15


def test_limits_can_be_made_to_need_a_trade_through() -> None:
    rows = [("09:31", 10.3, 10.4, 10.1, 10.2, 100), ("09:32", 10.2, 10.3, 10.05, 10.1, 100)]
    venue = loaded(rows, limit_needs_trade_through=True)
    venue.submit(order(1, LMT, limit_price=10.1), ny("09:30:30"))
    (fill,) = only(venue.advance_to(ny("10:00")), Fill)
    assert fill.time == ny("09:33")  # the 09:31 bar only touched 10.10
