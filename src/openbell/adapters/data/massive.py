"""Massive (formerly Polygon.io): the morning scan's features and historical bars.

Three layers, each usable on its own:

* :class:`~openbell.adapters.data.massive_client.MassiveClient` - typed calls to the
  endpoints openbell uses, with the caching rules (settled days only);
* :class:`MassiveMarketData` - the MarketData port: the live snapshot for today's prices and
  volumes, the grouped daily bars of the previous sessions for the history.
* :class:`MassiveBars` - the BarFetcher of ``openbell data fetch``: unadjusted daily and
  minute bars of days that are over.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from typing import Literal

from openbell.adapters.data.common import (
    Closing,
    LeftOut,
    LiveOnly,
    daily_bars,
    features,
    history_row,
    last_settled,
    log_skipped,
    minute_bars,
    ny_day,
    previous_sessions,
    require_over,
)
from openbell.adapters.data.http import HttpPolicy, NotFoundAtProvider
from openbell.adapters.data.massive_client import (
    DEFAULT_BASE_URL,
    KEY_VARIABLE,
    MassiveClient,
    massive_client,
)
from openbell.adapters.data.massive_models import PROVIDER, Agg, GroupedAgg, TickerSnapshot
from openbell.bars.frame import Basis, DailyBars, DayBars, Split, to_ns
from openbell.bars.history import DailyHistory
from openbell.domain.candidates import PremarketFeatures
from openbell.domain.errors import InvalidValue, MarketDataUnavailable, MissingSecret, NotFound
from openbell.domain.orders import require_aware
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Symbol
from openbell.ports import Calendar, Clock

log = logging.getLogger(__name__)

DEFAULT_MAX_LAG = timedelta(minutes=60)
_Grouped = tuple[dict[str, GroupedAgg], frozenset[str]]
"""One day's grouped bars by ticker, and the tickers whose bar could not be read."""
_NS_PER_MS = 1_000_000

__all__ = [
    "DEFAULT_BASE_URL",
    "KEY_VARIABLE",
    "LiveOnly",
    "MassiveBars",
    "MassiveClient",
    "MassiveMarketData",
    "massive_bars",
    "massive_client",
    "massive_market_data",
]


# --- the MarketData port ---------------------------------------------------------------------
class MassiveMarketData(Closing):
    """The MarketData port over Massive: the live snapshot for today, daily history for the
    rest.

    * Universe: ``symbols`` if given, else the configured ``universe``, else the whole
      market (one snapshot request).
    * Last price: today's last trade (``lastTrade.p``), else the latest minute's close
      (``min.c``), else the previous close, like the backtester when no bar has traded.
    * Pre-market volume: ``min.av``, the day's volume accumulated up to the latest minute
      bar. Massive documents it as the whole day's volume so far (4:00 ET on), which is the
      backtester's sum of the day's minute bars; ``day.v`` is only "the most recent daily
      bar", zero-filled until trades arrive, so it is the fallback when ``min`` is absent.
      Values from before today (the snapshot not yet refilled) count as nothing.
    * Previous close: ``prevDay.c``; on a day a split takes effect, the history's close in
      the new basis instead, so a 2:1 split is not a -50% "gap".
    * ATR% and 20-day average volume: :class:`DailyHistory` over the grouped daily bars of
      the previous 20 sessions, unadjusted, with Massive's splits applied exactly as the
      backtester applies the store's. One grouped request per session (the whole market in
      each), cached per day: a cold scan costs 20 requests whatever the universe, a warm one
      none, and per-ticker requests never grow with the universe. Unadjusted bars of a past
      day never change, so the cache stays true after later splits.
    * Security type: Massive's ticker list as of the previous session (``type``: CS, ETF,
      ...), cached for the day; if it cannot be read the types are None, not the scan.

    ``at``: a snapshot is "now", so ``trading_day`` must be today in New York and ``at`` no
    more than ``max_lag`` in the past, else :class:`LiveOnly`. The lag allowed is an hour by
    default because the morning service retries a failed scan with its scheduled ``at``
    until the MOO cutoff; the answer is then as of now, after ``at``.

    A ticker missing from the snapshot, without a previous close, with fewer than two
    sessions of history or whose bar of a grouped day does not read (``"v": null``, say) is
    left out (logged at INFO with the reason); only most bars of a day not reading fails the
    scan, and such an answer is never cached. A snapshot that fails (down, rate limited past
    the retries, a changed schema) or is empty for the universe or the whole market raises
    MarketDataUnavailable.
    """

    def __init__(
        self,
        client: MassiveClient,
        calendar: Calendar,
        clock: Clock,
        universe: Sequence[str] = (),
        *,
        max_lag: timedelta = DEFAULT_MAX_LAG,
        security_types: bool = True,
    ) -> None:
        self._client, self._calendar, self._clock = client, calendar, clock
        self._universe = tuple(universe)
        self._max_lag = max_lag
        self._want_types = security_types
        self._grouped: dict[date, _Grouped] = {}
        self._types: tuple[date, dict[str, str]] | None = None

    def close(self) -> None:
        self._client.close()

    def premarket_features(
        self, trading_day: date, at: datetime, symbols: Sequence[Symbol] | None = None
    ) -> list[PremarketFeatures]:
        self._refuse_the_past(trading_day, at)
        if symbols is not None and not symbols:
            return []
        names = [s.value for s in symbols] if symbols is not None else list(self._universe)
        snapshot = self._client.snapshot(names or None)
        skipped = dict.fromkeys(
            dict.fromkeys(names).keys() - {entry.ticker for entry in snapshot},
            "not in Massive's snapshot (a ticker it does not know, or no data)",
        )
        if not snapshot:
            if symbols is None:
                asked = f"{len(names)} tickers" if names else "the whole market"
                raise MarketDataUnavailable(
                    PROVIDER,
                    "snapshot",
                    f"expected tickers for {asked}, found an empty snapshot (Massive clears "
                    "it at 3:30 ET and refills it as the day's trades arrive from 4:00 ET)",
                )
            log_skipped(log, PROVIDER, skipped, len(names), "tickers")
            return []
        sessions = previous_sessions(self._calendar, trading_day)
        tickers = [entry.ticker for entry in snapshot]
        histories = self._histories(tickers, sessions, trading_day, skipped)
        types = self._security_types(sessions[-1])
        day_start_ns = to_ns(datetime.combine(trading_day, wall_time(0), tzinfo=NEW_YORK))
        rows = []
        for entry in snapshot:
            history = histories.get(entry.ticker)
            if history is None:
                continue
            try:
                rows.append(
                    _features(entry, history, trading_day, day_start_ns, types.get(entry.ticker))
                )
            except LeftOut as why:
                skipped[entry.ticker] = str(why)
        log_skipped(log, PROVIDER, skipped, len(names) or len(snapshot), "tickers")
        return rows

    def _refuse_the_past(self, trading_day: date, at: datetime) -> None:
        require_aware("scan time", at)
        now = self._clock.now()
        today = now.astimezone(NEW_YORK).date()
        if trading_day != today:
            raise LiveOnly(
                f"massive scans from a live snapshot: expected trading_day {today} (today in "
                f"New York), found {trading_day}; scan other days from the bar store "
                "(scanner.source = bars)"
            )
        if at < now - self._max_lag:
            minutes = int(self._max_lag.total_seconds() // 60)
            raise LiveOnly(
                f"massive scans from a live snapshot taken now ({now.astimezone(NEW_YORK):%H:%M}"
                f" ET): expected a scan time at most {minutes} minutes earlier, found "
                f"{at.astimezone(NEW_YORK):%H:%M} ET; a snapshot cannot tell the past"
            )

    def _histories(
        self,
        names: Sequence[str],
        sessions: Sequence[date],
        trading_day: date,
        skipped: dict[str, str],
    ) -> dict[str, DailyHistory]:
        grouped = [self._grouped_day(day) for day in sessions]
        self._grouped = dict(zip(sessions, grouped, strict=True))  # drop days out of the window
        splits = self._splits(sessions[0], trading_day)
        histories: dict[str, DailyHistory] = {}
        for name in names:
            unread = [day for day, (_, odd) in self._grouped.items() if name in odd]
            if unread:  # a hole in its history would bend its ATR: left out, not guessed
                skipped[name] = f"its bar of {unread[0]} in the grouped daily bars is unreadable"
                continue
            rows = [(day, bars[name]) for day, (bars, _) in self._grouped.items() if name in bars]
            if len(rows) < 2:
                skipped[name] = f"{len(rows)} of the last {len(sessions)} sessions in its history"
                continue
            try:
                days, bars = [day for day, _ in rows], [bar for _, bar in rows]
                daily = daily_bars(name, days, bars, Basis.RAW, PROVIDER)
            except InvalidValue as exc:
                skipped[name] = f"unusable daily history: {exc}"
                continue
            histories[name] = DailyHistory.of(daily, splits.get(name, ()))
        return histories

    def _grouped_day(self, day: date) -> _Grouped:
        if day not in self._grouped:
            found = self._client.grouped_daily(day, cache=True)  # a previous session: settled
            if not found.bars:
                raise MarketDataUnavailable(
                    PROVIDER,
                    f"grouped daily bars of {day}",
                    "expected the bars of every ticker, found none (not published yet?)",
                )
            self._grouped[day] = ({bar.ticker: bar for bar in found.bars}, found.unreadable)
        return self._grouped[day]

    def _splits(self, after: date, through: date) -> dict[str, list[Split]]:
        found: dict[str, list[Split]] = {}
        for row in self._client.splits(after, through):
            try:
                if not (row.split_from > 0 and row.split_to > 0):
                    raise InvalidValue(f"{row.ticker} split", "positive split_from/to", row)
                before = self._calendar.previous_session(row.execution_date).trading_day
                split = Split(row.ticker, before, row.split_to / row.split_from)
            except InvalidValue as exc:
                log.warning("massive: ignoring a split: %s", exc)
                continue
            found.setdefault(row.ticker, []).append(split)
        return found

    def _security_types(self, day: date) -> dict[str, str]:
        if not self._want_types:
            return {}
        if self._types is None or self._types[0] != day:
            try:
                types = self._client.ticker_types(day, cache=True)
            except MarketDataUnavailable as exc:  # optional facts: None, not a failed scan
                log.warning("massive: security types unknown for today: %s", exc)
                types = {}
            self._types = (day, types)
        return self._types[1]


def _features(
    entry: TickerSnapshot,
    history: DailyHistory,
    trading_day: date,
    day_start_ns: int,
    security_type: str | None,
) -> PremarketFeatures:
    i = history_row(history, trading_day)
    factor = history.basis_factor(trading_day)
    last_day = date.fromisoformat(str(history.days[-1]))
    split_today = any(s.last_day_before >= last_day for s in history.splits)
    previous_close = (
        float(history.previous_close[i]) * factor if split_today else entry.prev_day.close
    )
    if not previous_close > 0:
        raise LeftOut("no previous close (prevDay.c is 0)")
    last, volume = _today(entry, day_start_ns)
    return features(
        entry.ticker,
        history,
        i,
        previous_close,
        last,
        volume,
        basis_factor=factor,
        security_type=security_type,
    )


def _today(entry: TickerSnapshot, day_start_ns: int) -> tuple[float | None, float]:
    """Today's last price (None if nothing traded today) and volume so far."""
    last: float | None = None
    volume = 0.0
    minute = entry.minute
    if minute is not None and (minute.start_ms or 0) * _NS_PER_MS < day_start_ns:
        minute = None  # yesterday's minute: the snapshot has not been refilled yet
    trade = entry.last_trade
    if trade is not None and trade.sip_ns >= day_start_ns and trade.price > 0:
        last = trade.price
    elif minute is not None and minute.close:
        last = minute.close
    if minute is not None and minute.accumulated_volume:
        volume = minute.accumulated_volume
    elif last is not None and entry.day is not None and entry.day.volume:
        volume = entry.day.volume
    return last, volume


# --- the BarFetcher of `openbell data fetch` -------------------------------------------------
class MassiveBars(Closing):
    """Unadjusted daily and minute bars from Massive's aggregates, for the bar store.

    Only days that are over (before today in New York) are asked for: their bars are final
    and are cached on disk. A minute day is the New York calendar day, extended hours
    included; bar starts are epoch milliseconds from Massive, nanoseconds in DayBars. A
    symbol Massive does not know raises NotFound ("massive knows no symbol X"): the input is
    wrong, retrying will not help.
    """

    name = PROVIDER

    def __init__(self, client: MassiveClient, clock: Clock) -> None:
        self._client, self._clock = client, clock

    def close(self) -> None:
        self._client.close()

    def daily(self, symbol: str, start: date, end: date) -> DailyBars | None:
        last = last_settled(end, self._clock)
        if last < start:
            return None
        found = [
            (day, bar)
            for bar in self._bars(symbol, "day", start, last, cache_day=last)
            if start <= (day := ny_day(bar.start_ms / 1000)) <= last
        ]
        if not found:
            if not self._client.knows(symbol, last):
                raise NotFound(f"massive knows no symbol {symbol} (as of {last})")
            return None
        days, bars = [day for day, _ in found], [bar for _, bar in found]
        return daily_bars(symbol, days, bars, Basis.RAW, PROVIDER)

    def minutes(self, symbol: str, day: date) -> DayBars | None:
        require_over(symbol, day, self._clock)
        start = to_ns(datetime.combine(day, wall_time(0), tzinfo=NEW_YORK)) // _NS_PER_MS
        end = to_ns(datetime.combine(day + timedelta(days=1), wall_time(0), tzinfo=NEW_YORK))
        end //= _NS_PER_MS
        bars = [
            bar
            for bar in self._bars(symbol, "minute", start, end - 1, cache_day=day)
            if start <= bar.start_ms < end
        ]
        if not bars:
            return None
        starts = [bar.start_ms * _NS_PER_MS for bar in bars]
        return minute_bars(symbol, day, starts, bars, PROVIDER)

    def _bars(
        self,
        symbol: str,
        timespan: Literal["minute", "day"],
        start: date | int,
        end: date | int,
        *,
        cache_day: date,
    ) -> list[Agg]:
        try:
            return self._client.aggregates(symbol, timespan, start, end, cache_day=cache_day)
        except NotFoundAtProvider:
            raise NotFound(f"massive knows no symbol {symbol}") from None


# --- factories -------------------------------------------------------------------------------
def massive_market_data(
    *,
    api_key: str | None,
    policy: HttpPolicy,
    cache_dir: Path | None,
    calendar: Calendar,
    clock: Clock,
    universe: Sequence[str] = (),
    base_url: str = DEFAULT_BASE_URL,
) -> MassiveMarketData:
    """The scan's MarketData over Massive (close it when done)."""
    client = massive_client(api_key=api_key, policy=policy, cache_dir=cache_dir, base_url=base_url)
    return MassiveMarketData(client, calendar, clock, universe)


def massive_bars(
    *,
    api_key: str | None,
    policy: HttpPolicy,
    cache_dir: Path | None,
    clock: Clock,
    base_url: str = DEFAULT_BASE_URL,
) -> MassiveBars:
    """The BarFetcher over Massive for ``openbell data fetch`` (close it when done). A
    missing key is refused at once (MissingSecret naming ``KEY_VARIABLE``), before any
    symbol is fetched, not recorded as every symbol's failure."""
    if not api_key:
        raise MissingSecret(PROVIDER, KEY_VARIABLE)
    client = massive_client(api_key=api_key, policy=policy, cache_dir=cache_dir, base_url=base_url)
    return MassiveBars(client, clock)
