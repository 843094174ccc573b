"""OCA groups, brackets with transmit=False, and the intrabar path rule."""

from __future__ import annotations

from venue_fakes import (
    BUY,
    LMT,
    MKT,
    SELL,
    STP,
    Row,
    bars,
    engine,
    loaded,
    ny,
    only,
    order,
    session,
)

from openbell.venue import Accepted, Cancelled, Event, Fill, VenueStatus

WIDE = [
    ("09:30", 10.0, 10.1, 9.9, 10.0, 1000),
    ("09:31", 10.0, 10.6, 9.4, 10.0, 1000),
    ("09:32", 10.0, 10.8, 9.9, 10.7, 1000),
]


def test_one_fill_in_an_oca_type_1_group_cancels_the_others() -> None:
    venue = loaded(WIDE)
    for oid, kind, price in ((1, LMT, 10.5), (2, LMT, 10.55), (3, STP, 8.0)):
        prices = {"limit_price": price} if kind is LMT else {"stop_price": price}
        venue.submit(order(oid, kind, SELL, oca_group="G", **prices), ny("09:30:30"))
    events = venue.advance_to(ny("10:00"))
    assert [(type(e), e.order_id) for e in events] == [(Fill, 1), (Cancelled, 2), (Cancelled, 3)]
    assert events[1].text == "Cancelled by OCA group G"


def test_when_one_bar_reaches_target_and_stop_the_stop_is_assumed_first() -> None:
    venue = loaded(WIDE)
    venue.submit(order(1, LMT, SELL, limit_price=10.5, oca_group="X"), ny("09:30:30"))
    venue.submit(order(2, STP, SELL, stop_price=9.5, oca_group="X"), ny("09:30:30"))
    events = venue.advance_to(ny("10:00"))
    assert [(type(e), e.order_id) for e in events] == [(Fill, 2), (Cancelled, 1)]
    assert events[0].price == 9.5


def _with_seconds(rows: list[Row]) -> list[Event]:
    venue = engine()
    seconds = bars("CYCU", rows, resolution_s=1)
    venue.load_day(session(), {"CYCU": bars("CYCU", WIDE)}, {"CYCU": seconds})
    venue.submit(order(1, LMT, SELL, limit_price=10.5, oca_group="X"), ny("09:30:30"))
    venue.submit(order(2, STP, SELL, stop_price=9.5, oca_group="X"), ny("09:30:30"))
    return venue.advance_to(ny("10:00"))


def test_one_second_bars_decide_which_exit_came_first() -> None:
    high_first = [
        ("09:31:00", 10.0, 10.0, 10.0, 10.0, 10),
        ("09:31:10", 10.5, 10.6, 10.5, 10.6, 10),
        ("09:31:40", 9.5, 9.5, 9.4, 9.4, 10),
    ]
    events = _with_seconds(high_first)
    assert [(type(e), e.order_id) for e in events] == [(Fill, 1), (Cancelled, 2)]
    fill = events[0]
    assert (fill.price, fill.time) == (10.5, ny("09:32"))  # stamped at the minute's end


def test_one_second_bars_showing_the_low_first_fill_the_stop() -> None:
    low_first = [
        ("09:31:05", 9.6, 9.6, 9.4, 9.5, 10),
        ("09:31:50", 10.5, 10.6, 10.5, 10.6, 10),
    ]
    events = _with_seconds(low_first)
    assert [(type(e), e.order_id) for e in events] == [(Fill, 2), (Cancelled, 1)]


def test_oca_type_2_reduces_the_others_by_the_shares_filled() -> None:
    venue = loaded(WIDE)
    venue.submit(
        order(1, LMT, SELL, 60, limit_price=10.5, oca_group="R", oca_type=2), ny("09:30:30")
    )
    venue.submit(
        order(2, LMT, SELL, 100, limit_price=10.7, oca_group="R", oca_type=2), ny("09:30:30")
    )
    fills = only(venue.advance_to(ny("10:00")), Fill)
    assert [(f.order_id, f.quantity) for f in fills] == [(1, 60), (2, 40)]
    assert venue.order_state(2).status is VenueStatus.FILLED


def test_bracket_is_held_until_the_last_child_is_transmitted() -> None:
    venue = loaded(WIDE)
    parent = order(1, LMT, BUY, limit_price=9.95, transmit=False)
    target = order(2, LMT, SELL, limit_price=10.75, parent_id=1, transmit=False)
    stop = order(3, STP, SELL, stop_price=9.0, parent_id=1)
    assert venue.submit(parent, ny("09:30:30")) == []
    assert venue.submit(target, ny("09:30:30")) == []
    assert venue.order_state(1).status is VenueStatus.PENDING_SUBMIT
    assert venue.open_orders() == []
    assert venue.submit(stop, ny("09:30:40")) == [
        Accepted(1, VenueStatus.SUBMITTED, ny("09:30:40")),
        Accepted(2, VenueStatus.PRE_SUBMITTED, ny("09:30:40")),
        Accepted(3, VenueStatus.PRE_SUBMITTED, ny("09:30:40")),
    ]
    events = venue.advance_to(ny("10:00"))
    assert [(type(e).__name__, e.order_id) for e in events] == [
        ("Fill", 1),  # 09:31 bar: low 9.4 reaches 9.95
        ("Accepted", 2),  # the target goes live; the stop stays PreSubmitted
        ("Fill", 2),  # 09:32 bar, not the 09:31 bar the parent filled in
        ("Cancelled", 3),  # bracket siblings reduce each other
    ]
    assert events[2].time == ny("09:33")
    assert venue.positions() == {}


def test_children_do_not_fill_before_their_parent() -> None:
    venue = loaded(WIDE)
    venue.submit(order(1, LMT, BUY, limit_price=9.0), ny("09:30:30"))
    venue.submit(order(2, LMT, SELL, limit_price=10.5, parent_id=1), ny("09:30:30"))
    assert only(venue.advance_to(ny("16:00")), Fill) == []


def test_cancelling_an_unfilled_parent_cancels_its_children() -> None:
    venue = loaded(WIDE)
    venue.submit(order(1, LMT, BUY, limit_price=9.0), ny("09:30:30"))
    venue.submit(order(2, LMT, SELL, limit_price=10.5, parent_id=1), ny("09:30:30"))
    events = venue.cancel(1, client_id=1, at=ny("09:30:50"))
    assert [(type(e), e.order_id, e.code) for e in events] == [
        (Cancelled, 1, 202),
        (Cancelled, 2, 202),
    ]


def test_a_child_never_sells_more_than_its_parent_bought() -> None:
    venue = loaded(WIDE, max_volume_share=0.05)  # 50 shares per bar
    venue.submit(order(1, MKT, BUY, 100), ny("09:30:30"))
    venue.submit(order(2, LMT, SELL, 100, limit_price=9.5, parent_id=1), ny("09:30:30"))
    fills = only(venue.advance_to(ny("10:00")), Fill)
    assert [(f.order_id, f.quantity, f.time) for f in fills] == [
        (1, 50, ny("09:31")),
        (2, 50, ny("09:31")),  # the child joins the parent's bar, sized to what was bought
        (1, 50, ny("09:32")),
        (2, 50, ny("09:32")),
    ]
    assert venue.positions() == {}


def test_a_child_of_an_unknown_parent_is_rejected() -> None:
    venue = loaded(WIDE)
    (rejected,) = venue.submit(order(2, LMT, SELL, limit_price=10.5, parent_id=99), ny("09:31"))
    assert rejected.code == 201
    assert "Parent order 99" in rejected.text


def test_an_order_joining_an_oca_group_that_already_filled_is_cancelled_at_once() -> None:
    venue = loaded(WIDE)
    venue.submit(order(1, MKT, SELL, oca_group="Done"), ny("09:30:30"))
    venue.advance_to(ny("09:32"))
    late = order(2, LMT, SELL, limit_price=10.5, oca_group="Done")
    events = venue.submit(late, ny("09:32"))
    assert [type(e) for e in events] == [Accepted, Cancelled]
    assert events[1].text == "OCA group Done already filled"
