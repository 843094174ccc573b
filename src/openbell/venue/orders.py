"""The venue's vocabulary: orders as a client sends them, and the events the venue answers with.

The words are close to IB's (MKT/LMT/STP/STP LMT, DAY/GTC/IOC/OPG, PreSubmitted/Submitted,
error codes 201/202/399/2109/10147/10148) so the simulated TWS server can translate them one to
one, but they are our own frozen types. A :class:`VenueOrder` is *not* validated on
construction: it arrives from outside, so a bad one is answered with a :class:`Rejected` event,
exactly as IB answers with error 201. :meth:`VenueOrder.problem` says what is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from openbell.domain.enums import Side
from openbell.domain.errors import IllegalTransition

__all__ = [
    "Accepted",
    "CancelRejected",
    "Cancelled",
    "Event",
    "Fill",
    "Liquidity",
    "OrderState",
    "OrderWarning",
    "Rejected",
    "Side",
    "Tif",
    "VenueOrder",
    "VenueOrderType",
    "VenueStatus",
    "next_status",
]


class VenueOrderType(StrEnum):
    """IB's order types for US stocks that the venue models."""

    MKT = "MKT"
    LMT = "LMT"
    STP = "STP"
    STP_LMT = "STP LMT"

    @property
    def is_stop(self) -> bool:
        return self in (VenueOrderType.STP, VenueOrderType.STP_LMT)


class Tif(StrEnum):
    """Time in force. ``OPG`` takes part in the opening auction only (MOO, LOO)."""

    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"
    OPG = "OPG"


class VenueStatus(StrEnum):
    """IB's order status words. Held (transmit=False) orders report ``PendingSubmit``."""

    PENDING_SUBMIT = "PendingSubmit"
    PRE_SUBMITTED = "PreSubmitted"
    SUBMITTED = "Submitted"
    FILLED = "Filled"
    CANCELLED = "Cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (VenueStatus.FILLED, VenueStatus.CANCELLED)


_STATUS_STEPS: frozenset[tuple[VenueStatus, VenueStatus]] = frozenset(
    {
        (VenueStatus.PRE_SUBMITTED, VenueStatus.SUBMITTED),
        (VenueStatus.PRE_SUBMITTED, VenueStatus.FILLED),
        (VenueStatus.PRE_SUBMITTED, VenueStatus.CANCELLED),
        (VenueStatus.SUBMITTED, VenueStatus.FILLED),
        (VenueStatus.SUBMITTED, VenueStatus.CANCELLED),
    }
)


def next_status(current: VenueStatus, wanted: VenueStatus) -> VenueStatus:
    """The status after a step to ``wanted``; a repeat is a no-op, anything else raises."""
    if current is wanted or (current, wanted) in _STATUS_STEPS:
        return wanted
    allowed = tuple(sorted(w for (c, w) in _STATUS_STEPS if c is current))
    raise IllegalTransition("venue order", current, wanted, allowed)


class Liquidity(StrEnum):
    """How a fill met the market: resting limit hit, marketable on arrival, or the auction."""

    ADDED = "added"
    REMOVED = "removed"
    AUCTION = "auction"


_OCA_TYPES = (1, 2, 3)


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """One order as a client places it. Prices are dollars, ``quantity`` whole shares.

    ``order_id`` is assigned by the client and must be unique across the venue. ``oca_type``
    matters only with an ``oca_group``: 1 cancels the other members on any fill, 2 and 3
    reduce their remaining quantity by the filled shares.
    """

    order_id: int
    client_id: int
    symbol: str
    action: Side
    quantity: int
    order_type: VenueOrderType
    tif: Tif = Tif.DAY
    limit_price: float | None = None
    stop_price: float | None = None
    outside_rth: bool = False
    oca_group: str | None = None
    oca_type: int = 1
    parent_id: int | None = None
    transmit: bool = True
    order_ref: str = ""

    def problem(self) -> str | None:
        """Why the venue must reject this order, or None if it is well formed."""
        kind = self.order_type
        checks = (
            (not self.symbol.strip(), "The order has no symbol."),
            (
                self.quantity <= 0,
                f"The quantity must be a whole number above 0, not {self.quantity}.",
            ),
            (
                kind in (VenueOrderType.LMT, VenueOrderType.STP_LMT)
                and not _valid(self.limit_price),
                f"A {kind} order needs a limit price above 0.",
            ),
            (
                kind.is_stop and not _valid(self.stop_price),
                f"A {kind} order needs a stop price above 0.",
            ),
            (
                self.tif is Tif.OPG and kind.is_stop,
                "OPG is only available for MKT (MOO) and LMT (LOO) orders.",
            ),
            (
                self.oca_group is not None and self.oca_type not in _OCA_TYPES,
                f"The OCA type must be 1, 2 or 3, not {self.oca_type}.",
            ),
            (self.parent_id == self.order_id, "An order cannot be its own parent."),
        )
        return next((reason for failed, reason in checks if failed), None)

    def describe(self) -> str:
        """``BUY 1 CYCU`` - the words IB uses for the order in message texts."""
        return f"{self.action} {self.quantity} {self.symbol}"


def _valid(price: float | None) -> bool:
    return price is not None and math.isfinite(price) and price > 0


# --- events -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Accepted:
    """The order is known to the venue with ``status`` (PreSubmitted or Submitted).

    Emitted once on acceptance and again whenever the status changes without a fill: a parked
    order going live at its session, a bracket child whose parent filled, a triggered STP LMT.
    """

    order_id: int
    status: VenueStatus
    time: datetime


@dataclass(frozen=True, slots=True)
class Rejected:
    """The order was refused and never worked (IB error 201, or 103 for a duplicate id)."""

    order_id: int
    code: int
    text: str
    time: datetime


@dataclass(frozen=True, slots=True)
class OrderWarning:
    """An informational message about a working order (IB 399 or 2109); the order lives on."""

    order_id: int
    code: int
    text: str
    time: datetime


@dataclass(frozen=True, slots=True)
class CancelRejected:
    """A cancel request was refused (IB 10147 not found, 10148 not cancellable)."""

    order_id: int
    code: int
    text: str
    time: datetime


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution. ``price`` is dollars per share, ``commission`` dollars for this fill.

    ``exec_id`` is ``"<order_id>.<n>"`` for the order's n-th fill, so it is deterministic.
    ``cumulative_quantity``, ``remaining`` and ``average_price`` describe the order after it.
    """

    order_id: int
    exec_id: str
    symbol: str
    action: Side
    quantity: int
    price: float
    time: datetime
    commission: float
    liquidity: Liquidity
    cumulative_quantity: int
    remaining: int
    average_price: float


@dataclass(frozen=True, slots=True)
class Cancelled:
    """The order stopped working. ``code`` is 202 for a client's cancel, else None.

    ``text`` gives the reason (expiry at the close, OCA, an unfilled auction remainder).
    """

    order_id: int
    code: int | None
    text: str
    filled: int
    remaining: int
    time: datetime


Event = Accepted | Rejected | OrderWarning | CancelRejected | Fill | Cancelled


@dataclass(frozen=True, slots=True)
class OrderState:
    """A snapshot of one order: its status, shares filled and still open, average price."""

    order: VenueOrder
    status: VenueStatus
    filled: int
    remaining: int
    average_price: float
