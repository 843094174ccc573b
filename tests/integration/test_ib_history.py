"""IbBars over real sockets: a real ib_async client, read-only, against the simulated gateway.

The gateway serves from its own thread on 127.0.0.1 (as the rehearsal runs it); ``IbBars``
uses ib_async synchronously in the test's thread. Pacing runs on a fake clock whose ``sleep``
records each wait and moves the clock, so the waits are observed, never served.

The simulated gateway has no daily bars (``1 day`` is answered with 162) and no pacing
violations or silent requests of its own. :class:`ScriptedGateway` puts a test-only answer
in front of its historical handler for those cases (daily rows encoded by the gateway's own
``historical_data``, a scripted 162, a request left unanswered); every other request is
answered by the gateway itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pytest
from ib_async import IB

from openbell.adapters.bars.store import BarStore
from openbell.adapters.calendar import ExchangeCalendar
from openbell.adapters.clock import ManualClock
from openbell.adapters.data.fetch import fetch_into_store
from openbell.adapters.ib.history import (
    HistoryPacer,
    HistoryPacing,
    IbBars,
    daily_duration,
)
from openbell.bars.frame import Basis, DayBars, to_ns
from openbell.domain.errors import (
    InvalidValue,
    MarketDataUnavailable,
    NotFound,
    RefusedInput,
)
from openbell.domain.sessions import NEW_YORK, Session
from openbell.runtime.loopback import GatewayThread
from openbell.venue.tws import answers
from openbell.venue.tws.answers import HistoricalBar
from openbell.venue.tws.connection import Connection
from openbell.venue.tws.gateway import GatewayConfig, TwsGateway
from openbell.venue.tws.requests import HistoricalRequest, parse_historical_data

DAY = date(2025, 10, 29)  # a Wednesday; the gateway replays it
ACCOUNT = "DU5550001"
READ_ONLY_CLIENT = 41
MINUTES = 16 * 60  # 04:00 to 19:59
PACING_TEXT = (
    "Historical Market Data Service error message:Historical data request pacing violation"
)


def at(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), NEW_YORK)


def minute_bars(symbol: str, base: float) -> DayBars:
    """A full extended day of distinct bars: price and volume change every minute."""
    i = np.arange(MINUTES, dtype=np.int64)
    o = base + (i % 37) * 0.01
    c = o + np.where(i % 2 == 0, 0.02, -0.02)
    h, lo = np.maximum(o, c) + 0.01, np.minimum(o, c) - 0.01
    starts = to_ns(at(DAY, "04:00")) + i * 60_000_000_000
    o, h, lo, c = (np.asarray(x, dtype=np.float64) for x in (o, h, lo, c))
    return DayBars(symbol, DAY, 60, starts, o, h, lo, c, 100.0 + i.astype(np.float64))


WULF, CIFR = minute_bars("WULF", 10.0), minute_bars("CIFR", 5.0)
DAILY_DAYS = [date(2025, 10, d) for d in (20, 21, 22, 23, 24, 27, 28, 29)]
DAILY_ROWS = [
    HistoricalBar(at(d, "09:30"), 9.0 + k, 9.5 + k, 8.5 + k, 9.2 + k, 1e6 + k, 9.1 + k, 100)
    for k, d in enumerate(DAILY_DAYS)
]


@dataclass
class ScriptedGateway(TwsGateway):
    """The simulated gateway with a scripted answer in front of its historical data (tests only).

    ``plan`` answers the next historical requests in turn: ``pace`` with IB's 162 pacing
    violation, ``silent`` with nothing at all. Then ``daily`` rows answer ``1 day`` requests
    (the simulated gateway has none); everything else goes to the gateway's own handler.
    """

    plan: list[str] = field(default_factory=list)
    daily: dict[str, list[HistoricalBar]] = field(default_factory=dict)
    asked: list[HistoricalRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._own_historical = self.market.handlers()[20]
        self._handlers[20] = self._scripted_historical

    def _scripted_historical(self, session: Connection, message: list[str]) -> None:
        request = parse_historical_data(message)
        self.asked.append(request)
        step = self.plan.pop(0) if self.plan else ""
        if step == "pace":
            session.send(*answers.error(request.req_id, 162, PACING_TEXT))
        elif step == "silent":
            return
        elif request.bar_size == "1 day" and request.contract.symbol in self.daily:
            session.send(*self._daily_answer(request))
        else:
            self._own_historical(session, message)

    def _daily_answer(self, request: HistoricalRequest) -> list[object]:
        end = datetime.strptime(request.end[:17], "%Y%m%d %H:%M:%S").replace(tzinfo=UTC)
        days = int(request.duration.split()[0])
        first = end.astimezone(NEW_YORK).date() - timedelta(days=days - 1)
        rows = [
            row
            for row in self.daily[request.contract.symbol]
            if first - timedelta(days=2) <= row.start.date() <= end.astimezone(NEW_YORK).date()
        ]  # two days more than asked, as IB may: the fetcher must cut them
        return answers.historical_data(request.req_id, "", "", rows, daily=True)


class FakeTime:
    """A monotonic clock that moves only when slept on; records every wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


class Rig:
    """A scripted gateway thread on 127.0.0.1 and one read-only ib_async client connected to it."""

    def __init__(self) -> None:
        config = GatewayConfig(account=ACCOUNT, replay_interval_s=3600.0)
        self.gateway = ScriptedGateway(config, ManualClock(at(DAY, "21:00")))
        self.gateway.load_day(
            Session(DAY, at(DAY, "09:30"), at(DAY, "16:00")), {"WULF": WULF, "CIFR": CIFR}
        )
        self.server = GatewayThread(self.gateway)
        self.loop = asyncio.new_event_loop()  # ib_async's synchronous calls run this loop
        asyncio.set_event_loop(self.loop)
        self.ib = IB()
        self.time = FakeTime()
        try:
            self.ib.connect(
                "127.0.0.1", self.server.port, clientId=READ_ONLY_CLIENT, timeout=5, readonly=True
            )
        except BaseException:
            self.close()
            raise

    def bars(self, *, pacing: HistoryPacing | None = None, timeout_s: float = 60.0) -> IbBars:
        return IbBars(
            self.ib,
            pacing=pacing,
            sleep=self.time.sleep,
            monotonic=self.time.monotonic,
            timeout_s=timeout_s,
        )

    def close(self) -> None:
        self.ib.disconnect()
        self.loop.run_until_complete(asyncio.sleep(0.01))  # let the transport close
        self.server.stop()
        asyncio.set_event_loop(None)
        self.loop.close()


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    try:
        yield r
    finally:
        r.close()


# --- minutes ---------------------------------------------------------------------------------
def test_minutes_are_the_day_the_gateway_replays_extended_hours_included(rig: Rig) -> None:
    got = rig.bars().minutes("WULF", DAY)

    assert got is not None
    assert (got.symbol, got.trading_day, got.resolution_s) == ("WULF", DAY, 60)
    assert (got.basis, got.source) == (Basis.RAW, "ib")
    assert len(got) == MINUTES
    np.testing.assert_array_equal(got.start_ns, WULF.start_ns)
    for hhmm in ("04:00", "09:30", "12:17", "15:59", "19:59"):
        i = WULF.index_at_or_after(at(DAY, hhmm))
        assert got.start(i) == at(DAY, hhmm)
        assert (got.open[i], got.close[i], got.volume[i]) == (
            WULF.open[i],
            WULF.close[i],
            WULF.volume[i],
        )
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(got, column), getattr(WULF, column))
    (asked,) = rig.gateway.asked
    assert (asked.bar_size, asked.duration, asked.what_to_show) == ("1 min", "1 D", "TRADES")
    assert (asked.use_rth, asked.format_date, asked.keep_up_to_date) == (False, 2, False)
    assert asked.end == "20251030 00:00:00 UTC"  # 20:00 New York (EDT)
    assert rig.time.slept == []


def test_a_day_without_bars_is_none_not_an_error(rig: Rig) -> None:
    bars = rig.bars()
    assert bars.minutes("WULF", DAY - timedelta(days=1)) is None  # before the replayed day
    # After it, the gateway cuts the end at its clock and sends the replayed day's bars:
    # none of them is on the day asked for.
    assert bars.minutes("WULF", DAY + timedelta(days=1)) is None
    assert len(rig.gateway.asked) == 2


def test_an_unknown_symbol_is_refused_by_name(rig: Rig) -> None:
    bars = rig.bars()
    with pytest.raises(NotFound, match=r"ib knows no stock ZZZZ: .* IB found none"):
        bars.minutes("ZZZZ", DAY)
    with pytest.raises(RefusedInput, match="ib knows no stock ZZZZ"):
        bars.daily("ZZZZ", DAY, DAY)
    with pytest.raises(InvalidValue):  # not even a ticker: refused before asking IB
        bars.minutes("not a ticker", DAY)
    assert rig.gateway.asked == []


# --- daily -------------------------------------------------------------------------------------
def test_daily_bars_cover_the_range_and_nothing_outside_it(rig: Rig) -> None:
    rig.gateway.daily["WULF"] = DAILY_ROWS
    got = rig.bars().daily("WULF", date(2025, 10, 22), DAY)

    assert got is not None
    assert [str(d) for d in got.days] == [str(d) for d in DAILY_DAYS[2:]]
    assert got.days.dtype == np.dtype("datetime64[D]")
    assert list(got.close) == [row.close for row in DAILY_ROWS[2:]]
    assert list(got.volume) == [row.volume for row in DAILY_ROWS[2:]]
    assert (got.basis, got.source, got.symbol) == (Basis.RAW, "ib", "WULF")
    (asked,) = rig.gateway.asked
    assert (asked.bar_size, asked.duration, asked.use_rth) == ("1 day", "8 D", True)
    assert asked.end == "20251029 20:00:00 UTC"  # 16:00 New York on the last day


def test_daily_from_the_simulated_gateway_itself_is_unavailable(rig: Rig) -> None:
    # The gateway builds only intraday sizes: it answers "1 day" with 162, which is an error.
    with pytest.raises(MarketDataUnavailable, match=r"ib daily bars of WULF .*IB error 162"):
        rig.bars().daily("WULF", date(2025, 10, 22), DAY)


@pytest.mark.parametrize(
    ("start", "end", "duration"),
    [
        (DAY, DAY, "1 D"),
        (date(2025, 1, 1), date(2025, 12, 31), "365 D"),
        (date(2024, 1, 1), date(2024, 12, 31), "2 Y"),  # 366 days: IB wants years past 365
        (date(2023, 1, 1), date(2025, 3, 1), "3 Y"),
    ],
)
def test_daily_duration_is_days_up_to_a_year_then_whole_years(
    start: date, end: date, duration: str
) -> None:
    assert daily_duration(start, end) == duration


# --- pacing ------------------------------------------------------------------------------------
def test_requests_wait_for_the_window_and_for_identical_requests(rig: Rig) -> None:
    pacing = HistoryPacing(max_requests=2, window_s=600.0, identical_gap_s=15.0)
    bars = rig.bars(pacing=pacing)

    assert bars.minutes("WULF", DAY) is not None  # t=1000
    assert bars.minutes("WULF", DAY) is not None  # identical: 15 s after the first
    assert bars.minutes("CIFR", DAY) is not None  # 2 in the window: until t=1000+600

    assert rig.time.slept == [15.0, 585.0]
    assert len(rig.gateway.asked) == 3


def test_one_contract_waits_for_its_own_limit_and_others_do_not(rig: Rig) -> None:
    pacing = HistoryPacing(same_contract_max=1, same_contract_window_s=2.0)
    bars = rig.bars(pacing=pacing)

    bars.minutes("WULF", DAY)
    bars.minutes("CIFR", DAY)  # another contract: no wait
    bars.minutes("WULF", DAY - timedelta(days=1))  # WULF again within 2 s

    assert rig.time.slept == [2.0]


def test_a_pacing_violation_is_retried_once_after_a_wait(rig: Rig) -> None:
    rig.gateway.plan = ["pace"]
    got = rig.bars().minutes("WULF", DAY)

    assert got is not None and len(got) == MINUTES
    assert rig.time.slept == [60.0]  # violation_wait_s, which also clears the 15 s rule
    assert len(rig.gateway.asked) == 2


def test_a_second_pacing_violation_is_unavailable_with_ibs_reason(rig: Rig) -> None:
    rig.gateway.plan = ["pace", "pace"]
    with pytest.raises(MarketDataUnavailable) as caught:
        rig.bars().minutes("WULF", DAY)

    message = str(caught.value)
    assert message.startswith(f"ib 1 min bars of WULF on {DAY}: IB error 162: ")
    assert "pacing violation" in message and "again after a retry" in message
    assert ACCOUNT not in message
    assert rig.time.slept == [60.0]


def test_a_request_without_an_answer_times_out_as_unavailable(rig: Rig) -> None:
    rig.gateway.plan = ["silent"]
    bars = rig.bars(timeout_s=0.3)
    with pytest.raises(MarketDataUnavailable, match=r"an answer from IB within 0\.3 s, found none"):
        bars.minutes("WULF", DAY)
    assert bars.minutes("CIFR", DAY) is not None  # the connection is still usable


def test_the_pacer_alone_keeps_every_limit() -> None:
    clock = FakeTime()
    pacer = HistoryPacer(
        HistoryPacing(max_requests=3, window_s=10.0, same_contract_max=2),
        clock.sleep,
        clock.monotonic,
    )
    waits = [pacer.wait(contract, (contract, n)) for contract, n in [(1, 1), (1, 2), (1, 3)]]
    assert waits == [0.0, 0.0, 2.0]  # the third for contract 1 within 2 s
    assert pacer.wait(2, (2, 1)) == 8.0  # a fourth request within 10 s: until t=1010
    assert pacer.wait(1, (1, 1)) == 5.0  # identical to the first (t=1000): until t=1015
    clock.now += 600.0
    assert pacer.wait(1, (1, 1)) == 0.0  # long after: nothing to wait for
    assert clock.slept == [2.0, 8.0, 5.0]
    with pytest.raises(InvalidValue):
        HistoryPacing(max_requests=0)


# --- without a connection, and with a clock ------------------------------------------------------
def test_unfinished_days_are_refused_and_no_connection_is_unavailable() -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        clock = ManualClock(at(DAY, "12:00"))
        bars = IbBars(IB(), clock=clock, sleep=FakeTime().sleep)
        with pytest.raises(RefusedInput, match="expected a day that is over"):
            bars.minutes("WULF", DAY)
        assert bars.daily("WULF", DAY, DAY) is None  # today's bar is not final yet
        with pytest.raises(MarketDataUnavailable, match="not connected to IB"):
            bars.minutes("WULF", DAY - timedelta(days=1))
        with pytest.raises(InvalidValue):
            IbBars(IB(), timeout_s=0)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


# --- into the store ------------------------------------------------------------------------------
def test_fetch_into_store_writes_what_ib_has_and_reads_back(rig: Rig, tmp_path: Path) -> None:
    rig.gateway.daily["WULF"] = DAILY_ROWS
    store = BarStore(tmp_path)
    calendar = ExchangeCalendar.nyse(date(2025, 10, 1), date(2025, 11, 30))
    first = date(2025, 10, 28)

    report = fetch_into_store(rig.bars(), store, calendar, ["WULF"], first, DAY)

    assert report.failures == []
    assert (report.daily_rows, report.days_written) == (2, 1)
    assert report.days_without_bars == [f"WULF {first}"]  # the gateway replays only DAY
    stored = store.day("WULF", DAY)
    assert stored is not None and stored.source == "ib"
    np.testing.assert_array_equal(stored.start_ns, WULF.start_ns)
    np.testing.assert_array_equal(stored.close, WULF.close)
    np.testing.assert_array_equal(stored.volume, WULF.volume)
    daily = store.daily("WULF")
    assert daily is not None and [str(d) for d in daily.days] == ["2025-10-28", "2025-10-29"]

    again = fetch_into_store(rig.bars(), store, calendar, ["WULF"], first, DAY)
    assert (again.days_already_stored, again.days_written) == (1, 0)
