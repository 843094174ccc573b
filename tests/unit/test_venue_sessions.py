"""Sessions: pre-market parking (399), ignored outsideRth (2109), extended hours, day changes."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from venue_fakes import (
    DAY,
    LMT,
    MKT,
    NEXT_DAY,
    SELL,
    STP,
    bars,
    engine,
    loaded,
    ny,
    only,
    order,
    session,
)

from openbell.domain.errors import InvalidValue
from openbell.domain.sessions import Session
from openbell.venue import (
    Accepted,
    Cancelled,
    Fill,
    Liquidity,
    MatchingEngine,
    NoSlippage,
    OrderWarning,
    VenueConfig,
    VenueStatus,
    ZeroCommission,
)

ROWS = [
    ("07:00", 9.8, 9.9, 9.7, 9.8, 500),
    ("08:00", 9.6, 9.7, 9.4, 9.5, 500),
    ("09:30", 10.0, 10.2, 9.9, 10.1, 5000),
    ("09:31", 10.1, 10.3, 10.0, 10.2, 1000),
    ("16:30", 10.5, 10.6, 10.4, 10.5, 200),
]
IB_399 = (
    "Order Message: BUY 1 CYCU NASDAQ.NMS Warning: Your order will not be placed at the "
    "exchange until 2026-07-31 09:30:00 US/Eastern."
)


def test_market_order_before_the_open_is_parked_with_399_and_joins_the_opening_print() -> None:
    venue = loaded(ROWS)
    events = venue.submit(order(1, MKT, quantity=1), ny("08:15"))
    assert events == [
        Accepted(1, VenueStatus.PRE_SUBMITTED, ny("08:15")),
        OrderWarning(1, 399, IB_399, ny("08:15")),
    ]
    assert venue.advance_to(ny("09:30")) == []
    live, fill = venue.advance_to(ny("09:30:01"))
    assert live == Accepted(1, VenueStatus.SUBMITTED, ny("09:30"))
    assert isinstance(fill, Fill)
    assert (fill.price, fill.time, fill.liquidity) == (10.0, ny("09:30"), Liquidity.AUCTION)


def test_outside_rth_on_a_market_order_is_ignored_with_2109() -> None:
    venue = loaded(ROWS)
    events = venue.submit(order(1, MKT, outside_rth=True), ny("06:59"))
    assert [(type(e), getattr(e, "code", None)) for e in events] == [
        (OrderWarning, 2109),
        (Accepted, None),
        (OrderWarning, 399),
    ]
    assert "'Outside Regular Trading Hours' is ignored" in events[0].text
    (fill,) = only(venue.advance_to(ny("10:00")), Fill)
    assert fill.time == ny("09:30")  # not on the 07:00 or 08:00 bars


def test_stop_with_outside_rth_triggers_pre_market() -> None:
    venue = loaded(ROWS)
    events = venue.submit(order(1, STP, SELL, stop_price=9.5, outside_rth=True), ny("03:30"))
    assert only(events, OrderWarning) == [
        OrderWarning(
            1,
            399,
            "Order Message: SELL 100 CYCU NASDAQ.NMS Warning: Your order will not be placed "
            "at the exchange until 2026-07-31 04:00:00 US/Eastern.",
            ny("03:30"),
        )
    ]
    (fill,) = only(venue.advance_to(ny("10:00")), Fill)
    assert (fill.price, fill.time) == (9.5, ny("08:01"))


def test_stop_without_outside_rth_ignores_pre_market_bars() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, STP, SELL, stop_price=9.5), ny("06:30"))
    assert only(venue.advance_to(ny("16:00")), Fill) == []


def test_limit_with_outside_rth_is_live_pre_market_without_a_399() -> None:
    venue = loaded(ROWS)
    events = venue.submit(order(1, LMT, limit_price=9.5, outside_rth=True), ny("07:30"))
    assert events == [Accepted(1, VenueStatus.SUBMITTED, ny("07:30"))]
    (fill,) = only(venue.advance_to(ny("08:01")), Fill)
    assert fill.price == 9.5


def test_parked_limit_goes_live_at_the_open() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, LMT, limit_price=5.0), ny("08:15"))
    assert venue.advance_to(ny("09:30:01")) == [Accepted(1, VenueStatus.SUBMITTED, ny("09:30"))]


def test_extended_day_order_expires_at_2000_and_trades_after_the_close() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, LMT, SELL, quantity=10, limit_price=10.55, outside_rth=True), ny("10:00"))
    venue.submit(order(2, LMT, limit_price=1.0, outside_rth=True), ny("10:00"))
    events = venue.advance_to(ny("20:00"))
    assert [(type(e), e.order_id) for e in events] == [(Fill, 1), (Cancelled, 2)]
    assert events[1].time == ny("20:00")


def test_extended_hours_end_four_hours_after_an_early_close() -> None:
    venue = engine()
    venue.load_day(session(close="13:00"), {"CYCU": bars("CYCU", ROWS[:4])})
    venue.submit(order(1, LMT, limit_price=1.0, outside_rth=True), ny("10:00"))
    assert venue.advance_to(ny("16:59")) == []
    (cancelled,) = venue.advance_to(ny("17:00"))
    assert isinstance(cancelled, Cancelled)


def test_order_after_the_close_waits_for_the_next_session() -> None:
    venue = loaded(ROWS)
    events = venue.submit(order(1, MKT), ny("17:00"))
    warning = only(events, OrderWarning)[0]
    assert warning.text.endswith("until 2026-08-03 09:30:00 US/Eastern.")
    assert venue.advance_to(ny("20:00")) == []  # not expired with today's session
    next_rows = [("09:30", 11.0, 11.2, 10.9, 11.1, 1000)]
    venue.load_day(session(NEXT_DAY), {"CYCU": bars("CYCU", next_rows, NEXT_DAY)})
    (fill,) = only(venue.advance_to(ny("09:31", NEXT_DAY)), Fill)
    assert (fill.price, fill.liquidity) == (11.0, Liquidity.AUCTION)


class _HolidayMonday:
    """A calendar whose session after 2026-07-31 is Tuesday 2026-08-04."""

    def is_trading_day(self, day: date) -> bool:
        return day.weekday() < 5

    def session(self, day: date) -> Session:
        return session(day)

    def next_session(self, day: date) -> Session:
        return session(date(2026, 8, 4))

    def previous_session(self, day: date) -> Session:
        return session(DAY)

    def upcoming_session(self, at: datetime) -> Session:
        return session(DAY)


def test_the_399_after_the_close_names_the_calendars_next_session() -> None:
    config = VenueConfig(commission=ZeroCommission(), slippage=NoSlippage())
    venue = MatchingEngine(config, calendar=_HolidayMonday())
    venue.load_day(session(), {"CYCU": bars("CYCU", ROWS)})
    limit = order(1, LMT, limit_price=9.0, outside_rth=True)
    warning = only(venue.submit(limit, ny("20:30")), OrderWarning)[0]
    assert warning.text.endswith("until 2026-08-04 04:00:00 US/Eastern.")


def test_time_never_goes_backwards() -> None:
    venue = loaded(ROWS)
    venue.advance_to(ny("10:00"))
    with pytest.raises(InvalidValue, match="venue time"):
        venue.advance_to(ny("09:59"))


def test_submitting_before_any_day_is_loaded_is_refused() -> None:
    with pytest.raises(InvalidValue, match="load_day"):
        engine().submit(order(1, MKT), ny("10:00"))


def test_a_day_must_be_loaded_before_the_clock_reaches_it() -> None:
    venue = loaded(ROWS)
    venue.advance_to(ny("05:00", NEXT_DAY))
    with pytest.raises(InvalidValue, match="pre-market"):
        venue.load_day(session(NEXT_DAY), {})


def test_bars_of_another_day_are_refused() -> None:
    with pytest.raises(InvalidValue, match="2026-07-31"):
        engine().load_day(session(), {"CYCU": bars("CYCU", ROWS, NEXT_DAY)})
