"""Commissions, partial fills, cash and positions, rejections and cancel errors."""

from __future__ import annotations

import pytest
from venue_fakes import BUY, LMT, MKT, SELL, loaded, ny, only, order

from openbell.domain.errors import InvalidValue, NotFound
from openbell.venue import (
    Cancelled,
    CancelRejected,
    Fill,
    FixedCommission,
    PassThroughFees,
    Rejected,
    TieredCommission,
    Tif,
    VenueConfig,
    VenueOrder,
    VenueOrderType,
)
from openbell.venue.state import Account, Position

ROWS = [
    ("09:30", 10.0, 10.0, 10.0, 10.0, 400),
    ("09:31", 10.0, 10.0, 10.0, 10.0, 400),
    ("09:32", 10.0, 10.0, 10.0, 10.0, 400),
    ("09:33", 10.0, 10.0, 10.0, 10.0, 400),
    ("09:34", 10.0, 10.0, 10.0, 10.0, 400),
]

# --- commission models ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shares", "price", "expected"),
    [
        (100, 10.0, 1.00),  # 0.50 raised to the USD 1.00 minimum
        (1000, 10.0, 5.00),  # 0.005 per share
        (10, 5.0, 0.50),  # the minimum never exceeds 1 % of the USD 50 traded
        (1_000_000, 0.10, 1000.0),  # 5000 capped at 1 % of USD 100,000
    ],
)
def test_fixed_commission(shares: int, price: float, expected: float) -> None:
    model = FixedCommission()
    assert model.order_commission(BUY, shares, shares * price, 0) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("shares", "price", "month_shares", "expected"),
    [
        (50, 10.0, 0, 0.35),  # 0.175 raised to the USD 0.35 minimum
        (1000, 10.0, 0, 3.50),  # 0.0035 per share up to 300,000 shares a month
        (1000, 10.0, 299_999, 3.50),
        (1000, 10.0, 300_000, 2.00),  # 0.0020 from the 300,001st share
        (1000, 10.0, 5_000_000, 1.50),
        (1000, 10.0, 50_000_000, 1.00),
        (1000, 10.0, 200_000_000, 0.50),
        (10, 1.0, 0, 0.10),  # capped at 1 % of USD 10
    ],
)
def test_tiered_commission(shares: int, price: float, month_shares: int, expected: float) -> None:
    model = TieredCommission()
    got = model.order_commission(BUY, shares, shares * price, month_shares)
    assert got == pytest.approx(expected)


def test_pass_through_fees_add_regulatory_fees_on_sales_only() -> None:
    fees = PassThroughFees(
        clearing_per_share=0.0002, sec_per_dollar_sold=0.0000278, finra_taf_per_share_sold=0.000166
    )
    model = TieredCommission(pass_through=fees)
    buy = model.order_commission(BUY, 1000, 10_000.0, 0)
    sell = model.order_commission(SELL, 1000, 10_000.0, 0)
    assert buy == pytest.approx(3.5 + 0.2)
    assert sell == pytest.approx(3.5 + 0.2 + 0.278 + 0.166)


def test_commission_settings_are_checked() -> None:
    with pytest.raises(InvalidValue):
        FixedCommission(max_pct=0)
    with pytest.raises(InvalidValue):
        TieredCommission(tiers=((100, 0.01),))
    with pytest.raises(InvalidValue):
        FixedCommission(per_share=-0.01)
    with pytest.raises(InvalidValue):
        PassThroughFees(clearing_per_share=-1)
    with pytest.raises(InvalidValue):
        VenueConfig(max_volume_share=1.5)


# --- partial fills and the per-order minimum ---------------------------------------------------


def test_fills_are_capped_by_the_bar_volume_and_the_minimum_is_charged_once() -> None:
    venue = loaded(ROWS, max_volume_share=0.25, commission=FixedCommission())
    venue.submit(order(1, MKT, BUY, 400), ny("09:29:59"))
    fills = only(venue.advance_to(ny("10:00")), Fill)
    assert [f.quantity for f in fills] == [100, 100, 100, 100]
    assert [f.commission for f in fills] == pytest.approx([1.0, 0.0, 0.5, 0.5])
    assert [f.exec_id for f in fills] == ["1.1", "1.2", "1.3", "1.4"]
    assert fills[-1].cumulative_quantity == 400 and fills[-1].remaining == 0
    assert venue.cash() == pytest.approx(-4000.0 - 2.0)


def test_tiered_rate_follows_the_months_volume() -> None:
    venue = loaded(ROWS, commission=TieredCommission(tiers=((300, 0.01), (None, 0.001))))
    events = venue.submit(order(1, MKT, BUY, 300), ny("09:30:30"))
    events += venue.submit(order(2, MKT, BUY, 400), ny("09:31:30"))
    first, second = only(events + venue.advance_to(ny("10:00")), Fill)
    assert first.commission == pytest.approx(3.0)
    assert second.commission == pytest.approx(0.40)  # 300 shares already traded this month


def test_cash_and_positions_follow_the_fills() -> None:
    venue = loaded(ROWS, starting_cash=10_000.0, commission=FixedCommission())
    venue.submit(order(1, MKT, BUY, 300), ny("09:30:30"))
    venue.submit(order(2, MKT, SELL, 100), ny("09:31:30"))
    venue.advance_to(ny("10:00"))
    assert venue.positions() == {"CYCU": Position("CYCU", 200, 10.0)}
    assert venue.cash() == pytest.approx(10_000.0 - 3000.0 - 1.5 + 1000.0 - 1.0)


def test_average_cost_across_adds_reductions_and_a_flip() -> None:
    account = Account(0.0)
    month = (2026, 7)
    account.apply_fill("X", BUY, 100, 10.0, 0.0, month)
    account.apply_fill("X", BUY, 100, 12.0, 0.0, month)
    assert account.positions()["X"] == Position("X", 200, 11.0)
    account.apply_fill("X", SELL, 50, 15.0, 0.0, month)
    assert account.positions()["X"] == Position("X", 150, 11.0)
    account.apply_fill("X", SELL, 250, 9.0, 0.0, month)
    assert account.positions()["X"] == Position("X", -100, 9.0)
    account.apply_fill("X", BUY, 100, 8.0, 0.0, month)
    assert account.positions() == {}
    assert account.month_shares(month) == 600


# --- rejections and cancel errors -------------------------------------------------------------


def test_malformed_orders_are_rejected_with_201() -> None:
    venue = loaded(ROWS)
    (rejected,) = venue.submit(order(1, LMT), ny("09:31"))
    assert rejected == Rejected(
        1, 201, "Order rejected - reason:A LMT order needs a limit price above 0.", ny("09:31")
    )


@pytest.mark.parametrize(
    "bad",
    [
        order(1, MKT, quantity=0),
        order(1, VenueOrderType.STP),
        order(1, VenueOrderType.STP_LMT, stop_price=9.0),
        order(1, VenueOrderType.STP, stop_price=9.0, tif=Tif.OPG),
        order(1, MKT, oca_group="G", oca_type=7),
        order(1, MKT, parent_id=1),
        order(1, MKT, symbol=" "),
        order(1, LMT, limit_price=float("nan")),
    ],
)
def test_every_malformed_order_names_its_problem(bad: VenueOrder) -> None:
    problem = bad.problem()
    assert problem
    (rejected,) = loaded(ROWS).submit(bad, ny("09:31"))
    assert isinstance(rejected, Rejected)
    assert rejected.text == f"Order rejected - reason:{problem}"


def test_a_duplicate_order_id_is_rejected_with_103() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, LMT, limit_price=5.0), ny("09:31"))
    (rejected,) = venue.submit(order(1, LMT, limit_price=5.0), ny("09:31"))
    assert (rejected.code, rejected.text) == (103, "Duplicate order id")


def test_another_client_cannot_cancel_an_order() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, LMT, limit_price=5.0), ny("09:31"))
    (refused,) = venue.cancel(1, client_id=2, at=ny("09:32"))
    assert refused == CancelRejected(
        1, 10147, "OrderId 1 that needs to be cancelled is not found.", ny("09:32")
    )
    assert [s.order.order_id for s in venue.open_orders()] == [1]


def test_cancelling_a_filled_order_is_refused_with_10148() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, MKT), ny("09:30:30"))
    venue.advance_to(ny("09:32"))
    (refused,) = venue.cancel(1, client_id=1, at=ny("09:33"))
    assert refused == CancelRejected(
        1,
        10148,
        "OrderId 1 that needs to be cancelled cannot be cancelled, state: Filled.",
        ny("09:33"),
    )


def test_a_client_cancel_answers_202() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, LMT, limit_price=5.0), ny("09:31"))
    (cancelled,) = venue.cancel(1, client_id=1, at=ny("09:32"))
    assert cancelled == Cancelled(1, 202, "Order Canceled - reason:", 0, 100, ny("09:32"))
    assert venue.cancel(99, 1, ny("09:33"))[0].code == 10147


def test_a_held_order_can_be_cancelled_before_it_is_transmitted() -> None:
    venue = loaded(ROWS)
    venue.submit(order(1, LMT, limit_price=5.0, transmit=False), ny("09:31"))
    (cancelled,) = venue.cancel(1, client_id=1, at=ny("09:32"))
    assert (cancelled.code, cancelled.remaining) == (202, 100)
    with pytest.raises(NotFound):
        venue.order_state(1)
