from decimal import Decimal

import pytest

from openbell.domain.errors import InvalidValue, RefusedInput
from openbell.domain.values import (
    Confidence,
    Money,
    OrderRef,
    Price,
    Quantity,
    Symbol,
    decimal_from_float,
    to_decimal,
)


class TestSymbol:
    @pytest.mark.parametrize("raw", ["AAPL", "brk.b", " bf-b ", "A", "QQQ1"])
    def test_valid_tickers_are_normalised_to_upper_case(self, raw: str) -> None:
        assert Symbol(raw).value == raw.strip().upper()

    @pytest.mark.parametrize("raw", ["", "1ABC", "TOOLONGTICKER", "A B", "AAPL$", "BRK..B"])
    def test_invalid_tickers_are_refused_with_what_was_found(self, raw: str) -> None:
        with pytest.raises(InvalidValue) as caught:
            Symbol(raw)
        assert repr(raw) in str(caught.value)
        assert isinstance(caught.value, RefusedInput)

    def test_non_string_is_refused(self) -> None:
        with pytest.raises(InvalidValue):
            Symbol(42)  # type: ignore[arg-type]

    def test_str_is_the_ticker(self) -> None:
        assert str(Symbol("skyx")) == "SKYX"


class TestPrice:
    def test_accepts_decimal_int_and_numeric_text(self) -> None:
        assert Price(Decimal("15.19")).value == Decimal("15.19")
        assert Price(3).value == Decimal(3)  # type: ignore[arg-type]
        assert Price("1.20").value == Decimal("1.20")  # type: ignore[arg-type]

    @pytest.mark.parametrize("raw", [Decimal(0), Decimal("-1"), "abc", Decimal("NaN"), "Infinity"])
    def test_refuses_non_positive_and_non_numbers(self, raw: object) -> None:
        with pytest.raises(InvalidValue):
            Price(raw)  # type: ignore[arg-type]

    @pytest.mark.parametrize("raw", [1.5, True, None, [1]])
    def test_refuses_floats_bools_and_other_types(self, raw: object) -> None:
        with pytest.raises(InvalidValue):
            Price(raw)  # type: ignore[arg-type]

    def test_from_float_uses_the_shortest_repr(self) -> None:
        assert Price.from_float(0.1 + 0.2).value == Decimal("0.30000000000000004")
        assert Price.from_float(15.19).value == Decimal("15.19")

    def test_times_rounds_to_the_cent(self) -> None:
        assert Price(Decimal("15.19")).times(Decimal("1.026")).value == Decimal("15.58")

    def test_prices_order_and_print(self) -> None:
        assert Price(Decimal(1)) < Price(Decimal(2))
        assert str(Price(Decimal("1.50"))) == "1.50"


class TestQuantity:
    def test_positive_whole_shares(self) -> None:
        assert int(Quantity(182)) == 182
        assert str(Quantity(5)) == "5"

    @pytest.mark.parametrize("raw", [0, -1, 1.0, True, "3"])
    def test_refuses_zero_negative_and_non_integers(self, raw: object) -> None:
        with pytest.raises(InvalidValue):
            Quantity(raw)  # type: ignore[arg-type]


class TestMoney:
    def test_arithmetic_and_rounding(self) -> None:
        total = Money(Decimal("10.005")) + Money(Decimal("1")) - Money(Decimal("0.5"))
        assert total.amount == Decimal("10.505")
        assert (-total).amount == Decimal("-10.505")
        assert total.rounded().amount == Decimal("10.51")
        assert Money.zero().amount == 0

    def test_prints_with_sign_and_cents(self) -> None:
        assert str(Money(Decimal("-17.9"))) == "-$17.90"
        assert str(Money(Decimal("1234.5"))) == "$1,234.50"

    def test_refuses_floats(self) -> None:
        with pytest.raises(InvalidValue):
            Money(1.5)  # type: ignore[arg-type]


class TestConfidence:
    @pytest.mark.parametrize("raw", ["0", "0.7", "1"])
    def test_zero_to_one(self, raw: str) -> None:
        assert str(Confidence(Decimal(raw))) == raw

    @pytest.mark.parametrize("raw", ["-0.01", "1.01"])
    def test_out_of_range_is_refused(self, raw: str) -> None:
        with pytest.raises(InvalidValue):
            Confidence(Decimal(raw))


class TestOrderRef:
    def test_valid_reference(self) -> None:
        assert str(OrderRef("ob-20251128-WULF-entry")) == "ob-20251128-WULF-entry"

    @pytest.mark.parametrize("raw", ["", "-leading", "has space", "x" * 65, 7])
    def test_invalid_reference(self, raw: object) -> None:
        with pytest.raises(InvalidValue):
            OrderRef(raw)  # type: ignore[arg-type]


def test_to_decimal_names_the_value_in_its_error() -> None:
    with pytest.raises(InvalidValue, match="price: expected a number, found 'x'"):
        to_decimal("price", "x")


def test_decimal_from_float_takes_the_shortest_repr_and_rounds_on_request() -> None:
    assert decimal_from_float(0.1 + 0.2) == Decimal("0.30000000000000004")
    assert decimal_from_float(0.1 + 0.2, 4) == Decimal("0.3")
    assert Price.from_float(98.4999999, 4) == Price(Decimal("98.5"))
