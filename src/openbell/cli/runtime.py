"""``openbell run`` (the supervisor), the two bots, and ``openbell status``."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console

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
from openbell.config import Settings
from openbell.domain.errors import RefusedInput
from openbell.domain.sessions import Session
from openbell.reports.approvals import COLUMNS as APPROVAL_COLUMNS
from openbell.reports.approvals import approval_rows
from openbell.reports.day import (
    HEALTH_COLUMNS,
    ORDER_COLUMNS,
    POSITION_COLUMNS,
    DayReport,
    day_report,
    health_rows,
    restarts_by_process,
)
from openbell.reports.positions import SUMMARY_COLUMNS, position_row
from openbell.reports.today import WORKING_COLUMNS, working_row
from openbell.runtime import compose

ModeOption = Annotated[
    str | None, typer.Option("--mode", help="sim, paper or live (default: broker.mode)")
]


def run(
    mode: ModeOption = None,
    day: Annotated[
        str | None, typer.Option(help="sim: the first session, YYYY-MM-DD (default: next)")
    ] = None,
    days: Annotated[
        int | None, typer.Option(min=1, max=10_000, help="stop after this many sessions")
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            max=10_000,
            help="sim: sim seconds per wall second while the bots are awake "
            "(asleep: sim.asleep_speed)",
        ),
    ] = None,
    live: Annotated[bool, typer.Option("--live", help="confirm live trading (real money)")] = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="sim: continue the last run (logs/sim-run.json) on its clock after its "
            "supervisor died",
        ),
    ] = False,
    confirm_account: Annotated[
        str | None,
        typer.Option(help="live: the account id typed back (asked for when omitted)"),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Supervise the bots on the exchange calendar (sim: with the simulated gateway)."""
    from openbell.runtime.run import RunOptions, supervise  # noqa: PLC0415 - heavy

    with reported():
        loaded = compose.settings_from_environment(config)
        chosen = mode or loaded.settings.broker.mode
        if chosen not in ("sim", "paper", "live"):
            raise RefusedInput(f"--mode: expected sim, paper or live, found {chosen!r}")
        typed = confirm_account or ""
        if chosen == "live" and live and not typed:
            typed = _ask_account()
        options = RunOptions(
            mode=chosen,  # type: ignore[arg-type]  # checked just above
            config_file=config,
            day=parse_day(day),
            days=days,
            speed=speed,
            live=live,
            typed_account=typed,
            resume=resume,
        )
        out = console()
        plan = supervise(loaded, options, lambda text: out.print(text, highlight=False))
        if plan.days is not None:
            _report_run(out, loaded.settings, plan.first, plan.days)


def _ask_account() -> str:
    if not sys.stdin.isatty():
        raise RefusedInput("live mode: type the account id back (or pass --confirm-account)")
    return str(typer.prompt("Live trading with real money. Type the IB account id to confirm"))


def _report_run(out: Console, settings: Settings, first: Session, days: int) -> None:
    """The report of each session the run covered."""
    calendar = compose.build_calendar()
    ledger = compose.open_ledger(settings, compose.build_clock(), process="cli")
    try:
        session = first
        for i in range(days):
            if i:
                session = calendar.next_session(session.trading_day)
            print_day(out, day_report(ledger, session.trading_day), Format.table)
    finally:
        ledger.close()


def print_day(out: Console, report: DayReport, fmt: Format) -> None:
    render(out, report.positions, POSITION_COLUMNS, fmt, f"positions of {report.trading_day}")
    render(out, report.orders, ORDER_COLUMNS, fmt, "orders by role and status")
    render(out, report.health, HEALTH_COLUMNS, fmt, "processes")
    out.print(report.summary(), highlight=False)


def day_trader(config: ConfigOption = None) -> None:
    """Run the day-trader (normally started by ``openbell run``)."""
    from openbell.runtime.roles import run_bot  # noqa: PLC0415 - heavy

    with reported():
        raise typer.Exit(run_bot("day_trader", config))


def exit_manager(config: ConfigOption = None) -> None:
    """Run the exit-manager (normally started by ``openbell run``)."""
    from openbell.runtime.roles import run_bot  # noqa: PLC0415 - heavy

    with reported():
        raise typer.Exit(run_bot("exit_manager", config))


def notifier(config: ConfigOption = None) -> None:
    """Send notifications of the ledger's events (normally started by ``openbell run``
    when ``notifications.urls`` is set)."""
    from openbell.runtime.notifier import run_notifier_process  # noqa: PLC0415 - apprise

    with reported():
        raise typer.Exit(run_notifier_process(config))


def status(
    config: ConfigOption = None,
    fmt: FormatOption = Format.table,
    day: Annotated[str | None, typer.Option(help="trading day YYYY-MM-DD (default: today)")] = None,
) -> None:
    """Processes, heartbeats, code versions, positions, working orders and today's P&L."""
    with reported():
        out = console()
        loaded = compose.settings_from_environment(config)
        settings = loaded.settings
        clock = compose.build_clock()
        ledger = compose.open_ledger(settings, clock, process="cli")
        try:
            trading_day = parse_day(day) or trading_day_of(compose.build_calendar(), clock)
            out.print(f"mode {settings.broker.mode}, ledger {settings.ledger.path}")
            beats = health_rows(ledger.heartbeats(), restarts_by_process(ledger))
            render(out, beats, HEALTH_COLUMNS, fmt, "processes")
            active = [position_row(p) for p in ledger.active_positions()]
            render(out, active, SUMMARY_COLUMNS, fmt, "active positions")
            working = [working_row(o) for o in ledger.orders(live_only=True)]
            render(out, working, WORKING_COLUMNS, fmt, "working orders")
            waiting = ledger.approvals(pending_only=True)
            if waiting:
                valid = timedelta(minutes=settings.schedule.approval_valid_min)
                rows = approval_rows(ledger, waiting, valid)
                render(out, rows, APPROVAL_COLUMNS, fmt, "rescan requests waiting for approval")
            report = day_report(ledger, trading_day)
            out.print(report.summary(), highlight=False)
        finally:
            ledger.close()


def dashboard(
    host: Annotated[str | None, typer.Option(help="listen here (default: dashboard.host)")] = None,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="0: any free port (default: dashboard.port)"),
    ] = None,
    prices: Annotated[
        bool, typer.Option(help="live prices from IB (the dashboard's read-only client id)")
    ] = True,
    config: ConfigOption = None,
) -> None:
    """Serve the web dashboard: today, approvals, reports, history and the kill switch."""
    from openbell.web.server import run_dashboard  # noqa: PLC0415 - FastAPI only here

    with reported():
        out = console()
        code = run_dashboard(
            config, host, port, prices=prices, announce=lambda s: out.print(s, highlight=False)
        )
        raise typer.Exit(code)
