"""Financial Modeling Prep (FMP): the morning scan's features and historical bars.

Three layers, each usable on its own:

* :class:`FmpClient` - typed calls to FMP's ``/stable`` endpoints over the shared
  :class:`~openbell.adapters.data.http.JsonApi` (the key in the ``apikey`` query parameter,
  redacted from every message; pacing, retries, errors). Answers about settled days (past
  daily and minute bars, a day's profiles) are cached on disk when the caller names the day;
  quotes, movers and extended-hours trades never are. FMP's ``{"Error Message": ...}``
  answers (HTTP 200 included) become MarketDataUnavailable saying what FMP said.
* :class:`FmpMarketData` - the MarketData port: live quotes for today, the daily history of
  the previous sessions for ATR and volume, profiles for the security type.
* :class:`FmpBars` - the BarFetcher of ``openbell data fetch``: unadjusted daily bars and
  the minute bars of days that are over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from openbell.adapters.data.cache import DayCache
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
from openbell.adapters.data.fmp_models import (
    PROVIDER,
    DailyBar,
    ExtendedTrade,
    MinuteBar,
    Mover,
    Profile,
    Quote,
    RawDailyBar,
    error_message,
    rows,
)
from openbell.adapters.data.http import HttpPolicy, JsonApi, NotFoundAtProvider, Params, Provider
from openbell.bars.frame import Basis, DailyBars, DayBars, to_ns
from openbell.bars.history import DailyHistory
from openbell.domain.candidates import PremarketFeatures
from openbell.domain.errors import InvalidValue, MarketDataUnavailable, MissingSecret, NotFound
from openbell.domain.orders import require_aware
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Symbol
from openbell.ports import Calendar, Clock

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://financialmodelingprep.com"
KEY_VARIABLE = "OPENBELL__SECRETS__FMP_API_KEY"
QUOTE_CHUNK = 100
"""Symbols per batch request. FMP documents no maximum for ``symbols``; 100 keeps the URL
short (about 600 characters) and a failed request cheap."""
_GAINERS = "/stable/biggest-gainers"
_ACTIVES = "/stable/most-actives"
_QUOTES = "/stable/batch-quote"
_TRADES = "/stable/batch-aftermarket-trade"
_PROFILE = "/stable/profile"
_DAILY = "/stable/historical-price-eod/full"
_DAILY_RAW = "/stable/historical-price-eod/non-split-adjusted"
_MINUTES = "/stable/historical-chart/1min"
_REDACTED = "***"

B = TypeVar("B", DailyBar, RawDailyBar)


def fmp_client(
    *,
    api_key: str | None,
    policy: HttpPolicy,
    cache_dir: Path | None,
    base_url: str = DEFAULT_BASE_URL,
    sleep: Callable[[float], None] = time.sleep,
) -> FmpClient:
    """A client of ``base_url``; a missing key is refused at once (MissingSecret naming
    ``OPENBELL__SECRETS__FMP_API_KEY``), not at 09:29."""
    if not api_key:
        raise MissingSecret(PROVIDER, KEY_VARIABLE)
    provider = Provider(PROVIDER, base_url.rstrip("/"), api_key, KEY_VARIABLE, "query", "apikey")
    cache = DayCache(cache_dir, PROVIDER) if cache_dir is not None else None
    return FmpClient(JsonApi(provider, policy, cache=cache, sleep=sleep))


def _non_empty(body: Any) -> bool:
    """Cache only answers that carry data: an empty answer about a past day may be data not
    published yet, and an error object must never be served again."""
    return isinstance(body, list) and bool(body)


def _has_day(day: date) -> Callable[[Any], bool]:
    """Cache a daily history only once it holds ``day`` (the last session asked for)."""
    wanted = day.isoformat()

    def check(body: Any) -> bool:
        return isinstance(body, list) and any(
            isinstance(row, dict) and str(row.get("date", "")).startswith(wanted) for row in body
        )

    return check


class FmpClient(Closing):
    """Typed calls to FMP's ``/stable`` endpoints. ``cache_day`` names the settled day an
    answer is about (it is then kept on disk); None asks afresh every time."""

    def __init__(self, api: JsonApi, *, quote_chunk: int = QUOTE_CHUNK) -> None:
        if quote_chunk < 1:
            raise InvalidValue("quote_chunk", "1 or more symbols per request", quote_chunk)
        self._api, self._chunk = api, quote_chunk

    def close(self) -> None:
        self._api.close()

    # --- live (never cached) --------------------------------------------------------------
    def gainers(self) -> list[Mover]:
        """FMP's biggest gainers (its ranking of the latest regular session)."""
        return self._rows(Mover, _GAINERS, {}, "biggest gainers")

    def most_actives(self) -> list[Mover]:
        """FMP's most actively traded symbols (the latest regular session)."""
        return self._rows(Mover, _ACTIVES, {}, "most active symbols")

    def quotes(self, symbols: Sequence[str]) -> list[Quote]:
        """Regular-session quotes of ``symbols``, asked ``quote_chunk`` at a time. A symbol
        FMP does not know is simply absent."""
        return self._batched(Quote, _QUOTES, symbols, "quotes")

    def extended_trades(self, symbols: Sequence[str]) -> list[ExtendedTrade]:
        """The last trade outside regular hours of each of ``symbols`` that has one."""
        return self._batched(ExtendedTrade, _TRADES, symbols, "extended-hours trades")

    # --- settled (cached when a day is named) ---------------------------------------------
    def profile(self, symbol: str, *, cache_day: date | None) -> Profile | None:
        """``symbol``'s company profile, or None if FMP has none (an unknown symbol)."""
        params = {"symbol": symbol}
        found = self._rows(
            Profile, _PROFILE, params, f"profile of {symbol}", cache_day=cache_day, strict=True
        )
        return found[0] if found else None

    def knows(self, symbol: str, day: date) -> bool:
        """Whether FMP has a profile of ``symbol`` (asked once per ``day``)."""
        try:
            return self.profile(symbol, cache_day=day) is not None
        except NotFoundAtProvider:
            return False

    def daily_adjusted(
        self, symbol: str, start: date, end: date, *, cache_day: date | None
    ) -> list[DailyBar]:
        """Split-adjusted daily bars from ``start`` to ``end`` (as FMP sends them: newest
        first). Cached only once the bar of ``end`` is in the answer."""
        return self._daily(DailyBar, _DAILY, symbol, start, end, cache_day, _has_day(end))

    def daily_raw(
        self, symbol: str, start: date, end: date, *, cache_day: date | None
    ) -> list[RawDailyBar]:
        """Unadjusted daily bars from ``start`` to ``end`` (newest first)."""
        return self._daily(RawDailyBar, _DAILY_RAW, symbol, start, end, cache_day, _non_empty)

    def minutes(self, symbol: str, day: date, *, cache_day: date | None) -> list[MinuteBar]:
        """Unadjusted one-minute bars of ``symbol`` on ``day`` (newest first)."""
        iso = day.isoformat()
        params = {"symbol": symbol, "from": iso, "to": iso, "nonadjusted": "true"}
        what = f"minute bars of {symbol} on {day}"
        return self._rows(MinuteBar, _MINUTES, params, what, cache_day=cache_day, strict=True)

    # --- plumbing -----------------------------------------------------------------------------
    def _daily(
        self,
        model: type[B],
        path: str,
        symbol: str,
        start: date,
        end: date,
        cache_day: date | None,
        cache_if: Callable[[Any], bool],
    ) -> list[B]:
        params = {"symbol": symbol, "from": start.isoformat(), "to": end.isoformat()}
        what = f"daily bars of {symbol} from {start} to {end}"
        return self._rows(
            model, path, params, what, cache_day=cache_day, cache_if=cache_if, strict=True
        )

    def _batched(self, model: type[Any], path: str, symbols: Sequence[str], noun: str) -> list[Any]:
        found: list[Any] = []
        for first in range(0, len(symbols), self._chunk):
            chunk = symbols[first : first + self._chunk]
            what = f"{noun} of {len(chunk)} symbol{'s' if len(chunk) > 1 else ''}"
            found += self._rows(model, path, {"symbols": ",".join(chunk)}, what)
        return found

    def _rows(
        self,
        model: type[Any],
        path: str,
        params: Params,
        what: str,
        *,
        cache_day: date | None = None,
        cache_if: Callable[[Any], bool] = _non_empty,
        strict: bool = False,
    ) -> list[Any]:
        """``model`` rows of ``GET path``. The answer is kept in the day cache (with
        ``cache_day``) only if it reads and ``cache_if`` accepts it: an answer that does not
        read is asked afresh next time, never served from the disk all day."""

        def read(body: Any) -> list[Any]:
            said = error_message(body)
            if said is not None:
                raise MarketDataUnavailable(PROVIDER, what, self._refusal(said))
            return rows(model, body, what, strict=strict)

        fresh: list[list[Any]] = []

        def keep(body: Any) -> bool:  # asked of a fresh answer only, before it is cached
            try:
                fresh.append(read(body))
            except MarketDataUnavailable:
                return False
            return cache_if(body)

        body = self._api.get(path, params, cache_day=cache_day, cache_if=keep)
        return fresh[-1] if fresh else read(body)  # from the disk: read it here

    def _refusal(self, said: str) -> str:
        key = self._api.provider.key
        text = (said.replace(key, _REDACTED) if key else said)[:160]
        lower = text.lower()
        if "api key" in lower or "apikey" in lower:
            return f"the API key was refused (FMP said {text!r}); check {KEY_VARIABLE}"
        if "limit reach" in lower:
            return f"the plan's request limit is reached (FMP said {text!r})"
        return f"expected a JSON list, found FMP's error {text!r}"


# --- the MarketData port ------------------------------------------------------------------------
class FmpMarketData(Closing):
    """The MarketData port over FMP: live quotes for today, daily history for the rest.

    * Universe: ``symbols`` if given, else the configured ``universe``, else FMP's biggest
      gainers and most active symbols. FMP ranks those by the latest regular session, so
      before the open they are yesterday's movers: configure ``scanner.universe`` to scan
      today's pre-market movers from a list of your own.
    * Last price: the latest of today's extended-hours trade (``batch-aftermarket-trade``,
      a trade stamped today in New York) and the quote's ``price`` if the quote is stamped
      today; else the previous close, like the backtester when nothing has traded. A plan
      without extended-hours trades logs a warning and uses the quotes alone.
    * Pre-market volume: FMP documents no pre-market volume. It is the quote's ``volume``
      when FMP has stamped the quote today (its day volume so far), else 0: before FMP rolls
      the quote over, the dollar-volume and relative-volume rules see nothing traded.
    * Previous close: the quote's ``previousClose`` once the quote is stamped today. Before
      that the quote still describes the previous session (its ``previousClose`` is the
      session before), so the close of the previous session comes from the daily history,
      or from the quote's ``price`` if the history does not have that session yet.
    * ATR% and 20-day average volume: :class:`DailyHistory` over FMP's split-adjusted daily
      bars of the previous 20 sessions (the latest split basis, as the backtester converts
      the store's raw bars), one request per symbol of the universe, cached per trading day.
    * Security type, market cap, sector: the company profile (one request per symbol and
      trading day, cached): not actively trading -> "INACTIVE", ``isEtf`` -> "ETF",
      ``isFund`` -> "FUND", ``isAdr`` -> "ADRC", anything else -> "CS" (FMP's profile does
      not tell preferred shares, warrants or units apart). A profile that cannot be read
      leaves these None, not the scan. ``halted`` is always None: FMP does not say.

    ``at``: a quote is "now", whatever ``at`` says; a scan of a day FMP's quotes have left
    behind (quotes stamped after ``trading_day``) is refused with :class:`LiveOnly`.

    A symbol missing from the quotes, without a previous close, with fewer than two sessions
    of history or whose history cannot be read (a bad bar, a failed request) is left out
    (logged at INFO with the reason); an unreadable history is asked again next scan, never
    served from the cache. Quotes that fail (down, rate limited past the retries, the key
    refused, a changed schema) or are empty for the configured universe or the movers raise
    MarketDataUnavailable, and so do the histories of most symbols quoted not reading.
    """

    def __init__(
        self,
        client: FmpClient,
        calendar: Calendar,
        universe: Sequence[str] = (),
        *,
        profiles: bool = True,
    ) -> None:
        self._client, self._calendar = client, calendar
        self._universe = tuple(universe)
        self._want_profiles = profiles
        self._day: date | None = None
        self._histories: dict[str, DailyHistory] = {}
        self._profiles: dict[str, Profile | None] = {}
        self._profiles_down = False

    def close(self) -> None:
        self._client.close()

    def premarket_features(
        self, trading_day: date, at: datetime, symbols: Sequence[Symbol] | None = None
    ) -> list[PremarketFeatures]:
        require_aware("scan time", at)
        self._start(trading_day)
        asked = self._asked(symbols)
        names, skipped = _checked(asked)
        by_symbol = {q.symbol.upper(): q for q in self._client.quotes(names)} if names else {}
        quotes = [by_symbol[name] for name in names if name in by_symbol]
        for name in names:
            if name not in by_symbol:
                skipped[name] = "not in FMP's quotes (a symbol it does not know, or no data)"
        if not quotes:
            if symbols is None:
                raise MarketDataUnavailable(
                    PROVIDER,
                    "quotes",
                    f"expected quotes for {len(names)} symbols of the universe, found none",
                )
            log_skipped(log, PROVIDER, skipped, len(asked), "symbols")
            return []
        _refuse_the_past(trading_day, quotes)
        trades = self._trades_today([q.symbol.upper() for q in quotes], trading_day)
        sessions = previous_sessions(self._calendar, trading_day)
        found = []
        unreadable: list[MarketDataUnavailable] = []
        for quote in quotes:
            name = quote.symbol.upper()
            try:
                history = self._history(name, sessions, trading_day)
                profile = self._profile(name, trading_day)
                found.append(
                    _features(quote, trades.get(name), history, profile, trading_day, sessions[-1])
                )
            except LeftOut as why:
                skipped[name] = str(why)
                if isinstance(why, _Unreadable):
                    unreadable.append(why.cause)
        if 2 * len(unreadable) > len(quotes):  # FMP's trouble, not one symbol's: scan later
            first = unreadable[0]
            found_here = f"{len(unreadable)} of {len(quotes)} symbols' histories unreadable"
            raise MarketDataUnavailable(PROVIDER, first.what, f"{first.reason} ({found_here})")
        log_skipped(log, PROVIDER, skipped, len(asked), "symbols")
        return found

    def _start(self, trading_day: date) -> None:
        if self._day != trading_day:  # another day: yesterday's memos describe nothing now
            self._day = trading_day
            self._histories.clear()
            self._profiles.clear()
        self._profiles_down = False

    def _asked(self, symbols: Sequence[Symbol] | None) -> list[str]:
        if symbols is not None:
            return [s.value for s in symbols]
        if self._universe:
            return list(self._universe)
        movers = [m.symbol for m in self._client.gainers() + self._client.most_actives()]
        if not movers:
            raise MarketDataUnavailable(
                PROVIDER,
                "movers",
                "expected the biggest gainers or most active symbols, found empty lists",
            )
        return movers

    def _trades_today(self, names: Sequence[str], trading_day: date) -> dict[str, ExtendedTrade]:
        try:
            trades = self._client.extended_trades(names)
        except MarketDataUnavailable as exc:  # optional: the quotes still give a price
            log.warning("fmp: no extended-hours trades, last prices from the quotes: %s", exc)
            return {}
        today: dict[str, ExtendedTrade] = {}
        for trade in trades:
            name = trade.symbol.upper()
            if ny_day(trade.timestamp_ms / 1000) != trading_day or not trade.price > 0:
                continue  # yesterday's after-hours trade is no pre-market trade
            if name not in today or trade.timestamp_ms > today[name].timestamp_ms:
                today[name] = trade
        return today

    def _history(self, name: str, sessions: Sequence[date], trading_day: date) -> DailyHistory:
        if name in self._histories:
            return self._histories[name]
        first, last = sessions[0], sessions[-1]
        try:
            bars = self._client.daily_adjusted(name, first, last, cache_day=trading_day)
        except NotFoundAtProvider:
            raise LeftOut("FMP has no daily history of it (HTTP 404)") from None
        except MarketDataUnavailable as exc:  # one symbol's bad bar: that symbol, not the scan
            raise _Unreadable(exc) from None
        bars = sorted((b for b in bars if first <= b.day <= last), key=lambda b: b.day)
        if len(bars) < 2:
            raise LeftOut(f"{len(bars)} of the last {len(sessions)} sessions in its history")
        try:
            daily = daily_bars(name, [b.day for b in bars], bars, Basis.SPLIT_ADJUSTED, PROVIDER)
        except InvalidValue as exc:
            raise LeftOut(f"unusable daily history: {exc}") from None
        history = DailyHistory.of(daily, ())  # split-adjusted: no splits left to apply
        if bars[-1].day == last:  # complete: asked again next scan only if it is not
            self._histories[name] = history
        return history

    def _profile(self, name: str, trading_day: date) -> Profile | None:
        if not self._want_profiles or self._profiles_down:
            return None
        if name not in self._profiles:
            try:
                self._profiles[name] = self._client.profile(name, cache_day=trading_day)
            except NotFoundAtProvider:
                self._profiles[name] = None
            except MarketDataUnavailable as exc:  # optional facts: None, not a failed scan
                log.warning("fmp: profiles unreadable, types left unknown this scan: %s", exc)
                self._profiles_down = True
                return None
        return self._profiles[name]


class _Unreadable(LeftOut):
    """A symbol whose daily history cannot be read (a bad bar, a failed request): it is
    left out, unless most symbols' histories cannot be read."""

    def __init__(self, cause: MarketDataUnavailable) -> None:
        super().__init__(f"its daily history cannot be read: {cause}")
        self.cause = cause


def _checked(asked: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The tickers openbell can trade, once each, and why the others are left out."""
    names: list[str] = []
    skipped: dict[str, str] = {}
    for raw in asked:
        try:
            name = Symbol(raw).value
        except InvalidValue as exc:
            skipped[str(raw)] = f"not a ticker openbell trades ({exc})"
            continue
        if name not in names:
            names.append(name)
    return names, skipped


def _refuse_the_past(trading_day: date, quotes: Sequence[Quote]) -> None:
    latest = max(ny_day(q.timestamp_s) for q in quotes)
    if latest > trading_day:
        raise LiveOnly(
            f"fmp scans from live quotes: expected trading_day {latest} or later (FMP's "
            f"quotes are stamped {latest} in New York), found {trading_day}; scan past days "
            "from the bar store (scanner.source = bars)"
        )


def _features(
    quote: Quote,
    trade: ExtendedTrade | None,
    history: DailyHistory,
    profile: Profile | None,
    trading_day: date,
    previous_session: date,
) -> PremarketFeatures:
    i = history_row(history, trading_day)
    previous_close = _previous_close(quote, history, i, trading_day, previous_session)
    last, volume = _today(quote, trade, trading_day)
    return features(
        quote.symbol,
        history,
        i,
        previous_close,
        last,
        volume,
        security_type=_security_type(profile),
        market_cap=_market_cap(profile, quote),
        sector=_sector(profile),
    )


def _previous_close(
    quote: Quote, history: DailyHistory, i: int, trading_day: date, previous_session: date
) -> float:
    quote_day = ny_day(quote.timestamp_s)
    history_day = date.fromisoformat(str(history.days[i - 1].astype("datetime64[D]")))
    if quote_day == trading_day:  # FMP rolled the quote over: its previousClose is ours
        close = quote.previous_close
    elif history_day == previous_session:
        close = float(history.previous_close[i])
    elif quote_day == previous_session:  # the quote still shows the previous session
        close = quote.price
    else:
        raise LeftOut(
            f"no close of the previous session {previous_session}: the history ends "
            f"{history_day} and the quote is stamped {quote_day}"
        )
    if not close > 0:
        raise LeftOut(f"no previous close (found {close})")
    return close


def _today(
    quote: Quote, trade: ExtendedTrade | None, trading_day: date
) -> tuple[float | None, float]:
    """Today's last price (None if nothing traded today) and volume so far."""
    stamped_today = ny_day(quote.timestamp_s) == trading_day and quote.price > 0
    last: float | None = quote.price if stamped_today else None
    if trade is not None and (not stamped_today or trade.timestamp_ms > quote.timestamp_s * 1000):
        last = trade.price
    volume = (quote.volume or 0.0) if stamped_today else 0.0
    return last, max(volume, 0.0)


def _security_type(profile: Profile | None) -> str | None:
    if profile is None:
        return None
    if not profile.is_actively_trading:
        return "INACTIVE"
    if profile.is_etf:
        return "ETF"
    if profile.is_fund:
        return "FUND"
    if profile.is_adr:
        return "ADRC"
    return "CS"


def _sector(profile: Profile | None) -> str | None:
    if profile is None or profile.sector is None:
        return None
    return profile.sector.strip() or None


def _market_cap(profile: Profile | None, quote: Quote) -> Decimal | None:
    for cap in (profile.market_cap if profile is not None else None, quote.market_cap):
        if cap is not None and cap > 0:
            return Decimal(int(cap))
    return None


# --- the BarFetcher of `openbell data fetch` ----------------------------------------------------
class FmpBars(Closing):
    """Unadjusted daily and minute bars from FMP, for the bar store.

    Daily bars come from ``historical-price-eod/non-split-adjusted``; minute bars from
    ``historical-chart/1min`` with ``nonadjusted=true``. FMP documents its minute chart
    without an extended-hours flag and its example ends the session at 15:59, so a plan may
    give the regular session only: the pre-market of those days is then empty in the store.
    Minute stamps are New York wall time (FMP gives no zone) and name the minute a bar
    starts; they are stored as UTC nanoseconds. Only days that are over (before today in New
    York) are asked for: their bars are final and are cached on disk. A symbol FMP does not
    know raises NotFound ("fmp knows no symbol X"): the input is wrong, retrying will not help.
    """

    name = PROVIDER

    def __init__(self, client: FmpClient, clock: Clock) -> None:
        self._client, self._clock = client, clock
        self._known: dict[str, bool] = {}

    def close(self) -> None:
        self._client.close()

    def daily(self, symbol: str, start: date, end: date) -> DailyBars | None:
        last = last_settled(end, self._clock)
        if last < start:
            return None
        try:
            bars = self._client.daily_raw(symbol, start, last, cache_day=last)
        except NotFoundAtProvider:
            raise NotFound(f"fmp knows no symbol {symbol}") from None
        found = sorted((b for b in bars if start <= b.day <= last), key=lambda b: b.day)
        if not found:
            self._require_known(symbol, last)
            return None
        return daily_bars(symbol, [b.day for b in found], found, Basis.RAW, PROVIDER)

    def minutes(self, symbol: str, day: date) -> DayBars | None:
        require_over(symbol, day, self._clock)
        try:
            bars = self._client.minutes(symbol, day, cache_day=day)
        except NotFoundAtProvider:
            raise NotFound(f"fmp knows no symbol {symbol}") from None
        starts = sorted(
            ((_start_ns(bar), bar) for bar in bars if _wall_day(bar) == day), key=lambda p: p[0]
        )
        if not starts:
            self._require_known(symbol, day)
            return None
        return minute_bars(symbol, day, [ns for ns, _ in starts], [b for _, b in starts], PROVIDER)

    def _require_known(self, symbol: str, day: date) -> None:
        if symbol not in self._known:
            self._known[symbol] = self._client.knows(symbol, day)
        if not self._known[symbol]:
            raise NotFound(f"fmp knows no symbol {symbol} (it has no profile of it)")


def _in_new_york(bar: MinuteBar) -> datetime:
    start = bar.start
    return start.replace(tzinfo=NEW_YORK) if start.tzinfo is None else start.astimezone(NEW_YORK)


def _wall_day(bar: MinuteBar) -> date:
    return _in_new_york(bar).date()


def _start_ns(bar: MinuteBar) -> int:
    return to_ns(_in_new_york(bar))


# --- factories -------------------------------------------------------------------------------
def fmp_market_data(
    *,
    api_key: str | None,
    policy: HttpPolicy,
    cache_dir: Path | None,
    calendar: Calendar,
    universe: Sequence[str] = (),
    base_url: str = DEFAULT_BASE_URL,
    sleep: Callable[[float], None] = time.sleep,
) -> FmpMarketData:
    """The scan's MarketData over FMP (close it when done)."""
    client = fmp_client(
        api_key=api_key, policy=policy, cache_dir=cache_dir, base_url=base_url, sleep=sleep
    )
    return FmpMarketData(client, calendar, universe)


def fmp_bars(
    *,
    api_key: str | None,
    policy: HttpPolicy,
    cache_dir: Path | None,
    clock: Clock,
    base_url: str = DEFAULT_BASE_URL,
    sleep: Callable[[float], None] = time.sleep,
) -> FmpBars:
    """The BarFetcher over FMP for ``openbell data fetch`` (close it when done)."""
    client = fmp_client(
        api_key=api_key, policy=policy, cache_dir=cache_dir, base_url=base_url, sleep=sleep
    )
    return FmpBars(client, clock)
