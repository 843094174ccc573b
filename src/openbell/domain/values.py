"""Small frozen values that validate on construction.

Prices and money are :class:`~decimal.Decimal`, never ``float``: a float price cannot be
represented exactly and compounds rounding into P&L. Adapters that receive floats from the
outside world convert them with the ``from_float`` constructors, which go through ``repr``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from openbell.domain.errors import InvalidValue

_SYMBOL = re.compile(r"^[A-Z][A-Z0-9]{0,9}([.\-][A-Z0-9]{1,4})?$")
_ORDER_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
CENT = Decimal("0.01")


COMMISSION_PLACES = 4
"""Decimals of a commission as openbell books it from IB's float: a hundredth of a cent."""


def decimal_from_float(raw: float, places: int | None = None) -> Decimal:
    """A float from the outside world (numpy, a socket) as the Decimal it was meant to be:
    its shortest repr, rounded first to ``places`` decimals if given."""
    value = float(raw)
    return Decimal(repr(value if places is None else round(value, places)))


def to_decimal(what: str, raw: object) -> Decimal:
    """Convert ``raw`` to a finite Decimal, refusing floats and bools."""
    if isinstance(raw, bool | float):
        raise InvalidValue(what, "a Decimal, int or numeric string (not float or bool)", raw)
    if isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, int | str):
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation:
            raise InvalidValue(what, "a number", raw) from None
    else:
        raise InvalidValue(what, "a Decimal, int or numeric string", raw)
    if not value.is_finite():
        raise InvalidValue(what, "a finite number", raw)
    return value


@dataclass(frozen=True, slots=True)
class Symbol:
    """A US equity ticker such as ``AAPL`` or ``BRK.B``; lower case is upper-cased."""

    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, str):
            raise InvalidValue("symbol", "a ticker string such as 'AAPL'", self.value)
        normal = self.value.strip().upper()
        if not _SYMBOL.match(normal):
            raise InvalidValue(
                "symbol",
                "1-10 letters/digits starting with a letter, optional .X or -X class",
                self.value,
            )
        object.__setattr__(self, "value", normal)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, order=True)
class Price:
    """A strictly positive price per share in US dollars."""

    value: Decimal

    def __post_init__(self) -> None:
        value = to_decimal("price", self.value)
        if value <= 0:
            raise InvalidValue("price", "a price above 0", self.value)
        object.__setattr__(self, "value", value)

    @classmethod
    def from_float(cls, raw: float, places: int | None = None) -> Price:
        """Build from a float received at an adapter edge, via its shortest repr (rounded to
        ``places`` decimals first, if given)."""
        return cls(decimal_from_float(raw, places))

    def times(self, factor: Decimal) -> Price:
        """Return this price scaled by ``factor``, rounded to the cent."""
        return Price((self.value * factor).quantize(CENT))

    def __str__(self) -> str:
        return f"{self.value:f}"


@dataclass(frozen=True, slots=True, order=True)
class Quantity:
    """A strictly positive whole number of shares."""

    value: int

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise InvalidValue("quantity", "a whole number of shares", self.value)
        if self.value <= 0:
            raise InvalidValue("quantity", "a share count above 0", self.value)

    def __int__(self) -> int:
        return self.value

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An amount of US dollars; may be negative (a loss, a fee)."""

    amount: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", to_decimal("money", self.amount))

    @classmethod
    def zero(cls) -> Money:
        return cls(Decimal(0))

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + other.amount)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - other.amount)

    def __neg__(self) -> Money:
        return Money(-self.amount)

    def rounded(self) -> Money:
        """Return the amount rounded to the cent, half up."""
        return Money(self.amount.quantize(CENT, rounding=ROUND_HALF_UP))

    def __str__(self) -> str:
        sign = "-" if self.amount < 0 else ""
        return f"{sign}${abs(self.amount).quantize(CENT, rounding=ROUND_HALF_UP):,}"


@dataclass(frozen=True, slots=True, order=True)
class Confidence:
    """A scorer's confidence in a pick, from 0 to 1 inclusive."""

    value: Decimal

    def __post_init__(self) -> None:
        value = to_decimal("confidence", self.value)
        if not Decimal(0) <= value <= Decimal(1):
            raise InvalidValue("confidence", "a number from 0 to 1", self.value)
        object.__setattr__(self, "value", value)

    def __str__(self) -> str:
        return f"{self.value:f}"


@dataclass(frozen=True, slots=True)
class OrderRef:
    """Our own reference for an order, carried in IB's ``orderRef`` so a restart can find it."""

    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or not _ORDER_REF.match(self.value):
            raise InvalidValue(
                "order_ref", "1-64 characters of letters, digits and _ . : -", self.value
            )

    def __str__(self) -> str:
        return self.value
