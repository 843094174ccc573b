"""``openbell gateway``: run the simulated IB Gateway on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import typer

from openbell.cli.common import console, reported
from openbell.runtime import compose
from openbell.venue.tws.gateway import GatewayConfig, Holding, TwsGateway


def gateway(
    host: Annotated[
        str, typer.Option(help="address to listen on (loopback only by default)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port")] = 4002,
    hold: Annotated[
        list[str] | None,
        typer.Option(
            help="a pre-existing holding SYMBOL:QTY@PRICE (repeatable), e.g. SKYX:182@1.20"
        ),
    ] = None,
    account: Annotated[str, typer.Option(help="the simulated paper account id")] = "DU1234567",
    cash: Annotated[float, typer.Option(min=0, help="cash in the account, USD")] = 100_000.0,
    allow_remote: Annotated[bool, typer.Option(help="listen beyond loopback")] = False,
) -> None:
    """Run the simulated IB Gateway until interrupted (Ctrl-C)."""
    with reported():
        out = console()
        holdings = tuple(Holding.parse(text) for text in hold or ())
        server = TwsGateway(GatewayConfig(account, cash, holdings), compose.build_clock())

        async def serve() -> None:
            chosen = await server.start(host, port, allow_remote)
            out.print(
                f"openbell gateway listening on {host}:{chosen} "
                f"(server version 178, account {account})",
                highlight=False,
            )
            try:
                await asyncio.Event().wait()
            finally:
                await server.close()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve())
