"""The MarketData port's contract, run against every implementation.

The same market is built for each: one trading day (2025-02-05, scanned at 08:30 ET) after
25 sessions of daily history, and

* AAA: rising into the day, gapping up +5 % pre-market (21.00 on a 20.00 close) on 50,000
  shares;
* BBB: flat, nothing traded before the open;
* ZZZZ: in the universe, but unknown to every source.

Each implementation sees it in its own form: ``bars`` reads it as in-memory daily and minute
bars (the backtester's scan); ``massive`` and ``fmp`` ask a scripted server on 127.0.0.1 that
answers in the provider's documented shapes (see tests/integration/test_massive.py and
test_fmp.py for the adapters' own, finer tests). ATR % and the average volume are checked
against a hand computation from the history; as every source computes them over the same
sessions, this also makes the sources agree with each other.

Where the providers legitimately differ (read their docstrings), the difference is stated
where it is asserted:

* pre-market volume: the bars sum the minute bars that had ended by ``at``; Massive gives
  ``min.av``, the day's volume so far (the same sum); FMP documents no pre-market volume and
  reports 0 until it rolls its quote over to the day (it has not at 08:30 here), so its
  premarket_volume, and so its relative_volume, is 0;
* "now": the bars answer any day as of any ``at``; Massive's snapshot is now, so its clock is
  a ManualClock set to the scan time; FMP has no clock and reads "now" from its quotes'
  timestamps (stamped at the previous session's close here, as before FMP rolls them over);
* a source that cannot answer: only the live providers can be down (a bar source has no such
  failure: a missing bar is a symbol left out).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from http_server import Reply, Responder, ScriptedServer, Seen

from openbell.adapters.calendar import ExchangeCalendar
from openbell.adapters.clock import ManualClock
from openbell.adapters.data.fmp import fmp_market_data
from openbell.adapters.data.http import HttpPolicy
from openbell.adapters.data.massive import massive_market_data
from openbell.backtest.market import BarMarketData
from openbell.backtest.memory import MemoryBars
from openbell.bars.frame import DailyBars, DayBars, to_ns
from openbell.domain.candidates import PremarketFeatures
from openbell.domain.errors import MarketDataUnavailable
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Symbol
from openbell.ports import MarketData

CALENDAR = ExchangeCalendar.nyse(date(2024, 10, 1), date(2025, 3, 31))
DAY = date(2025, 2, 5)
AT = datetime.combine(DAY, time(8, 30), tzinfo=NEW_YORK)
AAA, BBB, ZZZZ = Symbol("AAA"), Symbol("BBB"), Symbol("ZZZZ")
UNIVERSE = ("AAA", "BBB", "ZZZZ")
KEY = "contract-test-key"
POLICY = HttpPolicy(timeout_s=2.0, max_retries=0)
"""No retries: a failure is final at once (the retries are test_massive's and test_fmp's)."""


def _sessions(n: int) -> list[date]:
    days, day = [], DAY
    for _ in range(n):
        day = CALENDAR.previous_session(day).trading_day
        days.append(day)
    return days[::-1]


SESSIONS = _sessions(25)
PREVIOUS = SESSIONS[-1]


# --- the market, once ------------------------------------------------------------------------
@dataclass(frozen=True)
class Bar:
    open: float
    high: float
    low: float
    close: float
    volume: float


def _aaa(k: int) -> Bar:
    """Rising 0.10 a session to a 20.00 close; ranges vary, volumes grow."""
    close = 20.0 - 0.1 * (len(SESSIONS) - 1 - k)
    return Bar(close - 0.1, close + 0.3 + 0.05 * (k % 3), close - 0.2, close, 1e6 + 1e4 * k)


def _bbb(k: int) -> Bar:
    return Bar(50.0, 50.5, 49.5, 50.0, 300_000)


HISTORY: dict[str, list[Bar]] = {
    "AAA": [_aaa(k) for k in range(len(SESSIONS))],
    "BBB": [_bbb(k) for k in range(len(SESSIONS))],
}
PREMARKET: dict[str, list[tuple[time, float, float]]] = {
    # (minute, price, shares): AAA trades 07:00 and 08:00; the 08:45 bar is after the scan
    "AAA": [(time(7, 0), 20.6, 20_000), (time(8, 0), 21.0, 30_000), (time(8, 45), 22.0, 9e5)],
}
LAST_BEFORE_AT = {"AAA": (21.0, 50_000.0)}
"""The last pre-market price and the volume traded before 08:30, as every source has them."""


def _hand(bars: Sequence[Bar]) -> tuple[float, float]:
    """The 14-day ATR as % of the last close, and the 20-day average volume, by hand."""
    ranges = [
        max(b.high - b.low, abs(b.high - a.close), abs(b.low - a.close))
        for a, b in zip(bars[-15:-1], bars[-14:], strict=True)
    ]
    return sum(ranges) / 14 / bars[-1].close * 100, sum(b.volume for b in bars[-20:]) / 20


@dataclass(frozen=True)
class Expected:
    previous_close: float
    last_price: float
    premarket_volume: float
    atr_pct: float
    average_daily_volume: float

    @property
    def gap_pct(self) -> float:
        return (self.last_price / self.previous_close - 1) * 100


def _expected(name: str) -> Expected:
    bars = HISTORY[name]
    last, volume = LAST_BEFORE_AT.get(name, (bars[-1].close, 0.0))
    return Expected(bars[-1].close, last, volume, *_hand(bars))


EXPECTED = {name: _expected(name) for name in HISTORY}


def test_the_market_is_what_the_docstring_says() -> None:
    aaa, bbb = EXPECTED["AAA"], EXPECTED["BBB"]
    assert (aaa.previous_close, aaa.last_price, aaa.gap_pct) == (20.0, 21.0, pytest.approx(5))
    assert aaa.premarket_volume == 50_000 and aaa.average_daily_volume == 1_145_000
    assert aaa.atr_pct == pytest.approx(2.75)  # ranges 0.50, 0.55, 0.60 in turn: 0.55 / 20.00
    assert (bbb.gap_pct, bbb.premarket_volume, bbb.atr_pct) == (0, 0, 2.0)  # 1.00 / 50.00


# --- the implementations ---------------------------------------------------------------------
@dataclass
class Source:
    """An implementation under test over the market above."""

    market: MarketData
    reports_premarket_volume: bool
    """False: the source documents no pre-market volume before the open (FMP)."""
    cannot_answer: Callable[[str], None]
    """Make the source fail as ``how`` says ("down", "refused"): every later call fails."""
    close: Callable[[], None]


@dataclass
class Rig:
    server: ScriptedServer
    prefix: str
    cache: Path

    @property
    def base_url(self) -> str:
        return self.server.url + self.prefix

    def route(self, path: str, *replies: Reply | Responder) -> None:
        self.server.route("GET", self.prefix + path, *replies)


def _ny(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=NEW_YORK)


def _ms(instant: datetime) -> int:
    return to_ns(instant) // 1_000_000


def _never(how: str) -> None:
    raise AssertionError("a bar source cannot be made to fail")


# bars: the backtester's scan over a bar source in memory
def _bars(rig: Rig) -> Source:
    days = np.array(SESSIONS, dtype="datetime64[D]")

    def daily(name: str) -> DailyBars:
        bars = HISTORY[name]

        def column(name_: str) -> npt.NDArray[np.float64]:
            return np.array([getattr(bar, name_) for bar in bars], dtype=float)

        ohlcv = ("open", "high", "low", "close", "volume")
        return DailyBars(name, days, *(column(f) for f in ohlcv))

    def premarket(name: str) -> DayBars:
        prints = PREMARKET[name]
        starts = np.array([to_ns(_ny(DAY, at)) for at, _, _ in prints], dtype=np.int64)
        price = np.array([p for _, p, _ in prints])
        volume = np.array([v for _, _, v in prints])
        return DayBars(name, DAY, 60, starts, price, price, price, price, volume)

    source = MemoryBars(daily=map(daily, HISTORY), days=map(premarket, PREMARKET))
    return Source(BarMarketData(source, UNIVERSE), True, _never, lambda: None)


# massive: the live snapshot and the grouped daily bars (shapes as in test_massive.py)
M_SNAPSHOT = "/v2/snapshot/locale/us/markets/stocks/tickers"


def _m_snapshot_entry(name: str) -> dict[str, Any]:
    previous = HISTORY[name][-1].close
    entry: dict[str, Any] = {
        "ticker": name,
        "prevDay": {"o": previous, "h": previous, "l": previous, "c": previous, "v": 1e6},
        "day": {"o": 0, "h": 0, "l": 0, "c": 0, "v": 0, "vw": 0},  # zero-filled until trades
        "min": {"av": 0, "t": 0, "n": 0, "o": 0, "h": 0, "l": 0, "c": 0, "v": 0, "vw": 0},
        "lastQuote": {"P": 0.0, "S": 0, "p": 0.0, "s": 0, "t": 0},
        "todaysChange": 0.0,
        "todaysChangePerc": 0.0,
        "updated": to_ns(AT),
    }
    prints = [p for p in PREMARKET.get(name, ()) if _ny(DAY, p[0]) < AT]
    if prints:
        at, price, _ = prints[-1]
        volume = sum(v for _, _, v in prints)
        entry["lastTrade"] = {"c": [14], "i": "1", "p": price, "s": 100, "t": to_ns(_ny(DAY, at))}
        entry["min"] = {"av": volume, "t": _ms(_ny(DAY, at)), "n": 3, "o": price, "h": price}
        entry["min"].update({"l": price, "c": price, "v": prints[-1][2], "vw": price})
        entry["day"] = {"o": price, "h": price, "l": price, "c": price, "v": volume, "vw": price}
    return entry


def _m_snapshot(seen: Seen) -> Reply:
    """Only the tickers asked for; one Massive does not know is simply absent."""
    wanted = seen.query["tickers"][0].split(",") if "tickers" in seen.query else list(HISTORY)
    picked = [_m_snapshot_entry(name) for name in HISTORY if name in wanted]
    return Reply.json({"status": "OK", "count": len(picked), "tickers": picked})


def _m_grouped(day: date, k: int) -> dict[str, Any]:
    rows = [
        {"T": name, "o": b.open, "h": b.high, "l": b.low, "c": b.close, "v": b.volume}
        | {"vw": b.close, "t": _ms(_ny(day, time(0))), "n": 42}
        for name, bars in HISTORY.items()
        for b in [bars[k]]
    ]
    return {"queryCount": len(rows), "resultsCount": len(rows), "adjusted": False} | {
        "results": rows,
        "status": "OK",
        "request_id": f"grouped-{k}",
        "count": len(rows),
    }


def _massive(rig: Rig) -> Source:
    for k, day in enumerate(SESSIONS):
        path = f"/v2/aggs/grouped/locale/us/market/stocks/{day.isoformat()}"
        rig.route(path, Reply.json(_m_grouped(day, k)))
    rig.route(M_SNAPSHOT, _m_snapshot)
    rig.route("/v3/reference/splits", Reply.json({"results": [], "status": "OK"}))
    types = [{"ticker": name, "type": "CS", "market": "stocks"} for name in HISTORY]
    rig.route("/v3/reference/tickers", Reply.json({"results": types, "status": "OK"}))
    market = massive_market_data(
        api_key=KEY,
        policy=POLICY,
        cache_dir=rig.cache,
        calendar=CALENDAR,
        clock=ManualClock(AT),  # a snapshot is now: now is the scan time
        universe=UNIVERSE,
        base_url=rig.base_url,
    )

    def cannot_answer(how: str) -> None:
        replies = {
            "down": Reply.text("upstream down", 503),
            "refused": Reply.json({"status": "ERROR", "error": "Unknown API Key"}, 401),
        }
        rig.route(M_SNAPSHOT, replies[how])

    return Source(market, True, cannot_answer, market.close)


# fmp: quotes, extended-hours trades, daily history, profiles (shapes as in test_fmp.py)
F_QUOTES = "/stable/batch-quote"


def _f_quote(name: str) -> dict[str, Any]:
    """The quote as FMP shows it before it rolls over to the day: the previous session."""
    bars = HISTORY[name]
    price, previous = bars[-1].close, bars[-2].close
    return {
        "symbol": name,
        "name": f"{name} Inc.",
        "price": price,
        "changePercentage": round((price / previous - 1) * 100, 4),
        "change": round(price - previous, 4),
        "volume": bars[-1].volume,
        "dayLow": bars[-1].low,
        "dayHigh": bars[-1].high,
        "yearHigh": price * 2,
        "yearLow": price / 2,
        "marketCap": 2_000_000_000,
        "priceAvg50": price,
        "priceAvg200": price,
        "exchange": "NASDAQ",
        "open": bars[-1].open,
        "previousClose": previous,
        "timestamp": int(_ny(PREVIOUS, time(16, 0, 1)).timestamp()),
    }


def _f_trades(name: str) -> list[dict[str, Any]]:
    prints = [p for p in PREMARKET.get(name, ()) if _ny(DAY, p[0]) < AT]
    if not prints:
        return []
    at, price, _ = prints[-1]
    return [{"symbol": name, "price": price, "tradeSize": 100, "timestamp": _ms(_ny(DAY, at))}]


def _f_daily(name: str) -> list[dict[str, Any]]:
    rows = [
        {"symbol": name, "date": day.isoformat(), "open": b.open, "high": b.high, "low": b.low}
        | {"close": b.close, "volume": b.volume, "change": 0.0, "changePercent": 0.0}
        | {"vwap": b.close}
        for day, b in zip(SESSIONS, HISTORY[name], strict=True)
    ]
    return rows[::-1]  # newest first


def _f_profile(name: str) -> dict[str, Any]:
    return {
        "symbol": name,
        "price": HISTORY[name][-1].close,
        "marketCap": 1_200_000_000,
        "companyName": f"{name} Inc.",
        "exchange": "NASDAQ",
        "sector": "Technology",
        "isEtf": False,
        "isActivelyTrading": True,
        "isAdr": False,
        "isFund": False,
    }


def _f_asked(seen: Seen) -> list[str]:
    return [name for name in seen.query["symbols"][0].split(",") if name in HISTORY]


def _f_one(build: Callable[[str], Any]) -> Callable[[Seen], Reply]:
    def answer(seen: Seen) -> Reply:
        name = seen.query["symbol"][0]
        return Reply.json(build(name) if name in HISTORY else [])

    return answer


def _fmp(rig: Rig) -> Source:
    rig.route(F_QUOTES, lambda seen: Reply.json([_f_quote(n) for n in _f_asked(seen)]))
    trades = lambda seen: Reply.json([t for n in _f_asked(seen) for t in _f_trades(n)])  # noqa: E731
    rig.route("/stable/batch-aftermarket-trade", trades)
    rig.route("/stable/historical-price-eod/full", _f_one(_f_daily))
    rig.route("/stable/profile", _f_one(lambda name: [_f_profile(name)]))
    market = fmp_market_data(  # no clock: FMP's "now" is its quotes' timestamps
        api_key=KEY,
        policy=POLICY,
        cache_dir=rig.cache,
        calendar=CALENDAR,
        universe=UNIVERSE,
        base_url=rig.base_url,
        sleep=lambda seconds: None,
    )

    def cannot_answer(how: str) -> None:
        replies = {
            "down": Reply.text("upstream down", 503),
            "refused": Reply.json({"Error Message": "Invalid API KEY."}, 401),
        }
        rig.route(F_QUOTES, replies[how])

    return Source(market, False, cannot_answer, market.close)


BUILDERS: dict[str, Callable[[Rig], Source]] = {"bars": _bars, "massive": _massive, "fmp": _fmp}
_PREFIXES = itertools.count(1)


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    # One server for the module (stopping one takes a while): each source gets its own path
    # prefix, so no test sees another's routes or requests.
    with ScriptedServer() as running:
        yield running


@pytest.fixture
def build(server: ScriptedServer, tmp_path: Path) -> Iterator[Callable[[str], Source]]:
    built: list[Source] = []

    def make(kind: str) -> Source:
        rig = Rig(server, f"/source{next(_PREFIXES)}", tmp_path / f"cache-{len(built)}")
        built.append(BUILDERS[kind](rig))
        return built[-1]

    yield make
    for source in built:
        source.close()


@pytest.fixture(params=sorted(BUILDERS))
def source(request: pytest.FixtureRequest, build: Callable[[str], Source]) -> Source:
    return build(request.param)


def by_symbol(rows: Sequence[PremarketFeatures]) -> dict[str, PremarketFeatures]:
    return {row.symbol.value: row for row in rows}


def names(rows: Sequence[PremarketFeatures]) -> list[str]:
    return sorted(row.symbol.value for row in rows)


# --- (a) known symbols only, each once; an unknown one is left out --------------------------
def test_the_universe_gives_each_known_symbol_once_and_leaves_the_unknown_out(
    source: Source,
) -> None:
    rows = source.market.premarket_features(DAY, AT)

    assert names(rows) == ["AAA", "BBB"]  # ZZZZ is in the universe, no source knows it


def test_symbols_unknown_to_the_source_are_left_out_without_an_error(source: Source) -> None:
    assert source.market.premarket_features(DAY, AT, [ZZZZ]) == []
    assert names(source.market.premarket_features(DAY, AT, [ZZZZ, AAA, BBB])) == ["AAA", "BBB"]


def test_a_symbol_asked_for_twice_comes_back_once(source: Source) -> None:
    rows = source.market.premarket_features(DAY, AT, [AAA, BBB, AAA])

    assert names(rows) == ["AAA", "BBB"]


# --- (b) symbols restrict the answer --------------------------------------------------------
def test_the_symbols_asked_for_restrict_the_answer(source: Source) -> None:
    assert names(source.market.premarket_features(DAY, AT, [BBB])) == ["BBB"]
    assert names(source.market.premarket_features(DAY, AT, [AAA])) == ["AAA"]
    assert list(source.market.premarket_features(DAY, AT, [])) == []


# --- the same market gives the same features ------------------------------------------------
@pytest.mark.parametrize("name", sorted(HISTORY))
def test_the_features_are_those_of_the_history_and_the_pre_market(
    source: Source, name: str
) -> None:
    (row,) = source.market.premarket_features(DAY, AT, [Symbol(name)])
    expected = EXPECTED[name]

    assert float(row.previous_close.value) == pytest.approx(expected.previous_close)
    assert float(row.last_price.value) == pytest.approx(expected.last_price)
    assert float(row.gap_pct) == pytest.approx(expected.gap_pct, abs=1e-6)
    # every source computes these with DailyHistory over the same sessions: 4 decimals
    assert float(row.atr_pct) == pytest.approx(expected.atr_pct, abs=1e-4)
    # truncated to whole shares
    assert float(row.average_daily_volume) == pytest.approx(expected.average_daily_volume, abs=1)
    if source.reports_premarket_volume:
        assert float(row.premarket_volume) == expected.premarket_volume
    else:  # FMP: no pre-market volume before its quote rolls over to the day (its docstring)
        assert row.premarket_volume == 0


def test_every_source_gives_the_same_features(build: Callable[[str], Source]) -> None:
    def facts(row: PremarketFeatures, with_volume: bool) -> tuple[Any, ...]:
        return (
            row.symbol,
            row.previous_close,
            row.last_price,
            row.gap_pct,
            round(row.atr_pct, 3),
            row.average_daily_volume,
            row.premarket_volume if with_volume else None,
        )

    seen: dict[str, list[tuple[Any, ...]]] = {}
    for kind in sorted(BUILDERS):
        source = build(kind)
        rows = sorted(source.market.premarket_features(DAY, AT), key=lambda r: r.symbol.value)
        seen[kind] = [facts(row, source.reports_premarket_volume) for row in rows]

    # FMP's premarket_volume is left out of the comparison (see the module docstring)
    assert seen["bars"] == seen["massive"]
    assert [f[:-1] for f in seen["fmp"]] == [f[:-1] for f in seen["bars"]]


# --- (c) gap_pct and relative_volume derive from the facts ----------------------------------
def test_gap_and_relative_volume_derive_from_the_facts(source: Source) -> None:
    rows = by_symbol(source.market.premarket_features(DAY, AT))

    for row in rows.values():
        assert row.gap_pct == (row.last_price.value / row.previous_close.value - 1) * 100
        assert row.average_daily_volume > 0
        assert row.relative_volume == row.premarket_volume / row.average_daily_volume
        assert row.premarket_dollar_volume == row.premarket_volume * row.last_price.value
    assert rows["AAA"].gap_pct == pytest.approx(Decimal(5))
    assert rows["BBB"].gap_pct == 0 and rows["BBB"].relative_volume == 0
    if source.reports_premarket_volume:
        assert float(rows["AAA"].relative_volume) == pytest.approx(50_000 / 1_145_000)


# --- (d) a source that cannot answer at all says so -----------------------------------------
NEVER_DOWN = pytest.mark.skip(
    reason="a bar source has no way to be down: it never raises MarketDataUnavailable, a "
    "symbol without bars is left out (tested above)"
)


@pytest.mark.parametrize("how", ["down", "refused"])
@pytest.mark.parametrize(
    "source", [pytest.param("bars", marks=NEVER_DOWN), "fmp", "massive"], indirect=True
)
@pytest.mark.parametrize("symbols", [None, [AAA, BBB]], ids=["universe", "symbols"])
def test_a_source_that_cannot_answer_raises_market_data_unavailable(
    source: Source, how: str, symbols: list[Symbol] | None
) -> None:
    source.cannot_answer(how)

    with pytest.raises(MarketDataUnavailable) as raised:
        source.market.premarket_features(DAY, AT, symbols)

    assert raised.value.reason and raised.value.provider
    assert KEY not in str(raised.value)


# --- (e) prices are positive, ATR % is not negative ------------------------------------------
def test_prices_are_positive_and_atr_pct_is_not_negative(source: Source) -> None:
    rows = source.market.premarket_features(DAY, AT, [AAA, BBB, ZZZZ])

    assert rows
    for row in rows:
        assert row.previous_close.value > 0 and row.last_price.value > 0
        assert row.atr_pct >= 0
        assert row.premarket_volume >= 0 and row.average_daily_volume >= 0
