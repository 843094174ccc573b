"""`openbell gateway` as a real process, reached by ib_async over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from ib_async import IB, MarketOrder, Stock

from openbell.domain.sessions import NEW_YORK
from openbell.runtime.reserved_port import PortReservation

REPLAY = ("--day", "2016-04-15", "--symbols", "AAPL", "--start", "open - 1m")


def test_the_gateway_command_serves_ib_async_and_stops_on_interrupt(tmp_path: Path) -> None:
    args = ["--port", "0", "--hold", "SKYX:182@1.20", "--account", "DU5550001"]
    args += ["--day", "2016-04-15", "--symbols", "AAPL,AMD", "--start", "open - 1m"]
    with _gateway(tmp_path, *args, "--speed", "120") as process:
        _exercise(process)


def _exercise(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    assert match, line
    port = int(match.group(1))

    async def look() -> tuple[list[str], list[tuple[str, float]], object, list[str]]:
        ib = IB()
        await ib.connectAsync("127.0.0.1", port, clientId=2, timeout=10)
        try:
            positions = [(p.contract.symbol, p.position) for p in ib.positions()]
            sim_now = await ib.reqCurrentTimeAsync()
            # A market order at 09:29 sim time joins the day's flow and fills from the bars.
            [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
            trade = ib.placeOrder(aapl, MarketOrder("BUY", 10, orderRef="ob-probe-1"))
            for _ in range(200):
                if trade.isDone():
                    break
                await asyncio.sleep(0.05)
            statuses = [entry.status for entry in trade.log]
            return ib.managedAccounts(), positions, sim_now, statuses
        finally:
            ib.disconnect()

    accounts, positions, sim_now, statuses = asyncio.run(look())
    assert accounts == ["DU5550001"]
    assert positions == [("SKYX", 182.0)]
    assert isinstance(sim_now, datetime)
    assert sim_now.astimezone(NEW_YORK).date() == date(2016, 4, 15)  # the replayed day
    assert statuses[-1] == "Filled"
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0


def test_a_gateway_on_a_reserved_port_keeps_it_across_its_lives(tmp_path: Path) -> None:
    """The port race of the 200-day chaos run: the port ``openbell run`` gives its gateway is
    the supervisor's from the start, so no other process takes it while a gateway starts,
    replays or restarts; while none listens, connections are refused (as with a real gateway
    down), and the next life listens on the same port."""
    with PortReservation() as reservation:
        port = reservation.port
        _assert_taken(port)
        _assert_refused(port)  # reserved, but nobody listens yet
        for life in range(2):
            with _gateway(tmp_path, *REPLAY, "--port", str(port), "--reserved-port") as process:
                assert f"listening on 127.0.0.1:{port} " in _first_line(process)
                assert _answers(port), f"life {life}"
                _assert_taken(port)  # by anyone else, while it listens
                process.kill()
            _assert_refused(port)
            _assert_taken(port)  # still, with the gateway gone


def test_a_gateway_without_the_reservation_cannot_share_a_port(tmp_path: Path) -> None:
    with (
        PortReservation() as reservation,
        _gateway(tmp_path, *REPLAY, "--port", str(reservation.port)) as p,
    ):
        _, err = p.communicate(timeout=30)
    assert p.returncode != 0
    assert "address already in use" in err.lower()


def test_reserved_port_needs_a_port_number(tmp_path: Path) -> None:
    with _gateway(tmp_path, *REPLAY, "--port", "0", "--reserved-port") as process:
        out, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "--port" in out + err and "--reserved-port" in out + err


@contextlib.contextmanager
def _gateway(tmp_path: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    command = [sys.executable, "-m", "openbell", "gateway", *args]
    with subprocess.Popen(
        command,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def _first_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    return process.stdout.readline()


def _answers(port: int) -> bool:
    async def ask() -> bool:
        ib = IB()
        await ib.connectAsync("127.0.0.1", port, clientId=2, timeout=10)
        try:
            return ib.isConnected()
        finally:
            ib.disconnect()

    return asyncio.run(ask())


def _assert_taken(port: int) -> None:
    """Neither a plain bind nor one with SO_REUSEADDR (asyncio's servers) gets the port."""
    for reuse_address in (False, True):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
            if reuse_address:
                other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with pytest.raises(OSError, match="in use"):
                other.bind(("127.0.0.1", port))


def _assert_refused(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        with pytest.raises(ConnectionRefusedError):
            client.connect(("127.0.0.1", port))
