"""Compose the pre-market scan from the settings: where features come from (bars, Massive,
FMP) and who scores them (the rules, or the LLM chain ending in the rules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from openbell.backtest.market import BarMarketData
from openbell.backtest.sources import open_source
from openbell.config import ENV_PREFIX, Settings
from openbell.domain.errors import MissingSecret, RefusedInput
from openbell.domain.values import Symbol
from openbell.ports import Calendar, Clock, MarketData

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass
class ScanSource:
    """The market data port, the universe it scans (None: the provider's whole market), and
    how to release what it holds (HTTP connections)."""

    market: MarketData
    universe: tuple[Symbol, ...] | None
    describe: str
    live: bool = False
    """A provider's snapshot: it can only tell the pre-market as of now."""
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in self.closers:
            close()


def check_scan_source(settings: Settings, mode: str) -> None:
    """Refuse a run whose scan cannot work, before any process starts: a sim run must scan
    the replayed bars, and a provider needs its key."""
    _check_scoring(settings)
    source = settings.scanner.source
    if source == "bars":
        return
    if mode == "sim":
        raise RefusedInput(
            f"scanner.source: expected bars for a sim run (the simulated day replays bars; a "
            f"provider's snapshot is live), found {source}"
        )
    key = f"{source}_api_key"
    if settings.secrets.value_of(key) is None:
        raise MissingSecret(f"scanner.source = {source}", f"{ENV_PREFIX}SECRETS__{key.upper()}")


def _check_scoring(settings: Settings) -> None:
    """Refuse an LLM chain that could never score: no provider with its key, and no rules
    to fall back on (every candidate would be unscored, every day)."""
    scoring = settings.scoring
    if scoring.scorer != "llm" or scoring.fallback_to_rules:
        return
    usable = [
        p.name
        for p in scoring.providers
        if p.api_key == "none" or settings.secrets.value_of(p.api_key) is not None
    ]
    if not usable:
        keys = ", ".join(f"{ENV_PREFIX}SECRETS__{p.api_key.upper()}" for p in scoring.providers)
        raise RefusedInput(
            "scoring: expected a provider with its key (or fallback_to_rules = true) for "
            f"scorer = llm, found none: set one of {keys}"
        )


def bars_data(settings: Settings) -> str:
    """Which bars a bar scan reads: the sim's data (the demo, by default) or the store."""
    return settings.sim.data if settings.broker.mode == "sim" else "store"


def build_scan_source(
    settings: Settings, calendar: Calendar, clock: Clock, data: str | None = None
) -> ScanSource:
    """The scan's market data: the bars (``data``: demo or store) or a provider's API,
    which knows only "now" by ``clock``."""
    source = settings.scanner.source
    if source == "bars" or data is not None:
        chosen = data or bars_data(settings)
        bars, universe = open_source(chosen, settings, calendar)
        symbols = tuple(Symbol(name) for name in universe)
        return ScanSource(BarMarketData(bars, universe), symbols, f"bars ({chosen})")
    from openbell.runtime.providers import provider_scan_source  # noqa: PLC0415 - httpx only here

    return provider_scan_source(settings, calendar, clock)
