"""One client connection of the simulated gateway: loopback policy, handshake, sending."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from datetime import datetime

from openbell.domain.errors import InvalidValue
from openbell.domain.sessions import NEW_YORK
from openbell.venue.tws import wire

FARMS_OK = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnj"),
)
CLIENT_ID_IN_USE = (
    326,
    "Unable to connect as the client id is already in use. Retry with a unique client id.",
)


def check_loopback(host: str, allow_remote: bool) -> None:
    """Refuse to listen beyond this machine unless explicitly allowed."""
    if allow_remote or host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise InvalidValue(
            "gateway host",
            "a loopback address such as 127.0.0.1 (pass --allow-remote to override)",
            host,
        )


@dataclass
class Connection:
    """One client connection."""

    writer: asyncio.StreamWriter
    client_id: int | None = None
    version: int = wire.SERVER_VERSION
    positions: bool = False
    account_updates: bool = False

    def send(self, *fields: object) -> None:
        if not self.writer.is_closing():
            self.writer.write(wire.encode(fields))


async def handshake(
    reader: asyncio.StreamReader, session: Connection, now: datetime, frames: wire.FrameReader
) -> list[list[str]]:
    """Read ``API\\0`` and the version offer, answer with ours; return what followed.

    ``frames`` goes on reading the stream after the handshake: a message the client sent
    right behind its offer may be cut anywhere, and its rest is in ``frames``.
    """
    greeting = await reader.readexactly(len(wire.GREETING))
    if greeting != wire.GREETING:
        raise InvalidValue("greeting", "API\\0", greeting)
    messages: list[list[str]] = []
    while not messages:
        data = await reader.read(4096)
        if not data:
            raise ConnectionError("the client left during the handshake")
        messages = frames.feed(data)
    if not messages[0]:
        raise InvalidValue("client version offer", "'v<min>..<max>'", "an empty message")
    session.version = wire.negotiate(messages[0][0])
    session.send(session.version, now.astimezone(NEW_YORK).strftime("%Y%m%d %H:%M:%S %Z"))
    await session.writer.drain()
    return messages[1:]
