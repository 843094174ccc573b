"""Each report as the tables it shows, the same for ``openbell report`` and the dashboard.

A report is computed once by its module (``pnl``, ``fills``, ``targets``, ``health``,
``picks``); this module lays it out as titled tables, and keeps what its charts draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from openbell.bars.source import BarSource
from openbell.domain.positions import Position
from openbell.ports import Calendar, Ledger
from openbell.reports import fills, health, pnl, targets
from openbell.reports.picks import ACCURACY_COLUMNS, PICK_COLUMNS, accuracy_rows, pick_row, picks_of

Section = tuple[str, Sequence[dict[str, str]], Sequence[str]]
"""One table of a report: its title, its rows and its columns."""


@dataclass(frozen=True)
class PnlTables:
    report: pnl.PnlReport
    sections: list[Section]


def pnl_tables(ledger: Ledger, days: Sequence[date]) -> PnlTables:
    """Trades and the summary; with more than one day, daily and monthly totals too."""
    report = pnl.pnl_report(ledger, days)
    sections: list[Section] = [
        ("trades", pnl.trade_rows(report), pnl.TRADE_COLUMNS),
        ("summary", pnl.summary_rows(report), pnl.SUMMARY_COLUMNS),
    ]
    if len(days) > 1:
        sections.append(("daily", pnl.daily_rows(report), pnl.DAILY_COLUMNS))
        sections.append(("monthly", pnl.monthly_rows(report), pnl.MONTHLY_COLUMNS))
    return PnlTables(report, sections)


def fills_tables(ledger: Ledger, day: date) -> list[Section]:
    """Every execution, the round trips and the per-symbol totals of ``day``."""
    report = fills.fills_report(ledger, day)
    return [
        ("fills", fills.fill_rows(report), fills.FILL_COLUMNS),
        ("round trips", fills.round_trip_rows(report), fills.ROUND_TRIP_COLUMNS),
        ("by symbol", fills.symbol_rows(report), fills.SYMBOL_COLUMNS),
    ]


@dataclass(frozen=True)
class TargetTables:
    rows: list[targets.TargetRow]
    summary: targets.TargetSummary
    sections: list[Section]
    entered: list[Position]
    """The day's positions that were entered: one intraday chart each."""


def target_tables(ledger: Ledger, bars: BarSource, calendar: Calendar, day: date) -> TargetTables:
    """Each profit target of ``day`` and what became of it, with the summary."""
    rows = targets.targets_report(ledger, bars, calendar, day)
    entered = [p for p in ledger.positions_of_day(day) if p.entry_quantity]
    summary = targets.target_summary(rows)
    sections: list[Section] = [
        ("targets", [targets.target_row(r) for r in rows], targets.COLUMNS),
        ("summary", summary.rows(), targets.SUMMARY_COLUMNS),
    ]
    return TargetTables(rows, summary, sections, entered)


@dataclass(frozen=True)
class HealthTables:
    report: health.HealthReport
    sections: list[Section]


def health_tables(ledger: Ledger, day: date, calendar: Calendar) -> HealthTables:
    """Each process's health over ``day``, and the day's timeline."""
    report = health.health_report(ledger, day, calendar)
    sections: list[Section] = [
        ("processes", report.rows(), health.PROCESS_COLUMNS),
        ("timeline", report.timeline, health.TIMELINE_COLUMNS),
    ]
    return HealthTables(report, sections)


def pick_tables(
    ledger: Ledger, bars: BarSource, calendar: Calendar, days: Sequence[date]
) -> list[Section]:
    """Each pick's move from the open against our entry, and accuracy per scorer."""
    picks = picks_of(ledger, bars, calendar, days)
    return [
        ("picks", [pick_row(p) for p in picks], PICK_COLUMNS),
        ("accuracy", accuracy_rows(picks), ACCURACY_COLUMNS),
    ]
