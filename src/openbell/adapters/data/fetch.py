"""``openbell data fetch``: fill the bar store from a provider, day by day, for backtests.

A provider's bars reach the store through the same checks as imported files (the store
validates every series it writes). Each symbol-day is written on its own, so a failure
halfway keeps what was fetched, and a rerun skips the days the store already holds. Days
that are not over yet are skipped with a note, not reported as failures: a ``--to`` of
today or later is an ordinary request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from openbell.adapters.bars.store import BarStore
from openbell.adapters.data.common import last_settled
from openbell.bars.frame import DailyBars, DayBars
from openbell.domain.errors import MarketDataUnavailable, MissingSecret, RefusedInput
from openbell.ports import Calendar, Clock

log = logging.getLogger(__name__)


class BarFetcher(Protocol):
    """Historical bars from one provider, unadjusted (raw prices and volumes)."""

    name: str

    def daily(self, symbol: str, start: date, end: date) -> DailyBars | None:
        """Daily bars from ``start`` to ``end`` inclusive; None when there are none."""
        ...

    def minutes(self, symbol: str, day: date) -> DayBars | None:
        """One day's minute bars, extended hours included; None when there are none."""
        ...


@dataclass
class FetchReport:
    daily_rows: int = 0
    days_written: int = 0
    days_already_stored: int = 0
    days_without_bars: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def fetch_into_store(
    fetcher: BarFetcher,
    store: BarStore,
    calendar: Calendar,
    symbols: Sequence[str],
    start: date,
    end: date,
    *,
    minutes: bool = True,
    clock: Clock | None = None,
) -> FetchReport:
    """Fetch ``symbols``' daily bars (and minute bars of each session) into ``store``.

    A provider failure for one symbol or day is recorded and the fetch goes on; a refused
    series (bad data) likewise. Nothing is written twice: days already stored are skipped.
    With ``clock``, only days over in New York are asked for: the sessions after the last
    settled day are skipped with a note. A missing key (MissingSecret) is raised at once:
    it would fail every symbol alike.
    """
    report = FetchReport()
    sessions = _sessions(calendar, start, end)
    through = last_settled(end, clock) if clock is not None else end
    pending = [day for day in sessions if day > through]
    if pending:
        sessions = [day for day in sessions if day <= through]
        count = f"{len(pending)} day{'s' if len(pending) > 1 else ''}"
        span = f"{pending[0]}" + (f" to {pending[-1]}" if len(pending) > 1 else "")
        report.notes.append(f"{count} not over yet, skipped ({span})")
    if through < start:
        return report
    for symbol in symbols:
        try:
            daily = fetcher.daily(symbol, start, through)
        except MissingSecret:
            raise
        except (MarketDataUnavailable, RefusedInput) as exc:
            report.failures.append(f"{symbol} daily: {exc}")
            continue
        if daily is not None and len(daily):
            _write_daily(store, daily, report, symbol)
        if not minutes:
            continue
        stored = set(store.days(symbol))
        for day in sessions:
            if day in stored:
                report.days_already_stored += 1
                continue
            _fetch_day(fetcher, store, symbol, day, report)
    return report


def _write_daily(store: BarStore, daily: DailyBars, report: FetchReport, symbol: str) -> None:
    try:
        store.write_daily(daily)
        report.daily_rows += len(daily)
    except RefusedInput as exc:
        report.failures.append(f"{symbol} daily: {exc}")


def _fetch_day(
    fetcher: BarFetcher, store: BarStore, symbol: str, day: date, report: FetchReport
) -> None:
    try:
        bars = fetcher.minutes(symbol, day)
        if bars is None or not len(bars):
            report.days_without_bars.append(f"{symbol} {day}")
            return
        store.write_day(bars)
        report.days_written += 1
    except MissingSecret:
        raise
    except (MarketDataUnavailable, RefusedInput) as exc:
        report.failures.append(f"{symbol} {day}: {exc}")
        log.warning("fetch %s %s from %s failed: %s", symbol, day, fetcher.name, exc)


def _sessions(calendar: Calendar, start: date, end: date) -> list[date]:
    if end < start:
        raise RefusedInput(f"expected --to on or after --from ({start}), found {end}")
    days = []
    day = start
    while day <= end:
        if calendar.is_trading_day(day):
            days.append(day)
        day = date.fromordinal(day.toordinal() + 1)
    return days
