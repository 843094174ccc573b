"""What ``openbell backtest`` does: build a run from settings and options, run it, write it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.backtest.metrics import Summary, summarize
from openbell.backtest.runner import (
    BacktestConfig,
    BacktestResult,
    BrokerFactory,
    SteppedBroker,
    run_backtest,
)
from openbell.backtest.sources import open_source, venue_config
from openbell.bars.source import BarSource
from openbell.config import Settings
from openbell.domain.errors import InvalidValue
from openbell.domain.values import Money
from openbell.ports import Calendar, LlmJournal, Scorer
from openbell.reports.backtest import write_report
from openbell.reports.picks import Pick, picks_of
from openbell.strategy.exits import TargetTier
from openbell.strategy.selection import SelectionRules
from openbell.strategy.timing import EntryTiming

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BacktestRequest:
    """The user's options. None means "from the settings"."""

    start: date
    end: date
    symbols: tuple[str, ...] | None = None
    entry: str = "moo"
    target_pct: Decimal | None = None
    stop_loss_pct: Decimal | None = None
    data: str = "demo"
    equity: Decimal = Decimal(100_000)
    seed: int = 0
    via_gateway: bool = False
    """Send every order through the IB adapter and ib_async to a simulated gateway."""
    scorer: str | None = None
    """rules or llm; None: ``scoring.scorer`` from the settings."""


@dataclass(frozen=True)
class BacktestOutcome:
    request: BacktestRequest
    result: BacktestResult
    summary: Summary
    synthetic_note: str
    picks: tuple[Pick, ...] = ()
    """Each day's picks with their move from the open (the brief's measure)."""


def _tiers(settings: Settings, target_pct: Decimal | None) -> tuple[TargetTier, ...]:
    tiers = settings.strategy.tiers()
    if target_pct is None:
        return tiers
    if target_pct <= 0:
        raise InvalidValue("--target", "a percentage above 0", target_pct)
    return tuple(replace(t, target_pct=target_pct) for t in tiers)


def build_config(
    request: BacktestRequest, settings: Settings, universe: Sequence[str]
) -> BacktestConfig:
    stop = (
        settings.strategy.stop_loss_pct if request.stop_loss_pct is None else request.stop_loss_pct
    )
    if not Decimal(0) < stop < Decimal(100):
        raise InvalidValue("--stop", "a percentage between 0 and 100", stop)
    chosen = request.symbols or tuple(universe)
    unknown = sorted(set(chosen) - set(universe))
    if unknown:
        raise InvalidValue(
            "--symbols", f"symbols with data ({', '.join(universe)})", ", ".join(unknown)
        )
    return BacktestConfig(
        start=request.start,
        end=request.end,
        universe=tuple(chosen),
        plan=settings.day_plan(),
        rules=SelectionRules(settings.strategy.top_n, _tiers(settings, request.target_pct)),
        allocation_pct=settings.strategy.allocation_pct,
        stop_loss_pct=stop,
        starting_equity=Money(request.equity),
        timing=EntryTiming.parse(request.entry),
        protected=settings.protection.symbols(),
        venue=venue_config(settings),
        scan=settings.scan_filters(),
        scorer_for=_scorer_for(settings, request.scorer),
    )


def _scorer_for(settings: Settings, scorer: str | None) -> Callable[[LlmJournal], Scorer] | None:
    """The LLM chain when asked for (it journals its calls in the run's ledger); the rules
    otherwise (None: the config's default)."""
    chosen = scorer or settings.scoring.scorer
    if chosen == "rules":
        return None
    if chosen != "llm":
        raise InvalidValue("--scorer", "rules or llm", chosen)
    scoring = settings.scoring.model_copy(update={"scorer": "llm"})
    with_llm = settings.model_copy(update={"scoring": scoring})

    def build(journal: LlmJournal) -> Scorer:
        from openbell.runtime.scoring import build_scorer  # noqa: PLC0415 - the LLM SDK

        return build_scorer(with_llm, journal)

    return build


def run_request(
    request: BacktestRequest,
    settings: Settings,
    calendar: Calendar,
    on_day: Callable[[date], None] | None = None,
    ledger_path: Path | None = None,
) -> BacktestOutcome:
    """Run one backtest in a scratch ledger, or in a new ``ledger_path`` to keep."""
    if ledger_path is not None and _same_file(ledger_path, settings.ledger.path):
        raise InvalidValue(
            "--out", "a folder other than the live ledger's", str(ledger_path.parent)
        )
    source, universe = open_source(request.data, settings, calendar, request.seed)
    config = build_config(request, settings, universe)
    factory: BrokerFactory | None = None
    if request.via_gateway:

        def factory(clock: ManualClock) -> SteppedBroker:
            # ib_async costs ~100 ms to import: only runs through the gateway pay for it.
            from openbell.runtime.loopback import GatewayBroker  # noqa: PLC0415

            return GatewayBroker.stepped(clock, config.venue, calendar, config.starting_equity)

    with tempfile.TemporaryDirectory(prefix="openbell-backtest-") as scratch:
        path = Path(scratch) / "ledger.sqlite"
        result = run_backtest(config, calendar, source, path, on_day, factory)
        picks = _picks(path, source, calendar, config) if result.sessions else ()
        if ledger_path is not None:  # only a finished run replaces the kept ledger
            _keep(path, ledger_path)
    summary = summarize(result.trades)
    note = ""
    if summary.synthetic_trades:
        note = (
            f"{summary.synthetic_trades} of {summary.trades} trades ran on synthetic "
            "intraday paths drawn from real daily bars (see ATTRIBUTION.md)."
        )
    return BacktestOutcome(request, result, summary, note, picks)


def _same_file(a: Path, b: Path) -> bool:
    return a.expanduser().resolve() == b.expanduser().resolve()


def _keep(scratch: Path, kept: Path) -> None:
    """Put the run's closed ledger at ``kept``, replacing the previous run's atomically; the
    previous file's WAL and shared-memory companions go with it."""
    kept.parent.mkdir(parents=True, exist_ok=True)
    partial = kept.with_name(kept.name + ".part")
    shutil.copyfile(scratch, partial)
    for companion in ("-wal", "-shm"):
        kept.with_name(kept.name + companion).unlink(missing_ok=True)
    os.replace(partial, kept)


def _picks(
    ledger_path: Path, source: BarSource, calendar: Calendar, config: BacktestConfig
) -> tuple[Pick, ...]:
    """The run's picks, read back from its ledger (its clock stamps nothing: reads only)."""
    days = [
        day
        for day in (
            date.fromordinal(n) for n in range(config.start.toordinal(), config.end.toordinal() + 1)
        )
        if calendar.is_trading_day(day)
    ]
    ledger = SqliteLedger.open(ledger_path, ManualClock(_EPOCH), process="report")
    try:
        return tuple(picks_of(ledger, source, calendar, days))
    finally:
        ledger.close()


def write_outcome(outcome: BacktestOutcome, out: Path) -> Path:
    """The HTML report and its charts, in ``out``."""
    request = outcome.request
    title = (
        f"openbell backtest {request.start} to {request.end}, entry {request.entry}, "
        f"data {request.data}"
    )
    notes = [n for n in (outcome.synthetic_note,) if n]
    return write_report(
        out,
        title,
        outcome.result.trades,
        outcome.summary,
        float(request.equity),
        outcome.result.bars,
        notes,
    )
