"""Server→client order lifecycle messages at server version 178, and the views they take.

``openOrder``, ``completedOrder``, ``orderStatus``, ``execDetails`` and ``commissionReport``,
field by field as ``ib_async/decoder.py`` (2.1.0) reads them at ``serverVersion`` 178. Import
them from :mod:`openbell.venue.tws.answers`, the public surface. Fields openbell has no value
for are filled as real TWS fills them in the captures quoted in IBKR.md §1.4
(``nautilus_trader`` test resources ``open_order_1.txt``, ``execution_details_1.txt``,
``commission_report_1.txt``, ``order_status_1.txt``):

* unset doubles are empty, except the blocks TWS fills with ``1.7976931348623157E308``;
  unset ints that TWS writes as ``2147483647`` (display size, scale sizes) are written so;
* ``lmtPrice`` and ``auxPrice`` are ``0.0`` when the order has none;
* the contract's ``right`` is ``?`` in order echoes and empty in executions;
* ``deltaNeutralOrderType`` is the text ``None``, which is truthy to the decoder, so the
  delta-neutral fields that follow it are sent too (8 in ``openOrder``, 4 in
  ``completedOrder``): 135 fields for a stock ``openOrder`` at 178, as TWS sends;
* ``tradingClass`` is ``NMS`` for a Nasdaq listing, else the symbol; ``localSymbol`` is the
  symbol;
* times are ``yyyymmdd hh:mm:ss US/Eastern`` (what a US-configured TWS writes), which
  ``ib_async.util.parseIBDatetime`` reads back as the same instant, except in the repeated
  hour when daylight saving time ends;
* quantities are written as IB writes its Decimal quantities: ``100``, not ``100.0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from openbell.domain.errors import InvalidValue

UNSET_DOUBLE = 1.7976931348623157e308
"""What IB sends for a double that has no value (Java's ``Double.MAX_VALUE``)."""
EASTERN = "US/Eastern"
"""The time zone name IB uses for US exchanges and a US-configured TWS."""
NASDAQ_TRADING_CLASS = "NMS"
"""IB's trading class (and market name) for stocks listed on Nasdaq."""
_UNSET = "1.7976931348623157E308"  # UNSET_DOUBLE as TWS writes it (Java's Double.toString)
_UNSET_INT = 2147483647  # Integer.MAX_VALUE, IB's "no value" for ints


@dataclass(frozen=True, slots=True)
class ContractView:
    """A US stock as IB describes it in the messages it sends (``secType`` always ``STK``)."""

    con_id: int
    symbol: str
    exchange: str = "SMART"
    primary_exchange: str = "NASDAQ"
    currency: str = "USD"

    @property
    def local_symbol(self) -> str:
        """The symbol on its primary exchange: the symbol itself for US stocks."""
        return self.symbol

    @property
    def trading_class(self) -> str:
        """``NMS`` for a Nasdaq listing, the symbol otherwise (what IB reports)."""
        return NASDAQ_TRADING_CLASS if self.primary_exchange == "NASDAQ" else self.symbol


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order as the gateway echoes it in ``openOrder`` and ``completedOrder``.

    ``quantity`` and ``filled`` are shares; prices are dollars, ``None`` when the order type
    has none (sent as ``0.0``, as TWS does). ``status`` is IB's status word.
    """

    order_id: int
    client_id: int
    perm_id: int
    contract: ContractView
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    aux_price: float | None
    tif: str
    oca_group: str
    oca_type: int
    account: str
    order_ref: str
    outside_rth: bool
    parent_id: int
    transmit: bool
    status: str
    filled: float = 0.0


@dataclass(frozen=True, slots=True)
class ExecutionView:
    """One fill as ``execDetails`` reports it.

    ``side`` is ``BOT`` or ``SLD``; ``shares`` and ``cum_qty`` are shares; prices are dollars.
    ``last_liquidity`` uses IB's codes: 1 added liquidity, 2 removed liquidity, 3 routed out;
    0 (the default) means not reported.
    """

    exec_id: str
    time: datetime
    side: str
    shares: float
    price: float
    cum_qty: float
    avg_price: float
    exchange: str = "NASDAQ"
    last_liquidity: int = 0

    def __post_init__(self) -> None:
        _require_aware("execution time", self.time)
        if self.side not in ("BOT", "SLD"):
            raise InvalidValue("execution side", "BOT or SLD", self.side)


def _require_aware(what: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(what, "a timezone-aware datetime", value)


def quantity_text(value: float) -> str:
    """A quantity as IB writes its Decimal quantities: ``164`` for whole shares, else ``0.5``."""
    return str(int(value)) if float(value).is_integer() else str(value)


def ib_time_text(instant: datetime, time_zone: str = EASTERN) -> str:
    """``yyyymmdd hh:mm:ss <zone>``: how TWS writes an instant, to the second."""
    _require_aware("instant", instant)
    local = instant.astimezone(ZoneInfo(time_zone))
    return f"{local:%Y%m%d %H:%M:%S} {time_zone}"


# continuousUpdate .. algoStrategy of openOrder, none of which openbell uses.
_OPEN_ORDER_EXTRAS: tuple[object, ...] = (
    *(0, 0),  # continuousUpdate, referencePriceType
    *("", ""),  # trailStopPrice, trailingPercent
    *("", ""),  # basisPoints, basisPointsType
    "",  # comboLegsDescrip
    *(0, 0, 0),  # numLegs, numOrderLegs, numSmartComboRoutingParams: no lists follow
    *(_UNSET_INT, _UNSET_INT, ""),  # scaleInitLevelSize, scaleSubsLevelSize, increment
    "",  # hedgeType: empty, so no hedgeParam
    *(0, "", "IB", 0),  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    0,  # deltaNeutralContract present: no
    "",  # algoStrategy: empty, so no algo parameters
)

# numConditions .. midOffsetAtHalf of openOrder (the last three groups from 159, 160/162, 170).
_OPEN_ORDER_TAIL: tuple[object, ...] = (
    0,  # numConditions: none
    "None",  # adjustedOrderType
    *(_UNSET,) * 6,  # triggerPrice, trailStopPrice, lmtPriceOffset, adjusted stop/limit/trail
    0,  # adjustableTrailingUnit
    *("", "", ""),  # softDollarTier name, value, display name
    0,  # cashQty
    *(1, 0, 0, 0),  # dontUseAutoPriceForHedge, isOmsContainer, discretionaryUpToLimit, priceMgmt
    *("", ""),  # duration (>=159), postToAts (>=160)
    0,  # autoCancelParent (>=162)
    *("",) * 5,  # minTradeQty .. midOffsetAtHalf (>=170)
)

# continuousUpdate .. algoStrategy of completedOrder.
_COMPLETED_ORDER_EXTRAS: tuple[object, ...] = (
    *(0, 0, "", ""),  # continuousUpdate, referencePriceType, trailStopPrice, trailingPercent
    "",  # comboLegsDescrip
    *(0, 0, 0),  # numLegs, numOrderLegs, numSmartComboRoutingParams
    *(_UNSET_INT, _UNSET_INT, ""),  # scaleInitLevelSize, scaleSubsLevelSize, increment
    "",  # hedgeType
    *("", "IB", 0),  # clearingAccount, clearingIntent, notHeld
    0,  # deltaNeutralContract present: no
    "",  # algoStrategy
)


def _order_contract(contract: ContractView, *, exchange: str, right: str) -> list[object]:
    # conId .. tradingClass without primaryExchange: the 11 fields order messages carry.
    return [
        contract.con_id,
        contract.symbol,
        "STK",
        "",  # lastTradeDateOrContractMonth
        0,  # strike
        right,
        "",  # multiplier
        exchange,
        contract.currency,
        contract.local_symbol,
        contract.trading_class,
    ]


def _order_terms(order: OrderView) -> list[object]:
    # action .. orderRef, the same in both order messages.
    return [
        order.action,
        quantity_text(order.quantity),
        order.order_type,
        0.0 if order.limit_price is None else order.limit_price,
        0.0 if order.aux_price is None else order.aux_price,
        order.tif,
        order.oca_group,
        order.account,
        "",  # openClose
        0,  # origin: customer
        order.order_ref,
    ]


def _open_order_rules(order: OrderView) -> list[object]:
    # modelCode .. the delta-neutral fields.
    return [
        *("", "", "", "", ""),  # modelCode, goodTillDate, rule80A, percentOffset, settlingFirm
        *(0, "", -1),  # shortSaleSlot, designatedLocation, exemptCode
        0,  # auctionStrategy
        *("", "", "", "", ""),  # startingPrice, stockRefPrice, delta, stockRange lower/upper
        _UNSET_INT,  # displaySize
        *(0, 0, 0, ""),  # blockOrder, sweepToFill, allOrNone, minQty
        order.oca_type,
        *(0, 0, ""),  # eTradeOnly, firmQuoteOnly, nbboPriceCap
        order.parent_id,
        *(0, "", 0),  # triggerMethod, volatility, volatilityType
        *("None", ""),  # deltaNeutralOrderType, deltaNeutralAuxPrice
        *(0, "", "", "", "?", 0, 0, ""),  # the 8 delta-neutral fields "None" calls for
    ]


def open_order(order: OrderView) -> list[object]:
    """``openOrder`` (5) for a stock order: 135 fields at server version 178, no version field.

    ``orderState`` carries ``order.status``; its margin fields are unset, as TWS sends them
    for an order that is not a what-if.
    """
    return [
        5,
        order.order_id,
        *_order_contract(order.contract, exchange=order.contract.exchange, right="?"),
        *_order_terms(order),
        order.client_id,
        order.perm_id,
        order.outside_rth,
        *(0, 0, ""),  # hidden, discretionaryAmt, goodAfterTime
        *("", "", "", ""),  # sharesAllocation, faGroup, faMethod, faPercentage (no faProfile)
        *_open_order_rules(order),
        *_OPEN_ORDER_EXTRAS,
        *(0, 0),  # solicited, whatIf
        order.status,
        *(_UNSET,) * 9,  # initMargin/maintMargin/equityWithLoan before, change, after
        *("", "", "", "", ""),  # commission, min, max, commissionCurrency, warningText
        *(0, 0),  # randomizeSize, randomizePrice
        *_OPEN_ORDER_TAIL,
    ]


def completed_order(order: OrderView, completed_time: str, completed_status: str) -> list[object]:
    """``completedOrder`` (101) for a stock order: 100 fields at 178, no order or client id.

    ``order.filled`` is the filled quantity; ``completed_time`` is passed through as text
    (TWS writes e.g. ``20251029 09:30:01 America/New_York``), ``completed_status`` too
    (e.g. ``Filled``, ``Cancelled by Trader``).
    """
    return [
        101,
        *_order_contract(order.contract, exchange=order.contract.exchange, right="?"),
        *_order_terms(order),
        order.perm_id,
        order.outside_rth,
        *(0, 0, ""),  # hidden, discretionaryAmt, goodAfterTime
        *("", "", ""),  # faGroup, faMethod, faPercentage (no faProfile)
        *("", "", "", "", ""),  # modelCode, goodTillDate, rule80A, percentOffset, settlingFirm
        *(0, "", -1),  # shortSaleSlot, designatedLocation, exemptCode
        *("", "", "", "", ""),  # startingPrice, stockRefPrice, delta, stockRange lower/upper
        *(_UNSET_INT, 0, 0, ""),  # displaySize, sweepToFill, allOrNone, minQty
        order.oca_type,
        *(0, "", 0),  # triggerMethod, volatility, volatilityType
        *("None", ""),  # deltaNeutralOrderType, deltaNeutralAuxPrice
        *(0, 0, 0, ""),  # the 4 delta-neutral fields completedOrder reads
        *_COMPLETED_ORDER_EXTRAS,
        0,  # solicited
        order.status,
        *(0, 0),  # randomizeSize, randomizePrice
        0,  # numConditions
        *(_UNSET, _UNSET, 0),  # trailStopPrice, lmtPriceOffset, cashQty
        *(1, 0, ""),  # dontUseAutoPriceForHedge, isOmsContainer, autoCancelDate
        quantity_text(order.filled),
        *(0, 0, "", 0, 0, ""),  # refFuturesConId .. parentPermId
        completed_time,
        completed_status,
        *("",) * 5,  # minTradeQty .. midOffsetAtHalf (>=170)
    ]


def order_status(
    order_id: int,
    status: str,
    filled: float,
    remaining: float,
    avg_fill_price: float,
    perm_id: int,
    parent_id: int,
    last_fill_price: float,
    client_id: int,
    why_held: str = "",
    mkt_cap_price: float = 0.0,
) -> list[object]:
    """``orderStatus`` (3): no version field from server version 131; quantities in shares."""
    return [
        3,
        order_id,
        status,
        quantity_text(filled),
        quantity_text(remaining),
        avg_fill_price,
        perm_id,
        parent_id,
        last_fill_price,
        client_id,
        why_held,
        mkt_cap_price,
    ]


def exec_details(
    req_id: int, order: OrderView, execution: ExecutionView, *, time_zone: str = EASTERN
) -> list[object]:
    """``execDetails`` (11): 32 fields at 178 (``pendingPriceRevision`` is new in 178).

    ``req_id`` is -1 for a live fill, the request's id when answering ``reqExecutions``. The
    contract's exchange is the execution's; the time is ``yyyymmdd hh:mm:ss <time_zone>``.
    """
    return [
        11,
        req_id,
        order.order_id,
        *_order_contract(order.contract, exchange=execution.exchange, right=""),
        execution.exec_id,
        ib_time_text(execution.time, time_zone),
        order.account,
        execution.exchange,
        execution.side,
        quantity_text(execution.shares),
        execution.price,
        order.perm_id,
        order.client_id,
        0,  # liquidation
        quantity_text(execution.cum_qty),
        execution.avg_price,
        order.order_ref,
        *("", "", ""),  # evRule, evMultiplier, modelCode
        execution.last_liquidity,
        False,  # pendingPriceRevision
    ]


def commission_report(
    exec_id: str, commission: float, currency: str = "USD", realized_pnl: float | None = None
) -> list[object]:
    """``commissionReport`` (59, version 1): ``commission`` and PnL in ``currency``.

    ``realized_pnl`` None (an opening fill) is sent as unset, as are yield and the yield
    redemption date, as TWS does for stocks.
    """
    pnl: object = _UNSET if realized_pnl is None else realized_pnl
    return [59, 1, exec_id, commission, currency, pnl, _UNSET, ""]
