"""The FMP adapter against a scripted local server speaking FMP's documented ``/stable`` shapes.

Fixtures follow the documented examples: ``batch-quote`` rows with ``previousClose`` and a
``timestamp`` in seconds (1738702801 is the docs' 2025-02-04 16:00:01 ET),
``batch-aftermarket-trade`` rows stamped in milliseconds, ``profile`` rows with
``isEtf``/``isFund``/``isAdr``/``isActivelyTrading``, daily bars newest first, and minute
bars stamped in New York wall time ("2025-02-04 15:59:00").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from http_server import Reply, ScriptedServer, Seen

from openbell.adapters.bars.store import BarStore
from openbell.adapters.calendar import ExchangeCalendar
from openbell.adapters.clock import ManualClock
from openbell.adapters.data.fetch import fetch_into_store
from openbell.adapters.data.fmp import (
    KEY_VARIABLE,
    FmpBars,
    FmpMarketData,
    LiveOnly,
    fmp_bars,
    fmp_client,
    fmp_market_data,
)
from openbell.adapters.data.http import HttpPolicy
from openbell.bars.frame import Basis, to_ns
from openbell.domain.candidates import PremarketFeatures
from openbell.domain.errors import MarketDataUnavailable, MissingSecret, RefusedInput
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Symbol

CALENDAR = ExchangeCalendar.nyse(start=date(2024, 6, 1))
DAY = date(2025, 2, 5)
PREVIOUS = date(2025, 2, 4)
AT = datetime.combine(DAY, time(9, 0), tzinfo=NEW_YORK)
KEY = "fmpKEY-q7Z9x2Lw4VbN8"
FAST = HttpPolicy(timeout_s=2.0, max_retries=2, backoff_s=0.5)

QUOTES = "/stable/batch-quote"
TRADES = "/stable/batch-aftermarket-trade"
PROFILE = "/stable/profile"
DAILY = "/stable/historical-price-eod/full"
DAILY_RAW = "/stable/historical-price-eod/non-split-adjusted"
MINUTES = "/stable/historical-chart/1min"
GAINERS = "/stable/biggest-gainers"
ACTIVES = "/stable/most-actives"


def _ny_s(day: date, hh: int, mm: int, ss: int = 0) -> int:
    return int(datetime.combine(day, time(hh, mm, ss), tzinfo=NEW_YORK).timestamp())


def _sessions(n: int = 20) -> list[date]:
    days, day = [], DAY
    for _ in range(n):
        day = CALENDAR.previous_session(day).trading_day
        days.append(day)
    return days[::-1]


def _quote(
    symbol: str, price: float, previous_close: float, volume: int, ts: int
) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "name": f"{symbol} Inc.",
        "price": price,
        "changePercentage": round((price / previous_close - 1) * 100, 4),
        "change": round(price - previous_close, 4),
        "volume": volume,
        "dayLow": price,
        "dayHigh": price,
        "yearHigh": price * 2,
        "yearLow": price / 2,
        "marketCap": 2_000_000_000,
        "priceAvg50": price,
        "priceAvg200": price,
        "exchange": "NASDAQ",
        "open": price,
        "previousClose": previous_close,
        "timestamp": ts,
    }


def _trade(symbol: str, price: float, timestamp_ms: int) -> dict[str, Any]:
    return {"symbol": symbol, "price": price, "tradeSize": 100, "timestamp": timestamp_ms}


def _profile(symbol: str, **flags: Any) -> dict[str, Any]:
    row = {
        "symbol": symbol,
        "price": 10.0,
        "marketCap": 1_200_000_000,
        "beta": 1.2,
        "companyName": f"{symbol} Inc.",
        "currency": "USD",
        "exchange": "NASDAQ",
        "industry": "Software",
        "sector": "Technology",
        "country": "US",
        "isEtf": False,
        "isActivelyTrading": True,
        "isAdr": False,
        "isFund": False,
    }
    row.update(flags)
    return row


def _history(
    symbol: str, low: float, high: float, close: float, volume: int
) -> list[dict[str, Any]]:
    """Twenty sessions with a true range of ``high - low`` each day, newest first."""
    rows = [
        {
            "symbol": symbol,
            "date": day.isoformat(),
            "open": close,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "change": 0.0,
            "changePercent": 0.0,
            "vwap": close,
        }
        for day in _sessions()
    ]
    return rows[::-1]


@dataclass
class Market:
    """What the scripted FMP knows; tests change it before scanning."""

    quotes: dict[str, dict[str, Any]] = field(default_factory=dict)
    trades: dict[str, dict[str, Any]] = field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    daily: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def serve(self, server: ScriptedServer) -> None:
        server.route("GET", QUOTES, lambda seen: Reply.json(self._batch(self.quotes, seen)))
        server.route("GET", TRADES, lambda seen: Reply.json(self._batch(self.trades, seen)))
        server.route("GET", PROFILE, lambda seen: Reply.json(self._one(self.profiles, seen)))
        server.route("GET", DAILY, lambda seen: Reply.json(self.daily.get(_symbol(seen), [])))

    @staticmethod
    def _batch(rows: dict[str, dict[str, Any]], seen: Seen) -> list[dict[str, Any]]:
        asked = seen.query["symbols"][0].split(",")
        return [rows[name] for name in asked if name in rows]

    @staticmethod
    def _one(rows: dict[str, dict[str, Any]], seen: Seen) -> list[dict[str, Any]]:
        row = rows.get(_symbol(seen))
        return [row] if row is not None else []


def _symbol(seen: Seen) -> str:
    return seen.query["symbol"][0]


def _standard() -> Market:
    """GAPR: quote still yesterday's, a pre-market trade today. ROLL: FMP already rolled the
    quote over to today, and a later trade. QQQ: an ETF whose only extended-hours trade is
    yesterday's after-hours one. NOPE: unknown to FMP."""
    market = Market()
    yesterday_close = _ny_s(PREVIOUS, 16, 0, 1)  # the docs' example timestamp, 1738702801
    market.quotes = {
        "GAPR": _quote("GAPR", 10.0, 9.0, 1_000_000, yesterday_close),
        "ROLL": _quote("ROLL", 5.5, 5.0, 300_000, _ny_s(DAY, 8, 50)),
        "QQQ": _quote("QQQ", 520.0, 515.0, 40_000_000, yesterday_close),
    }
    market.trades = {
        "GAPR": _trade("GAPR", 12.0, _ny_s(DAY, 8, 45) * 1000),
        "ROLL": _trade("ROLL", 5.6, _ny_s(DAY, 8, 55) * 1000),
        "QQQ": _trade("QQQ", 530.0, 1738715334311),  # the docs' example: 02-04 19:28 ET
    }
    market.profiles = {
        "GAPR": _profile("GAPR"),
        "ROLL": _profile("ROLL", isAdr=True, marketCap=300_000_000, sector="Healthcare"),
        "QQQ": _profile("QQQ", isEtf=True, marketCap=None, sector=""),
    }
    market.daily = {
        "GAPR": _history("GAPR", 9.0, 11.0, 10.0, 1_000_000),
        "ROLL": _history("ROLL", 4.5, 5.5, 5.0, 2_000_000),
        "QQQ": _history("QQQ", 510.0, 530.0, 520.0, 40_000_000),
    }
    market.daily["GAPR"][1]["close"] = 9.0  # 2025-02-03 closed at 9, as the quote says
    return market


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


@dataclass
class Rig:
    server: ScriptedServer
    cache: Path
    sleeps: list[float] = field(default_factory=list)

    def market_data(
        self, universe: tuple[str, ...] = (), policy: HttpPolicy = FAST
    ) -> FmpMarketData:
        return fmp_market_data(
            api_key=KEY,
            policy=policy,
            cache_dir=self.cache,
            calendar=CALENDAR,
            universe=universe,
            base_url=self.server.url,
            sleep=self.sleeps.append,
        )

    def scan(
        self, universe: tuple[str, ...] = (), policy: HttpPolicy = FAST, **kwargs: Any
    ) -> dict[str, PremarketFeatures]:
        with self.market_data(universe, policy) as market:
            found = market.premarket_features(kwargs.pop("day", DAY), AT, **kwargs)
        return {row.symbol.value: row for row in found}


@pytest.fixture
def rig(server: ScriptedServer, tmp_path: Path) -> Rig:
    return Rig(server, tmp_path / "cache")


UNIVERSE = ("GAPR", "ROLL", "QQQ", "NOPE")


# --- features ------------------------------------------------------------------------------------
def test_features_of_a_small_universe_are_hand_checkable(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    _standard().serve(rig.server)
    caplog.set_level(logging.INFO, logger="openbell.adapters.data.fmp")

    rows = rig.scan(UNIVERSE)

    assert sorted(rows) == ["GAPR", "QQQ", "ROLL"]  # NOPE: not in FMP's quotes
    gapr = rows["GAPR"]  # quote still yesterday's: the history's close of 02-04, not 9.0
    assert (gapr.previous_close.value, gapr.last_price.value) == (Decimal("10.0"), Decimal("12.0"))
    assert gapr.gap_pct == Decimal(20)
    assert gapr.premarket_volume == 0  # FMP documents no pre-market volume before rollover
    assert gapr.average_daily_volume == 1_000_000
    assert gapr.atr_pct == Decimal("20.0")  # true range 2 every day / close 10
    assert (gapr.security_type, gapr.market_cap, gapr.sector) == (
        "CS",
        Decimal(1_200_000_000),
        "Technology",
    )
    assert gapr.halted is None
    roll = rows["ROLL"]  # rolled over: previousClose is ours; the later trade is the last
    assert (roll.previous_close.value, roll.last_price.value) == (Decimal("5.0"), Decimal("5.6"))
    assert roll.premarket_volume == 300_000
    assert roll.relative_volume == Decimal("0.15")
    assert roll.atr_pct == Decimal("20.0")
    assert (roll.security_type, roll.sector) == ("ADRC", "Healthcare")
    qqq = rows["QQQ"]  # yesterday's after-hours trade is no pre-market trade
    assert qqq.last_price == qqq.previous_close and qqq.previous_close.value == Decimal("520.0")
    assert (qqq.security_type, qqq.sector) == ("ETF", None)  # an ETF is the scanner's to drop
    assert qqq.market_cap == Decimal(2_000_000_000)  # the profile has none: the quote's
    [quotes] = rig.server.seen(QUOTES)
    assert quotes.query["symbols"] == ["GAPR,ROLL,QQQ,NOPE"]
    assert rig.server.seen(TRADES)[0].query["symbols"] == ["GAPR,ROLL,QQQ"]
    history = rig.server.seen(DAILY)[0].query
    assert (history["from"], history["to"]) == ([_sessions()[0].isoformat()], ["2025-02-04"])
    left_out = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("NOPE" in message and "quotes" in message for message in left_out)


def test_without_a_universe_the_movers_are_scanned(rig: Rig) -> None:
    _standard().serve(rig.server)
    mover = {"symbol": "GAPR", "price": 12.0, "name": "Gapper Inc.", "change": 2.0}
    gainers = [dict(mover, changesPercentage=20.0, exchange="NASDAQ")]
    actives = [dict(gainers[0], symbol="ROLL"), dict(gainers[0], symbol="GAPR")]
    rig.server.route("GET", GAINERS, Reply.json(gainers))
    rig.server.route("GET", ACTIVES, Reply.json(actives))

    rows = rig.scan()

    assert sorted(rows) == ["GAPR", "ROLL"]
    assert rig.server.seen(QUOTES)[0].query["symbols"] == ["GAPR,ROLL"]


def test_no_movers_at_all_is_a_clear_error(rig: Rig) -> None:
    rig.server.route("GET", GAINERS, Reply.json([]))
    rig.server.route("GET", ACTIVES, Reply.json([]))

    with pytest.raises(MarketDataUnavailable, match="biggest gainers or most active"):
        rig.scan()


def test_unknown_symbols_asked_by_name_are_left_out(rig: Rig) -> None:
    _standard().serve(rig.server)

    assert rig.scan(symbols=[Symbol("NOPE")]) == {}
    assert rig.scan(symbols=[Symbol("NOPE"), Symbol("GAPR")]).keys() == {"GAPR"}


def test_an_empty_quote_list_for_the_whole_universe_is_a_clear_error(rig: Rig) -> None:
    _standard().serve(rig.server)

    with pytest.raises(MarketDataUnavailable) as caught:
        rig.scan(("NOPE", "NADA"))

    assert "expected quotes for 2 symbols of the universe, found none" in str(caught.value)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({}, "CS"),
        ({"isEtf": True}, "ETF"),
        ({"isFund": True}, "FUND"),
        ({"isAdr": True}, "ADRC"),
        ({"isActivelyTrading": False, "isEtf": True}, "INACTIVE"),
    ],
)
def test_the_profile_gives_the_security_type(
    rig: Rig, flags: dict[str, bool], expected: str
) -> None:
    market = _standard()
    market.profiles["GAPR"] = _profile("GAPR", **flags)
    market.serve(rig.server)

    assert rig.scan(("GAPR",))["GAPR"].security_type == expected


def test_unreadable_profiles_leave_the_types_unknown_not_the_scan(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    _standard().serve(rig.server)
    rig.server.route("GET", PROFILE, Reply.json({"Error Message": "Restricted Endpoint"}, 402))

    rows = rig.scan(UNIVERSE)

    assert {row.security_type for row in rows.values()} == {None}
    assert len(rig.server.seen(PROFILE)) == 1  # one failure stops asking for this scan
    assert "HTTP 402" in caplog.text


def test_the_past_is_refused(rig: Rig) -> None:
    _standard().serve(rig.server)  # ROLL's quote is stamped 2025-02-05

    with pytest.raises(LiveOnly, match="expected trading_day 2025-02-05 or later"):
        rig.scan(UNIVERSE, day=PREVIOUS)


# --- what FMP answers when things go wrong -------------------------------------------------------
def test_an_error_message_with_http_200_says_the_key_was_refused(rig: Rig) -> None:
    said = "Invalid API KEY. Feel free to create a Free API Key or visit https://site.financialmodelingprep.com/faqs"
    rig.server.route("GET", QUOTES, Reply.json({"Error Message": said}))

    with pytest.raises(MarketDataUnavailable) as caught:
        rig.scan(UNIVERSE)

    assert "the API key was refused" in str(caught.value)
    assert KEY_VARIABLE in str(caught.value)
    assert caught.value.provider == "fmp"
    assert len(rig.server.seen(QUOTES)) == 1  # a refusal is not retried


def test_a_limit_reached_message_is_reported_as_such(rig: Rig) -> None:
    said = "Limit Reach . Please upgrade your plan or visit our documentation"
    rig.server.route("GET", QUOTES, Reply.json({"Error Message": said}))

    with pytest.raises(MarketDataUnavailable, match="request limit is reached"):
        rig.scan(UNIVERSE)


def test_a_changed_schema_names_the_missing_field(rig: Rig) -> None:
    market = _standard()
    for row in market.quotes.values():
        row["prevClose"] = row.pop("previousClose")
    market.serve(rig.server)

    with pytest.raises(MarketDataUnavailable) as caught:
        rig.scan(UNIVERSE)

    assert "expected a field [0].previousClose, found none" in str(caught.value)
    assert "3 of 3 rows" in str(caught.value)


def test_a_changed_history_schema_names_the_field(rig: Rig) -> None:
    market = _standard()
    for row in market.daily["GAPR"]:
        row["close"] = "n/a"
    market.serve(rig.server)

    with pytest.raises(MarketDataUnavailable, match=r"expected \[0\]\.close: .*'n/a'"):
        rig.scan(("GAPR",))


def test_one_symbols_unreadable_history_leaves_it_out_not_the_scan(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="openbell.adapters.data.fmp")
    market = _standard()
    market.daily["GAPR"][3]["volume"] = None  # one bad bar of one symbol
    market.serve(rig.server)

    rows = rig.scan(UNIVERSE)
    market.daily["GAPR"][3]["volume"] = 1_000_000  # FMP corrects it
    again = rig.scan(UNIVERSE)  # a new adapter, the same cache: the bad answer was not kept

    assert sorted(rows) == ["QQQ", "ROLL"]
    assert "left out GAPR: its daily history cannot be read" in caplog.text
    assert "expected [3].volume: input should be a valid number, found None" in caplog.text
    assert sorted(again) == ["GAPR", "QQQ", "ROLL"]
    histories = [_symbol(seen) for seen in rig.server.seen(DAILY)]
    assert sorted(histories) == ["GAPR", "GAPR", "QQQ", "ROLL"]


def test_a_429_waits_as_long_as_retry_after_says_then_succeeds(rig: Rig) -> None:
    market = _standard()
    market.serve(rig.server)
    ok = lambda seen: Reply.json(Market._batch(market.quotes, seen))  # noqa: E731
    rig.server.route("GET", QUOTES, Reply(429, headers={"Retry-After": "7"}), ok)

    rows = rig.scan(UNIVERSE)

    assert sorted(rows) == ["GAPR", "QQQ", "ROLL"]
    assert rig.sleeps == [7.0]
    assert len(rig.server.seen(QUOTES)) == 2


def test_a_server_error_that_persists_fails_after_the_retries(rig: Rig) -> None:
    rig.server.route("GET", QUOTES, Reply.text("oops", 500))

    with pytest.raises(MarketDataUnavailable, match=r"server error \(HTTP 500\) \(3 attempts\)"):
        rig.scan(UNIVERSE)

    assert len(rig.server.seen(QUOTES)) == 3
    assert rig.sleeps == [0.5, 1.0]


def test_a_server_that_does_not_answer_times_out(rig: Rig) -> None:
    rig.server.route("GET", QUOTES, Reply.json([], delay_s=0.5))
    policy = HttpPolicy(timeout_s=0.1, max_retries=0)

    with pytest.raises(MarketDataUnavailable, match=r"no answer within 0\.1 s"):
        rig.scan(UNIVERSE, policy=policy)


def test_a_truncated_body_is_retried(rig: Rig) -> None:
    market = _standard()
    market.serve(rig.server)
    full = Reply.json([market.quotes["GAPR"]])
    ok = lambda seen: Reply.json(Market._batch(market.quotes, seen))  # noqa: E731
    rig.server.route("GET", QUOTES, Reply(200, full.body, full.headers, truncate_to=30), ok)

    rows = rig.scan(UNIVERSE)

    assert sorted(rows) == ["GAPR", "QQQ", "ROLL"]
    assert rig.sleeps == [0.5]


# --- requests: chunks and the cache --------------------------------------------------------------
def test_quotes_are_asked_in_chunks(rig: Rig) -> None:
    rig.server.route("GET", QUOTES, Reply.json([]))
    names = [f"S{i:03d}" for i in range(205)]

    with fmp_client(api_key=KEY, policy=FAST, cache_dir=None, base_url=rig.server.url) as client:
        assert client.quotes(names) == []

    asked = [seen.query["symbols"][0].split(",") for seen in rig.server.seen(QUOTES)]
    assert [len(chunk) for chunk in asked] == [100, 100, 5]
    assert [name for chunk in asked for name in chunk] == names


def test_history_and_profiles_are_cached_across_scans_quotes_never(rig: Rig) -> None:
    market = _standard()
    market.daily["ROLL"] = market.daily["ROLL"][1:]  # 02-04 not published yet: not cached
    market.serve(rig.server)

    first = rig.scan(UNIVERSE)
    second = rig.scan(UNIVERSE)  # a new adapter: what it does not ask came from the disk

    assert first == second
    assert first["ROLL"].previous_close.value == Decimal("5.0")  # the quote, rolled over
    assert len(rig.server.seen(QUOTES)) == 2
    assert len(rig.server.seen(TRADES)) == 2
    histories = [_symbol(seen) for seen in rig.server.seen(DAILY)]
    assert sorted(histories) == ["GAPR", "QQQ", "ROLL", "ROLL"]
    assert len(rig.server.seen(PROFILE)) == 3


def test_one_adapter_asks_a_complete_history_once_a_day(rig: Rig) -> None:
    market = _standard()
    market.daily["ROLL"] = market.daily["ROLL"][1:]  # 02-04 not published yet
    market.serve(rig.server)

    with rig.market_data(UNIVERSE) as scans:
        scans.premarket_features(DAY, AT)
        scans.premarket_features(DAY, AT + timedelta(minutes=10))

    histories = [_symbol(seen) for seen in rig.server.seen(DAILY)]
    assert sorted(histories) == ["GAPR", "QQQ", "ROLL", "ROLL"]


# --- the key -------------------------------------------------------------------------------------
def test_the_key_goes_in_the_query_and_nowhere_else(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: openbell's and the HTTP stack's
    _standard().serve(rig.server)
    rig.scan(UNIVERSE)
    rig.server.route("GET", QUOTES, Reply.json({"Error Message": f"Invalid API KEY {KEY}"}))
    with pytest.raises(MarketDataUnavailable) as refused:
        rig.scan(UNIVERSE)
    rig.server.route("GET", QUOTES, Reply.text(f"down, key={KEY}", 500))
    with pytest.raises(MarketDataUnavailable) as down:
        rig.scan(UNIVERSE)

    assert {seen.query["apikey"][0] for seen in rig.server.requests} == {KEY}
    assert all("authorization" not in seen.headers for seen in rig.server.requests)
    assert KEY not in str(refused.value) and "***" in str(refused.value)
    assert KEY not in str(down.value)
    assert KEY not in caplog.text
    cached = [p.read_text() for p in rig.cache.rglob("*.json")]
    assert cached and all(KEY not in text for text in cached)


def test_a_missing_key_is_refused_at_once(rig: Rig) -> None:
    with pytest.raises(MissingSecret, match=KEY_VARIABLE):
        fmp_market_data(
            api_key=None, policy=FAST, cache_dir=None, calendar=CALENDAR, base_url=rig.server.url
        )
    with pytest.raises(MissingSecret, match=KEY_VARIABLE):
        fmp_bars(api_key="", policy=FAST, cache_dir=None, clock=ManualClock(AT))

    assert rig.server.requests == []


# --- bars for the store --------------------------------------------------------------------------
def _raw_daily(symbol: str, days: list[date]) -> list[dict[str, Any]]:
    return [
        {
            "symbol": symbol,
            "date": day.isoformat(),
            "adjOpen": 10.0 + i,
            "adjHigh": 11.0 + i,
            "adjLow": 9.5 + i,
            "adjClose": 10.5 + i,
            "volume": 1_000_000 + i,
        }
        for i, day in enumerate(days)
    ][::-1]


def _minutes(seen: Seen) -> Reply:
    day = seen.query["from"][0]
    bars = [
        {
            "date": f"{day} {hhmm}:00",
            "open": 10.0,
            "low": 9.9,
            "high": 10.2,
            "close": 10.1,
            "volume": 100 * (i + 1),
        }
        for i, hhmm in enumerate(("04:00", "09:30", "15:59"))
    ]
    return Reply.json(bars[::-1])


def test_fmp_bars_fill_the_store(rig: Rig, tmp_path: Path) -> None:
    days = [date(2025, 2, 3), PREVIOUS]
    rig.server.route("GET", DAILY_RAW, Reply.json(_raw_daily("AAPL", days)))
    rig.server.route("GET", MINUTES, _minutes)
    store = BarStore(tmp_path / "store")
    clock = ManualClock(datetime(2025, 2, 6, 12, 0, tzinfo=NEW_YORK))

    with fmp_bars(
        api_key=KEY, policy=FAST, cache_dir=rig.cache, clock=clock, base_url=rig.server.url
    ) as fetcher:
        report = fetch_into_store(fetcher, store, CALENDAR, ["AAPL"], days[0], days[-1])

    assert (report.daily_rows, report.days_written, report.failures) == (2, 2, [])
    daily = store.daily("AAPL")
    assert daily is not None and daily.basis is Basis.RAW and daily.source == "fmp"
    assert [str(d) for d in daily.days.astype("datetime64[D]")] == ["2025-02-03", "2025-02-04"]
    assert daily.close.tolist() == [10.5, 11.5] and daily.volume.tolist() == [1e6, 1e6 + 1]
    minutes = store.day("AAPL", PREVIOUS)
    assert minutes is not None and minutes.source == "fmp"
    opens = [
        datetime.combine(PREVIOUS, time(h, m), tzinfo=NEW_YORK)
        for h, m in ((4, 0), (9, 30), (15, 59))
    ]
    assert minutes.start_ns.tolist() == [to_ns(t) for t in opens]  # 09:30 ET = 14:30 UTC
    assert minutes.volume.tolist() == [100.0, 200.0, 300.0]
    [asked] = [s.query for s in rig.server.seen(MINUTES) if s.query["from"] == ["2025-02-04"]]
    assert (asked["to"], asked["nonadjusted"]) == (["2025-02-04"], ["true"])


def test_fmp_bars_say_when_fmp_knows_no_symbol(rig: Rig, tmp_path: Path) -> None:
    rig.server.route("GET", DAILY_RAW, Reply.json([]))
    rig.server.route("GET", PROFILE, Reply.json([]))
    clock = ManualClock(datetime(2025, 2, 6, 12, 0, tzinfo=NEW_YORK))

    with fmp_bars(
        api_key=KEY, policy=FAST, cache_dir=None, clock=clock, base_url=rig.server.url
    ) as fetcher:
        report = fetch_into_store(
            fetcher, BarStore(tmp_path / "store"), CALENDAR, ["ZZZZ"], PREVIOUS, PREVIOUS
        )

    assert report.failures == ["ZZZZ daily: fmp knows no symbol ZZZZ (it has no profile of it)"]


def test_fmp_bars_refuse_a_day_that_is_not_over(rig: Rig) -> None:
    client = fmp_client(api_key=KEY, policy=FAST, cache_dir=None, base_url=rig.server.url)

    with FmpBars(client, ManualClock(AT)) as fetcher, pytest.raises(RefusedInput) as caught:
        fetcher.minutes("AAPL", DAY)

    assert "expected a day that is over (before 2025-02-05 in New York)" in str(caught.value)
    assert rig.server.requests == []


def test_a_quote_timestamp_in_another_unit_is_a_changed_schema(rig: Rig) -> None:
    market = _standard()
    for row in market.quotes.values():
        row["timestamp"] *= 1000  # milliseconds: not a date 50,000 years away
    market.serve(rig.server)

    with pytest.raises(MarketDataUnavailable, match=r"expected \[0\]\.timestamp: input should"):
        rig.scan(UNIVERSE)
