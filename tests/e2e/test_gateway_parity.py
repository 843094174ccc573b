"""The strategy's days through the whole IB wire path give the same trades as in process.

The backtest runner drives the real services (morning plan, entries, exit manager, flatten)
twice over the same bundled days: once with the in-process venue, once with every order going
through the IB adapter and the real ib_async client over loopback to ``openbell gateway``,
which matches them with the same engine. The ledgers must hold the same fills to the cent.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.backtest.app import BacktestRequest, build_config, open_source
from openbell.backtest.runner import run_backtest
from openbell.config import load_settings
from openbell.runtime import compose
from openbell.runtime.loopback import GatewayBroker


def ledger_fills(path: Path) -> list[tuple[str, str, int, str, datetime, str]]:
    ledger = SqliteLedger.open(path, ManualClock(datetime(2016, 5, 2, tzinfo=UTC)), process="test")
    try:
        return [
            (
                str(f.order_ref),
                str(f.side),
                f.quantity.value,
                str(f.price.value),
                f.executed_at,  # the same instant; the zone it is written in may differ
                str(None if f.commission is None else f.commission.amount),
            )
            for f in ledger.fills()
        ]
    finally:
        ledger.close()


def test_three_demo_days_through_the_gateway_match_the_in_process_venue(tmp_path: Path) -> None:
    settings = load_settings(None, environ={}).settings
    calendar = compose.build_calendar()
    request = BacktestRequest(start=date(2016, 4, 27), end=date(2016, 4, 29), data="demo")
    source, universe = open_source(request.data, settings, calendar, request.seed)
    config = build_config(request, settings, universe)

    direct = run_backtest(config, calendar, source, tmp_path / "direct.sqlite")
    wired = run_backtest(
        config,
        calendar,
        source,
        tmp_path / "wired.sqlite",
        broker_factory=lambda clock: GatewayBroker.stepped(
            clock, config.venue, calendar, config.starting_equity
        ),
    )

    assert [(t.symbol, t.exit_reason) for t in direct.trades] == [
        ("FB", "STOP"),
        ("FCX", "TARGET"),
        ("AMZN", "STOP"),
    ]
    assert wired.trades == direct.trades
    assert ledger_fills(tmp_path / "wired.sqlite") == ledger_fills(tmp_path / "direct.sqlite")
