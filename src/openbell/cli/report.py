"""``openbell report``: explain days from the ledger (pick quality first; more in issue 7)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from openbell.cli.common import (
    ConfigOption,
    Format,
    FormatOption,
    console,
    parse_day,
    render,
    reported,
    trading_day_of,
)
from openbell.domain.errors import RefusedInput
from openbell.ports import Calendar
from openbell.reports.picks import ACCURACY_COLUMNS, PICK_COLUMNS, accuracy_rows, pick_row, picks_of
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
    days, current = [], start
    while current <= end:
        if calendar.is_trading_day(current):
            days.append(current)
        current = date.fromordinal(current.toordinal() + 1)
    return days


@report_app.command("picks")
def report_picks(
    day: DayOption = None,
    start: Annotated[str | None, typer.Option("--from", help="first day YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option("--to", help="last day YYYY-MM-DD")] = None,
    data: Annotated[
        str | None, typer.Option(help="bars for the open and high: demo or store")
    ] = None,
    ledger_file: Annotated[
        Path | None,
        typer.Option("--ledger", help="another ledger, e.g. a backtest's (default: ledger.path)"),
    ] = None,
    fmt: FormatOption = Format.table,
    config: ConfigOption = None,
) -> None:
    """Each pick's move from the open, our entry's potential, whether the target was
    reachable, and accuracy per scorer (the brief's measure of the picks)."""
    with reported():
        out = console()
        settings = compose.settings_from_environment(config).settings
        calendar = compose.build_calendar()
        clock = compose.build_clock()
        chosen = parse_day(day)
        if chosen is None and start is None and end is None:
            chosen = trading_day_of(calendar, clock)
        days = _days(calendar, chosen, parse_day(start), parse_day(end))
        from openbell.backtest.sources import open_source  # noqa: PLC0415 - bars only here

        bars, _ = open_source(data or bars_data(settings), settings, calendar)
        if ledger_file is not None and not ledger_file.is_file():
            raise RefusedInput(f"--ledger: expected a ledger file, found nothing at {ledger_file}")
        ledger = compose.open_ledger(settings, clock, process="report", path=ledger_file)
        try:
            picks = picks_of(ledger, bars, calendar, days)
        finally:
            ledger.close()
        rows = [pick_row(p) for p in picks]
        accuracy = accuracy_rows(picks)
        if fmt is Format.json:
            out.print_json(json.dumps({"picks": rows, "accuracy": accuracy}))
            return
        span = f"{days[0]}" if len(days) == 1 else f"{days[0]} to {days[-1]}" if days else "-"
        render(out, rows, PICK_COLUMNS, fmt, f"picks of {span}")
        if fmt is Format.table:
            render(out, accuracy, ACCURACY_COLUMNS, fmt, "accuracy by scorer")
