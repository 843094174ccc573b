"""The opening auction: MOO and LOO (OPG), the cutoff, and what happens to the remainder."""

from __future__ import annotations

from venue_fakes import LMT, MKT, NEXT_DAY, SELL, bars, loaded, ny, only, order, session

from openbell.venue import (
    Accepted,
    Cancelled,
    Fill,
    Liquidity,
    OrderWarning,
    Rejected,
    Tif,
    VenueStatus,
)

OPG = Tif.OPG
ROWS = [
    ("08:00", 9.6, 9.7, 9.4, 9.5, 500),
    ("09:30", 10.0, 10.2, 9.9, 10.1, 100),
    ("09:31", 10.1, 10.3, 9.0, 10.2, 1000),
]


def test_moo_waits_presubmitted_without_a_399_and_fills_at_the_opening_print() -> None:
    venue = loaded(ROWS)
    assert venue.submit(order(1, MKT, tif=OPG), ny("08:30")) == [
        Accepted(1, VenueStatus.PRE_SUBMITTED, ny("08:30"))
    ]
    assert venue.advance_to(ny("09:30")) == []
    (fill,) = venue.advance_to(ny("09:30:01"))
    assert isinstance(fill, Fill)
    assert (fill.price, fill.time, fill.liquidity) == (10.0, ny("09:30"), Liquidity.AUCTION)
    assert venue.open_orders() == []


def test_loo_fills_at_the_print_when_its_limit_is_marketable() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, LMT, SELL, tif=OPG, limit_price=9.95), ny("08:30"))
    (fill,) = only(venue.advance_to(ny("10:00")), Fill)
    assert fill.price == 10.0


def test_loo_not_marketable_is_cancelled_after_the_auction_and_never_trades_later() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, LMT, tif=OPG, limit_price=9.9), ny("08:30"))
    (cancelled,) = venue.advance_to(ny("10:00"))
    assert isinstance(cancelled, Cancelled)
    assert (cancelled.time, cancelled.filled, cancelled.remaining) == (ny("09:30"), 0, 100)
    assert "auction" in cancelled.text


def test_moo_remainder_above_the_volume_cap_is_cancelled_after_the_print() -> None:
    venue = loaded(ROWS, max_volume_share=0.25)
    venue.submit(order(1, MKT, tif=OPG), ny("08:30"))
    fill, cancelled = venue.advance_to(ny("10:00"))
    assert isinstance(fill, Fill) and isinstance(cancelled, Cancelled)
    assert (fill.quantity, cancelled.filled, cancelled.remaining) == (25, 25, 75)


def test_moo_at_the_cutoff_is_rejected_with_201() -> None:
    venue = loaded(ROWS)
    assert only(venue.submit(order(1, MKT, tif=OPG), ny("09:27:59")), Accepted)
    (rejected,) = venue.submit(order(2, MKT, tif=OPG), ny("09:28"))
    assert rejected == Rejected(
        2,
        201,
        "Order rejected - reason:The opening auction cutoff 09:28:00 US/Eastern has passed.",
        ny("09:28"),
    )


def test_moo_sent_at_the_close_is_rejected_because_the_exchange_is_closed() -> None:
    venue = loaded(ROWS)
    (rejected,) = venue.submit(order(1, MKT, tif=OPG), ny("16:00"))
    assert rejected == Rejected(1, 201, "Order rejected - reason:Exchange is closed.", ny("16:00"))


def test_moo_sent_after_the_close_joins_the_next_sessions_auction() -> None:
    venue = loaded(ROWS)
    events = venue.submit(order(1, MKT, tif=OPG), ny("16:00:10"))
    assert events == [Accepted(1, VenueStatus.PRE_SUBMITTED, ny("16:00:10"))]
    next_rows = [("09:30", 11.0, 11.2, 10.9, 11.1, 1000)]
    venue.load_day(session(NEXT_DAY), {"CYCU": bars("CYCU", next_rows, NEXT_DAY)})
    (fill,) = only(venue.advance_to(ny("10:00", NEXT_DAY)), Fill)
    assert (fill.price, fill.time) == (11.0, ny("09:30", NEXT_DAY))


def test_outside_rth_on_an_opg_order_draws_2109() -> None:
    venue = loaded(ROWS)
    events = venue.submit(order(1, MKT, tif=OPG, outside_rth=True), ny("08:30"))
    assert [w.code for w in only(events, OrderWarning)] == [2109]
    (fill,) = only(venue.advance_to(ny("10:00")), Fill)
    assert fill.time == ny("09:30")


def test_the_opening_print_is_the_first_regular_bar_with_volume() -> None:
    rows = [("09:30", 10.0, 10.0, 10.0, 10.0, 0), ("09:32", 10.4, 10.5, 10.3, 10.4, 100)]
    venue = loaded(rows)
    venue.submit(order(1, MKT, tif=OPG), ny("08:30"))
    (fill,) = only(venue.advance_to(ny("10:00")), Fill)
    assert (fill.price, fill.time) == (10.4, ny("09:32"))


def test_opg_for_a_symbol_that_never_trades_is_cancelled_at_the_close() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, MKT, tif=OPG, symbol="NONE"), ny("08:30"))
    (cancelled,) = venue.advance_to(ny("16:00"))
    assert isinstance(cancelled, Cancelled)
    assert (cancelled.time, cancelled.text) == (ny("16:00"), "no opening print")
