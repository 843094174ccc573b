"""The bars a run replays and the venue it fills on, from the settings.

Kept apart from :mod:`openbell.backtest.app` so the bot processes and the simulated gateway,
which need only these, do not import the backtester, its reports and matplotlib at start-up.
"""

from __future__ import annotations

from openbell.adapters.bars.store import BarStore
from openbell.backtest.demo import DemoBars, demo_root
from openbell.bars.source import BarSource
from openbell.config import Settings
from openbell.domain.errors import InvalidValue
from openbell.ports import Calendar
from openbell.venue import FixedBps, FixedCommission, TieredCommission, VenueConfig

__all__ = ["open_source", "venue_config"]


def open_source(
    data: str, settings: Settings, calendar: Calendar, seed: int = 0
) -> tuple[BarSource, list[str]]:
    """The bars to replay and the universe: the bundled demo data, or the local store.

    ``seed`` draws the demo's intraday paths where it has only daily bars.
    """
    if data == "demo":
        demo = DemoBars(BarStore(demo_root()), calendar, seed=seed)
        return demo, demo.symbols()
    if data == "store":
        store = BarStore(settings.data.store)
        names = sorted({row.symbol for row in store.inventory() if row.kind == "minute"})
        return store, names
    raise InvalidValue("--data", "'demo' or 'store'", data)


def venue_config(settings: Settings) -> VenueConfig:
    """The simulated venue the settings describe (commission plan, slippage, volume cap)."""
    venue = settings.venue
    commission = TieredCommission() if venue.commission == "tiered" else FixedCommission()
    return VenueConfig(
        commission=commission,
        slippage=FixedBps(venue.slippage_bps),
        max_volume_share=venue.max_volume_share,
    )
