"""Golden tests: every encoded answer is framed, cut back into fields and fed to ib_async's own
decoder at server version 178; the assertions are on what the decoder handed its wrapper.

ib_async's ``Decoder`` logs and swallows any exception while parsing, so a layout error shows
up here as a wrapper method that was never called: ``Recorder.only`` asserts exactly one call.
"""

# The fakes implement ib_async's camelCase wrapper and client methods.
# ruff: noqa: N802, N815

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ib_async.decoder import Decoder
from ib_async.util import UNSET_DOUBLE as IB_UNSET_DOUBLE
from ib_async.util import parseIBDatetime

from openbell.domain.errors import InvalidValue
from openbell.venue.tws import answers, wire
from openbell.venue.tws.answers import (
    UNSET_DOUBLE,
    ContractView,
    ExecutionView,
    HistoricalBar,
    OrderView,
)

NEW_YORK = ZoneInfo("America/New_York")
WULF = ContractView(con_id=4242, symbol="WULF")


class Recorder:
    """A hand-written ib_async wrapper that records each call the decoder makes."""

    defaultTimezone = UTC  # execDetails converts execution times to this zone

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def only(self, name: str) -> tuple[Any, ...]:
        """The arguments of the one call made, which must be to ``name``."""
        assert [call[0] for call in self.calls] == [name], self.calls
        return self.calls[0][1]

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))

    def openOrder(self, order_id: int, contract: Any, order: Any, state: Any) -> None:
        self._record("openOrder", order_id, contract, order, state)

    def completedOrder(self, contract: Any, order: Any, state: Any) -> None:
        self._record("completedOrder", contract, order, state)

    def orderStatus(self, *args: Any) -> None:
        self._record("orderStatus", *args)

    def execDetails(self, req_id: int, contract: Any, execution: Any) -> None:
        self._record("execDetails", req_id, contract, execution)

    def commissionReport(self, report: Any) -> None:
        self._record("commissionReport", report)

    def contractDetails(self, req_id: int, details: Any) -> None:
        self._record("contractDetails", req_id, details)

    def contractDetailsEnd(self, req_id: int) -> None:
        self._record("contractDetailsEnd", req_id)

    def priceSizeTick(self, req_id: int, tick_type: int, price: float, size: float) -> None:
        self._record("priceSizeTick", req_id, tick_type, price, size)

    def tickSize(self, req_id: int, tick_type: int, size: float) -> None:
        self._record("tickSize", req_id, tick_type, size)

    def tickString(self, req_id: int, tick_type: int, value: str) -> None:
        self._record("tickString", req_id, tick_type, value)

    def tickReqParams(self, req_id: int, min_tick: float, bbo: str, permissions: int) -> None:
        self._record("tickReqParams", req_id, min_tick, bbo, permissions)

    def marketDataType(self, req_id: int, data_type: int) -> None:
        self._record("marketDataType", req_id, data_type)

    def tickSnapshotEnd(self, req_id: int) -> None:
        self._record("tickSnapshotEnd", req_id)

    def historicalData(self, req_id: int, bar: Any) -> None:
        self._record("historicalData", req_id, bar)

    def historicalDataEnd(self, req_id: int, start: str, end: str) -> None:
        self._record("historicalDataEnd", req_id, start, end)

    def error(self, req_id: int, code: int, text: str, advanced: str) -> None:
        self._record("error", req_id, code, text, advanced)


def decoded(message: list[object]) -> Recorder:
    """Frame ``message``, cut it back out of the bytes, and let ib_async decode it."""
    frames = wire.FrameReader().feed(wire.encode(message))
    assert len(frames) == 1
    recorder = Recorder()
    Decoder(recorder, wire.SERVER_VERSION).interpret(frames[0])
    return recorder


def order_view(**changes: Any) -> OrderView:
    values: dict[str, Any] = {
        "order_id": 7,
        "client_id": 1,
        "perm_id": 1351823328,
        "contract": WULF,
        "action": "BUY",
        "quantity": 164.0,
        "order_type": "STP LMT",
        "limit_price": 5.55,
        "aux_price": 5.5,
        "tif": "DAY",
        "oca_group": "exit-WULF-1",
        "oca_type": 1,
        "account": "DU1234567",
        "order_ref": "ob-WULF-entry",
        "outside_rth": True,
        "parent_id": 6,
        "transmit": True,
        "status": "PreSubmitted",
    }
    return OrderView(**(values | changes))


FILL = ExecutionView(
    exec_id="0000e215.656d0000.01.01",
    time=datetime(2025, 10, 29, 9, 30, 5, tzinfo=NEW_YORK),
    side="BOT",
    shares=100.0,
    price=5.52,
    cum_qty=164.0,
    avg_price=5.515,
    last_liquidity=2,
)


# --- openOrder / completedOrder --------------------------------------------------------


def test_open_order_decodes_to_the_order_openbell_placed() -> None:
    order_id, contract, order, state = decoded(answers.open_order(order_view())).only("openOrder")
    assert order_id == 7
    assert (contract.conId, contract.symbol, contract.secType) == (4242, "WULF", "STK")
    assert (contract.exchange, contract.currency, contract.tradingClass) == ("SMART", "USD", "NMS")
    assert (order.orderId, order.clientId, order.permId) == (7, 1, 1351823328)
    assert (order.action, order.totalQuantity, order.orderType) == ("BUY", 164.0, "STP LMT")
    assert (order.lmtPrice, order.auxPrice) == (5.55, 5.5)
    assert (order.tif, order.account, order.orderRef) == ("DAY", "DU1234567", "ob-WULF-entry")
    assert (order.ocaGroup, order.ocaType, order.parentId) == ("exit-WULF-1", 1, 6)
    assert order.outsideRth is True
    assert order.whatIf is False
    assert state.status == "PreSubmitted"


def test_open_order_without_prices_reads_zero_as_tws_sends() -> None:
    view = order_view(order_type="MKT", limit_price=None, aux_price=None, outside_rth=False)
    _, _, order, _ = decoded(answers.open_order(view)).only("openOrder")
    assert (order.orderType, order.lmtPrice, order.auxPrice) == ("MKT", 0.0, 0.0)
    assert order.outsideRth is False


def test_open_order_has_the_135_fields_tws_sends_at_178() -> None:
    # IBKR.md §1.4: a real TWS capture (nautilus_trader open_order_1.txt) is 136 fields at
    # server version 176; 178 drops faProfile, so 135. It includes deltaNeutralOrderType
    # "None" and the 8 delta-neutral fields that text calls for.
    message = answers.open_order(order_view())
    assert len(message) == 135
    # ib_async reads every one of them: one field fewer and the decoder gives up.
    assert decoded(message[:-1]).calls == []


def test_completed_order_decodes_with_its_completion() -> None:
    view = order_view(status="Filled", filled=164.0)
    message = answers.completed_order(view, "20251029 09:30:05 America/New_York", "Filled")
    contract, order, state = decoded(message).only("completedOrder")
    assert (contract.conId, contract.symbol) == (4242, "WULF")
    assert (order.permId, order.orderRef, order.filledQuantity) == (
        1351823328,
        "ob-WULF-entry",
        164.0,
    )
    assert (order.ocaGroup, order.ocaType, order.lmtPrice, order.auxPrice) == (
        "exit-WULF-1",
        1,
        5.55,
        5.5,
    )
    assert (state.status, state.completedStatus) == ("Filled", "Filled")
    assert state.completedTime == "20251029 09:30:05 America/New_York"
    assert len(message) == 100
    assert decoded(message[:-1]).calls == []


def test_order_status_decodes_field_by_field() -> None:
    message = answers.order_status(7, "Filled", 164, 0, 5.515, 1351823328, 6, 5.52, 1)
    assert decoded(message).only("orderStatus") == (
        7,
        "Filled",
        164.0,
        0.0,
        5.515,
        1351823328,
        6,
        5.52,
        1,
        "",
        0.0,
    )


# --- executions and commissions ----------------------------------------------------------


def test_exec_details_decodes_the_fill_at_the_same_instant() -> None:
    message = answers.exec_details(-1, order_view(), FILL)
    req_id, contract, execution = decoded(message).only("execDetails")
    assert req_id == -1
    assert (contract.conId, contract.symbol, contract.exchange) == (4242, "WULF", "NASDAQ")
    assert (execution.execId, execution.side, execution.shares, execution.price) == (
        "0000e215.656d0000.01.01",
        "BOT",
        100.0,
        5.52,
    )
    assert (execution.cumQty, execution.avgPrice, execution.lastLiquidity) == (164.0, 5.515, 2)
    assert (execution.orderId, execution.permId, execution.clientId) == (7, 1351823328, 1)
    assert (execution.orderRef, execution.acctNumber) == ("ob-WULF-entry", "DU1234567")
    assert execution.time == FILL.time
    assert execution.time.utcoffset() == timedelta(0)  # the Recorder's default zone
    assert len(message) == 32  # 31 in the v176 capture, plus pendingPriceRevision at 178


@pytest.mark.parametrize(
    "instant",
    [
        datetime(2025, 1, 15, 14, 30, 59, tzinfo=UTC),  # winter: EST
        datetime(2025, 7, 1, 19, 59, 0, tzinfo=UTC),  # summer: EDT
        datetime(2025, 3, 9, 7, 0, 0, tzinfo=UTC),  # 03:00 EDT, just after the spring change
    ],
)
def test_execution_times_round_trip_to_the_same_instant(instant: datetime) -> None:
    fill = ExecutionView("e", instant, "SLD", 1, 1.0, 1, 1.0)
    text = answers.ib_time_text(instant)
    assert text.endswith(" US/Eastern")
    _, _, execution = decoded(answers.exec_details(3, order_view(), fill)).only("execDetails")
    assert execution.time == instant
    assert parseIBDatetime(text) == instant


def test_commission_report_leaves_pnl_unset_for_an_opening_fill() -> None:
    (report,) = decoded(answers.commission_report(FILL.exec_id, 1.0)).only("commissionReport")
    assert (report.execId, report.commission, report.currency) == (FILL.exec_id, 1.0, "USD")
    assert report.realizedPNL == IB_UNSET_DOUBLE == UNSET_DOUBLE
    assert report.yield_ == IB_UNSET_DOUBLE
    assert report.yieldRedemptionDate == 0


def test_commission_report_carries_realized_pnl() -> None:
    message = answers.commission_report("x", 1.25, "USD", realized_pnl=-12.5)
    (report,) = decoded(message).only("commissionReport")
    assert (report.commission, report.realizedPNL) == (1.25, -12.5)


# --- reference data --------------------------------------------------------------------


def test_contract_details_decode_for_qualify_contracts() -> None:
    message = answers.contract_details(
        11,
        WULF,
        "TERAWULF INC",
        trading_hours="20251029:0400-20251029:2000",
        liquid_hours="20251029:0930-20251029:1600",
    )
    req_id, details = decoded(message).only("contractDetails")
    contract = details.contract
    assert req_id == 11
    assert (contract.conId, contract.symbol, contract.secType) == (4242, "WULF", "STK")
    assert (contract.exchange, contract.primaryExchange, contract.currency) == (
        "SMART",
        "NASDAQ",
        "USD",
    )
    assert (contract.localSymbol, contract.tradingClass, details.marketName) == (
        "WULF",
        "NMS",
        "NMS",
    )
    assert (details.minTick, details.longName, details.timeZoneId) == (
        0.01,
        "TERAWULF INC",
        "US/Eastern",
    )
    assert details.liquidHours == "20251029:0930-20251029:1600"
    assert details.tradingHours == "20251029:0400-20251029:2000"
    assert (details.validExchanges, details.marketRuleIds) == ("SMART,NASDAQ", "26,26")
    assert (details.stockType, details.minSize, details.sizeIncrement) == ("COMMON", 1.0, 1.0)
    assert len(message) == 40  # as in the real capture (contract_details_eurusd.txt)
    assert decoded(message[:-1]).calls == []


def test_a_nyse_listing_uses_its_symbol_as_trading_class() -> None:
    ibm = ContractView(8314, "IBM", primary_exchange="NYSE")
    _, details = decoded(answers.contract_details(1, ibm, "IBM")).only("contractDetails")
    assert (details.contract.tradingClass, details.contract.primaryExchange) == ("IBM", "NYSE")


def test_contract_details_end_and_error() -> None:
    assert decoded(answers.contract_details_end(11)).only("contractDetailsEnd") == (11,)
    text = "No security definition has been found for the request"
    assert decoded(answers.error(11, 200, text)).only("error") == (11, 200, text, "")
    assert decoded(answers.error(-1, 2104, "farm OK")).only("error")[:2] == (-1, 2104)


# --- market data -----------------------------------------------------------------------


def test_market_data_messages_decode() -> None:
    assert decoded(answers.market_data_type(5, 3)).only("marketDataType") == (5, 3)
    assert decoded(answers.tick_req_params(5, 0.01, "9c0001", 3)).only("tickReqParams") == (
        5,
        0.01,
        "9c0001",
        3,
    )
    assert decoded(answers.tick_price(5, 4, 5.52, 300)).only("priceSizeTick") == (5, 4, 5.52, 300.0)
    assert decoded(answers.tick_size(5, 8, 123456)).only("tickSize") == (5, 8, 123456.0)
    assert decoded(answers.tick_string(5, 45, "1761744605")).only("tickString") == (
        5,
        45,
        "1761744605",
    )
    assert decoded(answers.tick_snapshot_end(5)).only("tickSnapshotEnd") == (5,)


def test_sizes_are_written_as_ib_writes_decimal_quantities() -> None:
    assert answers.tick_size(5, 8, 1000.0)[-1] == "1000"
    assert answers.tick_size(5, 8, 0.5)[-1] == "0.5"


# --- historical data -------------------------------------------------------------------

BARS = [
    HistoricalBar(
        start=datetime(2025, 10, 29, 9, 30, tzinfo=NEW_YORK) + timedelta(minutes=i),
        open=5.5 + i,
        high=5.6 + i,
        low=5.4 + i,
        close=5.55 + i,
        volume=1000.0 * (i + 1),
        wap=5.52 + i,
        count=10 + i,
    )
    for i in range(3)
]


def historical_calls(message: list[object]) -> tuple[list[Any], tuple[Any, ...]]:
    recorder = decoded(message)
    names = [name for name, _ in recorder.calls]
    # ib_async calls historicalDataEnd itself after the bars (no end message before 196).
    assert names == ["historicalData"] * 3 + ["historicalDataEnd"]
    return [args[1] for _, args in recorder.calls[:-1]], recorder.calls[-1][1]


@pytest.mark.parametrize("format_date", [1, 2])
def test_historical_bars_decode_to_the_same_instants(format_date: int) -> None:
    message = answers.historical_data(
        9, "20251029 09:30:00", "20251029 09:33:00", BARS, format_date=format_date
    )
    bars, end = historical_calls(message)
    assert end == (9, "20251029 09:30:00", "20251029 09:33:00")
    assert [parseIBDatetime(bar.date) for bar in bars] == [bar.start for bar in BARS]
    first = bars[0]
    assert (first.open, first.high, first.low, first.close) == (5.5, 5.6, 5.4, 5.55)
    assert (first.volume, first.average, first.barCount) == (1000.0, 5.52, 10)


def test_historical_bar_dates_as_ib_writes_them() -> None:
    one = answers.historical_data(9, "", "", BARS[:1])
    two = answers.historical_data(9, "", "", BARS[:1], format_date=2)
    daily = answers.historical_data(9, "", "", BARS[:1], daily=True)
    assert one[5] == "20251029 09:30:00 US/Eastern"
    assert two[5] == str(int(BARS[0].start.timestamp()))
    assert daily[5] == "20251029"


def test_daily_bars_decode_to_their_trading_day() -> None:
    bars, _ = historical_calls(answers.historical_data(9, "", "", BARS, daily=True))
    assert {parseIBDatetime(bar.date) for bar in bars} == {datetime(2025, 10, 29).date()}


# --- refusals --------------------------------------------------------------------------


def test_views_refuse_what_ib_cannot_mean() -> None:
    naive = datetime(2025, 10, 29, 9, 30)
    with pytest.raises(InvalidValue, match="timezone-aware"):
        ExecutionView("e", naive, "BOT", 1, 1.0, 1, 1.0)
    with pytest.raises(InvalidValue, match="BOT or SLD"):
        ExecutionView("e", FILL.time, "BUY", 1, 1.0, 1, 1.0)
    with pytest.raises(InvalidValue, match="timezone-aware"):
        HistoricalBar(naive, 1, 1, 1, 1, 1, 1, 1)
    with pytest.raises(InvalidValue, match="1 or 2"):
        answers.historical_data(9, "", "", BARS, format_date=3)
