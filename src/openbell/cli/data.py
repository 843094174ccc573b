"""``openbell data``: import bar files into the local store, and list what it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openbell.adapters.bars.importers.dispatch import import_path
from openbell.adapters.bars.store import BarStore
from openbell.cli.common import ConfigOption, Format, FormatOption, console, render, reported
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
