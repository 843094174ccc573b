"""``openbell data``: import bar files into the local store, and list what it holds."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from openbell.adapters.bars.importers.dispatch import import_path
from openbell.adapters.bars.store import BarStore
from openbell.adapters.data.fetch import fetch_into_store
from openbell.cli.common import (
    EXIT_RETRY,
    ConfigOption,
    Format,
    FormatOption,
    console,
    parse_day,
    render,
    reported,
)
from openbell.domain.errors import RefusedInput
from openbell.runtime import compose

data_app = typer.Typer(no_args_is_help=True, help="Import and list market data (bars).")

INVENTORY_COLUMNS = (
    "symbol",
    "kind",
    "basis",
    "first_day",
    "last_day",
    "count",
    "synthetic",
    "source",
)


def _symbols(raw: str | None) -> list[str] | None:
    return None if raw is None else [s.strip().upper() for s in raw.split(",") if s.strip()]


@data_app.command("import")
def data_import(
    paths: Annotated[list[Path], typer.Argument(help="bar files or directories")],
    symbols: Annotated[str | None, typer.Option(help="only these tickers, comma separated")] = None,
    config: ConfigOption = None,
) -> None:
    """Import bar files (Lean zips, NinjaTrader, react-stockcharts, daily CSVs) into the store."""
    with reported():
        out = console()
        settings = compose.settings_from_environment(config).settings
        store = BarStore(settings.data.store)
        for path in paths:
            report = import_path(path, store, symbols=_symbols(symbols))
            formats = ", ".join(f"{k} {v}" for k, v in report.files_by_format.items()) or "none"
            out.print(
                f"{path}: {report.files_imported} files ({formats}); "
                f"{report.symbol_days_written} symbol-days, {report.daily_rows_written} "
                f"daily rows",
                highlight=False,
            )
            for skipped in report.skipped:
                out.print(f"  skipped {skipped.path}: {skipped.reason}", highlight=False)
            for failed in report.failed:
                out.print(f"  [red]failed[/red] {failed.path}: {failed.reason}", highlight=False)
            for note in report.notes:
                out.print(f"  note: {note}", highlight=False)
        out.print(f"store: {settings.data.store}")


class FetchSource(StrEnum):
    massive = "massive"
    fmp = "fmp"
    ib = "ib"


@data_app.command("fetch")
def data_fetch(
    source: Annotated[FetchSource, typer.Option("--source", help="massive, fmp or ib")],
    symbols: Annotated[str, typer.Option(help="tickers, comma separated")],
    start: Annotated[str, typer.Option("--from", help="first day YYYY-MM-DD")],
    end: Annotated[str, typer.Option("--to", help="last day YYYY-MM-DD")],
    daily_only: Annotated[
        bool, typer.Option("--daily-only", help="daily bars only, no minute bars")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Fill the bar store from a provider: daily bars and each session's minute bars.

    Days the store already holds are skipped, so a rerun only fetches what is missing;
    answers about past days are also cached on disk (scanner.cache_dir).
    """
    with reported():
        out = console()
        settings = compose.settings_from_environment(config).settings
        names = _symbols(symbols) or []
        if not names:
            raise RefusedInput(f"--symbols: expected at least one ticker, found {symbols!r}")
        first, last = _day(start), _day(end)
        calendar = compose.build_calendar()
        store = BarStore(settings.data.store)
        from openbell.runtime.providers import bar_fetcher  # noqa: PLC0415 - HTTP or IB only here

        clock = compose.build_clock()
        with bar_fetcher(settings, source.value, clock) as fetcher:
            report = fetch_into_store(
                fetcher, store, calendar, names, first, last, minutes=not daily_only, clock=clock
            )
        out.print(
            f"{source.value}: {report.daily_rows} daily rows, {report.days_written} minute days "
            f"written, {report.days_already_stored} already stored",
            highlight=False,
        )
        for missing in report.days_without_bars:
            out.print(f"  no bars: {missing}", highlight=False)
        for failure in report.failures:
            out.print(f"  [red]failed[/red] {failure}", highlight=False)
        for note in report.notes:
            out.print(f"  note: {note}", highlight=False)
        out.print(f"store: {settings.data.store}")
        if report.failures:
            raise typer.Exit(EXIT_RETRY)


def _day(raw: str) -> date:
    found = parse_day(raw)
    assert found is not None  # parse_day returns None only for None
    return found


@data_app.command("list")
def data_list(config: ConfigOption = None, fmt: FormatOption = Format.table) -> None:
    """List every series in the store: symbol, kind, basis, days and source."""
    with reported():
        out = console()
        settings = compose.settings_from_environment(config).settings
        rows = [
            {
                "symbol": r.symbol,
                "kind": r.kind,
                "basis": str(r.basis),
                "first_day": r.first_day.isoformat(),
                "last_day": r.last_day.isoformat(),
                "count": str(r.count),
                "synthetic": "yes" if r.synthetic else "no",
                "source": r.source,
            }
            for r in BarStore(settings.data.store).inventory()
        ]
        render(out, rows, INVENTORY_COLUMNS, fmt, f"bars in {settings.data.store}")
