"""``openbell gateway``: run the simulated IB Gateway on loopback, replaying bars."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Annotated

import typer

from openbell.adapters.clock import SIM_ANCHOR_ENV
from openbell.cli.common import ConfigOption, console, parse_day, reported
from openbell.domain.errors import InvalidValue
from openbell.domain.sessions import NEW_YORK, RelativeTime
from openbell.runtime import compose
from openbell.runtime.gateway import ReplayRequest, build_gateway
from openbell.venue.tws.account import Holding
from openbell.venue.tws.faults import FaultKind


def gateway(
    host: Annotated[
        str, typer.Option(help="address to listen on (loopback only by default)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port")] = 4002,
    reserved_port: Annotated[
        bool,
        typer.Option(
            help="the process starting this gateway holds --port reserved (as 'openbell run' "
            "does, with SO_REUSEPORT): listen beside that reservation"
        ),
    ] = False,
    day: Annotated[
        str | None,
        typer.Option(help="session to replay, YYYY-MM-DD (default: the shared sim clock's)"),
    ] = None,
    symbols: Annotated[
        str | None, typer.Option(help="comma-separated tickers (default: all in the data)")
    ] = None,
    data: Annotated[str, typer.Option(help="'demo' (bundled) or 'store' (openbell data)")] = "demo",
    speed: Annotated[
        float, typer.Option(min=0.001, max=10_000, help="sim seconds per wall second")
    ] = 1.0,
    start: Annotated[str, typer.Option(help="sim start, relative to the session")] = "open - 90m",
    fault: Annotated[
        list[str] | None,
        typer.Option(
            help="a scripted fault KIND@HH:MM[:SS][+SECONDS] (repeatable); KIND is one of "
            + ", ".join(k.value for k in FaultKind)
        ),
    ] = None,
    hold: Annotated[
        list[str] | None,
        typer.Option(
            help="a pre-existing holding SYMBOL:QTY@PRICE (repeatable), e.g. SKYX:182@1.20"
        ),
    ] = None,
    account: Annotated[str, typer.Option(help="the simulated paper account id")] = "DU1234567",
    cash: Annotated[float, typer.Option(min=0, help="cash in the account, USD")] = 100_000.0,
    allow_remote: Annotated[bool, typer.Option(help="listen beyond loopback")] = False,
    journal: Annotated[
        Path | None,
        typer.Option(
            help="append every order, cancel and execution here (JSON lines); restarted in "
            "the same sim run, the gateway rebuilds its account from it"
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run the simulated IB Gateway until interrupted (Ctrl-C)."""
    with reported():
        out = console()
        if reserved_port and port == 0:
            raise InvalidValue("--port", "the reserved port's number with --reserved-port", 0)
        settings = compose.settings_from_environment(config).settings
        request = ReplayRequest(
            day=parse_day(day),
            symbols=tuple(s.strip().upper() for s in symbols.split(",")) if symbols else None,
            data=data,
            speed=speed,
            start=RelativeTime.parse(start),
            faults=tuple(fault or ()),
            account=account,
            cash=cash,
            holdings=tuple(Holding.parse(text) for text in hold or ()),
            journal=journal,
        )
        server, session = build_gateway(request, settings, compose.build_calendar())

        pace = "on the shared sim clock" if SIM_ANCHOR_ENV in os.environ else f"at x{speed:g}"

        async def serve() -> None:
            chosen = await server.start(host, port, allow_remote, reserved=reserved_port)
            now = server.clock.now().astimezone(NEW_YORK)
            out.print(
                f"openbell gateway listening on {host}:{chosen} "
                f"(server version 178, account {account}); replaying {session.trading_day}, "
                f"{len(server.market.bars)} symbols, sim time {now:%Y-%m-%d %H:%M:%S} {pace}",
                highlight=False,
            )
            stopped = asyncio.Event()
            # SIGTERM (the supervisor stopping it) ends it cleanly, like Ctrl-C.
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
            try:
                await stopped.wait()
            finally:
                await server.close()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve())
