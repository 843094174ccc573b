"""Server→client messages of the TWS API at server version 178 (IBKR.md §1.4): pure encoders.

Each function returns the message's fields, message id first, ready for :func:`wire.encode`.
The layouts follow ``ib_async/decoder.py`` (2.1.0) at ``serverVersion`` 178 field by field
and mirror real TWS captures where one exists. This module is the public surface: it holds
the reference-data and market-data messages and re-exports the order lifecycle messages and
the views from :mod:`openbell.venue.tws.answers_orders` (whose docstring lists the layout
choices: trading class, time text, quantity text, unset values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from openbell.domain.errors import InvalidValue
from openbell.venue.tws.answers_orders import (
    EASTERN,
    NASDAQ_TRADING_CLASS,
    UNSET_DOUBLE,
    ContractView,
    ExecutionView,
    OrderView,
    commission_report,
    completed_order,
    exec_details,
    ib_time_text,
    open_order,
    order_status,
    quantity_text,
)

__all__ = [
    "EASTERN",
    "NASDAQ_TRADING_CLASS",
    "SMART_STOCK_MARKET_RULE",
    "STOCK_ORDER_TYPES",
    "UNSET_DOUBLE",
    "ContractView",
    "ExecutionView",
    "HistoricalBar",
    "OrderView",
    "commission_report",
    "completed_order",
    "contract_details",
    "contract_details_end",
    "error",
    "exec_details",
    "historical_data",
    "ib_time_text",
    "market_data_type",
    "open_order",
    "order_status",
    "quantity_text",
    "tick_price",
    "tick_req_params",
    "tick_size",
    "tick_snapshot_end",
    "tick_string",
]

STOCK_ORDER_TYPES = "DAY,GTC,IOC,LMT,MKT,OCA,OPG,RTH,STP,STPLMT"
"""The order types and attributes the simulated gateway advertises for a stock."""
SMART_STOCK_MARKET_RULE = "26"
"""IB's price-increment rule for US stocks: 0.01 at or above $1, 0.0001 below."""


@dataclass(frozen=True, slots=True)
class HistoricalBar:
    """One bar of ``historicalData``: ``start`` is the aware instant the bar opens."""

    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    wap: float
    count: int

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise InvalidValue("bar start", "a timezone-aware datetime", self.start)


def error(req_id: int, code: int, text: str) -> list[object]:
    """``error`` (4, version 2): ``req_id`` is the order or request id, -1 for none.

    The trailing field is ``advancedOrderRejectJson`` (read from server version 166 on),
    sent empty.
    """
    return [4, 2, req_id, code, text, ""]


def contract_details(
    req_id: int,
    contract: ContractView,
    long_name: str,
    *,
    min_tick: float = 0.01,
    time_zone: str = EASTERN,
    trading_hours: str = "",
    liquid_hours: str = "",
    order_types: str = STOCK_ORDER_TYPES,
    stock_type: str = "COMMON",
) -> list[object]:
    """``contractDetails`` (10) for a stock: 40 fields at server version 178.

    From version 164 the message carries no version field. ``validExchanges`` is SMART plus
    the primary exchange, each with IB's stock price rule 26. Sizes are whole shares
    (``minSize`` and ``sizeIncrement`` 1, ``suggestedSizeIncrement`` 100). ``long_name`` should
    be plain ASCII: ib_async unescapes it as ``unicode-escape``.
    """
    valid_exchanges = [contract.exchange, contract.primary_exchange]
    return [
        10,
        req_id,
        contract.symbol,
        "STK",
        "",  # lastTradeDate (and time, zone), none for a stock
        0,  # strike
        "",  # right
        contract.exchange,
        contract.currency,
        contract.local_symbol,
        contract.trading_class,  # marketName
        contract.trading_class,
        contract.con_id,
        min_tick,
        "",  # multiplier
        order_types,
        ",".join(valid_exchanges),
        1,  # priceMagnifier
        0,  # underConId
        long_name,
        contract.primary_exchange,
        "",  # contractMonth
        "",  # industry
        "",  # category
        "",  # subcategory
        time_zone,
        trading_hours,
        liquid_hours,
        "",  # evRule
        "",  # evMultiplier
        0,  # numSecIds: no (tag, value) pairs follow
        1,  # aggGroup
        "",  # underSymbol
        "",  # underSecType
        ",".join(SMART_STOCK_MARKET_RULE for _ in valid_exchanges),
        "",  # realExpirationDate
        stock_type,
        1,  # minSize
        1,  # sizeIncrement
        100,  # suggestedSizeIncrement
    ]


def contract_details_end(req_id: int) -> list[object]:
    """``contractDetailsEnd`` (52, version 1)."""
    return [52, 1, req_id]


def market_data_type(req_id: int, data_type: int) -> list[object]:
    """``marketDataType`` (58, version 1): 1 live, 2 frozen, 3 delayed, 4 delayed frozen."""
    return [58, 1, req_id, data_type]


def tick_req_params(
    req_id: int, min_tick: float, bbo_exchange: str, snapshot_permissions: int
) -> list[object]:
    """``tickReqParams`` (81): sent once per subscription, before its ticks; no version."""
    return [81, req_id, min_tick, bbo_exchange, snapshot_permissions]


def tick_price(
    req_id: int, tick_type: int, price: float, size: float, attr_mask: int = 0
) -> list[object]:
    """``tickPrice`` (1, version 6); ib_async hands it to ``priceSizeTick``.

    Tick types: bid 1, ask 2, last 4, high 6, low 7, close 9, open 14 (delayed 66/67/68 ...).
    ``attr_mask`` bits: 1 canAutoExecute, 2 pastLimit, 4 preOpen.
    """
    return [1, 6, req_id, tick_type, price, quantity_text(size), attr_mask]


def tick_size(req_id: int, tick_type: int, size: float) -> list[object]:
    """``tickSize`` (2, version 6): bid size 0, ask size 3, last size 5, volume 8 (shares)."""
    return [2, 6, req_id, tick_type, quantity_text(size)]


def tick_string(req_id: int, tick_type: int, value: str) -> list[object]:
    """``tickString`` (46, version 6), e.g. tick 45, the last trade time in epoch seconds."""
    return [46, 6, req_id, tick_type, value]


def tick_snapshot_end(req_id: int) -> list[object]:
    """``tickSnapshotEnd`` (57, version 1): a snapshot request is complete."""
    return [57, 1, req_id]


def historical_data(
    req_id: int,
    start: str,
    end: str,
    bars: Sequence[HistoricalBar],
    *,
    format_date: int = 1,
    time_zone: str = EASTERN,
    daily: bool = False,
) -> list[object]:
    """``historicalData`` (17): all bars in one message, no version field; the end is implied.

    ib_async calls ``historicalDataEnd`` itself after the bars (the separate end message, 108,
    exists only from server version 196). Bar dates: for ``format_date`` 1
    ``yyyymmdd hh:mm:ss <time_zone>``, for 2 epoch seconds; ``daily`` bars are
    ``yyyymmdd`` (their trading day in ``time_zone``) in both formats. ``start`` and ``end``
    are the requested span, passed through as text.
    """
    if format_date not in (1, 2):
        raise InvalidValue("historical formatDate", "1 or 2", format_date)
    fields: list[object] = [17, req_id, start, end, len(bars)]
    for bar in bars:
        fields += [
            _bar_date(bar.start, format_date, time_zone, daily=daily),
            bar.open,
            bar.high,
            bar.low,
            bar.close,
            quantity_text(bar.volume),
            bar.wap,
            bar.count,
        ]
    return fields


def _bar_date(start: datetime, format_date: int, time_zone: str, *, daily: bool) -> str:
    if daily:
        return f"{start.astimezone(ZoneInfo(time_zone)):%Y%m%d}"
    if format_date == 2:
        return str(int(start.timestamp()))
    return ib_time_text(start, time_zone)
