"""``openbell approvals list|approve|reject``: a person decides on each rescan entry."""

from __future__ import annotations

import getpass
import time
from datetime import timedelta
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
)
from openbell.ports import Ledger
from openbell.reports.approvals import COLUMNS, approval_rows
from openbell.runtime import compose
from openbell.services import operator
from openbell.services.rescans import approval_step, describe

approvals_app = typer.Typer(no_args_is_help=True, help="Approve or reject rescan entries.")

IdArgument = Annotated[int, typer.Argument(min=1, help="the request id (see 'approvals list')")]
WaitOption = Annotated[
    float,
    typer.Option("--wait-s", min=0, max=600, help="wait this long for the day-trader's answer"),
]


@approvals_app.command("list")
def list_approvals(
    day: Annotated[
        str | None, typer.Option(help="every request of this day (default: the waiting ones)")
    ] = None,
    fmt: FormatOption = Format.table,
    config: ConfigOption = None,
) -> None:
    """Rescan requests waiting for a person, or every request of one day."""
    with reported():
        settings = compose.settings_from_environment(config).settings
        ledger = compose.open_ledger(settings, compose.build_clock(), process="cli")
        try:
            chosen = parse_day(day)
            found = ledger.approvals(chosen) if chosen else ledger.approvals(pending_only=True)
            valid = timedelta(minutes=settings.schedule.approval_valid_min)
            title = f"rescan requests of {chosen}" if chosen else "rescan requests waiting"
            out = console()
            if not found and fmt is Format.table:
                out.print(f"no {title}")
                return
            render(out, approval_rows(ledger, found, valid), COLUMNS, fmt, title)
        finally:
            ledger.close()


@approvals_app.command("approve")
def approve(
    approval_id: IdArgument, wait_s: WaitOption = 10.0, config: ConfigOption = None
) -> None:
    """Approve a rescan entry: the day-trader buys it at market if it is still valid."""
    _decide(approval_id, True, wait_s, config)


@approvals_app.command("reject")
def reject(approval_id: IdArgument, config: ConfigOption = None) -> None:
    """Reject a rescan entry: nothing is sent for it."""
    _decide(approval_id, False, 0, config)


def _decide(approval_id: int, approved: bool, wait_s: float, config: ConfigOption) -> None:
    with reported():
        settings = compose.settings_from_environment(config).settings
        ledger = compose.open_ledger(settings, compose.build_clock(), process="cli")
        out = console()
        try:
            decided = operator.decide_approval(
                ledger, approval_id, approved, f"cli:{getpass.getuser()}"
            )
            verdict = "approved" if approved else "rejected"
            out.print(f"{verdict} request {approval_id}: {describe(decided)}", highlight=False)
            if approved:
                out.print(_outcome(ledger, approval_id, wait_s), highlight=False)
        finally:
            ledger.close()


def _outcome(ledger: Ledger, approval_id: int, wait_s: float) -> str:
    """What the day-trader did with the approval, if it says so within ``wait_s``."""
    approval = ledger.approval(approval_id)
    deadline = time.monotonic() + wait_s
    while True:
        step = ledger.day_steps(approval.trading_day).get(approval_step(approval_id))
        if step is not None:
            return f"day-trader: {step.detail}"
        if time.monotonic() >= deadline:
            return (
                "the day-trader has not acted on it yet (is it running?): "
                "see 'openbell approvals list --day " + approval.trading_day.isoformat() + "'"
            )
        time.sleep(0.2)
