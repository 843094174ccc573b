"""The Reports page: one report's tables, notes and charts (PNG, inline) for some days."""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from openbell.bars.source import BarSource
from openbell.ports import Calendar, Ledger
from openbell.reports import sections

REPORTS = ("pnl", "fills", "targets", "picks", "health")
"""The reports the page offers; fills, targets and health cover the last day of a range."""


@dataclass
class Shown:
    tables: list[sections.Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)
    """(name, ``data:`` URI) of each chart."""


def report_page(
    report: str,
    ledger: Ledger,
    calendar: Calendar,
    bars: Callable[[], BarSource],
    days: Sequence[date],
) -> Shown:
    """``report`` over ``days`` (trading days, in order); ``bars`` is asked for only by the
    reports that measure prices (targets and picks)."""
    if not days:
        return Shown(notes=["no trading day in that range"])
    from openbell.reports import charts  # noqa: PLC0415 - matplotlib only for this page

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        drawn: list[Path] = []
        shown = Shown()
        if report == "pnl":
            pnl = sections.pnl_tables(ledger, days)
            shown.tables = pnl.sections
            closed = [t.position for t in pnl.report.trades]
            if closed:
                drawn.append(charts.realized_pnl_curve(closed, folder / "pnl.png"))
        elif report == "fills":
            shown.tables = sections.fills_tables(ledger, days[-1])
        elif report == "health":
            found = sections.health_tables(ledger, days[-1], calendar)
            shown.tables, shown.notes = found.sections, [found.report.summary()]
        elif report == "picks":
            shown.tables = sections.pick_tables(ledger, bars(), calendar, days)
        else:
            drawn = _targets(shown, ledger, bars(), calendar, days[-1], folder)
        shown.images = [(image.name, _data_uri(image)) for image in drawn]
    return shown


def _targets(
    shown: Shown, ledger: Ledger, bars: BarSource, calendar: Calendar, day: date, folder: Path
) -> list[Path]:
    from openbell.reports import charts  # noqa: PLC0415 - matplotlib only for this page

    found = sections.target_tables(ledger, bars, calendar, day)
    shown.tables, shown.notes = found.sections, [found.summary.line()]
    drawn = []
    if found.rows:
        drawn.append(charts.target_distance_chart(found.rows, folder / "targets.png"))
    return drawn + charts.trade_charts(found.entered, bars, day, folder)


def _data_uri(image: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(image.read_bytes()).decode("ascii")
