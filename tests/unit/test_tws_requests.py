"""Bad placeOrder requests are refused with what was expected and found."""

import pytest

from openbell.domain.errors import InvalidValue
from openbell.venue.tws.requests import parse_place_order

CONTRACT = ["0", "WULF", "STK", "", "0.0", "", "", "SMART", "", "USD", "", ""]


def message(
    order_id: str = "7", contract: list[str] = CONTRACT, quantity: str = "164"
) -> list[str]:
    prefix = [
        "3",
        order_id,
        *contract,
        "",
        "",
        "BUY",
        quantity,
        "MKT",
        "",
        "",
        "OPG",
        "",
        "",
        "",
        "0",
        "ref-1",
        "1",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
    ]
    after = ["", "", "", "", "", "", "", "", "", "", "", "0"]  # .. ocaType
    return prefix + after + ["pad"] * 60


def test_a_plain_market_on_open_order() -> None:
    order = parse_place_order(message(), 178)
    assert (order.order_id, order.contract.symbol, order.action, order.quantity) == (
        7,
        "WULF",
        "BUY",
        164.0,
    )
    assert (order.order_type, order.tif, order.order_ref, order.transmit) == (
        "MKT",
        "OPG",
        "ref-1",
        True,
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (["3", "7", "WULF"], "at least"),
        (message(contract=["0", "X", "BAG", *CONTRACT[3:]]), "BAG"),
        (message(quantity="lots"), "numbers"),
        (["4", *message()[1:]], "message 3"),
    ],
)
def test_bad_orders_are_refused(fields: list[str], expected: str) -> None:
    with pytest.raises(InvalidValue, match=expected):
        parse_place_order(fields, 178)
