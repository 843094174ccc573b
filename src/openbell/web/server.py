"""``openbell dashboard``: compose the dashboard from the settings and serve it with uvicorn.

It listens on ``dashboard.host`` (127.0.0.1 by default) and prints its address once the
socket is bound (port 0 picks a free one). Live prices come from IB over the dashboard's own
read-only client id, unless ``prices`` is off.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import uvicorn

from openbell.adapters.ib.broker import IbBroker
from openbell.bars.source import BarSource
from openbell.config import Settings
from openbell.config.settings import is_loopback
from openbell.domain.errors import RefusedInput
from openbell.runtime import compose
from openbell.runtime.bots import SUPERVISOR_PID_ENV, StopFlag
from openbell.runtime.logs import configure_logging, secret_values
from openbell.runtime.scanning import bars_data
from openbell.web.app import Dashboard, create_app
from openbell.web.prices import IbPriceBook, NoPrices, PriceBook

log = logging.getLogger(__name__)

PROCESS = "dashboard"


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; a clear error when that is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RefusedInput(
            f"dashboard: expected to listen on {host}:{port}, found it unavailable ({exc.strerror})"
        ) from None
    sock.listen(128)
    return sock


def _bars(settings: Settings) -> Callable[[], BarSource]:
    calendar = compose.build_calendar()

    @functools.cache
    def source() -> BarSource:
        from openbell.backtest.sources import open_source  # noqa: PLC0415 - only for reports

        bars, _ = open_source(bars_data(settings), settings, calendar)
        return bars

    return source


def _prices(settings: Settings, live: bool) -> PriceBook:
    if not live:
        return NoPrices("live prices are off (--no-prices): open P&L is not shown")
    clock = compose.build_clock()
    where = f"{settings.broker.host}:{settings.broker.port}"

    def make() -> IbBroker:
        return IbBroker(compose.ib_connection(settings, "dashboard", readonly=True), clock)

    book = IbPriceBook(make, where)
    book.start()
    return book


def run_dashboard(
    config_file: Path | None,
    host: str | None = None,
    port: int | None = None,
    *,
    prices: bool = True,
    announce: Callable[[str], None] = print,
) -> int:
    """Serve the dashboard until SIGTERM or Ctrl-C; return the exit code."""
    settings = compose.settings_from_environment(config_file).settings
    chosen = settings.dashboard.model_copy(
        update={k: v for k, v in (("host", host), ("port", port)) if v is not None}
    )
    if not is_loopback(chosen.host) and chosen.token is None:
        raise RefusedInput(
            f"--host: expected a loopback address without dashboard.token, found {chosen.host}"
        )
    settings = settings.model_copy(update={"dashboard": chosen})
    parent = os.environ.get(SUPERVISOR_PID_ENV)
    configure_logging(
        settings.logging, PROCESS, secret_values(settings), supervised=parent is not None
    )
    logging.getLogger("ib_async").setLevel(logging.WARNING)
    clock, calendar = compose.build_clock(), compose.build_calendar()
    book = _prices(settings, prices)
    board = Dashboard(
        settings=settings,
        clock=clock,
        calendar=calendar,
        read_ledger=lambda: compose.read_ledger(settings, clock, process=PROCESS),
        write_ledger=lambda: compose.open_ledger(settings, clock, process=PROCESS),
        prices=book,
        bars=_bars(settings),
    )
    app = create_app(board)
    sock = bind(chosen.host, chosen.port)
    bound_port = sock.getsockname()[1]
    shown = f"[{chosen.host}]" if ":" in chosen.host else chosen.host
    actions = "actions need the token" if chosen.token else "read-only: no dashboard.token"
    announce(f"dashboard at http://{shown}:{bound_port}/ ({actions})")
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, server_header=False)
    )
    if parent and parent.isdigit():
        _stop_with_parent(server, StopFlag(int(parent)))
    try:
        server.run(sockets=[sock])  # uvicorn stops on SIGTERM and SIGINT
    finally:
        if isinstance(book, IbPriceBook):
            book.stop()
        sock.close()
    return 0


def _stop_with_parent(server: uvicorn.Server, flag: StopFlag) -> None:
    """Stop serving once the supervisor that started this process is gone."""

    def watch() -> None:
        while not server.should_exit:
            if flag.wait(1.0):
                log.warning("stopping: %s", flag.reason)
                server.should_exit = True

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
