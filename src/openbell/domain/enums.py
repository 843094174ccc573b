"""The closed vocabularies of the domain. Values are our words, never IB's."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"


class TimeInForce(StrEnum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"
    AT_THE_OPEN = "AT_THE_OPEN"
    """Participates in the opening auction only (IB's ``OPG``): MOO and LOO orders."""


class OrderRole(StrEnum):
    """Why an order exists; decides which process owns it (ARCHITECTURE.md §2)."""

    ENTRY = "ENTRY"
    TARGET = "TARGET"
    STOP = "STOP"
    FLATTEN = "FLATTEN"

    @property
    def is_exit(self) -> bool:
        return self is not OrderRole.ENTRY


class ExitReason(StrEnum):
    TARGET = "TARGET"
    STOP = "STOP"
    FLATTEN = "FLATTEN"
    MANUAL = "MANUAL"
    KILL = "KILL"


class LlmOutcome(StrEnum):
    """What one LLM scoring call came to."""

    SCORED = "SCORED"
    """A valid answer: its confidence is the candidate's."""
    NO_TRADE = "NO_TRADE"
    """A valid answer that does not see a long trade (openbell only buys)."""
    INVALID = "INVALID"
    """Not the JSON asked for: prose, garbage, a missing field or a value out of range."""
    REFUSED = "REFUSED"
    """The model declined to answer."""
    FAILED = "FAILED"
    """No answer: a timeout, a rate limit or a server error after the retries."""
    OVER_BUDGET = "OVER_BUDGET"
    """Not sent: the day's token or cost budget is spent."""


class PositionRole(StrEnum):
    """Where a position came from."""

    MASTER = "MASTER"
    """One of the morning's top-N picks, entered at the open."""
    RESCAN = "RESCAN"
    """An approved entry from an intraday rescan."""
    ADOPTED = "ADOPTED"
    """An outside position a person explicitly brought under management."""


class PositionState(StrEnum):
    PLANNED = "PLANNED"
    ENTRY_SUBMITTED = "ENTRY_SUBMITTED"
    OPEN = "OPEN"
    EXITING = "EXITING"
    CLOSED = "CLOSED"
    ABANDONED = "ABANDONED"
    """The entry never filled (rejected, cancelled, unfilled at the auction, or not sent)."""
    RELEASED = "RELEASED"
    """Given back to the user: openbell no longer manages the shares."""

    @property
    def holds_shares(self) -> bool:
        """True while the ledger holds shares of the position (it is "active")."""
        return self in (PositionState.OPEN, PositionState.EXITING)

    @property
    def is_terminal(self) -> bool:
        return self in (PositionState.CLOSED, PositionState.ABANDONED, PositionState.RELEASED)


class OrderStatus(StrEnum):
    """Our order lifecycle, translated from the broker's status strings at the edge."""

    PENDING = "PENDING"
    """Recorded before sending: a crash after this point is found again by ``order_ref``."""
    SUBMITTED = "SUBMITTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"

    @property
    def is_terminal(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED)
