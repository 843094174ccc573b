"""`openbell gateway` as a real process, reached by ib_async over loopback."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

from ib_async import IB, MarketOrder, Stock

from openbell.domain.sessions import NEW_YORK


def test_the_gateway_command_serves_ib_async_and_stops_on_interrupt(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "openbell",
        "gateway",
        "--port",
        "0",
        "--hold",
        "SKYX:182@1.20",
        "--account",
        "DU5550001",
        "--day",
        "2016-04-15",
        "--symbols",
        "AAPL,AMD",
        "--start",
        "open - 1m",
        "--speed",
        "120",
    ]
    with subprocess.Popen(
        command,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            _exercise(process)
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=10)


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
