"""Build the market data providers (Massive, FMP, IB history) from the settings.

Imported only where a provider is used: it loads httpx (and, for IB, ib_async).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from openbell.adapters.data.fetch import BarFetcher
from openbell.adapters.data.fmp import fmp_bars, fmp_market_data
from openbell.adapters.data.http import HttpPolicy
from openbell.adapters.data.massive import massive_bars, massive_market_data
from openbell.config import Settings
from openbell.domain.errors import InvalidValue
from openbell.domain.values import Symbol
from openbell.ports import Calendar, Clock
from openbell.runtime.scanning import ScanSource


def http_policy(settings: Settings) -> HttpPolicy:
    scanner = settings.scanner
    return HttpPolicy(
        timeout_s=scanner.timeout_s,
        max_retries=scanner.max_retries,
        requests_per_minute=scanner.requests_per_minute,
    )


def provider_scan_source(settings: Settings, calendar: Calendar, clock: Clock) -> ScanSource:
    """The live scan over Massive or FMP (``scanner.source``), with its key from secrets."""
    scanner, secrets = settings.scanner, settings.secrets
    universe = tuple(scanner.universe)
    symbols = tuple(Symbol(name) for name in universe) or None
    scope = f"{len(universe)} symbols" if universe else "the whole market"
    if scanner.source == "massive":
        massive = massive_market_data(
            api_key=secrets.value_of("massive_api_key"),
            policy=http_policy(settings),
            cache_dir=scanner.cache_dir,
            calendar=calendar,
            clock=clock,
            universe=universe,
            base_url=scanner.massive_url,
        )
        return ScanSource(massive, symbols, f"massive ({scope})", True, [massive.close])
    if scanner.source == "fmp":
        fmp = fmp_market_data(
            api_key=secrets.value_of("fmp_api_key"),
            policy=http_policy(settings),
            cache_dir=scanner.cache_dir,
            calendar=calendar,
            universe=universe,
            base_url=scanner.fmp_url,
        )
        return ScanSource(fmp, symbols, f"fmp ({scope})", True, [fmp.close])
    raise InvalidValue("scanner.source", "massive or fmp for a provider scan", scanner.source)


@contextmanager
def bar_fetcher(settings: Settings, source: str, clock: Clock) -> Iterator[BarFetcher]:
    """The historical bars of ``source`` (massive, fmp or ib), closed on exit; only days
    over by ``clock`` are fetched. IB is asked read-only, as the dashboard's client id, so
    no order can be placed through it."""
    scanner, secrets = settings.scanner, settings.secrets
    if source == "massive":
        with massive_bars(
            api_key=secrets.value_of("massive_api_key"),
            policy=http_policy(settings),
            cache_dir=scanner.cache_dir,
            clock=clock,
            base_url=scanner.massive_url,
        ) as massive:
            yield massive
    elif source == "fmp":
        with fmp_bars(
            api_key=secrets.value_of("fmp_api_key"),
            policy=http_policy(settings),
            cache_dir=scanner.cache_dir,
            clock=clock,
            base_url=scanner.fmp_url,
        ) as fmp:
            yield fmp
    elif source == "ib":
        with _ib_bars(settings, clock) as ib:
            yield ib
    else:
        raise InvalidValue("--source", "massive, fmp or ib", source)


@contextmanager
def _ib_bars(settings: Settings, clock: Clock) -> Iterator[BarFetcher]:
    from openbell.adapters.ib.broker import IbBroker  # noqa: PLC0415 - ib_async only here
    from openbell.adapters.ib.history import IbBars  # noqa: PLC0415
    from openbell.runtime.compose import ib_connection  # noqa: PLC0415

    broker = IbBroker(ib_connection(settings, "dashboard", readonly=True), clock)
    broker.connect()
    bars = IbBars(broker.ib, clock=clock)
    try:
        yield bars
    finally:
        bars.close()
        broker.disconnect()
