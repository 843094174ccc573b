"""``openbell report``: explain days from the ledger (pick quality first; more in issue 7)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.bars.source import BarSource
from openbell.cli.common import (
    ConfigOption,
    Format,
    FormatOption,
    console,
    parse_day,
    render,
    render_sections,
    reported,
    trading_day_of,
)
from openbell.config import Settings
from openbell.domain.errors import InvalidValue, RefusedInput
from openbell.domain.values import Symbol
from openbell.ports import Calendar, Clock
from openbell.reports import health, history, pnl, sections, targets
from openbell.reports.common import trading_days
from openbell.reports.sections import Section
from openbell.runtime import compose
from openbell.runtime.scanning import bars_data

report_app = typer.Typer(no_args_is_help=True, help="Reports on past days from the ledger.")

DayOption = Annotated[str | None, typer.Option("--day", help="one trading day YYYY-MM-DD")]


def _days(calendar: Calendar, day: date | None, start: date | None, end: date | None) -> list[date]:
    if day is not None and (start or end):
        raise RefusedInput("expected --day or --from/--to, found both")
    if day is not None:
        return [day]
    if start is None or end is None:
        raise RefusedInput("expected --day D, or both --from and --to")
    if end < start:
        raise RefusedInput(f"expected --to on or after --from ({start}), found {end}")
    return trading_days(calendar, start, end)


def _range(
    calendar: Calendar,
    clock: Clock,
    day: str | None,
    start: str | None,
    end: str | None,
) -> list[date]:
    """The trading days asked for: --day, --from/--to, or today's (the last) session."""
    chosen = parse_day(day)
    if chosen is None and start is None and end is None:
        chosen = trading_day_of(calendar, clock)
    return _days(calendar, chosen, parse_day(start), parse_day(end))


def _ledger(settings: Settings, clock: Clock, ledger_file: Path | None) -> SqliteLedger:
    if ledger_file is not None and not ledger_file.is_file():
        raise RefusedInput(f"--ledger: expected a ledger file, found nothing at {ledger_file}")
    return compose.open_ledger(settings, clock, process="report", path=ledger_file)


FromOption = Annotated[str | None, typer.Option("--from", help="first day YYYY-MM-DD")]
ToOption = Annotated[str | None, typer.Option("--to", help="last day YYYY-MM-DD")]
LedgerOption = Annotated[
    Path | None,
    typer.Option("--ledger", help="another ledger, e.g. a backtest's (default: ledger.path)"),
]


@report_app.command("pnl")
def report_pnl(
    day: DayOption = None,
    start: FromOption = None,
    end: ToOption = None,
    ledger_file: LedgerOption = None,
    charts: ChartsOption = None,
    fmt: FormatOption = Format.table,
    config: ConfigOption = None,
) -> None:
    """Completed trades, winners and losers, win rate, best and worst, commissions; with a
    range, daily and monthly totals too (a trade counts on the day it closed)."""
    with reported():
        settings = compose.settings_from_environment(config).settings
        calendar, clock = compose.build_calendar(), compose.build_clock()
        days = _range(calendar, clock, day, start, end)
        ledger = _ledger(settings, clock, ledger_file)
        try:
            tables = sections.pnl_tables(ledger, days)
        finally:
            ledger.close()
        render_sections(console(), tables.sections, fmt)
        if charts is not None:
            page = _pnl_charts(charts, days, tables.report, tables.sections)
            console(stderr=True).print(f"charts: {page}", highlight=False)


def _pnl_charts(
    folder: Path, days: Sequence[date], report: pnl.PnlReport, tables: Sequence[Section]
) -> Path:
    from openbell.reports import charts  # noqa: PLC0415 - matplotlib only when asked

    images = folder / "charts"
    images.mkdir(parents=True, exist_ok=True)
    span = f"{days[0]}_{days[-1]}" if days else "none"
    curve = (
        [charts.realized_pnl_curve([t.position for t in report.trades], images / f"pnl-{span}.png")]
        if report.trades
        else []
    )
    parts = [charts.Section(title, rows, columns) for title, rows, columns in tables]
    parts.insert(0, charts.Section("Realized P&L", images=curve))
    return charts.html_page(folder / f"pnl-{span}.html", f"P&L {span}", parts)


@report_app.command("fills")
def report_fills(
    day: DayOption = None,
    ledger_file: LedgerOption = None,
    fmt: FormatOption = Format.table,
    config: ConfigOption = None,
) -> None:
    """Every execution of the day by symbol (time, side, price, shares, commission, order
    role and ref), matched into round trips."""
    with reported():
        settings = compose.settings_from_environment(config).settings
        calendar, clock = compose.build_calendar(), compose.build_clock()
        [chosen] = _range(calendar, clock, day, None, None)
        ledger = _ledger(settings, clock, ledger_file)
        try:
            tables = sections.fills_tables(ledger, chosen)
        finally:
            ledger.close()
        render_sections(console(), tables, fmt)


@report_app.command("history")
def report_history(
    symbol: Annotated[str, typer.Argument(help="the ticker, e.g. VMD")],
    day: DayOption = None,
    start: FromOption = None,
    end: ToOption = None,
    ledger_file: LedgerOption = None,
    fmt: FormatOption = Format.table,
    config: ConfigOption = None,
) -> None:
    """Everything openbell did and decided about one symbol, in time order: scans, scores,
    LLM calls, approvals, orders, fills, position states and exits."""
    with reported():
        settings = compose.settings_from_environment(config).settings
        calendar, clock = compose.build_calendar(), compose.build_clock()
        try:
            wanted = Symbol(symbol.strip().upper())
        except InvalidValue as exc:
            raise RefusedInput(f"SYMBOL: expected {exc.expected}, found {symbol!r}") from None
        ranged = day is not None or start is not None or end is not None
        days = _range(calendar, clock, day, start, end) if ranged else None
        ledger = _ledger(settings, clock, ledger_file)
        try:
            rows = history.history_rows(history.symbol_history(ledger, wanted, days))
        finally:
            ledger.close()
        render(console(), rows, history.COLUMNS, fmt, f"history of {wanted}")


ChartsOption = Annotated[
    Path | None,
    typer.Option("--charts", help="also write PNG charts and an HTML page in this folder"),
]
DataOption = Annotated[
    str | None, typer.Option(help="bars for the prices: demo or store (default: as the mode)")
]


@report_app.command("targets")
def report_targets(
    day: DayOption = None,
    data: DataOption = None,
    ledger_file: LedgerOption = None,
    charts: ChartsOption = None,
    fmt: FormatOption = Format.table,
    config: ConfigOption = None,
) -> None:
    """Each profit target: placed, filled or cancelled (at the flatten, by the stop), how
    far the price got toward it and the distance left: why targets were not hit."""
    with reported():
        out = console()
        settings = compose.settings_from_environment(config).settings
        calendar, clock = compose.build_calendar(), compose.build_clock()
        [chosen] = _range(calendar, clock, day, None, None)
        from openbell.backtest.sources import open_source  # noqa: PLC0415 - bars only here

        bars, _ = open_source(data or bars_data(settings), settings, calendar)
        ledger = _ledger(settings, clock, ledger_file)
        try:
            found = sections.target_tables(ledger, bars, calendar, chosen)
        finally:
            ledger.close()
        render_sections(out, found.sections, fmt)
        if fmt is Format.table:
            out.print(found.summary.line(), highlight=False)
        if charts is not None:
            page = _target_charts(charts, chosen, found, bars)
            console(stderr=True).print(f"charts: {page}", highlight=False)


def _target_charts(folder: Path, day: date, found: sections.TargetTables, bars: BarSource) -> Path:
    from openbell.reports import charts  # noqa: PLC0415 - matplotlib only when asked

    images = folder / "charts"
    images.mkdir(parents=True, exist_ok=True)
    distance = charts.target_distance_chart(found.rows, images / f"targets-{day}.png")
    trades = charts.trade_charts(found.entered, bars, day, images, prefix=f"{day}-")
    return charts.html_page(
        folder / f"targets-{day}.html",
        f"Profit targets of {day}",
        [
            charts.Section(
                "Targets", found.sections[0][1], targets.COLUMNS, [distance], [found.summary.line()]
            ),
            charts.Section("Trades", images=trades),
        ],
    )


@report_app.command("health")
def report_health(
    day: DayOption = None,
    ledger_file: LedgerOption = None,
    fmt: FormatOption = Format.table,
    config: ConfigOption = None,
) -> None:
    """Processes, heartbeats, restarts and why, errors, reconnects and code versions over a
    day, with the day's timeline."""
    with reported():
        out = console()
        settings = compose.settings_from_environment(config).settings
        calendar, clock = compose.build_calendar(), compose.build_clock()
        [chosen] = _range(calendar, clock, day, None, None)
        ledger = _ledger(settings, clock, ledger_file)
        try:
            found = sections.health_tables(ledger, chosen, calendar)
        finally:
            ledger.close()
        render_sections(out, found.sections, fmt)
        if fmt is Format.table:
            out.print(found.report.summary(), highlight=False)
            for note in health.NOT_RECORDED:
                out.print(f"note: {note}", highlight=False)


@report_app.command("picks")
def report_picks(
    day: DayOption = None,
    start: FromOption = None,
    end: ToOption = None,
    data: DataOption = None,
    ledger_file: LedgerOption = None,
    fmt: FormatOption = Format.table,
    config: ConfigOption = None,
) -> None:
    """Each pick's move from the open, our entry's potential (what entering late missed),
    whether the target was reachable, and accuracy per scorer (the brief's measure)."""
    with reported():
        out = console()
        settings = compose.settings_from_environment(config).settings
        calendar = compose.build_calendar()
        clock = compose.build_clock()
        days = _range(calendar, clock, day, start, end)
        from openbell.backtest.sources import open_source  # noqa: PLC0415 - bars only here

        bars, _ = open_source(data or bars_data(settings), settings, calendar)
        ledger = _ledger(settings, clock, ledger_file)
        try:
            (_, rows, columns), (_, accuracy, accuracy_columns) = sections.pick_tables(
                ledger, bars, calendar, days
            )
        finally:
            ledger.close()
        if fmt is Format.json:
            out.print_json(json.dumps({"picks": list(rows), "accuracy": list(accuracy)}))
            return
        span = f"{days[0]}" if len(days) == 1 else f"{days[0]} to {days[-1]}" if days else "-"
        render(out, rows, columns, fmt, f"picks of {span}")
        if fmt is Format.table:
            render(out, accuracy, accuracy_columns, fmt, "accuracy by scorer")


report_app.command("movement", help="The same as 'picks': open -> high against our entry.")(
    report_picks
)
