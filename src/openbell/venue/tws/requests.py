"""Parsing the client's requests (IBKR.md §1.3). Pure functions over the text fields.

Layouts are ``ib_async/client.py`` (2.1.0) at server version 178. Every parser checks the
message id and length first and raises :class:`InvalidValue` saying what it expected and what
it found; combination (BAG) contracts are refused, because their legs shift the fields after
the contract.

``placeOrder`` is 114 fields for a plain stock order at server version 178, with sections
whose presence depends on earlier fields. Everything openbell needs sits before the first of
those sections, so the parser reads that prefix by position.
"""

from __future__ import annotations

from dataclasses import dataclass

from openbell.domain.errors import InvalidValue

CONTRACT_FIELDS = 12
_PREFIX = 2 + CONTRACT_FIELDS + 21  # id, orderId, contract, then secIdType .. hidden
_AFTER_HIDDEN = 7  # "", discretionaryAmt, goodAfterTime, goodTillDate, faGroup, faMethod, faPct


@dataclass(frozen=True)
class ContractFields:
    con_id: int
    symbol: str
    sec_type: str
    exchange: str
    primary_exchange: str
    currency: str


@dataclass(frozen=True)
class PlaceOrder:
    """The parts of a ``placeOrder`` request the simulated gateway acts on."""

    order_id: int
    contract: ContractFields
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    aux_price: float | None
    tif: str
    oca_group: str
    account: str
    order_ref: str
    transmit: bool
    parent_id: int
    outside_rth: bool
    good_after_time: str
    good_till_date: str
    oca_type: int


def _int(text: str) -> int:
    return int(text) if text else 0


def _float(text: str) -> float | None:
    return float(text) if text else None


def _bool(text: str) -> bool:
    return text not in ("", "0", "False", "false")


def parse_contract(fields: list[str]) -> ContractFields:
    """The 12 contract fields ib_async sends (conId .. tradingClass)."""
    if len(fields) < CONTRACT_FIELDS:
        raise InvalidValue(
            "contract", f"{CONTRACT_FIELDS} fields (conId .. tradingClass)", f"{len(fields)} fields"
        )
    con_id, symbol, sec_type, _expiry, _strike, _right, _mult, exchange, primary, currency = fields[
        :10
    ]
    return ContractFields(
        _whole("contract conId", con_id), symbol, sec_type, exchange, primary, currency
    )


def parse_place_order(fields: list[str], server_version: int) -> PlaceOrder:
    """Read a ``placeOrder`` message (message id 3); refuse what the gateway cannot trade."""
    needed = _PREFIX + _AFTER_HIDDEN + (1 if server_version < 177 else 0) + 5
    if len(fields) < needed or fields[0] != "3":
        raise InvalidValue(
            "placeOrder",
            f"a message 3 of at least {needed} fields",
            f"{len(fields)} fields starting {fields[:1]}",
        )
    contract = parse_contract(fields[2 : 2 + CONTRACT_FIELDS])
    if contract.sec_type == "BAG":
        raise InvalidValue("placeOrder contract", "a stock (STK)", "a combination (BAG)")
    rest = fields[2 + CONTRACT_FIELDS :]
    (
        _sec_id_type,
        _sec_id,
        action,
        quantity,
        order_type,
        limit,
        aux,
        tif,
        oca_group,
        account,
        _open_close,
        _origin,
        order_ref,
        transmit,
        parent_id,
        _block,
        _sweep,
        _display,
        _trigger,
        outside_rth,
        _hidden,
    ) = rest[:21]
    after = rest[21:]
    good_after, good_till = after[2], after[3]
    oca_at = _AFTER_HIDDEN + (1 if server_version < 177 else 0) + 4
    try:
        return PlaceOrder(
            order_id=int(fields[1]),
            contract=contract,
            action=action,
            quantity=float(quantity),
            order_type=order_type,
            limit_price=_float(limit),
            aux_price=_float(aux),
            tif=tif,
            oca_group=oca_group,
            account=account,
            order_ref=order_ref,
            transmit=_bool(transmit),
            parent_id=_int(parent_id),
            outside_rth=_bool(outside_rth),
            good_after_time=good_after,
            good_till_date=good_till,
            oca_type=_int(after[oca_at]),
        )
    except ValueError as exc:
        raise InvalidValue("placeOrder", "numbers where numbers belong", str(exc)) from None


@dataclass(frozen=True, slots=True)
class MarketDataRequest:
    """``reqMktData``: stream (or snapshot) quotes for one contract."""

    req_id: int
    contract: ContractFields
    generic_ticks: str
    snapshot: bool
    regulatory_snapshot: bool


@dataclass(frozen=True, slots=True)
class HistoricalRequest:
    """``reqHistoricalData``: bars ending at ``end`` (IB text, empty for now) over ``duration``.

    ``bar_size`` and ``duration`` are IB's words (``1 min``, ``1 D``); ``format_date`` 1 asks
    for dates as text, 2 for epoch seconds.
    """

    req_id: int
    contract: ContractFields
    end: str
    bar_size: str
    duration: str
    use_rth: bool
    what_to_show: str
    format_date: int
    keep_up_to_date: bool


@dataclass(frozen=True, slots=True)
class ContractDetailsRequest:
    """``reqContractDetails`` (what ``qualifyContracts`` sends)."""

    req_id: int
    contract: ContractFields


@dataclass(frozen=True, slots=True)
class ExecutionsRequest:
    """``reqExecutions`` with its ``ExecutionFilter``; empty text and 0 mean "any".

    ``time`` is IB text (``yyyymmdd hh:mm:ss``): executions after it. ``side`` is BUY or SELL.
    """

    req_id: int
    client_id: int
    account: str
    time: str
    symbol: str
    sec_type: str
    exchange: str
    side: str


def _expect(fields: list[str], message_id: int, name: str, needed: int) -> None:
    if len(fields) < needed or fields[0] != str(message_id):
        raise InvalidValue(
            name,
            f"a message {message_id} of at least {needed} fields",
            f"{len(fields)} fields starting {fields[:1]}",
        )


def _whole(what: str, text: str) -> int:
    # An integer field; empty is how ib_async sends an unset int, read as 0.
    try:
        return int(text) if text else 0
    except ValueError:
        raise InvalidValue(what, "an integer", text) from None


def _identifier(what: str, text: str) -> int:
    if not text:
        raise InvalidValue(what, "an integer", text)
    return _whole(what, text)


def _flag(what: str, text: str) -> bool:
    if text not in ("", "0", "1"):
        raise InvalidValue(what, "1 or 0", text)
    return text == "1"


def _single_contract(fields: list[str], name: str) -> ContractFields:
    contract = parse_contract(fields)
    if contract.sec_type == "BAG":
        raise InvalidValue(f"{name} contract", "a stock (STK)", "a combination (BAG)")
    return contract


def parse_cancel_order(fields: list[str], server_version: int) -> int:
    """The order id of a ``cancelOrder`` (4, version 1; ``manualCancelOrderTime`` from 169)."""
    _expect(fields, 4, "cancelOrder", 4 if server_version >= 169 else 3)
    return _identifier("cancelOrder orderId", fields[2])


def parse_market_data(fields: list[str]) -> MarketDataRequest:
    """Read a ``reqMktData`` (1, version 11).

    Layout: ``1, 11, reqId, <contract 12>, deltaNeutralContract flag [conId, delta, price],
    genericTickList, snapshot, regulatorySnapshot, mktDataOptions``. A delta-neutral contract,
    if flagged, is skipped.
    """
    _expect(fields, 1, "reqMktData", 3 + CONTRACT_FIELDS + 5)
    contract = _single_contract(fields[3 : 3 + CONTRACT_FIELDS], "reqMktData")
    rest = fields[3 + CONTRACT_FIELDS :]
    if _flag("reqMktData deltaNeutralContract flag", rest[0]):
        _expect(fields, 1, "reqMktData with a delta-neutral contract", 3 + CONTRACT_FIELDS + 8)
        rest = rest[3:]
    generic_ticks, snapshot, regulatory = rest[1:4]
    return MarketDataRequest(
        req_id=_identifier("reqMktData reqId", fields[2]),
        contract=contract,
        generic_ticks=generic_ticks,
        snapshot=_flag("reqMktData snapshot", snapshot),
        regulatory_snapshot=_flag("reqMktData regulatorySnapshot", regulatory),
    )


def parse_cancel_market_data(fields: list[str]) -> int:
    """The request id of a ``cancelMktData`` (2, version 2)."""
    _expect(fields, 2, "cancelMktData", 3)
    return _identifier("cancelMktData reqId", fields[2])


def parse_market_data_type(fields: list[str]) -> int:
    """The type of a ``reqMarketDataType`` (59, version 1): 1 live, 2 frozen, 3 delayed, 4."""
    _expect(fields, 59, "reqMarketDataType", 3)
    return _identifier("reqMarketDataType marketDataType", fields[2])


def parse_historical_data(fields: list[str]) -> HistoricalRequest:
    """Read a ``reqHistoricalData`` (20, no version field).

    Layout: ``20, reqId, <contract 12>, includeExpired, endDateTime, barSizeSetting,
    durationStr, useRTH, whatToShow, formatDate, keepUpToDate, chartOptions``.
    """
    _expect(fields, 20, "reqHistoricalData", 2 + CONTRACT_FIELDS + 9)
    contract = _single_contract(fields[2 : 2 + CONTRACT_FIELDS], "reqHistoricalData")
    _expired, end, bar_size, duration, use_rth, what, format_date, keep_up = fields[
        2 + CONTRACT_FIELDS : 2 + CONTRACT_FIELDS + 8
    ]
    if _identifier("reqHistoricalData formatDate", format_date) not in (1, 2):
        raise InvalidValue("reqHistoricalData formatDate", "1 or 2", format_date)
    return HistoricalRequest(
        req_id=_identifier("reqHistoricalData reqId", fields[1]),
        contract=contract,
        end=end,
        bar_size=bar_size,
        duration=duration,
        use_rth=_flag("reqHistoricalData useRTH", use_rth),
        what_to_show=what,
        format_date=int(format_date),
        keep_up_to_date=_flag("reqHistoricalData keepUpToDate", keep_up),
    )


def parse_contract_details(fields: list[str]) -> ContractDetailsRequest:
    """Read a ``reqContractDetails`` (9, version 8).

    Layout: ``9, 8, reqId, <contract 12>, includeExpired, secIdType, secId, issuerId (>=176)``.
    """
    _expect(fields, 9, "reqContractDetails", 3 + CONTRACT_FIELDS + 3)
    return ContractDetailsRequest(
        req_id=_identifier("reqContractDetails reqId", fields[2]),
        contract=_single_contract(fields[3 : 3 + CONTRACT_FIELDS], "reqContractDetails"),
    )


def parse_executions(fields: list[str]) -> ExecutionsRequest:
    """Read a ``reqExecutions`` (7, version 3).

    Layout: ``7, 3, reqId, clientId, acctCode, time, symbol, secType, exchange, side``.
    """
    _expect(fields, 7, "reqExecutions", 10)
    client_id, account, time, symbol, sec_type, exchange, side = fields[3:10]
    return ExecutionsRequest(
        req_id=_identifier("reqExecutions reqId", fields[2]),
        client_id=_whole("reqExecutions clientId", client_id),
        account=account,
        time=time,
        symbol=symbol,
        sec_type=sec_type,
        exchange=exchange,
        side=side,
    )
