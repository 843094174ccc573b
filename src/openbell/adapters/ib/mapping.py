"""Translate between openbell's vocabulary and ib_async's (IB's). Pure: no I/O, no clock.

Everything IB-shaped (camelCase fields, status words, error codes, ``BOT``/``SLD``, the
``1.7976931348623157e308`` "unset" double, ``"BRK B"``) becomes our words here and nowhere
else (ARCHITECTURE.md §5). Facts come from ``shared/docs/IBKR.md`` (cited by section) and
from the source of the pinned ib_async 2.1.0.

openbell never modifies a working order: the Broker port only places and cancels. So every
order-related message from IB answers either a placement or a cancel, which is what lets
this module classify codes such as 110 without knowing the request behind them.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Final

from ib_async import Execution, Order, Stock

from openbell.domain.enums import OrderStatus, OrderType, Side, TimeInForce
from openbell.domain.errors import InvalidValue
from openbell.domain.orders import Fill, OrderIntent, require_aware
from openbell.domain.values import (
    COMMISSION_PLACES,
    Money,
    OrderRef,
    Price,
    Quantity,
    Symbol,
    decimal_from_float,
)

# --- contracts ---------------------------------------------------------------------------

ROUTING_EXCHANGE: Final = "SMART"
"""IB's smart router: it picks the venue per order and sends OPG orders to the primary
listing's opening auction, so one contract serves MOO entries and intraday exits alike."""
CURRENCY: Final = "USD"
_PRIMARY_EXCHANGE = re.compile(r"^[A-Z][A-Z0-9.]{0,15}$")
# IB writes a share class with a space ("BRK B"); openbell writes "BRK.B" (or "BRK-B").
_CLASS_SEPARATOR = re.compile(r"[.\-]")


def ib_symbol(symbol: Symbol) -> str:
    """IB's spelling of ``symbol``: a share class follows a space (``BRK.B`` → ``BRK B``)."""
    return _CLASS_SEPARATOR.sub(" ", symbol.value)


def domain_symbol(ib_symbol_text: str) -> Symbol:
    """Our :class:`Symbol` for an IB contract symbol (``BRK B`` → ``BRK.B``)."""
    if isinstance(ib_symbol_text, str):
        try:
            return Symbol(ib_symbol_text.strip().replace(" ", "."))
        except InvalidValue:
            pass
    raise InvalidValue(
        "IB contract symbol", "a US ticker such as 'AAPL' or 'BRK B'", ib_symbol_text
    )


def ib_contract(symbol: Symbol, *, primary_exchange: str = "") -> Stock:
    """A US stock routed through SMART and priced in USD.

    Symbol, ``STK`` and ``USD`` identify a US listing in almost every case, so no primary
    exchange is set by default: a fixed one would be wrong after a listing moves. Pass
    ``primary_exchange`` (``NASDAQ``, ``NYSE``, ``ARCA``...) only to settle a symbol IB
    reports as ambiguous (error 200), typically from the contract's qualified details.
    """
    if not isinstance(primary_exchange, str) or not (
        primary_exchange == "" or _PRIMARY_EXCHANGE.match(primary_exchange)
    ):
        raise InvalidValue(
            "primary_exchange", "'' or an IB exchange code such as 'NASDAQ'", primary_exchange
        )
    return Stock(ib_symbol(symbol), ROUTING_EXCHANGE, CURRENCY, primaryExchange=primary_exchange)


# --- orders ------------------------------------------------------------------------------

_IB_ACTIONS: Final[Mapping[Side, str]] = {Side.BUY: "BUY", Side.SELL: "SELL"}
_IB_ORDER_TYPES: Final[Mapping[OrderType, str]] = {
    OrderType.MARKET: "MKT",
    OrderType.LIMIT: "LMT",
    OrderType.STOP: "STP",
    OrderType.STOP_LIMIT: "STP LMT",
}
# AT_THE_OPEN is IB's OPG: MKT + OPG is a Market-On-Open, LMT + OPG a Limit-On-Open (IBKR.md §3.1).
_IB_TIFS: Final[Mapping[TimeInForce, str]] = {
    TimeInForce.DAY: "DAY",
    TimeInForce.GTC: "GTC",
    TimeInForce.IOC: "IOC",
    TimeInForce.AT_THE_OPEN: "OPG",
}
OCA_REDUCE_WITH_BLOCK: Final = 2
"""The OCA type of every group openbell sends (IBKR.md §2.5): when one member fills, IB
reduces the others share for share and blocks overfills meanwhile. A target that fills 40 of
100 shares leaves the stop covering the 60 still held; type 1 (cancel) would leave them
unprotected. The backtest's SimBroker sends the same type, so both venues behave alike."""


def ib_order(intent: OrderIntent, *, account: str = "") -> Order:
    """The ib_async :class:`Order` for ``intent``, ready for ``IB.placeOrder``.

    ``orderId`` stays 0 for ib_async to assign; ``orderRef`` carries our reference so a
    restart finds the order again. Prices go out as the float of their Decimal, whose repr
    is the same digits (``Decimal("10.26")`` is sent as ``10.26``).
    """
    if not isinstance(intent, OrderIntent):
        raise InvalidValue("order intent", "an OrderIntent", intent)
    if not isinstance(account, str):
        raise InvalidValue("IB account", "an account code such as 'DU123456' or ''", account)
    order = Order(
        action=_IB_ACTIONS[intent.side],
        totalQuantity=float(intent.quantity.value),
        orderType=_IB_ORDER_TYPES[intent.order_type],
        tif=_IB_TIFS[intent.time_in_force],
        orderRef=str(intent.order_ref),
        account=account,
        transmit=True,
        # IB ignores outsideRth on OPG and market orders and says so with warning 2109
        # (IBKR.md §2.2, §3.3); OrderIntent already refuses those, this only keeps the wire clean.
        outsideRth=intent.outside_rth and intent.time_in_force is not TimeInForce.AT_THE_OPEN,
    )
    if intent.limit_price is not None:
        order.lmtPrice = float(intent.limit_price.value)
    if intent.stop_price is not None:
        order.auxPrice = float(intent.stop_price.value)
    if intent.oca_group is not None:
        if not intent.oca_group.strip():
            raise InvalidValue("oca_group", "a non-empty OCA group name", intent.oca_group)
        order.ocaGroup = intent.oca_group
        order.ocaType = OCA_REDUCE_WITH_BLOCK
    return order


# --- order status ------------------------------------------------------------------------

# IB's status words (ib_async order.py OrderStatus; TWS API "order_submission" page).
_WORKING_WORDS: Final = frozenset({"PreSubmitted", "Submitted"})
# Words that add nothing our ledger needs:
#   PendingSubmit / ApiPending - not yet acknowledged by IB (the ledger already says PENDING);
#   PendingCancel - a cancel is on its way, but the order may still fill until IB confirms;
#   ValidationError - ib_async's own word for a live order that drew a warning (399, 2109...,
#     IBKR.md §2.7), not a rejection;
#   ApiUpdate - an acknowledged modification (openbell never modifies).
_SILENT_WORDS: Final = frozenset(
    {"PendingSubmit", "ApiPending", "PendingCancel", "ValidationError", "ApiUpdate"}
)
_CANCELLED_WORDS: Final = frozenset({"Cancelled", "ApiCancelled"})
_ALL_WORDS: Final = (
    _WORKING_WORDS | _SILENT_WORDS | _CANCELLED_WORDS | frozenset({"Filled", "Inactive"})
)


def domain_status(
    ib_status: str, filled: float, remaining: float, *, why_held: str = ""
) -> OrderStatus | None:
    """Our status for an IB ``orderStatus``, or None when the word says nothing new.

    * ``PreSubmitted``/``Submitted``: SUBMITTED (a MOO waiting for the auction is
      PreSubmitted); PARTIALLY_FILLED once any share filled. Only the word ``Filled`` makes
      an order FILLED: the counts never declare an order finished on their own.
    * ``Filled`` → FILLED; ``Cancelled``/``ApiCancelled`` → CANCELLED.
    * ``Inactive`` (IB: "received but no longer active because it was rejected or
      cancelled") → REJECTED; CANCELLED if it had filled shares, since a rejection means the
      order never worked; None while IB holds it with a ``why_held`` reason (e.g. a short
      sale waiting for a locate): such an order may still execute.
    * the other words → None (see ``_SILENT_WORDS``).

    Beware: ib_async itself sets a trade's status to ``Cancelled`` when an error code
    arrives for it (IBKR.md §2.7); classify those errors with :func:`classify_error`
    rather than trusting that synthetic word.
    """
    filled_shares = _share_count("IB filled quantity", filled)
    _share_count("IB remaining quantity", remaining)
    if not isinstance(ib_status, str) or ib_status not in _ALL_WORDS:
        raise InvalidValue("IB order status", f"one of {', '.join(sorted(_ALL_WORDS))}", ib_status)
    if ib_status in _WORKING_WORDS:
        return OrderStatus.PARTIALLY_FILLED if filled_shares > 0 else OrderStatus.SUBMITTED
    if ib_status == "Filled":
        return OrderStatus.FILLED
    if ib_status in _CANCELLED_WORDS:
        return OrderStatus.CANCELLED
    if ib_status == "Inactive":
        return _inactive_status(filled_shares, why_held)
    return None


def _inactive_status(filled_shares: float, why_held: str) -> OrderStatus | None:
    if filled_shares > 0:
        return OrderStatus.CANCELLED
    if isinstance(why_held, str) and why_held.strip():
        return None
    return OrderStatus.REJECTED


def _share_count(what: str, raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise InvalidValue(what, "a number of shares", raw)
    if not math.isfinite(raw) or raw < 0:
        raise InvalidValue(what, "a finite share count of 0 or more", raw)
    return float(raw)


# --- error codes ---------------------------------------------------------------------------


class ErrorKind(StrEnum):
    """What an IB error code means for openbell, named by what to do about it."""

    INFORMATIONAL = "INFORMATIONAL"
    """Nothing changed: an order it names lives on. Log it."""
    ORDER_REJECTED = "ORDER_REJECTED"
    """The order it names never worked and never will: REJECTED."""
    CANCEL_CONFIRMED = "CANCEL_CONFIRMED"
    """IB cancelled the order it names (202)."""
    CANCEL_TARGET_GONE = "CANCEL_TARGET_GONE"
    """Our cancel found nothing this client can cancel: the order is unknown to this client
    (another clientId's, IBKR.md §3.6) or already terminal. Never a cancellation by itself:
    the order's own status reports say how it ended."""
    CANCEL_REFUSED = "CANCEL_REFUSED"
    """Our cancel was refused, and the order may still be working (e.g. in an auction's
    no-cancel window). Keep treating it as live until its status says otherwise."""
    CONNECTION_LOST = "CONNECTION_LOST"
    """TWS/Gateway lost IB's servers or dropped us: stop sending, wait for a restore."""
    CONNECTION_RESTORED_DATA_LOST = "CONNECTION_RESTORED_DATA_LOST"
    """Back, but market-data subscriptions are gone: resubscribe, then reconcile."""
    CONNECTION_RESTORED = "CONNECTION_RESTORED"
    """Back with data maintained: reconcile orders and executions."""
    DATA_FARM = "DATA_FARM"
    """A data farm went up, down or idle. Orders are unaffected; never reconnect on it."""
    CLIENT_ID_IN_USE = "CLIENT_ID_IN_USE"
    """The clientId is taken (often the nightly restart's old session): retry later."""
    PACING = "PACING"
    """A rate limit or a historical-data (HMDS) refusal: back off and retry later."""
    NO_SECURITY = "NO_SECURITY"
    """A contract request found no (or more than one) matching security."""
    OTHER = "OTHER"
    """Not classified: log it and let reconciliation decide."""


# The tables cite IBKR.md §2.6 (codes), §2.7 (how ib_async reacts), §3.4 (resets), §3.5
# (pacing), §3.6 (ownership) and §3.8 (special cases); text is from IB's message-code list.
INFORMATIONAL_CODES: Final = frozenset(
    {
        165,  # HMDS query message
        399,  # order queued until the session opens (MOO before the open)
        404,  # held while shares are located: the order stays live
        2100,  # account data unsubscribed
        2109,  # outsideRth ignored for this order type/destination
        2137,  # cross-side warning
        10167,  # delayed market data shown
        10349,  # TIF set to DAY by an order preset (ib_async 2.1.0 wrongly cancels on it)
    }
)
"""Codes that change nothing. Any other 2100-2199 code not listed elsewhere is also one."""
ORDER_REJECTED_CODES: Final = frozenset(
    {
        103,  # duplicate order id
        106,  # cannot transmit order id
        107,  # cannot transmit incomplete order
        109,  # price outside the order-defaults percentage: not transmitted
        110,  # price not on the tick grid (a placement, since we never modify)
        111,  # TIF incompatible with the order type
        113,  # MOC/LOC need TIF DAY
        116,  # destination exchange is dead
        133,  # submit new order failed
        154,  # security halted
        160,  # size zero
        163,  # price violates the order-defaults percentage constraint
        201,  # order rejected (exchange closed, margin, settled cash...)
        203,  # security not available or allowed for this account
        382,  # price violates the ticks constraint of the order defaults
        383,  # size violates the size constraint of the order defaults
        387,  # order type unsupported for this exchange and security type
        388,  # size below the minimum
        403,  # invalid stop price
        434,  # size zero
        460,  # no trading permissions
    }
)
"""Codes that kill the order they name. 321 (server validation error) is left out on purpose:
ib_async keeps the order live on it, so it stays OTHER and the order's status decides."""
CANCEL_CONFIRMED_CODES: Final = frozenset({202})
# 10147 order to cancel not found (or another clientId's); 10148 cannot be cancelled, state:
# Filled/Cancelled (IBKR.md §2.6, §3.6).
CANCEL_TARGET_GONE_CODES: Final = frozenset({10147, 10148})
# 136 this order cannot be cancelled; 161 cancel attempted while not in a cancellable state.
CANCEL_REFUSED_CODES: Final = frozenset({136, 161})
# 1100 IB-TWS connectivity lost; 1300 socket port reset, this connection dropped; 2110 TWS-server
# connectivity broken, "restored automatically" (it stops orders like 1100 does, IBKR.md §3.8).
CONNECTION_LOST_CODES: Final = frozenset({1100, 1300, 2110})
CONNECTION_RESTORED_DATA_LOST_CODES: Final = frozenset({1101})
CONNECTION_RESTORED_CODES: Final = frozenset({1102})
# Market data (2103 broken, 2104 OK, 2108 idle, 2119 connecting), HMDS (2105 broken, 2106 OK,
# 2107 idle) and sec-def (2157 broken, 2158 OK) farms.
DATA_FARM_CODES: Final = frozenset({2103, 2104, 2105, 2106, 2107, 2108, 2119, 2157, 2158})
CLIENT_ID_IN_USE_CODES: Final = frozenset({326})
# 100 messages/s exceeded, 101 ticker limit, 162 HMDS error (pacing violation, or refused).
PACING_CODES: Final = frozenset({100, 101, 162})
NO_SECURITY_CODES: Final = frozenset({200})  # no security definition / ambiguous contract

_TABLES: Final[tuple[tuple[frozenset[int], ErrorKind], ...]] = (
    (INFORMATIONAL_CODES, ErrorKind.INFORMATIONAL),
    (ORDER_REJECTED_CODES, ErrorKind.ORDER_REJECTED),
    (CANCEL_CONFIRMED_CODES, ErrorKind.CANCEL_CONFIRMED),
    (CANCEL_TARGET_GONE_CODES, ErrorKind.CANCEL_TARGET_GONE),
    (CANCEL_REFUSED_CODES, ErrorKind.CANCEL_REFUSED),
    (CONNECTION_LOST_CODES, ErrorKind.CONNECTION_LOST),
    (CONNECTION_RESTORED_DATA_LOST_CODES, ErrorKind.CONNECTION_RESTORED_DATA_LOST),
    (CONNECTION_RESTORED_CODES, ErrorKind.CONNECTION_RESTORED),
    (DATA_FARM_CODES, ErrorKind.DATA_FARM),
    (CLIENT_ID_IN_USE_CODES, ErrorKind.CLIENT_ID_IN_USE),
    (PACING_CODES, ErrorKind.PACING),
)
_WARNING_RANGE: Final = range(2100, 2200)


def classify_error(code: int, *, about_order: bool = False) -> ErrorKind:
    """What IB error ``code`` means. ``about_order`` says the message's id is one of our
    order ids; it only matters for 200, which rejects an order but answers a contract
    request with "no security definition"."""
    if isinstance(code, bool) or not isinstance(code, int):
        raise InvalidValue("IB error code", "an integer code such as 201", code)
    if code in NO_SECURITY_CODES:
        return ErrorKind.ORDER_REJECTED if about_order else ErrorKind.NO_SECURITY
    for codes, kind in _TABLES:
        if code in codes:
            return kind
    return ErrorKind.INFORMATIONAL if code in _WARNING_RANGE else ErrorKind.OTHER


def is_informational(code: int) -> bool:
    """True when ``code`` changes nothing: an order it names keeps working."""
    return classify_error(code) is ErrorKind.INFORMATIONAL


# --- executions ------------------------------------------------------------------------

_IB_SIDES: Final[Mapping[str, Side]] = {
    "BOT": Side.BUY,
    "SLD": Side.SELL,
    "BUY": Side.BUY,
    "SELL": Side.SELL,
}
OPENBELL_REF_PREFIX: Final = "ob-"
"""How every openbell orderRef starts (``strategy.management.order_ref``). An IB order whose
orderRef lacks it is someone else's: a manual trade or another system's."""
UNSET_DOUBLE: Final = sys.float_info.max
"""IB's "no value" double (1.7976931348623157e308). ib_async 2.1.0 replaces it with 0 in a
commission report's P&L and yield, but passes an unset commission through unchanged."""


def domain_side(ib_side: str) -> Side:
    """Our side for an execution's ``BOT``/``SLD`` or an order's ``BUY``/``SELL``."""
    side = _IB_SIDES.get(ib_side) if isinstance(ib_side, str) else None
    if side is None:
        raise InvalidValue("IB side", "one of BOT, SLD, BUY, SELL", ib_side)
    return side


def our_order_ref(text: str, *, prefix: str = OPENBELL_REF_PREFIX) -> OrderRef | None:
    """The orderRef of an IB order or execution as our :class:`OrderRef`, or None when it is
    empty, foreign (no ``prefix``) or not a valid OrderRef. Never raises on ``text``.

    The prefix is a first filter only; the ledger decides what is ours. ``prefix=""``
    accepts any valid OrderRef (tests that place orders with short refs).
    """
    if not isinstance(text, str) or not text.startswith(prefix):
        return None
    try:
        return OrderRef(text)
    except InvalidValue:
        return None


def domain_commission(commission: float | None) -> Money | None:
    """The commission of one execution in USD, or None when IB has not set it.

    Pass None until IB's commission report has arrived: a fresh ib_async ``Fill`` carries a
    default ``CommissionReport`` whose 0.0 is a placeholder, not a free trade.
    """
    if commission is None:
        return None
    if isinstance(commission, bool) or not isinstance(commission, int | float):
        raise InvalidValue("IB commission", "a number of dollars or None", commission)
    if commission == UNSET_DOUBLE:
        return None
    if not math.isfinite(commission):
        raise InvalidValue("IB commission", "a finite number of dollars", commission)
    return Money(decimal_from_float(commission, COMMISSION_PLACES))


def domain_fill(
    execution: Execution,
    symbol: str,
    commission: float | None,
    *,
    ref_prefix: str = OPENBELL_REF_PREFIX,
) -> Fill | None:
    """Our :class:`Fill` for an IB execution, or None when its orderRef is not ours.

    ``symbol`` is the IB contract's symbol (``BRK B`` allowed); ``commission`` is the
    commission report's, or None before it arrives (see :func:`domain_commission`).
    """
    if not isinstance(execution, Execution):
        raise InvalidValue("IB execution", "an ib_async Execution", execution)
    order_ref = our_order_ref(execution.orderRef, prefix=ref_prefix)
    if order_ref is None:
        return None
    what = f"IB execution {execution.execId!r}"
    executed_at: datetime = execution.time
    require_aware(f"{what} time", executed_at)
    return Fill(
        execution_id=execution.execId,
        order_ref=order_ref,
        symbol=domain_symbol(symbol),
        side=domain_side(execution.side),
        quantity=_whole_shares(what, execution.shares),
        price=_fill_price(what, execution.price),
        executed_at=executed_at,
        commission=domain_commission(commission),
    )


def _whole_shares(what: str, shares: object) -> Quantity:
    if (
        isinstance(shares, bool)
        or not isinstance(shares, int | float)
        or not math.isfinite(shares)
        or shares != int(shares)
    ):
        raise InvalidValue(
            f"{what} shares", "a whole number of shares (openbell never trades fractions)", shares
        )
    return Quantity(int(shares))


def _fill_price(what: str, price: object) -> Price:
    if isinstance(price, bool) or not isinstance(price, int | float) or not math.isfinite(price):
        raise InvalidValue(f"{what} price", "a finite price in dollars", price)
    return Price.from_float(price, 4)
