"""``openbell backtest``: replay the strategy on stored or bundled bars, and sweep a grid."""

from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from openbell.backtest.app import BacktestRequest, run_request, write_outcome
from openbell.backtest.sweep import SWEEP_COLUMNS, grid, run_sweep
from openbell.cli.common import ConfigOption, Format, console, parse_day, render, reported
from openbell.domain.errors import InvalidValue
from openbell.reports.backtest import TRADE_COLUMNS, summary_json, summary_rows, trade_row
from openbell.reports.charts import sweep_heatmap
from openbell.reports.picks import ACCURACY_COLUMNS, accuracy_rows
from openbell.runtime import compose

backtest_app = typer.Typer(help="Replay the strategy over bars with the live services.")

FromOption = Annotated[str, typer.Option("--from", help="first day, YYYY-MM-DD")]
ToOption = Annotated[str, typer.Option("--to", help="last day, YYYY-MM-DD")]
DataOption = Annotated[str, typer.Option(help="'demo' (bundled) or 'store' (openbell data)")]
OutOption = Annotated[Path | None, typer.Option("--out", help="report folder")]


def _day(raw: str, name: str) -> date:
    day = parse_day(raw)
    if day is None:  # pragma: no cover - typer requires the option
        raise InvalidValue(name, "a date YYYY-MM-DD", raw)
    return day


def _pct(raw: str | None, name: str) -> Decimal | None:
    if raw is None:
        return None
    expected = "a positive percentage such as 2.6 (a stop is its distance below the entry)"
    try:
        value = Decimal(raw.strip().rstrip("%").removeprefix("+"))
    except InvalidOperation:
        raise InvalidValue(name, expected, raw) from None
    if not value.is_finite() or value <= 0:
        raise InvalidValue(name, expected, raw)
    return value


def _pcts(raw: str, name: str) -> list[Decimal]:
    values = [_pct(part, name) for part in raw.split(",") if part.strip()]
    if not values:
        raise InvalidValue(name, "a comma-separated list of percentages", raw)
    return [v for v in values if v is not None]


@backtest_app.callback(invoke_without_command=True)
def backtest(
    ctx: typer.Context,
    start: FromOption = "2016-04-15",
    end: ToOption = "2016-05-13",
    symbols: Annotated[str | None, typer.Option(help="comma-separated tickers")] = None,
    entry: Annotated[str, typer.Option(help="'moo' or 'late:<minutes>m'")] = "moo",
    target: Annotated[str | None, typer.Option(help="target %% for every tier, e.g. 2.6")] = None,
    stop: Annotated[str | None, typer.Option(help="stop distance %%, e.g. 0.9")] = None,
    data: DataOption = "demo",
    via_gateway: Annotated[
        bool,
        typer.Option(
            help="send every order through the IB adapter and ib_async to the simulated gateway"
        ),
    ] = False,
    scorer: Annotated[
        str | None,
        typer.Option(help="rules or llm (default: scoring.scorer); llm calls the providers"),
    ] = None,
    out_dir: OutOption = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table or json")] = Format.table,
    config: ConfigOption = None,
) -> None:
    """Run one backtest and report its trades, summary, pick quality, charts and HTML page.

    The run's ledger is kept in the report folder: ``openbell report picks --ledger`` and
    the LLM's journal can be read from it."""
    if ctx.invoked_subcommand is not None:
        return
    with reported():
        out = console()
        settings = compose.settings_from_environment(config).settings
        request = BacktestRequest(
            start=_day(start, "--from"),
            end=_day(end, "--to"),
            symbols=tuple(s.strip().upper() for s in symbols.split(",")) if symbols else None,
            entry=entry,
            target_pct=_pct(target, "--target"),
            stop_loss_pct=_pct(stop, "--stop"),
            data=data,
            via_gateway=via_gateway,
            scorer=scorer,
        )
        calendar = compose.build_calendar()
        folder = out_dir or Path("var/backtests") / f"{request.start}_{request.end}_{entry}"
        with Progress(console=console(stderr=True), transient=True) as progress:
            task = progress.add_task("replaying sessions", total=None)
            outcome = run_request(
                request,
                settings,
                calendar,
                on_day=lambda _day: progress.advance(task),
                ledger_path=folder / "ledger.sqlite",
            )
        report = write_outcome(outcome, folder)
        accuracy = accuracy_rows(outcome.picks)
        trades = [trade_row(t) for t in outcome.result.trades]
        if fmt is Format.json:
            out.print_json(
                json.dumps(
                    {
                        "summary": summary_json(outcome.summary),
                        "trades": trades,
                        "report": str(report),
                        "ledger": str(folder / "ledger.sqlite"),
                        "pick_accuracy": accuracy,
                        "note": outcome.synthetic_note,
                    }
                )
            )
            return
        render(out, trades, TRADE_COLUMNS, Format.table, "trades")
        render(out, summary_rows(outcome.summary), ("metric", "value"), Format.table, "summary")
        render(out, accuracy, ACCURACY_COLUMNS, Format.table, "pick quality by scorer")
        if outcome.synthetic_note:
            out.print(outcome.synthetic_note, highlight=False)
        if via_gateway:
            out.print(
                "every order went through the IB adapter and ib_async, over loopback, to the "
                "simulated IB gateway (server version 178)"
            )
        out.print(f"{outcome.result.sessions} sessions replayed; report: {report}")


@backtest_app.command("sweep")
def sweep(
    start: FromOption = "2016-04-15",
    end: ToOption = "2016-05-13",
    targets: Annotated[str, typer.Option(help="target %% values")] = "1.8,2.6,3.5",
    stops: Annotated[str, typer.Option(help="stop %% values")] = "0.5,0.9,1.5",
    entries: Annotated[str, typer.Option(help="entry timings")] = "moo,late:60m",
    data: DataOption = "demo",
    workers: Annotated[int | None, typer.Option(help="processes (default: all cores)")] = None,
    out_dir: OutOption = None,
    config: ConfigOption = None,
) -> None:
    """Run a grid of backtests (targets x stops x entry timings) in parallel."""
    with reported():
        out = console()
        settings = compose.settings_from_environment(config).settings
        base = BacktestRequest(  # the rules: a grid would ask an LLM once per point and day
            start=_day(start, "--from"), end=_day(end, "--to"), data=data, scorer="rules"
        )
        points = grid(
            [e.strip() for e in entries.split(",") if e.strip()],
            _pcts(targets, "--targets"),
            _pcts(stops, "--stops"),
        )
        with Progress(console=console(stderr=True), transient=True) as progress:
            task = progress.add_task("backtests", total=len(points))
            rows = run_sweep(
                base, points, settings, workers, on_done=lambda: progress.advance(task)
            )
        folder = out_dir or Path("var/backtests") / f"sweep_{base.start}_{base.end}"
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "sweep.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(SWEEP_COLUMNS))
            writer.writeheader()
            writer.writerows(rows)
        heatmap = sweep_heatmap(rows, folder / "heatmap.png")
        render(out, rows, SWEEP_COLUMNS, Format.table, "sweep")
        out.print(f"results: {folder / 'sweep.csv'}; heatmap: {heatmap}")
