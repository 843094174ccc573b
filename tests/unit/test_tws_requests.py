"""Client requests are parsed as ib_async 2.1.0 sends them; bad ones are refused with what was
expected and found."""

# The fake overrides ib_async's camelCase client method.
# ruff: noqa: N802

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

import pytest
from ib_async import ComboLeg, Contract, ExecutionFilter, LimitOrder, Stock
from ib_async.client import Client
from ib_async.contract import DeltaNeutralContract
from ib_async.util import formatIBDatetime

from openbell.domain.errors import InvalidValue
from openbell.venue.tws import wire
from openbell.venue.tws.requests import (
    ContractDetailsRequest,
    ContractFields,
    ExecutionsRequest,
    HistoricalRequest,
    MarketDataRequest,
    parse_cancel_market_data,
    parse_cancel_order,
    parse_contract_details,
    parse_executions,
    parse_historical_data,
    parse_market_data,
    parse_market_data_type,
    parse_place_order,
)

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


# --- the requests as ib_async's own Client serialises them -------------------------------


class CapturingClient(Client):
    """ib_async's real Client, connected to nothing: ``sendMsg`` keeps each message's fields."""

    def __init__(self, server_version: int = wire.SERVER_VERSION) -> None:
        super().__init__(wrapper=None)
        self.connState = Client.CONNECTED
        self._serverVersion = server_version
        self.sent: list[list[str]] = []

    def sendMsg(self, msg: str) -> None:
        fields = msg.split("\0")
        assert fields[-1] == ""  # every field is NUL-terminated
        self.sent.append(fields[:-1])

    def last(self) -> list[str]:
        return self.sent[-1]


STOCK = Stock("WULF", "SMART", "USD", primaryExchange="NASDAQ")
COMBO = Contract(
    secType="BAG",
    symbol="WULF",
    exchange="SMART",
    currency="USD",
    comboLegs=[ComboLeg(conId=1, ratio=1, action="BUY", exchange="SMART")],
)


def sent(request: Callable[[CapturingClient], object], server_version: int = 178) -> list[str]:
    client = CapturingClient(server_version)
    request(client)
    assert len(client.sent) == 1
    return client.last()


def test_place_order_reads_ib_async_serialisation() -> None:
    order = LimitOrder(
        "SELL",
        164,
        5.75,
        tif="GTC",
        orderRef="ob-WULF-tp",
        ocaGroup="exit-WULF-1",
        ocaType=1,
        account="DU1234567",
        outsideRth=True,
        transmit=False,
        parentId=6,
    )
    fields = sent(lambda c: c.placeOrder(8, STOCK, order))
    assert len(fields) == 114  # IBKR.md §1.3
    parsed = parse_place_order(fields, 178)
    assert (parsed.order_id, parsed.contract.symbol, parsed.contract.primary_exchange) == (
        8,
        "WULF",
        "NASDAQ",
    )
    assert (parsed.action, parsed.quantity, parsed.order_type, parsed.limit_price) == (
        "SELL",
        164.0,
        "LMT",
        5.75,
    )
    assert (parsed.aux_price, parsed.tif, parsed.oca_group, parsed.oca_type) == (
        None,
        "GTC",
        "exit-WULF-1",
        1,
    )
    assert (parsed.account, parsed.order_ref, parsed.outside_rth) == (
        "DU1234567",
        "ob-WULF-tp",
        True,
    )
    assert (parsed.transmit, parsed.parent_id) == (False, 6)


@pytest.mark.parametrize(("server_version", "length"), [(178, 4), (168, 3)])
def test_cancel_order(server_version: int, length: int) -> None:
    fields = sent(lambda c: c.cancelOrder(7), server_version)
    assert len(fields) == length
    assert parse_cancel_order(fields, server_version) == 7


def test_market_data_request() -> None:
    fields = sent(lambda c: c.reqMktData(5, STOCK, "233,236", False, False, []))
    request = parse_market_data(fields)
    assert request == MarketDataRequest(
        req_id=5,
        contract=ContractFields(0, "WULF", "STK", "SMART", "NASDAQ", "USD"),
        generic_ticks="233,236",
        snapshot=False,
        regulatory_snapshot=False,
    )


def test_market_data_snapshot_past_a_delta_neutral_contract() -> None:
    contract = Stock("WULF", "SMART", "USD", conId=4242)
    contract.deltaNeutralContract = DeltaNeutralContract(4243, 0.5, 10.0)
    fields = sent(lambda c: c.reqMktData(6, contract, "", True, True, []))
    request = parse_market_data(fields)
    assert (request.req_id, request.contract.con_id, request.generic_ticks) == (6, 4242, "")
    assert (request.snapshot, request.regulatory_snapshot) == (True, True)


def test_cancel_market_data_and_market_data_type() -> None:
    assert parse_cancel_market_data(sent(lambda c: c.cancelMktData(5))) == 5
    assert parse_market_data_type(sent(lambda c: c.reqMarketDataType(3))) == 3


def test_historical_data_request() -> None:
    end = formatIBDatetime(datetime(2025, 10, 29, 14, 0, tzinfo=UTC))
    fields = sent(
        lambda c: c.reqHistoricalData(9, STOCK, end, "1 D", "1 min", "TRADES", True, 2, False, [])
    )
    assert parse_historical_data(fields) == HistoricalRequest(
        req_id=9,
        contract=ContractFields(0, "WULF", "STK", "SMART", "NASDAQ", "USD"),
        end="20251029 14:00:00 UTC",
        bar_size="1 min",
        duration="1 D",
        use_rth=True,
        what_to_show="TRADES",
        format_date=2,
        keep_up_to_date=False,
    )


def test_historical_data_kept_up_to_date() -> None:
    fields = sent(
        lambda c: c.reqHistoricalData(
            4, STOCK, "", "600 S", "5 secs", "MIDPOINT", False, 1, True, []
        )
    )
    request = parse_historical_data(fields)
    assert (request.end, request.use_rth, request.format_date) == ("", False, 1)
    assert (request.what_to_show, request.keep_up_to_date) == ("MIDPOINT", True)


def test_contract_details_request() -> None:
    fields = sent(lambda c: c.reqContractDetails(11, STOCK))
    assert len(fields) == 19  # issuerId is sent from 176
    assert parse_contract_details(fields) == ContractDetailsRequest(
        11, ContractFields(0, "WULF", "STK", "SMART", "NASDAQ", "USD")
    )
    by_id = parse_contract_details(sent(lambda c: c.reqContractDetails(12, Contract(conId=4242))))
    assert (by_id.req_id, by_id.contract.con_id, by_id.contract.symbol) == (12, 4242, "")


def test_executions_request() -> None:
    wanted = ExecutionFilter(
        clientId=3,
        acctCode="DU1234567",
        time="20251029 09:00:00",
        symbol="WULF",
        secType="STK",
        exchange="NASDAQ",
        side="BUY",
    )
    fields = sent(lambda c: c.reqExecutions(12, wanted))
    assert parse_executions(fields) == ExecutionsRequest(
        req_id=12,
        client_id=3,
        account="DU1234567",
        time="20251029 09:00:00",
        symbol="WULF",
        sec_type="STK",
        exchange="NASDAQ",
        side="BUY",
    )
    anything = parse_executions(sent(lambda c: c.reqExecutions(13, ExecutionFilter())))
    assert (anything.client_id, anything.account, anything.symbol) == (0, "", "")


# --- bad requests ------------------------------------------------------------------------


def market_data() -> list[str]:
    return sent(lambda c: c.reqMktData(5, STOCK, "", False, False, []))


def historical() -> list[str]:
    return sent(
        lambda c: c.reqHistoricalData(9, STOCK, "", "1 D", "1 min", "TRADES", True, 1, False, [])
    )


def replaced(fields: list[str], index: int, value: str) -> list[str]:
    return [*fields[:index], value, *fields[index + 1 :]]


@pytest.mark.parametrize(
    ("parse", "fields", "expected"),
    [
        (partial(parse_cancel_order, server_version=178), ["4", "1", "7"], "at least 4 fields"),
        (partial(parse_cancel_order, server_version=178), ["4", "1", "x", ""], "integer.*'x'"),
        (partial(parse_cancel_order, server_version=178), ["4", "1", "", ""], "integer"),
        (parse_market_data, market_data()[:-1], "message 1 of at least 20 fields"),
        (parse_market_data, replaced(market_data(), 2, "five"), "reqMktData reqId"),
        (parse_market_data, replaced(market_data(), 3, "abc"), "conId"),
        (parse_market_data, replaced(market_data(), 17, "yes"), "snapshot: expected 1 or 0"),
        (parse_market_data, replaced(market_data(), 15, "1"), "delta-neutral"),
        (parse_market_data, ["2", *market_data()[1:]], "message 1 of"),
        (parse_market_data, sent(lambda c: c.reqMktData(8, COMBO, "", False, False, [])), "BAG"),
        (parse_cancel_market_data, ["2", "2"], "at least 3"),
        (parse_market_data_type, ["59", "1", "delayed"], "integer"),
        (parse_historical_data, historical()[:-1], "message 20 of at least 23 fields"),
        (parse_historical_data, replaced(historical(), 20, "x"), "formatDate"),
        (parse_historical_data, replaced(historical(), 20, "3"), "formatDate.*1 or 2"),
        (
            parse_historical_data,
            sent(
                lambda c: c.reqHistoricalData(9, COMBO, "", "1 D", "1 min", "TRADES", 1, 1, 0, [])
            ),
            "BAG",
        ),
        (parse_contract_details, ["9", "8", "11", "0", "WULF"], "at least 18 fields"),
        (parse_contract_details, sent(lambda c: c.reqContractDetails(1, COMBO)), "BAG"),
        (parse_executions, ["7", "3", "12"], "at least 10 fields"),
        (
            parse_executions,
            replaced(sent(lambda c: c.reqExecutions(1, ExecutionFilter())), 3, "me"),
            "clientId",
        ),
    ],
)
def test_bad_requests_are_refused(
    parse: Callable[[list[str]], object], fields: list[str], expected: str
) -> None:
    with pytest.raises(InvalidValue, match=expected):
        parse(fields)
