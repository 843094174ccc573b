"""``openbell liquidate``, ``openbell kill`` and ``openbell resume``: the operator's brakes.

A liquidation is written to the ledger as a request. The running exit-manager serves it (it
owns every exit order); when none runs, the command serves it itself, connected as the
exit-manager's IB client id, since IB lets only the client that placed an order cancel it.
Either way only ledger positions and openbell's own orders are touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from openbell.adapters.calendar import ExchangeCalendar
from openbell.adapters.clock import SystemClock
from openbell.cli.common import ConfigOption, Format, YesOption, confirm, console, render, reported
from openbell.config import Settings
from openbell.domain.errors import OpenbellError, RefusedInput, RetryLater, StopAndAlert
from openbell.domain.positions import Position
from openbell.domain.records import Heartbeat, OperatorRequest
from openbell.domain.sessions import NEW_YORK
from openbell.ports import Clock, Ledger
from openbell.reports.positions import position_row
from openbell.runtime import compose
from openbell.runtime.bots import session_at
from openbell.runtime.children import pid_alive
from openbell.runtime.guard import check_connected_accounts
from openbell.runtime.supervisor import EXIT_MANAGER
from openbell.services import operator
from openbell.services.exit_desk import LIQUIDATE_MANAGED, LIQUIDATE_TODAY
from openbell.services.exits import ExitManager
from openbell.services.liquidation import (
    PENDING,
    Presence,
    Serving,
    await_request,
    exit_manager_state,
    serve_request,
    to_flatten,
)
from openbell.services.trading import HALTING_CONTROLS

FLATTEN_COLUMNS = ("id", "trading_day", "symbol", "role", "state", "held")
KILL_REASON = "openbell kill by the operator"

ReasonOption = Annotated[str, typer.Option("--reason", help="why (goes to the event log)")]
WaitOption = Annotated[
    float,
    typer.Option(
        "--wait-s", min=1, max=3600, help="wall seconds to wait for the liquidation to finish"
    ),
]


@dataclass
class _Desk:
    """What every operator command works with, opened once from the settings."""

    settings: Settings
    clock: Clock
    """The ledger's clock: the shared sim clock when ``OPENBELL_SIM_ANCHOR`` is set."""
    calendar: ExchangeCalendar
    ledger: Ledger
    out: Console

    def trading_day(self) -> date:
        """The day a ``--today`` liquidation covers, as the exit-manager reckons it."""
        return session_at(self.calendar, self.clock.now()).trading_day


@contextlib.contextmanager
def _opened(config: Path | None) -> Iterator[_Desk]:
    settings = compose.settings_from_environment(config).settings
    clock = compose.build_clock()
    ledger = compose.open_ledger(settings, clock, process="cli")
    try:
        yield _Desk(settings, clock, compose.build_calendar(), ledger, console())
    finally:
        ledger.close()


# --------------------------------------------------------------------------- commands


def liquidate(
    managed: Annotated[
        bool, typer.Option("--managed", help="flatten every position openbell manages")
    ] = False,
    today: Annotated[
        bool, typer.Option("--today", help="flatten only the positions of today's trading day")
    ] = False,
    reason: ReasonOption = "openbell liquidate by the operator",
    wait_s: WaitOption = 120.0,
    yes: YesOption = False,
    config: ConfigOption = None,
) -> None:
    """Flatten managed positions now (never anything the ledger does not name)."""
    with reported():
        kind = _kind(managed, today)
        with _opened(config) as desk:
            held = _show(desk, kind)
            if not held:
                return
            confirm(f"Sell every share of these {len(held)} positions at market?", yes)
            _liquidate(desk, kind, reason, wait_s)


def kill(
    reason: ReasonOption = KILL_REASON,
    wait_s: WaitOption = 120.0,
    yes: YesOption = False,
    config: ConfigOption = None,
) -> None:
    """Turn on the kill switch, then flatten every managed position."""
    with reported(), _opened(config) as desk:
        held = _show(desk, LIQUIDATE_MANAGED)
        sell = f" and sell every share of {len(held)} managed positions" if held else ""
        confirm(f"Turn on the kill switch{sell}?", yes)
        beat, presence = _exit_manager(desk)
        outcome = operator.kill(desk.ledger, desk.trading_day(), reason, presence, beat)
        desk.out.print(
            f"kill switch on ({reason}): the day-trader sends no entry and cancels its "
            "working ones; the supervisor stops each bot once it is idle",
            highlight=False,
        )
        if outcome.request is not None:
            _follow(desk, outcome.request, presence, beat, wait_s)


def resume(
    reason: ReasonOption = "openbell resume by the operator",
    yes: YesOption = False,
    config: ConfigOption = None,
) -> None:
    """Turn off the kill switch and the entries pause, so the bots trade again."""
    with reported(), _opened(config) as desk:
        controls = desk.ledger.controls()
        on = [controls[n] for n in HALTING_CONTROLS if n in controls and controls[n].enabled]
        if not on:
            desk.out.print("nothing to resume: neither kill_switch nor entries_paused is on")
            return
        for control in on:
            since = control.changed_at.astimezone(NEW_YORK)
            desk.out.print(
                f"{control.name} is on since {since:%Y-%m-%d %H:%M} ET "
                f"({control.reason}; by {control.changed_by})",
                highlight=False,
            )
        names = " and ".join(c.name for c in on)
        confirm(f"Turn off {names}? New entries may be sent again", yes)
        for control in on:
            desk.ledger.set_control(control.name, False, reason)
            desk.out.print(f"{control.name} off", highlight=False)
        desk.out.print("while the session is awake the supervisor starts the bots again")


# --------------------------------------------------------------------------- steps


def _kind(managed: bool, today: bool) -> str:
    if managed and today:
        raise RefusedInput("expected one of --managed or --today, found both")
    if not managed and not today:
        raise RefusedInput(
            "expected --managed (every managed position) or --today (the positions of "
            "today's trading day), found neither"
        )
    return LIQUIDATE_MANAGED if managed else LIQUIDATE_TODAY


def _show(desk: _Desk, kind: str) -> list[Position]:
    """Print the positions ``kind`` would sell now; return them."""
    day = desk.trading_day()
    held = to_flatten(desk.ledger, kind, day)
    what = "managed positions" if kind == LIQUIDATE_MANAGED else f"positions of {day}"
    if not held:
        desk.out.print(f"nothing to flatten: none of the {what} holds shares", highlight=False)
        return held
    rows = [position_row(p) for p in held]
    render(desk.out, rows, FLATTEN_COLUMNS, Format.table, f"to flatten: {what}")
    return held


def _exit_manager(desk: _Desk) -> tuple[Heartbeat | None, Presence]:
    """The exit-manager's last heartbeat, and whether it will serve a request."""
    silent_after = timedelta(seconds=desk.settings.runtime.silent_after_s)
    return exit_manager_state(desk.ledger, desk.clock.now(), silent_after, pid_alive, EXIT_MANAGER)


def _liquidate(desk: _Desk, kind: str, reason: str, wait_s: float) -> None:
    """Write the request, then wait for the exit-manager or serve it here; print the end."""
    beat, presence = _exit_manager(desk)
    if presence is Presence.HALTED and beat is not None:
        raise StopAndAlert(
            f"the exit-manager (pid {beat.pid}) is halted: {beat.detail}. It holds the exit "
            "client id and serves no request; find out why, stop it, then run this again"
        )
    request = desk.ledger.request_work(kind, reason)
    _follow(desk, request, presence, beat, wait_s)


def _follow(
    desk: _Desk,
    request: OperatorRequest,
    presence: Presence,
    beat: Heartbeat | None,
    wait_s: float,
) -> None:
    """Wait for the running exit-manager to serve ``request``, or serve it here."""
    desk.out.print(
        f"request {request.request_id} written: {request.kind} ({request.reason})",
        highlight=False,
    )
    wall = SystemClock()
    deadline = wall.now() + timedelta(seconds=wait_s)
    if presence is Presence.SERVING and beat is not None:
        desk.out.print(
            f"the exit-manager is running (pid {beat.pid}, {beat.status}): "
            f"waiting up to {wait_s:g} s for it to serve the request",
            highlight=False,
        )
        finished = await_request(desk.ledger, request.request_id, wall, deadline)
    else:
        finished = _serve_here(desk, request, Serving(desk.trading_day(), wall, deadline))
    _report(desk.out, finished, wait_s)


def _serve_here(desk: _Desk, request: OperatorRequest, serving: Serving) -> OperatorRequest:
    """Serve the request in this process as the exit-manager's IB client."""
    settings, ledger = desk.settings, desk.ledger
    broker_settings = settings.broker
    desk.out.print(
        "the exit-manager is not running: flattening here as its IB client "
        f"(client id {broker_settings.client_ids.exit_manager} at "
        f"{broker_settings.host}:{broker_settings.port})",
        highlight=False,
    )
    try:
        broker = compose.build_broker(settings, "exit_manager", desk.clock)
    except OpenbellError as exc:
        _fail_pending(ledger, request, f"not served: {exc}")
        raise
    try:
        managed = broker.ib.managedAccounts()
        check_connected_accounts(broker_settings.mode, broker.connection.account, managed)
        resting = settings.strategy.exit_mode != "monitored"
        manager = ExitManager(ledger, broker, resting_exits=resting, clock=desk.clock)
        paced = dataclasses.replace(serving, tick_s=settings.runtime.tick_s)
        return serve_request(ledger, broker, manager, request, paced)
    except (OpenbellError, KeyboardInterrupt) as exc:
        _fail_pending(ledger, request, f"stopped: {str(exc) or 'interrupted'}")
        raise
    finally:
        broker.disconnect()


def _fail_pending(ledger: Ledger, request: OperatorRequest, why: str) -> None:
    with contextlib.suppress(OpenbellError):  # the error being raised is the news
        if ledger.operator_request(request.request_id).status == PENDING:
            ledger.finish_request(request.request_id, False, why)


def _report(out: Console, finished: OperatorRequest, wait_s: float) -> None:
    rid = finished.request_id
    if finished.status == PENDING:
        raise RetryLater(
            f"request {rid} is still PENDING after {wait_s:g} s: it stays pending for the "
            "exit-manager, which serves it as soon as it can; follow it with `openbell status` "
            "or `openbell ledger events`"
        )
    by = f" (by {finished.finished_by})" if finished.finished_by else ""
    if finished.status != "DONE":
        raise StopAndAlert(f"request {rid} {finished.status}{by}: {finished.outcome}")
    out.print(f"request {rid} DONE{by}: {finished.outcome}", highlight=False)
