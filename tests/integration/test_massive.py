"""The Massive adapter against a real HTTP server on 127.0.0.1 answering in Massive's
documented shapes: the morning scan's features (checked against a hand computation), its
refusals and failures, the day cache, and historical bars into a real bar store."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from http_server import Reply, ScriptedServer, Seen

from openbell.adapters.bars.store import BarStore
from openbell.adapters.calendar import ExchangeCalendar
from openbell.adapters.clock import ManualClock
from openbell.adapters.data.cache import DayCache
from openbell.adapters.data.fetch import fetch_into_store
from openbell.adapters.data.http import HttpPolicy, JsonApi, Provider
from openbell.adapters.data.massive import (
    KEY_VARIABLE,
    LiveOnly,
    MassiveBars,
    MassiveClient,
    MassiveMarketData,
    massive_bars,
    massive_market_data,
)
from openbell.bars.frame import to_ns
from openbell.domain.candidates import PremarketFeatures
from openbell.domain.errors import MarketDataUnavailable, MissingSecret, NotFound, RefusedInput
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Symbol

KEY = "mk-test-0xC0FFEE-distinctive"
TODAY = date(2024, 6, 12)
NOW = datetime(2024, 6, 12, 8, 30, tzinfo=NEW_YORK)
YESTERDAY = date(2024, 6, 11)
UNIVERSE = ("AAA", "BBB", "CCC", "DDD", "EEE", "ZZZZ")
SNAPSHOT = "/v2/snapshot/locale/us/markets/stocks/tickers"
SPLITS = "/v3/reference/splits"
TICKERS = "/v3/reference/tickers"
POLICY = HttpPolicy(timeout_s=2.0, max_retries=2, backoff_s=0.5)


def ny(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK)


def ms(instant: datetime) -> int:
    return to_ns(instant) // 1_000_000


# --- documented shapes -----------------------------------------------------------------------
def snapshot_entry(
    ticker: str,
    prev_close: float,
    *,
    trade: tuple[float, datetime] | None = None,
    minute: tuple[float, float, datetime] | None = None,
    day_volume: float = 0,
) -> dict[str, Any]:
    """One ticker of the full-market snapshot, every documented field present."""
    close, accumulated, start = minute if minute is not None else (0, 0, None)
    entry: dict[str, Any] = {
        "day": {"c": close, "h": close, "l": close, "o": close, "v": day_volume, "vw": close},
        "lastQuote": {"P": 0.0, "S": 0, "p": 0.0, "s": 0, "t": 0},
        "min": {
            "av": accumulated,
            "c": close,
            "h": close,
            "l": close,
            "o": close,
            "v": 100,
            "vw": close,
            "t": ms(start) if start is not None else 0,
            "n": 3,
        },
        "prevDay": {
            "c": prev_close,
            "h": prev_close,
            "l": prev_close,
            "o": prev_close,
            "v": 1000,
            "vw": prev_close,
        },
        "ticker": ticker,
        "todaysChange": 0.0,
        "todaysChangePerc": 0.0,
        "updated": to_ns(NOW),
    }
    if trade is not None:
        price, when = trade
        entry["lastTrade"] = {"c": [14, 41], "i": "71675", "p": price, "s": 100, "t": to_ns(when)}
    return entry


def snapshot_answer(entries: Sequence[dict[str, Any]]) -> Callable[[Seen], Reply]:
    """Answer like Massive: only the tickers asked for, the rest simply absent."""

    def answer(seen: Seen) -> Reply:
        wanted = seen.query["tickers"][0].split(",") if "tickers" in seen.query else None
        picked = [e for e in entries if wanted is None or e["ticker"] in wanted]
        return Reply.json({"status": "OK", "count": len(picked), "tickers": picked})

    return answer


def agg(bar: dict[str, float], start: datetime, ticker: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {**bar, "vw": bar["c"], "t": ms(start), "n": 42}
    return {"T": ticker, **row} if ticker is not None else row


def aggs_answer(ticker: str, rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "ticker": ticker,
        "queryCount": len(rows),
        "resultsCount": len(rows),
        "adjusted": False,
        "results": rows,
        "status": "OK",
        "request_id": "6a7e466379af0a71039d60cc78e72282",
        "count": len(rows),
        **extra,
    }


# --- the history: 20 sessions, computed by hand ----------------------------------------------
def aaa_bar(k: int) -> dict[str, float]:
    """Rising 0.10 a day; the first six days swing wide, outside the 14-day ATR window."""
    o = 10 + 0.1 * k
    high = o + (5.0 if k < 6 else 0.5)
    return {"o": o, "h": high, "l": o - 0.4, "c": o + 0.2, "v": 1e6 + 1e4 * k}


def flat_bar(price: float, spread: tuple[float, float], volume: float) -> dict[str, float]:
    return {"o": price, "h": price + spread[0], "l": price - spread[1], "c": price, "v": volume}


def history_bars(k: int) -> dict[str, dict[str, float]]:
    return {
        "AAA": aaa_bar(k),
        "BBB": flat_bar(5.0, (0.2, 0.1), 200_000),
        "DDD": flat_bar(5.0, (0.2, 0.1), 200_000),
        "EEE": flat_bar(100.0, (2.0, 1.0), 50_000),  # splits 2:1 today
        "XYZ": flat_bar(1.0, (0.1, 0.1), 1),  # not asked for
    }


def hand_atr_pct_and_volume(bars: list[dict[str, float]]) -> tuple[float, float]:
    """The 14-day ATR as % of the last close, and the 20-day average volume."""
    ranges = [
        max(b["h"] - b["l"], abs(b["h"] - a["c"]), abs(b["l"] - a["c"]))
        for a, b in zip(bars[-15:-1], bars[-14:], strict=True)
    ]
    return sum(ranges) / 14 / bars[-1]["c"] * 100, sum(b["v"] for b in bars[-20:]) / 20


# --- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def calendar() -> ExchangeCalendar:
    return ExchangeCalendar.nyse(date(2024, 1, 1), date(2024, 12, 31))


@pytest.fixture(scope="module")
def sessions(calendar: ExchangeCalendar) -> list[date]:
    days, day = [], TODAY
    for _ in range(20):
        day = calendar.previous_session(day).trading_day
        days.append(day)
    return days[::-1]


@pytest.fixture(scope="module")
def running_server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:  # one per module: stopping one takes half a second
        yield running


def grouped_path(day: date) -> str:
    return f"/v2/aggs/grouped/locale/us/market/stocks/{day.isoformat()}"


def tickers_answer(seen: Seen) -> Reply:
    """Two pages of the ticker list, linked by next_url."""
    if seen.query.get("cursor") != ["cGFnZTI"]:
        first = [{"ticker": "AAA", "type": "CS", "market": "stocks", "active": True}]
        first.append({"ticker": "BBB", "type": "ETF", "market": "stocks", "active": True})
        link = "https://api.massive.com/v3/reference/tickers?cursor=cGFnZTI"
        return Reply.json({"results": first, "status": "OK", "count": 2, "next_url": link})
    rest = [{"ticker": t, "type": "CS", "market": "stocks", "active": True} for t in ("DDD", "EEE")]
    return Reply.json({"results": rest, "status": "OK", "count": 2})


@pytest.fixture
def server(running_server: ScriptedServer, sessions: list[date]) -> ScriptedServer:
    """The morning of 2024-06-12, 08:30 ET, as Massive would answer it."""
    running_server.requests.clear()
    for k, day in enumerate(sessions):
        rows = [agg(bar, ny(day, 0), t) for t, bar in history_bars(k).items()]
        running_server.route("GET", grouped_path(day), Reply.json(aggs_answer("", rows)))
    entries = [
        snapshot_entry(
            "AAA", 12.1, trade=(13.31, ny(TODAY, 8, 25)), minute=(13.3, 250_000, ny(TODAY, 8, 24))
        ),
        snapshot_entry("BBB", 5.0, minute=(5.5, 40_000, ny(TODAY, 8, 29)), day_volume=39_000),
        snapshot_entry("CCC", 3.0, trade=(3.3, ny(TODAY, 8, 0))),
        snapshot_entry(
            "DDD", 5.0, trade=(5.2, ny(YESTERDAY, 19, 59)), minute=(5.2, 90, ny(YESTERDAY, 19, 59))
        ),
        snapshot_entry("EEE", 100.0, trade=(50.5, ny(TODAY, 8, 29))),
    ]
    running_server.route("GET", SNAPSHOT, snapshot_answer(entries))
    split = {"execution_date": "2024-06-12", "id": "E1", "split_from": 1, "split_to": 2}
    splits = {"results": [{**split, "ticker": "EEE"}], "status": "OK", "request_id": "r1"}
    running_server.route("GET", SPLITS, Reply.json(splits))
    running_server.route("GET", TICKERS, tickers_answer)
    return running_server


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def client_for(
    server: ScriptedServer, tmp_path: Path, waits: list[float]
) -> Callable[..., MassiveClient]:
    def build(policy: HttpPolicy = POLICY, key: str | None = KEY) -> MassiveClient:
        api = JsonApi(
            Provider("massive", server.url, key, KEY_VARIABLE),
            policy,
            cache=DayCache(tmp_path / "cache", "massive"),
            sleep=waits.append,
        )
        return MassiveClient(api)

    return build


@pytest.fixture
def market_for(
    client_for: Callable[..., MassiveClient], calendar: ExchangeCalendar
) -> Callable[..., MassiveMarketData]:
    def build(
        universe: Sequence[str] = UNIVERSE, now: datetime = NOW, **client: Any
    ) -> MassiveMarketData:
        return MassiveMarketData(client_for(**client), calendar, ManualClock(now), universe)

    return build


def by_symbol(rows: Sequence[PremarketFeatures]) -> dict[str, PremarketFeatures]:
    return {row.symbol.value: row for row in rows}


# --- the morning scan ------------------------------------------------------------------------
def test_features_of_a_small_universe_match_a_hand_computation(
    market_for: Callable[..., MassiveMarketData], server: ScriptedServer
) -> None:
    with market_for() as market:
        rows = by_symbol(market.premarket_features(TODAY, NOW))
    assert sorted(rows) == ["AAA", "BBB", "DDD", "EEE"]

    aaa = rows["AAA"]
    atr_pct, volume = hand_atr_pct_and_volume([aaa_bar(k) for k in range(20)])
    assert (round(atr_pct, 4), volume) == (7.438, 1_095_000)  # 0.9 / 12.1, by hand
    assert aaa.previous_close.value == Decimal("12.1")  # prevDay.c
    assert aaa.last_price.value == Decimal("13.31")  # lastTrade.p
    assert aaa.gap_pct == pytest.approx(10.0)
    assert aaa.premarket_volume == 250_000  # min.av
    assert float(aaa.atr_pct) == pytest.approx(7.438)
    assert aaa.average_daily_volume == 1_095_000
    assert (aaa.security_type, aaa.halted, aaa.market_cap) == ("CS", None, None)

    bbb = rows["BBB"]  # a plan without trades: the minute's close and min.av
    assert (bbb.last_price.value, bbb.premarket_volume) == (Decimal("5.5"), 40_000)
    assert bbb.security_type == "ETF"
    assert (float(bbb.atr_pct), bbb.average_daily_volume) == (6.0, 200_000)  # 0.3 / 5

    ddd = rows["DDD"]  # nothing today yet: yesterday's trade and minute do not count
    assert (ddd.last_price.value, ddd.premarket_volume, ddd.gap_pct) == (5, 0, 0)

    # EEE splits 2:1 today: the history and the previous close in the new basis, no -49% gap
    eee = rows["EEE"]
    assert (eee.previous_close.value, eee.last_price.value) == (50, Decimal("50.5"))
    assert eee.gap_pct == pytest.approx(1.0)
    assert (float(eee.atr_pct), eee.average_daily_volume) == (3.0, 100_000)  # 1.5 / 50

    (asked,) = server.seen(SNAPSHOT)
    assert asked.query["tickers"] == [",".join(UNIVERSE)]
    assert asked.headers["authorization"] == f"Bearer {KEY}"
    assert len(server.seen(TICKERS)) == 2  # both pages of the ticker list
    second = server.seen(TICKERS)[1]
    assert second.query == {"cursor": ["cGFnZTI"]}  # the link's query, nothing more
    assert second.headers["authorization"] == f"Bearer {KEY}"


def test_symbols_asked_for_replace_the_universe(
    market_for: Callable[..., MassiveMarketData], server: ScriptedServer
) -> None:
    with market_for() as market:
        rows = market.premarket_features(TODAY, NOW, [Symbol("BBB")])
        assert market.premarket_features(TODAY, NOW, []) == []
    assert [row.symbol.value for row in rows] == ["BBB"]
    assert server.seen(SNAPSHOT)[0].query["tickers"] == ["BBB"]


def test_without_a_universe_the_whole_market_is_scanned(
    market_for: Callable[..., MassiveMarketData], server: ScriptedServer
) -> None:
    with market_for(universe=()) as market:
        rows = market.premarket_features(TODAY, NOW)
    assert sorted(by_symbol(rows)) == ["AAA", "BBB", "DDD", "EEE"]
    assert server.seen(SNAPSHOT)[0].query == {}


def test_tickers_unknown_or_without_history_are_left_out_with_the_reason(
    market_for: Callable[..., MassiveMarketData], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="openbell.adapters.data")
    with market_for() as market:
        rows = by_symbol(market.premarket_features(TODAY, NOW))
    assert "ZZZZ" not in rows and "CCC" not in rows
    assert "left out ZZZZ: not in Massive's snapshot" in caplog.text
    assert "left out CCC: 0 of the last 20 sessions in its history" in caplog.text


def test_only_the_symbols_asked_for_and_none_known_is_an_empty_answer(
    market_for: Callable[..., MassiveMarketData], server: ScriptedServer
) -> None:
    with market_for() as market:
        assert market.premarket_features(TODAY, NOW, [Symbol("ZZZZ")]) == []
    assert server.seen(grouped_path(YESTERDAY)) == []  # no history asked for nothing


def test_history_and_ticker_types_are_cached_across_scans_and_runs(
    market_for: Callable[..., MassiveMarketData], server: ScriptedServer, sessions: list[date]
) -> None:
    with market_for() as market:
        first = market.premarket_features(TODAY, NOW)
        again = market.premarket_features(TODAY, NOW + timedelta(minutes=5))
    with market_for() as restarted:  # another process, the same cache directory
        later = restarted.premarket_features(TODAY, NOW + timedelta(minutes=10))
    assert first == again == later
    assert all(len(server.seen(grouped_path(day))) == 1 for day in sessions)
    assert len(server.seen(TICKERS)) == 2  # two pages, once
    assert len(server.seen(SNAPSHOT)) == 3  # live: asked every time
    assert len(server.seen(SPLITS)) == 3  # late additions happen: asked every time


def test_an_empty_grouped_day_is_an_error_and_is_not_cached(
    market_for: Callable[..., MassiveMarketData], server: ScriptedServer
) -> None:
    path = grouped_path(YESTERDAY)
    empty = {"queryCount": 0, "resultsCount": 0, "adjusted": False, "status": "OK"}
    server.route("GET", path, Reply.json(empty))
    with market_for() as market, pytest.raises(MarketDataUnavailable, match="2024-06-11"):
        market.premarket_features(TODAY, NOW)
    bar = agg(aaa_bar(19), ny(YESTERDAY, 0), "AAA")
    server.route("GET", path, Reply.json(aggs_answer("", [bar])))
    with market_for() as market:
        assert "AAA" in by_symbol(market.premarket_features(TODAY, NOW))
    assert len(server.seen(path)) == 2


def test_the_gainers_and_the_previous_day_read_their_documented_shapes(
    client_for: Callable[..., MassiveClient], server: ScriptedServer
) -> None:
    gainer = snapshot_entry("NVCN", 0.29, trade=(6.42, ny(TODAY, 8, 20)))
    server.route(
        "GET",
        "/v2/snapshot/locale/us/markets/stocks/gainers",
        Reply.json({"status": "DELAYED", "tickers": [gainer]}),  # a delayed plan still reads
    )
    prev = {**flat_bar(156.8, (5.54, 0.08), 95595226.0), "T": "AAPL", "vw": 158.6, "n": 899965}
    server.route(
        "GET",
        "/v2/aggs/ticker/AAPL/prev",
        Reply.json(aggs_answer("AAPL", [{**prev, "t": ms(ny(YESTERDAY, 0))}])),
    )
    with client_for() as client:
        (top,) = client.gainers()
        bar = client.previous_day("AAPL")
    assert (top.ticker, top.prev_day.close) == ("NVCN", 0.29)
    assert top.last_trade is not None and top.last_trade.price == 6.42
    assert bar is not None and (bar.close, bar.volume) == (156.8, 95595226.0)
    assert server.seen("/v2/aggs/ticker/AAPL/prev")[0].query == {"adjusted": ["false"]}


# --- failures --------------------------------------------------------------------------------
def test_a_renamed_field_is_a_changed_schema_naming_it(
    market_for: Callable[..., MassiveMarketData], server: ScriptedServer
) -> None:
    entry = snapshot_entry("AAA", 12.1, trade=(13.31, ny(TODAY, 8, 25)))
    entry["previousDay"] = entry.pop("prevDay")
    server.route("GET", SNAPSHOT, Reply.json({"status": "OK", "tickers": [entry]}))
    with market_for() as market, pytest.raises(MarketDataUnavailable) as raised:
        market.premarket_features(TODAY, NOW)
    message = str(raised.value)
    assert "expected a field tickers[0].prevDay, found none" in message
    assert "previousDay" in message
    assert raised.value.provider == "massive"


def test_a_field_of_the_wrong_kind_says_what_was_found(
    market_for: Callable[..., MassiveMarketData], server: ScriptedServer
) -> None:
    entry = snapshot_entry("AAA", 12.1)
    entry["prevDay"]["c"] = "n/a"
    server.route("GET", SNAPSHOT, Reply.json({"status": "OK", "tickers": [entry]}))
    with market_for() as market, pytest.raises(MarketDataUnavailable) as raised:
        market.premarket_features(TODAY, NOW)
    assert "expected tickers[0].prevDay.c: input should be a valid number" in str(raised.value)
    assert "found 'n/a'" in str(raised.value)


def test_an_answer_that_is_not_an_object_is_a_changed_schema(
    market_for: Callable[..., MassiveMarketData], server: ScriptedServer
) -> None:
    server.route("GET", SNAPSHOT, Reply.json([1, 2, 3]))
    with market_for() as market, pytest.raises(MarketDataUnavailable, match="the response body"):
        market.premarket_features(TODAY, NOW)


def test_one_odd_ticker_among_many_is_left_out(
    market_for: Callable[..., MassiveMarketData],
    server: ScriptedServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = snapshot_entry("AAA", 12.1, trade=(13.31, ny(TODAY, 8, 25)))
    odd = snapshot_entry("BBB", 5.0)
    del odd["prevDay"]
    others = [snapshot_entry(t, 5.0) for t in ("DDD", "EEE")]
    server.route("GET", SNAPSHOT, Reply.json({"status": "OK", "tickers": [good, odd, *others]}))
    with market_for() as market:
        rows = by_symbol(market.premarket_features(TODAY, NOW))
    assert sorted(rows) == ["AAA", "DDD", "EEE"]
    assert "expected a field tickers[1].prevDay" in caplog.text


def test_a_grouped_day_of_another_shape_is_a_changed_schema(
    market_for: Callable[..., MassiveMarketData], server: ScriptedServer
) -> None:
    row = agg(aaa_bar(19), ny(YESTERDAY, 0))  # no "T"
    server.route("GET", grouped_path(YESTERDAY), Reply.json(aggs_answer("", [{**row, "x": 1}])))
    with market_for() as market, pytest.raises(MarketDataUnavailable) as raised:
        market.premarket_features(TODAY, NOW)
    assert "grouped daily bars of 2024-06-11" in str(raised.value)
    assert "expected a field results[0].T, found none" in str(raised.value)


def test_one_unreadable_bar_of_a_grouped_day_leaves_only_that_ticker_out(
    market_for: Callable[..., MassiveMarketData],
    server: ScriptedServer,
    sessions: list[date],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="openbell.adapters.data")
    rows = [agg(bar, ny(YESTERDAY, 0), t) for t, bar in history_bars(19).items()]
    rows[0]["v"] = None  # AAA's bar of the last session: one odd row of the whole market
    path = grouped_path(YESTERDAY)
    server.route("GET", path, Reply.json(aggs_answer("", rows)))
    with market_for() as market:
        first = by_symbol(market.premarket_features(TODAY, NOW))
    with market_for() as restarted:  # the day read, so it was cached: not asked again
        again = by_symbol(restarted.premarket_features(TODAY, NOW))
    assert sorted(first) == sorted(again) == ["BBB", "DDD", "EEE"]
    assert "expected results[0].v: input should be a valid number, found None" in caplog.text
    assert "left out AAA: its bar of 2024-06-11 in the grouped daily bars is unreadable" in (
        caplog.text
    )
    assert len(server.seen(path)) == 1


def test_a_grouped_day_that_does_not_read_is_not_cached(
    market_for: Callable[..., MassiveMarketData], server: ScriptedServer
) -> None:
    path = grouped_path(YESTERDAY)
    good = [agg(bar, ny(YESTERDAY, 0), t) for t, bar in history_bars(19).items()]
    bad = [{**row, "v": None} for row in good]
    server.route("GET", path, Reply.json(aggs_answer("", bad)), Reply.json(aggs_answer("", good)))
    with market_for() as market, pytest.raises(MarketDataUnavailable, match=r"results\[0\]\.v"):
        market.premarket_features(TODAY, NOW)
    with market_for() as market:  # asked afresh, not served the bad answer from the disk
        assert "AAA" in by_symbol(market.premarket_features(TODAY, NOW))
    assert len(server.seen(path)) == 2


def test_one_odd_row_of_a_page_leaves_out_that_row_not_the_page(
    market_for: Callable[..., MassiveMarketData], server: ScriptedServer
) -> None:
    def tickers(seen: Seen) -> Reply:
        if seen.query.get("cursor") == ["cGFnZTI"]:
            return tickers_answer(seen)
        first = [{"ticker": t, "type": k} for t, k in (("AAA", "CS"), (None, "CS"), ("BBB", "ETF"))]
        link = "https://api.massive.com/v3/reference/tickers?cursor=cGFnZTI"
        return Reply.json({"results": first, "status": "OK", "next_url": link})

    server.route("GET", TICKERS, tickers)
    with market_for() as market:
        rows = by_symbol(market.premarket_features(TODAY, NOW))
    assert (rows["AAA"].security_type, rows["BBB"].security_type) == ("CS", "ETF")


def test_an_error_status_says_what_massive_said(
    market_for: Callable[..., MassiveMarketData], server: ScriptedServer
) -> None:
    server.route("GET", SNAPSHOT, Reply.json({"status": "ERROR", "error": "plan limit"}))
    with market_for() as market, pytest.raises(MarketDataUnavailable, match="'ERROR': plan limit"):
        market.premarket_features(TODAY, NOW)


@pytest.mark.parametrize("answer", [{"status": "OK", "count": 0, "tickers": []}, {"status": "OK"}])
def test_an_empty_snapshot_is_a_clear_error(
    market_for: Callable[..., MassiveMarketData], server: ScriptedServer, answer: dict[str, Any]
) -> None:
    server.route("GET", SNAPSHOT, Reply.json(answer))
    with market_for(universe=()) as market, pytest.raises(MarketDataUnavailable) as raised:
        market.premarket_features(TODAY, NOW)
    assert "expected tickers for the whole market, found an empty snapshot" in str(raised.value)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply.json({"status": "ERROR"}, 429, headers={"Retry-After": "2"}), "rate limited"),
        (Reply.text("upstream down", 502), "server error (HTTP 502)"),
        (Reply.json({}, delay_s=0.3), "no answer within 0.05 s"),
    ],
    ids=["429", "502", "timeout"],
)
def test_a_failing_snapshot_is_retried_then_reported(
    market_for: Callable[..., MassiveMarketData],
    server: ScriptedServer,
    waits: list[float],
    reply: Reply,
    reason: str,
) -> None:
    server.route("GET", SNAPSHOT, reply)
    policy = HttpPolicy(timeout_s=0.05, max_retries=2, backoff_s=0.5)
    with market_for(policy=policy) as market, pytest.raises(MarketDataUnavailable) as raised:
        market.premarket_features(TODAY, NOW)
    assert reason in str(raised.value) and "(3 attempts)" in str(raised.value)
    assert len(server.seen(SNAPSHOT)) == 3
    assert len(waits) == 2
    assert KEY not in str(raised.value)


def test_a_missing_key_names_the_variable(
    market_for: Callable[..., MassiveMarketData],
    server: ScriptedServer,
    calendar: ExchangeCalendar,
    tmp_path: Path,
) -> None:
    with market_for(key=None) as market, pytest.raises(MissingSecret) as raised:
        market.premarket_features(TODAY, NOW)
    assert raised.value.variable == "OPENBELL__SECRETS__MASSIVE_API_KEY"
    assert server.requests == []
    factory = massive_market_data(
        api_key="",
        policy=POLICY,
        cache_dir=tmp_path,
        calendar=calendar,
        clock=ManualClock(NOW),
        base_url=server.url,
    )
    with factory, pytest.raises(MissingSecret, match="OPENBELL__SECRETS__MASSIVE_API_KEY"):
        factory.premarket_features(TODAY, NOW)


@pytest.mark.parametrize(
    ("day", "at", "found"),
    [
        (YESTERDAY, ny(YESTERDAY, 8, 30), "expected trading_day 2024-06-12 .*found 2024-06-11"),
        (TODAY, ny(TODAY, 6, 0), "found 06:00 ET; a snapshot cannot tell the past"),
    ],
)
def test_a_snapshot_cannot_tell_the_past(
    market_for: Callable[..., MassiveMarketData],
    server: ScriptedServer,
    day: date,
    at: datetime,
    found: str,
) -> None:
    with market_for() as market, pytest.raises(LiveOnly, match=found) as raised:
        market.premarket_features(day, at)
    assert isinstance(raised.value, RefusedInput)
    assert server.requests == []
    with market_for() as market:  # a retry well after the scheduled time is still answered
        assert market.premarket_features(TODAY, NOW - timedelta(minutes=45))


# --- historical bars into the store ----------------------------------------------------------
def minute_path(ticker: str, day: date) -> str:
    start, end = ms(ny(day, 0)), ms(ny(day + timedelta(days=1), 0))
    return f"/v2/aggs/ticker/{ticker}/range/1/minute/{start}/{end - 1}"


def minute_bar(price: float, volume: float) -> dict[str, float]:
    return {"o": price, "h": price + 0.05, "l": price - 0.05, "c": price + 0.01, "v": volume}


@pytest.fixture
def bars_server(server: ScriptedServer) -> ScriptedServer:
    first, second = date(2024, 6, 10), YESTERDAY
    daily = [
        agg(flat_bar(10.0, (0.5, 0.4), 1e6), ny(first, 0)),
        agg(flat_bar(10.2, (0.5, 0.4), 2e6), ny(second, 0)),
    ]
    server.route(
        "GET",
        "/v2/aggs/ticker/AAA/range/1/day/2024-06-10/2024-06-11",
        Reply.json(aggs_answer("AAA", daily)),
    )
    june_10 = [
        agg(minute_bar(10.0, 500), ny(first, 9, 30)),
        agg(minute_bar(10.1, 300), ny(first, 15, 59)),
        agg(minute_bar(10.2, 50), ny(first, 19, 59)),
    ]
    server.route("GET", minute_path("AAA", first), Reply.json(aggs_answer("AAA", june_10)))
    page_one = [agg(minute_bar(10.3, 80), ny(second, 4, 0))]
    page_two = [agg(minute_bar(10.4, 900), ny(second, 9, 30))]
    link = f"https://api.massive.com{minute_path('AAA', second)}?cursor=bWludXRlcw"

    def paged(seen: Seen) -> Reply:
        if seen.query.get("cursor") == ["bWludXRlcw"]:
            return Reply.json(aggs_answer("AAA", page_two))
        return Reply.json(aggs_answer("AAA", page_one, next_url=link))

    server.route("GET", minute_path("AAA", second), paged)
    return server


def test_daily_and_minute_bars_reach_the_store(
    client_for: Callable[..., MassiveClient],
    bars_server: ScriptedServer,
    calendar: ExchangeCalendar,
    tmp_path: Path,
) -> None:
    store = BarStore(tmp_path / "store")
    with MassiveBars(client_for(), ManualClock(NOW)) as fetcher:
        report = fetch_into_store(fetcher, store, calendar, ["AAA"], date(2024, 6, 10), YESTERDAY)
    assert (report.daily_rows, report.days_written, report.failures) == (2, 2, [])

    daily = store.daily("AAA")
    assert daily is not None and daily.source == "massive"
    assert [str(d) for d in daily.days] == ["2024-06-10", "2024-06-11"]
    assert list(daily.close) == [10.0, 10.2] and list(daily.volume) == [1e6, 2e6]

    june_10 = store.day("AAA", date(2024, 6, 10))
    assert june_10 is not None and june_10.source == "massive" and june_10.resolution_s == 60
    starts = [june_10.start(i).strftime("%H:%M") for i in range(len(june_10))]
    assert starts == ["09:30", "15:59", "19:59"]  # New York time, extended hours kept
    assert june_10.start_ns[0] == to_ns(ny(date(2024, 6, 10), 9, 30))
    assert list(june_10.volume) == [500, 300, 50]

    june_11 = store.day("AAA", YESTERDAY)  # two pages, joined
    assert june_11 is not None
    assert [june_11.start(i).strftime("%H:%M") for i in range(len(june_11))] == ["04:00", "09:30"]
    assert np.allclose(june_11.close, [10.31, 10.41])

    first, second = bars_server.seen(minute_path("AAA", YESTERDAY))
    assert first.query == {"adjusted": ["false"], "sort": ["asc"], "limit": ["50000"]}
    assert second.query == {"cursor": ["bWludXRlcw"]}  # the link only: no key in the URL
    assert second.headers["authorization"] == f"Bearer {KEY}"


def test_fetched_days_are_cached_on_disk(
    client_for: Callable[..., MassiveClient],
    bars_server: ScriptedServer,
    calendar: ExchangeCalendar,
    tmp_path: Path,
) -> None:
    for store in ("one", "two"):
        with MassiveBars(client_for(), ManualClock(NOW)) as fetcher:
            fetch_into_store(
                fetcher, BarStore(tmp_path / store), calendar, ["AAA"], date(2024, 6, 10), TODAY
            )
    assert len(bars_server.seen("/v2/aggs/ticker/AAA/range/1/day/2024-06-10/2024-06-11")) == 1
    assert len(bars_server.seen(minute_path("AAA", date(2024, 6, 10)))) == 1
    assert bars_server.seen(minute_path("AAA", TODAY)) == []  # today is not over


def test_a_day_of_bars_that_does_not_read_is_a_failure_and_is_not_cached(
    client_for: Callable[..., MassiveClient], bars_server: ScriptedServer
) -> None:
    day = date(2024, 6, 10)
    bars = [agg(minute_bar(10.0, 500), ny(day, 9, 30)), agg(minute_bar(10.1, 0), ny(day, 9, 31))]
    bars[1]["v"] = None  # a hole would be stored: bars of one ticker are read strictly
    fixed = [{**bars[1], "v": 300}]
    path = minute_path("AAA", day)
    bars_server.route(
        "GET", path, Reply.json(aggs_answer("AAA", bars)), Reply.json(aggs_answer("AAA", fixed))
    )
    with (
        MassiveBars(client_for(), ManualClock(NOW)) as fetcher,
        pytest.raises(MarketDataUnavailable, match=r"expected results\[1\]\.v: .* found None"),
    ):
        fetcher.minutes("AAA", day)
    with MassiveBars(client_for(), ManualClock(NOW)) as fetcher:  # a rerun, the same cache
        again = fetcher.minutes("AAA", day)
    assert again is not None and list(again.volume) == [300]
    assert len(bars_server.seen(path)) == 2  # the unreadable answer was asked again


def test_days_not_over_are_skipped_with_a_note_not_failed(
    client_for: Callable[..., MassiveClient],
    bars_server: ScriptedServer,
    calendar: ExchangeCalendar,
    tmp_path: Path,
) -> None:
    clock = ManualClock(NOW)
    with MassiveBars(client_for(), clock) as fetcher:
        report = fetch_into_store(
            fetcher,
            BarStore(tmp_path / "store"),
            calendar,
            ["AAA"],
            date(2024, 6, 10),
            date(2024, 6, 14),
            clock=clock,
        )
    assert report.failures == []
    assert report.notes == ["3 days not over yet, skipped (2024-06-12 to 2024-06-14)"]
    assert (report.daily_rows, report.days_written) == (2, 2)
    assert bars_server.seen(minute_path("AAA", TODAY)) == []


def test_a_missing_key_is_refused_before_fetching_bars(
    server: ScriptedServer, tmp_path: Path
) -> None:
    with pytest.raises(MissingSecret, match="OPENBELL__SECRETS__MASSIVE_API_KEY"):
        massive_bars(
            api_key=None,
            policy=POLICY,
            cache_dir=tmp_path,
            clock=ManualClock(NOW),
            base_url=server.url,
        )
    assert server.requests == []


def test_a_symbol_massive_does_not_know_is_reported(
    client_for: Callable[..., MassiveClient],
    server: ScriptedServer,
    calendar: ExchangeCalendar,
    tmp_path: Path,
) -> None:
    # NOPE: the aggregates answer 404; GONE: no bars, and the ticker details answer 404
    server.route(
        "GET",
        "/v2/aggs/ticker/GONE/range/1/day/2024-06-10/2024-06-11",
        Reply.json({"ticker": "GONE", "queryCount": 0, "resultsCount": 0, "status": "OK"}),
    )
    with MassiveBars(client_for(), ManualClock(NOW)) as fetcher:
        report = fetch_into_store(
            fetcher,
            BarStore(tmp_path / "store"),
            calendar,
            ["NOPE", "GONE"],
            date(2024, 6, 10),
            YESTERDAY,
        )
        with pytest.raises(NotFound, match="massive knows no symbol NOPE"):
            fetcher.minutes("NOPE", YESTERDAY)
    assert report.failures == [
        "NOPE daily: massive knows no symbol NOPE",
        "GONE daily: massive knows no symbol GONE (as of 2024-06-11)",
    ]
    (details,) = server.seen("/v3/reference/tickers/GONE")
    assert details.query == {"date": ["2024-06-11"]}


def test_minute_bars_of_a_day_not_over_are_refused(
    client_for: Callable[..., MassiveClient], server: ScriptedServer
) -> None:
    with (
        MassiveBars(client_for(), ManualClock(NOW)) as fetcher,
        pytest.raises(RefusedInput, match="expected a day that is over"),
    ):
        fetcher.minutes("AAA", TODAY)
    assert server.requests == []
