from datetime import UTC, datetime
from decimal import Decimal

import pytest

from openbell.domain.enums import OrderRole, OrderStatus, OrderType, Side, TimeInForce
from openbell.domain.errors import IllegalTransition, InvalidValue
from openbell.domain.orders import Fill, OrderIntent, next_order_status, require_aware
from openbell.domain.values import Money, OrderRef, Price, Quantity, Symbol

REF, SYM, QTY = OrderRef("r1"), Symbol("WULF"), Quantity(10)
P = Price(Decimal("15.00"))


def intent(**changes: object) -> OrderIntent:
    fields: dict[str, object] = {
        "order_ref": REF,
        "symbol": SYM,
        "side": Side.BUY,
        "quantity": QTY,
        "order_type": OrderType.MARKET,
        "time_in_force": TimeInForce.AT_THE_OPEN,
        "role": OrderRole.ENTRY,
    }
    fields.update(changes)
    return OrderIntent(**fields)  # type: ignore[arg-type]


def test_market_on_open_entry() -> None:
    moo = intent()
    assert moo.is_market_on_open
    assert not intent(order_type=OrderType.LIMIT, limit_price=P).is_market_on_open


@pytest.mark.parametrize(
    ("order_type", "limit", "stop"),
    [
        (OrderType.MARKET, P, None),
        (OrderType.LIMIT, None, None),
        (OrderType.STOP, None, None),
        (OrderType.STOP, P, P),
        (OrderType.STOP_LIMIT, P, None),
        (OrderType.MARKET, None, P),
    ],
)
def test_prices_must_match_the_order_type(
    order_type: OrderType, limit: Price | None, stop: Price | None
) -> None:
    with pytest.raises(InvalidValue):
        intent(
            order_type=order_type, limit_price=limit, stop_price=stop, time_in_force=TimeInForce.DAY
        )


def test_valid_exit_orders() -> None:
    stop = intent(
        side=Side.SELL,
        role=OrderRole.STOP,
        order_type=OrderType.STOP_LIMIT,
        stop_price=P,
        limit_price=P,
        time_in_force=TimeInForce.GTC,
        outside_rth=True,
    )
    assert stop.outside_rth


@pytest.mark.parametrize(
    ("side", "role"), [(Side.SELL, OrderRole.ENTRY), (Side.BUY, OrderRole.STOP)]
)
def test_entries_buy_and_exits_sell(side: Side, role: OrderRole) -> None:
    with pytest.raises(InvalidValue, match="side"):
        intent(side=side, role=role)


def test_auction_orders_are_market_or_limit_only() -> None:
    with pytest.raises(InvalidValue, match="AT_THE_OPEN"):
        intent(order_type=OrderType.STOP, stop_price=P)


@pytest.mark.parametrize(
    ("order_type", "tif", "limit"),
    [(OrderType.MARKET, TimeInForce.DAY, None), (OrderType.LIMIT, TimeInForce.AT_THE_OPEN, P)],
)
def test_outside_rth_is_refused_where_ib_would_ignore_it(
    order_type: OrderType, tif: TimeInForce, limit: Price | None
) -> None:
    with pytest.raises(InvalidValue, match="outside_rth"):
        intent(order_type=order_type, time_in_force=tif, limit_price=limit, outside_rth=True)


def test_fill_needs_an_execution_id_and_an_aware_time() -> None:
    now = datetime(2025, 11, 28, 14, 30, tzinfo=UTC)
    fill = Fill("e1", REF, SYM, Side.BUY, QTY, P, now, Money(Decimal(1)))
    assert fill.notional.amount == Decimal(150)
    with pytest.raises(InvalidValue, match="execution_id"):
        Fill(" ", REF, SYM, Side.BUY, QTY, P, now)
    with pytest.raises(InvalidValue, match="executed_at"):
        Fill("e1", REF, SYM, Side.BUY, QTY, P, datetime(2025, 11, 28, 14, 30))


def test_require_aware_refuses_non_datetimes() -> None:
    with pytest.raises(InvalidValue):
        require_aware("at", "2025-11-28")  # type: ignore[arg-type]


class TestOrderStatus:
    def test_normal_progress(self) -> None:
        status = OrderStatus.PENDING
        for reported in (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED):
            status = next_order_status(status, reported)
        assert status is OrderStatus.FILLED
        assert status.is_terminal

    def test_repeats_are_no_ops(self) -> None:
        assert next_order_status(OrderStatus.FILLED, OrderStatus.FILLED) is OrderStatus.FILLED

    def test_a_fill_after_a_cancel_is_accepted(self) -> None:
        assert next_order_status(OrderStatus.CANCELLED, OrderStatus.FILLED) is OrderStatus.FILLED

    def test_terminal_orders_do_not_come_back(self) -> None:
        with pytest.raises(IllegalTransition, match="allowed events: none"):
            next_order_status(OrderStatus.REJECTED, OrderStatus.SUBMITTED)
        with pytest.raises(IllegalTransition, match="FILLED"):
            next_order_status(OrderStatus.PARTIALLY_FILLED, OrderStatus.SUBMITTED)
