"""The ``openbell`` command line. Every command renders rows computed elsewhere."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from openbell import __version__
from openbell.cli import operator, runtime
from openbell.cli.approvals import approvals_app
from openbell.cli.backtest import backtest_app
from openbell.cli.common import (
    ConfigOption,
    Format,
    FormatOption,
    YesOption,
    confirm,
    console,
    parse_day,
    render,
    reported,
    trading_day_of,
)
from openbell.cli.data import data_app
from openbell.cli.gateway import gateway
from openbell.cli.report import report_app
from openbell.cli.scan import scan_command
from openbell.config import load_settings, masked_view
from openbell.domain.records import LedgerEvent
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Price, Quantity, Symbol, to_decimal
from openbell.ports import Ledger
from openbell.reports.positions import COLUMNS, SUMMARY_COLUMNS, positions_view
from openbell.runtime import compose

app = typer.Typer(no_args_is_help=True, help="Opening-bell day trading at Interactive Brokers.")
config_app = typer.Typer(no_args_is_help=True, help="Show and check settings.")
positions_app = typer.Typer(help="List, adopt and release managed positions.")
ledger_app = typer.Typer(no_args_is_help=True, help="Inspect the ledger.")
app.add_typer(config_app, name="config")
app.add_typer(positions_app, name="positions")
app.add_typer(ledger_app, name="ledger")
app.add_typer(data_app, name="data")
app.add_typer(backtest_app, name="backtest")
app.add_typer(approvals_app, name="approvals")
app.command("scan")(scan_command)
app.add_typer(report_app, name="report")
app.command("gateway")(gateway)
app.command("run")(runtime.run)
app.command("status")(runtime.status)
app.command("day-trader")(runtime.day_trader)
app.command("exit-manager")(runtime.exit_manager)
app.command("notifier")(runtime.notifier)
app.command("dashboard")(runtime.dashboard)
app.command("liquidate")(operator.liquidate)
app.command("kill")(operator.kill)
app.command("resume")(operator.resume)

# --------------------------------------------------------------------------- top level


@app.command()
def version() -> None:
    """Print the openbell version."""
    console().print(__version__)


@app.command()
def rehearse(
    config: ConfigOption = None,
    day: Annotated[str | None, typer.Option(help="trading day YYYY-MM-DD (default: next)")] = None,
    workdir: Annotated[Path, typer.Option(help="where the run's files go")] = Path("var/run"),
) -> None:
    """Walk a scratch ledger through one day's decisions, without a broker or market data."""
    from openbell.runtime.rehearsal import rehearse  # noqa: PLC0415 - heavy, only for run

    with reported():
        out = console()
        loaded = compose.settings_from_environment(config)
        rehearse(loaded, compose.build_calendar(), parse_day(day), workdir, out)


@app.command()
def calendar(
    day: Annotated[str | None, typer.Argument(help="YYYY-MM-DD")] = None,
    config: ConfigOption = None,
) -> None:
    """Show a session and the day's schedule resolved from the settings."""
    with reported():
        out = console()
        settings = compose.settings_from_environment(config).settings
        cal = compose.build_calendar()
        wanted = parse_day(day)
        session = (
            cal.session(wanted) if wanted else cal.upcoming_session(compose.build_clock().now())
        )
        timeline = settings.day_plan().resolve(session)
        kind = "early close" if session.early_close else "regular session"
        rows = [
            {"step": step, "time_et": at.astimezone(NEW_YORK).strftime("%H:%M:%S")}
            for step, at in timeline.steps()
        ]
        render(out, rows, ("step", "time_et"), Format.table, f"{session.trading_day} ({kind})")


# --------------------------------------------------------------------------- config


@config_app.command("show")
def config_show(config: ConfigOption = None, fmt: FormatOption = Format.table) -> None:
    """Print the effective settings, secrets masked, and where each value came from."""
    with reported():
        out = console()
        loaded = compose.settings_from_environment(config)
        rows = [{"key": k, "value": v, "origin": o} for k, v, o in masked_view(loaded)]
        render(out, rows, ("key", "value", "origin"), fmt, "effective settings")


@config_app.command("check")
def config_check(
    path: Annotated[Path, typer.Argument(help="the settings file to validate")],
    with_env: Annotated[bool, typer.Option(help="also apply .env and the environment")] = False,
) -> None:
    """Validate a settings file; list every problem (key, expected, found)."""
    with reported():
        out = console()
        if with_env:
            compose.settings_from_environment(path)
        else:
            load_settings(path, environ={}, dotenv_file=None)
        out.print(f"[green]ok[/green]: {path} is valid", highlight=False)


# --------------------------------------------------------------------------- positions


@positions_app.callback(invoke_without_command=True)
def positions(
    ctx: typer.Context,
    config: ConfigOption = None,
    fmt: FormatOption = Format.table,
    day: Annotated[str | None, typer.Option(help="trading day for 'closed' (YYYY-MM-DD)")] = None,
) -> None:
    """List active positions and those closed on the trading day."""
    if ctx.invoked_subcommand is not None:
        return
    with reported():
        out = console()
        settings = compose.settings_from_environment(config).settings
        clock = compose.build_clock()
        ledger = compose.open_ledger(settings, clock, process="cli")
        trading_day = parse_day(day) or trading_day_of(compose.build_calendar(), clock)
        active, closed = positions_view(ledger, trading_day)
        if fmt is Format.table:
            render(out, active, SUMMARY_COLUMNS, fmt, "active positions")
            render(out, closed, SUMMARY_COLUMNS, fmt, f"closed on {trading_day}")
        else:
            rows = [{"view": "active", **r} for r in active] + [
                {"view": "closed", **r} for r in closed
            ]
            render(out, rows, ("view", *COLUMNS), fmt, "positions")


@positions_app.command("adopt")
def positions_adopt(
    symbol: Annotated[str, typer.Argument(help="ticker, e.g. AAPL")],
    qty: Annotated[int, typer.Option("--qty", help="shares to manage")],
    price: Annotated[str, typer.Option("--price", help="cost per share in USD")],
    reason: Annotated[str, typer.Option("--reason", help="why this comes under management")],
    yes: YesOption = False,
    config: ConfigOption = None,
) -> None:
    """Bring an outside position under management (logged; refused for protected symbols)."""
    with reported():
        out = console()
        ticker, shares = Symbol(symbol), Quantity(qty)
        cost = Price(to_decimal("price", price))
        settings = compose.settings_from_environment(config).settings
        clock = compose.build_clock()
        day = compose.build_calendar().upcoming_session(clock.now()).trading_day
        ledger = compose.open_ledger(settings, clock, process="cli")
        confirm(f"Adopt {shares} {ticker} @ {cost} into the ledger for {day}?", yes)
        adopted = ledger.adopt(ticker, shares, cost, reason, day)
        out.print(f"adopted {ticker}: position {adopted.position_id}, {shares} @ {cost}")


@positions_app.command("release")
def positions_release(
    symbol: Annotated[str, typer.Argument(help="ticker, e.g. AAPL")],
    reason: Annotated[str, typer.Option("--reason", help="why")] = "released by the user",
    yes: YesOption = False,
    config: ConfigOption = None,
) -> None:
    """Give a managed position back to the user; openbell will not touch it again."""
    with reported():
        out = console()
        ticker = Symbol(symbol)
        settings = compose.settings_from_environment(config).settings
        ledger = compose.open_ledger(settings, compose.build_clock(), process="cli")
        confirm(f"Release {ticker} from openbell's management?", yes)
        released = ledger.release(ticker, reason)
        out.print(
            f"released {ticker}: position {released.position_id}, {released.held_quantity} shares"
        )


# --------------------------------------------------------------------------- ledger

EVENT_COLUMNS = ("id", "at", "process", "kind", "symbol", "position", "message")


def _event_row(event: LedgerEvent) -> dict[str, str]:
    return {
        "id": str(event.event_id),
        "at": event.at.astimezone(NEW_YORK).isoformat(timespec="seconds"),
        "process": event.process,
        "kind": event.kind,
        "symbol": str(event.symbol or ""),
        "position": "" if event.position_id is None else str(event.position_id),
        "message": event.message,
    }


@ledger_app.command("events")
def ledger_events(
    last: Annotated[int, typer.Option("--last", "-n", min=1, max=10_000)] = 50,
    follow: Annotated[bool, typer.Option("--follow", help="keep printing new events")] = False,
    fmt: FormatOption = Format.table,
    config: ConfigOption = None,
) -> None:
    """Tail the append-only event log."""
    with reported():
        out = console()
        settings = compose.settings_from_environment(config).settings
        ledger = compose.open_ledger(settings, compose.build_clock(), process="cli")
        shown = list(ledger.last_events(last))
        render(out, [_event_row(e) for e in shown], EVENT_COLUMNS, fmt, "events")
        after = shown[-1].event_id if shown else 0
        if follow:
            _follow(ledger, after, out)


def _follow(ledger: Ledger, after: int, out: Console) -> None:
    """Print new events as they arrive, until interrupted (Ctrl-C ends it quietly)."""
    try:
        while True:
            time.sleep(1.0)
            for event in ledger.events(after_id=after, limit=1000):
                out.print(" | ".join(_event_row(event).values()), highlight=False)
                after = event.event_id
    except KeyboardInterrupt:
        return


def main() -> None:
    app()
