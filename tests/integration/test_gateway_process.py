"""`openbell gateway` as a real process, reached by ib_async over loopback."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from ib_async import IB


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

    async def look() -> tuple[list[str], list[tuple[str, float]]]:
        ib = IB()
        await ib.connectAsync("127.0.0.1", port, clientId=2, timeout=10)
        try:
            positions = [(p.contract.symbol, p.position) for p in ib.positions()]
            return ib.managedAccounts(), positions
        finally:
            ib.disconnect()

    accounts, positions = asyncio.run(look())
    assert accounts == ["DU5550001"]
    assert positions == [("SKYX", 182.0)]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0
