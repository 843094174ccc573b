"""The simulated gateway, fed malformed byte streams over loopback.

A bad stream must end (or be answered on) its own connection only: no exception may escape a
connection's task (asyncio reports those as "Unhandled exception in client_connected_cb"), and
a well-behaved client is served afterwards. A handful of fixed cases; the byte-level fuzzing of
the same decoder is in ``tests/unit/test_fuzz_edges.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pytest
from ib_async import IB

from openbell.adapters.clock import ManualClock
from openbell.bars.frame import DayBars, to_ns
from openbell.domain.sessions import Session
from openbell.venue.tws import wire
from openbell.venue.tws.gateway import GatewayConfig, TwsGateway

SIM_NOW = datetime(2025, 10, 29, 14, 0, tzinfo=UTC)  # 10:00 New York
DAY = date(2025, 10, 29)
SESSION = Session(
    DAY, datetime(2025, 10, 29, 13, 30, tzinfo=UTC), datetime(2025, 10, 29, 20, 0, tzinfo=UTC)
)
CONTRACT = ["0", "WULF", "STK", "", "0.0", "", "", "SMART", "", "USD", "", ""]
HELLO = wire.GREETING + wire.encode(["v157..178"])
CURRENT_TIME = wire.encode([49, 1])
EXECUTIONS = wire.encode([7, 3, 4242, 0, "", "", "", "", "", ""])  # answered by 55 1 4242
FARMS = {"2104", "2106", "2158"}
LENGTH = struct.Struct(">I")


def start_api(client_id: int) -> bytes:
    return wire.encode([71, 2, client_id, ""])


def flat_bars(symbol: str = "WULF", price: float = 15.0) -> DayBars:
    starts = np.array([to_ns(SESSION.open) + i * 60_000_000_000 for i in range(390)])
    px = np.full(390, price)
    return DayBars(symbol, DAY, 60, starts, px, px, px, px, np.full(390, 1e5))


Scenario = Callable[[TwsGateway, int], Awaitable[None]]


def run(scenario: Scenario) -> list[dict[str, Any]]:
    """Run ``scenario`` against a fresh gateway on 127.0.0.1; return what the event loop was
    told about exceptions nobody handled (a connection task that raised, for one)."""

    async def main() -> list[dict[str, Any]]:
        unhandled: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _l, c: unhandled.append(c))
        gateway = TwsGateway(GatewayConfig(account="DU7654321"), ManualClock(SIM_NOW))
        gateway.load_day(SESSION, {"WULF": flat_bars()})
        port = await gateway.start("127.0.0.1", 0)
        try:
            await scenario(gateway, port)
            await settled(gateway)
        finally:
            await gateway.close()
        return unhandled

    return asyncio.run(main())


async def settled(gateway: TwsGateway) -> None:
    """Wait until every connection task has ended and its completion has been reported."""
    for _ in range(250):
        if gateway.open_connections == 0:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.02)


async def exchange(
    port: int, *parts: bytes, until: str | None = None, eof: bool = False
) -> tuple[list[list[str]], bool]:
    """Send each part in turn, waiting after all but the last for an answer (as ib_async waits
    for the server's version before startApi); then end our side if ``eof``, and read frames
    until a message ``until`` arrives or the gateway closes the connection. Returns the frames
    and whether the connection closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    frames: list[list[str]] = []
    decoder = wire.FrameReader()

    async def read_more() -> bool:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        frames.extend(decoder.feed(chunk))
        return bool(chunk)

    try:
        for number, part in enumerate(parts, start=1):
            writer.write(part)
            await writer.drain()
            known = len(frames)
            while number < len(parts) and len(frames) == known:
                if not await read_more():
                    return frames, True
        if eof:
            writer.write_eof()
        while until is None or not any(f[:1] == [until] for f in frames):
            if not await read_more():
                return frames, True
        return frames, False
    except ConnectionResetError:
        return frames, True
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def served(port: int, client_id: int) -> list[list[str]]:
    """A well-behaved raw client: handshake, startApi, reqCurrentTime, answered in order."""
    frames, closed = await exchange(port, HELLO + start_api(client_id) + CURRENT_TIME, until="49")
    assert not closed
    assert frames[0] == ["178", "20251029 10:00:00 EDT"]
    assert frames[1] == ["15", "1", "DU7654321"]  # managedAccounts: startApi was accepted
    assert frames[-1] == ["49", "1", str(int(SIM_NOW.timestamp()))]
    return frames


DROPPED = {
    "an HTTP request": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "half a greeting": b"AP",
    "the greeting alone": wire.GREETING,
    "a length of 2**32 - 1": wire.GREETING + b"\xff\xff\xff\xff",
    "a length one over the limit": wire.GREETING + LENGTH.pack(wire.MAX_MESSAGE_BYTES + 1),
    "a frame cut short": wire.GREETING + LENGTH.pack(100) + b"v157..178\x00",
    "an offer below version 157": wire.GREETING + wire.encode(["v100..150"]),
    "no version offer": wire.GREETING + wire.encode(["hello", "world"]),
    "an offer in invalid UTF-8": wire.GREETING + LENGTH.pack(3) + b"\xff\xfe\x00",
    "binary junk": wire.GREETING + bytes(range(256)) * 4,
}


@pytest.mark.parametrize("stream", DROPPED.values(), ids=DROPPED.keys())
def test_a_bad_handshake_is_dropped_silently_and_the_next_client_is_served(stream: bytes) -> None:
    outcome: dict[str, object] = {}

    async def scenario(gateway: TwsGateway, port: int) -> None:
        outcome["frames"], outcome["closed"] = await exchange(port, stream, eof=True)
        await settled(gateway)
        await served(port, client_id=9)

    unhandled = run(scenario)
    assert outcome == {"frames": [], "closed": True}  # nothing answered, the connection ended
    assert unhandled == []


JUNK = [
    wire.encode([9999, "x"]),  # an unknown message id: 321 "not supported"
    wire.encode(["abc", "1"]),  # a message id that is not a number: ignored
    LENGTH.pack(4) + b"\xff\xfe\x00\x00",  # invalid UTF-8: ignored
    LENGTH.pack(0),  # a message with no fields: ignored
    LENGTH.pack(2) + b"49",  # the last NUL missing: read as reqCurrentTime without a version
    wire.encode([1, 11, "x"]),  # reqMktData cut short
    wire.encode([3, 1, "junk"]),  # placeOrder cut short
    wire.encode([59, 1, "nan"]),  # reqMarketDataType with no number
    wire.encode([7, 3, "x" * 1_000_000]),  # reqExecutions: one huge field, too few fields
    wire.encode([20, 5, *CONTRACT, 0, "", "0 mins", "1 D", 1, "TRADES", 1, 0, ""]),
    wire.encode([1, 11, 5, "0", "Z" * 100_000, *CONTRACT[2:], 0, "", 0, 0, ""]),  # a huge symbol
    wire.encode([9999, "9" * 4 * 1024 * 1024]),  # 4 MB in one field: 321 "not supported"
]


def test_junk_requests_get_ib_errors_and_the_session_and_the_gateway_carry_on() -> None:
    outcome: dict[str, object] = {}

    async def scenario(gateway: TwsGateway, port: int) -> None:
        requests = start_api(5) + b"".join(JUNK) + EXECUTIONS
        frames, closed = await exchange(port, HELLO, requests, until="55")
        outcome["closed"] = closed
        errors = [f for f in frames if f[:2] == ["4", "2"] and f[3] not in FARMS]
        outcome["errors"] = [(f[2], f[3]) for f in errors]
        outcome["answers"] = [f for f in frames if f[0] in ("49", "55")]
        await served(port, client_id=6)  # another raw client, meanwhile
        ib = IB()  # and the real ib_async client
        await ib.connectAsync("127.0.0.1", port, clientId=7, timeout=5)
        try:
            outcome["ib_async time"] = await ib.reqCurrentTimeAsync()
        finally:
            ib.disconnect()

    unhandled = run(scenario)
    now = str(int(SIM_NOW.timestamp()))
    assert outcome == {
        "closed": False,
        "errors": [
            ("-1", "321"),  # 9999: not supported here
            ("-1", "321"),  # reqMktData: too few fields ("x" is no reqId)
            ("1", "321"),  # placeOrder: too few fields, for order 1
            ("-1", "321"),  # reqMarketDataType: too few fields
            ("-1", "321"),  # reqExecutions: too few fields
            ("5", "162"),  # reqHistoricalData "0 mins": refused as a bar size, for request 5
            ("5", "200"),  # reqMktData for an unknown symbol: no security definition
            ("-1", "321"),  # 9999 with a 4 MB field: not supported here
        ],
        "answers": [["49", "1", now], ["55", "1", "4242"]],  # the unterminated 49; the sentinel
        "ib_async time": SIM_NOW,
    }
    assert unhandled == []


@pytest.mark.parametrize(
    ("stream", "answered"),
    [
        (wire.GREETING + LENGTH.pack(0), False),
        (wire.GREETING + wire.encode(["v" + "1" * 5000 + "..178"]), False),
        (HELLO + start_api(5) + wire.encode([1, 11, "²"]) + CURRENT_TIME, True),
    ],
    ids=["an empty offer frame", "a 5000-digit version", "a superscript reqId"],
)
def test_no_stream_makes_an_exception_escape_a_connection(stream: bytes, answered: bool) -> None:
    outcome: dict[str, object] = {}

    async def scenario(gateway: TwsGateway, port: int) -> None:
        frames, closed = await exchange(port, stream, until="49" if answered else None, eof=True)
        outcome["closed"], outcome["321"] = closed, [f for f in frames if f[3:4] == ["321"]]
        await settled(gateway)
        await served(port, client_id=9)

    unhandled = run(scenario)
    assert [(c.get("message"), repr(c.get("exception"))) for c in unhandled] == []
    assert outcome["closed"] is not answered
    assert bool(outcome["321"]) is answered


def test_a_client_that_sends_start_api_twice_leaves_no_client_id_behind() -> None:
    outcome: dict[str, object] = {}

    async def scenario(gateway: TwsGateway, port: int) -> None:
        stream = HELLO + start_api(5) + start_api(6) + CURRENT_TIME
        await exchange(port, stream, until="49")
        await settled(gateway)
        outcome["client ids left"] = sorted(gateway.sessions)
        await served(port, client_id=5)

    unhandled = run(scenario)
    assert unhandled == []
    assert outcome == {"client ids left": []}


def smuggled() -> bytes:
    """A stream whose byte 4100 (past the greeting and the handshake's 4096-byte read) starts
    a reqCurrentTime and a reqExecutions (reqId 4243) hidden in the tail of a message 9999."""
    prefix = HELLO + start_api(5)
    hidden = wire.encode([49, 1]) + wire.encode([7, 3, 4243, 0, "", "", "", "", "", ""])
    pad = b"p" * (len(wire.GREETING) + 4096 - len(prefix) - 4 - len(b"9999\x00"))
    payload = b"9999\x00" + pad + hidden
    return prefix + LENGTH.pack(len(payload)) + payload + EXECUTIONS


@pytest.mark.parametrize(
    "stream",
    [
        HELLO + start_api(5) + wire.encode([49, 1, "x" * 5000]) + EXECUTIONS,
        smuggled(),
    ],
    ids=["a 5000-byte field", "a frame hidden in a field"],
)
def test_requests_pipelined_with_the_handshake_are_read_in_step(stream: bytes) -> None:
    outcome: dict[str, object] = {}

    async def scenario(gateway: TwsGateway, port: int) -> None:
        frames, closed = await exchange(port, stream, until="55", eof=True)
        outcome["closed"] = closed
        outcome["answers"] = [
            {"4": f[:1] + f[3:4], "49": f[:1], "55": f[:1] + f[2:3]}[f[0]]
            for f in frames
            if f[0] in ("4", "49", "55")
        ]

    unhandled = run(scenario)
    farms = [["4", code] for code in sorted(FARMS)]
    expected = ["49"] if b"x" * 5000 in stream else ["4", "321"]  # reqCurrentTime, or 9999
    assert unhandled == []
    assert outcome == {"closed": False, "answers": [*farms, expected, ["55", "4242"]]}
