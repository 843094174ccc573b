"""Typed calls to the Massive (formerly Polygon.io) REST endpoints openbell uses.

Every call goes through the shared :class:`~openbell.adapters.data.http.JsonApi`: the key in
an ``Authorization: Bearer`` header, pacing, retries, redacted errors. Answers about settled
days (a past day's bars, grouped daily bars, the ticker list as of a past day) are cached on
disk when the caller names the day, and only when they carry data and read as documented;
snapshots and splits are asked afresh every time. Rows are read one by one: one odd row of a
list is left out with a warning (most rows odd is a changed schema), except bars of one
ticker, where a hole would bend the ATR. Pages are followed through ``next_url``, asked
again of the configured host with the key in the header only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlsplit

from openbell.adapters.data.cache import DayCache
from openbell.adapters.data.common import Closing
from openbell.adapters.data.http import HttpPolicy, JsonApi, NotFoundAtProvider, Provider
from openbell.adapters.data.massive_models import (
    PROVIDER,
    Agg,
    GroupedAgg,
    Paged,
    Rows,
    SnapshotAnswer,
    SplitRow,
    TickerRow,
    TickerSnapshot,
    parsed,
)
from openbell.adapters.data.schema import Model, valid_entries
from openbell.domain.errors import MarketDataUnavailable

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.massive.com"
"""Massive's REST host; Polygon's former host ``https://api.polygon.io`` answers the same."""
KEY_VARIABLE = "OPENBELL__SECRETS__MASSIVE_API_KEY"
SNAPSHOT_CHUNK = 250
"""Tickers per snapshot request, keeping the URL short."""
MAX_PAGES = 500
_SNAPSHOT = "/v2/snapshot/locale/us/markets/stocks/tickers"
_GAINERS = "/v2/snapshot/locale/us/markets/stocks/gainers"
_UNADJUSTED = {"adjusted": "false"}

A = TypeVar("A", bound=Rows)
R = TypeVar("R", bound=Model)


def massive_client(
    *,
    api_key: str | None,
    policy: HttpPolicy,
    cache_dir: Path | None,
    base_url: str = DEFAULT_BASE_URL,
    sleep: Callable[[float], None] = time.sleep,
) -> MassiveClient:
    """A client of ``base_url``; a missing key is refused (MissingSecret naming
    ``OPENBELL__SECRETS__MASSIVE_API_KEY``) at the first request that needs it."""
    provider = Provider(PROVIDER, base_url.rstrip("/"), api_key or None, KEY_VARIABLE, "bearer")
    cache = DayCache(cache_dir, PROVIDER) if cache_dir is not None else None
    return MassiveClient(JsonApi(provider, policy, cache=cache, sleep=sleep))


@dataclass(frozen=True, slots=True)
class GroupedDay:
    """Every ticker's bar of one day, and the tickers whose row could not be read (left out
    with a warning): their history has a hole that day."""

    bars: tuple[GroupedAgg, ...]
    unreadable: frozenset[str] = frozenset()


class MassiveClient(Closing):
    """Typed calls to Massive's REST endpoints. ``cache_day`` names the settled day an
    answer is about (it is then kept on disk); None asks afresh every time."""

    def __init__(self, api: JsonApi) -> None:
        self._api = api

    def close(self) -> None:
        self._api.close()

    # --- snapshots (live: never cached) --------------------------------------------------
    def snapshot(self, tickers: Sequence[str] | None = None) -> list[TickerSnapshot]:
        """The full-market snapshot, or that of ``tickers`` (asked in chunks). A ticker
        Massive does not know is simply absent."""
        if tickers is None:
            return self._snapshot(_SNAPSHOT, {}, "full market snapshot")
        found: list[TickerSnapshot] = []
        for first in range(0, len(tickers), SNAPSHOT_CHUNK):
            chunk = tickers[first : first + SNAPSHOT_CHUNK]
            what = f"snapshot of {len(chunk)} ticker{'s' if len(chunk) > 1 else ''}"
            found += self._snapshot(_SNAPSHOT, {"tickers": ",".join(chunk)}, what)
        return found

    def gainers(self) -> list[TickerSnapshot]:
        """The day's top 20 gainers, in the snapshot's shape."""
        return self._snapshot(_GAINERS, {}, "top gainers snapshot")

    def _snapshot(self, path: str, params: dict[str, str], what: str) -> list[TickerSnapshot]:
        answer = parsed(SnapshotAnswer, self._api.get(path, params), what)
        return valid_entries(
            TickerSnapshot,
            answer.tickers or (),
            provider=PROVIDER,
            what=what,
            noun="ticker",
            log=log,
            prefix=("tickers",),
        )

    # --- aggregates -------------------------------------------------------------------------
    def previous_day(self, ticker: str) -> Agg | None:
        """The previous session's unadjusted bar of ``ticker`` (None if it has none)."""
        path, what = f"/v2/aggs/ticker/{ticker}/prev", f"previous day of {ticker}"
        _, bars = self._rows(Rows, Agg, path, _UNADJUSTED, what, None, noun="bar", strict=True)
        return bars[-1] if bars else None

    def aggregates(
        self,
        ticker: str,
        timespan: Literal["minute", "day"],
        start: date | int,
        end: date | int,
        *,
        cache_day: date | None = None,
    ) -> list[Agg]:
        """Unadjusted bars from ``start`` to ``end`` (dates, or epoch milliseconds),
        oldest first, every page. Raise NotFoundAtProvider if Massive answers 404."""
        edges = [x.isoformat() if isinstance(x, date) else str(x) for x in (start, end)]
        path = f"/v2/aggs/ticker/{ticker}/range/1/{timespan}/{edges[0]}/{edges[1]}"
        params = {**_UNADJUSTED, "sort": "asc", "limit": 50_000}
        what = f"{timespan} bars of {ticker}"
        bars: list[Agg] = []
        for page in self._pages(Agg, path, params, what, cache_day, noun="bar", strict=True):
            bars += page
        return bars

    def grouped_daily(self, day: date, *, cache: bool) -> GroupedDay:
        """Every ticker's unadjusted bar of ``day`` in one answer (cached when ``cache``).
        A ticker whose row does not fit is left out with a warning and named in
        ``unreadable``; most rows not fitting is a changed schema (MarketDataUnavailable)."""
        path = f"/v2/aggs/grouped/locale/us/market/stocks/{day.isoformat()}"
        what = f"grouped daily bars of {day}"
        answer, bars = self._rows(
            Rows, GroupedAgg, path, _UNADJUSTED, what, day if cache else None, noun="bar"
        )
        read = {bar.ticker for bar in bars}
        named = {row.get("T") for row in answer.results or () if isinstance(row, Mapping)}
        unreadable = frozenset(t for t in named if isinstance(t, str) and t not in read)
        return GroupedDay(tuple(bars), unreadable)

    # --- reference data ---------------------------------------------------------------------
    def splits(self, after: date, through: date) -> list[SplitRow]:
        """Splits executed after ``after`` up to ``through`` (never cached: Massive adds
        late ones)."""
        params: dict[str, str | int] = {
            "execution_date.gt": after.isoformat(),
            "execution_date.lte": through.isoformat(),
            "limit": 1000,
        }
        what = f"splits from {after} to {through}"
        rows: list[SplitRow] = []
        for page in self._pages(SplitRow, "/v3/reference/splits", params, what, None, "split"):
            rows += page
        return rows

    def ticker_types(self, day: date, *, cache: bool) -> dict[str, str]:
        """The security type ("CS", "ETF", "WARRANT", ...) of every stock ticker active on
        ``day``, by ticker."""
        params: dict[str, str | int] = {
            "market": "stocks",
            "active": "true",
            "date": day.isoformat(),
            "limit": 1000,
        }
        what = f"tickers as of {day}"
        types: dict[str, str] = {}
        pages = self._pages(
            TickerRow, "/v3/reference/tickers", params, what, day if cache else None, "ticker"
        )
        for page in pages:
            types.update((row.ticker, row.type) for row in page if row.type)
        return types

    def knows(self, ticker: str, day: date) -> bool:
        """Whether Massive's reference data has ``ticker`` as of ``day``."""
        try:
            self._api.get(f"/v3/reference/tickers/{ticker}", {"date": day.isoformat()})
        except NotFoundAtProvider:
            return False
        return True

    def _pages(
        self,
        row: type[R],
        path: str,
        params: dict[str, Any],
        what: str,
        cache_day: date | None,
        noun: str,
        *,
        strict: bool = False,
    ) -> Iterator[list[R]]:
        """The rows of every page, page by page, each page read (and cached) on its own."""
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page, rows = self._rows(
                Paged, row, path, params, what, cache_day, noun=noun, strict=strict
            )
            yield rows
            if not page.next_url:
                return
            if page.next_url in seen:
                raise MarketDataUnavailable(
                    PROVIDER, what, f"expected a new next_url, found {page.next_url!r} again"
                )
            seen.add(page.next_url)
            path, params = _follow(page.next_url, what)
        raise MarketDataUnavailable(PROVIDER, what, f"expected at most {MAX_PAGES} pages")

    def _rows(
        self,
        answer: type[A],
        row: type[R],
        path: str,
        params: Mapping[str, Any],
        what: str,
        cache_day: date | None,
        *,
        noun: str,
        strict: bool = False,
    ) -> tuple[A, list[R]]:
        """One answer and its ``results`` as ``row``s, read one by one (see
        :func:`~openbell.adapters.data.schema.valid_entries`). The answer is kept in the day
        cache (with ``cache_day``) only if it reads and has rows: an answer that does not
        read is asked afresh next time, never served from the disk for the rest of the
        window, and an empty one may be data not published yet."""

        def read(body: Any) -> tuple[A, list[R]]:
            page = parsed(answer, body, what)
            found = valid_entries(
                row,
                page.results or (),
                provider=PROVIDER,
                what=what,
                noun=noun,
                log=log,
                prefix=("results",),
                strict=strict,
            )
            return page, found

        fresh: list[tuple[A, list[R]]] = []

        def keep(body: Any) -> bool:  # asked of a fresh answer only, before it is cached
            try:
                fresh.append(read(body))
            except MarketDataUnavailable:
                return False
            return bool(fresh[-1][1])

        body = self._api.get(path, params, cache_day=cache_day, cache_if=keep)
        return fresh[-1] if fresh else read(body)  # from the disk: read it here


def _follow(next_url: str, what: str) -> tuple[str, dict[str, Any]]:
    """The path and query of a ``next_url``. Only the path is kept, so the key goes to the
    configured host alone, in its header; an ``apiKey`` in the link is dropped."""
    parts = urlsplit(next_url)
    if not parts.path.startswith("/"):
        raise MarketDataUnavailable(PROVIDER, what, f"expected a next_url, found {next_url!r}")
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    return parts.path, {k: v for k, v in pairs if k.lower() != "apikey"}
