"""The TWS API wire format (IBKR.md §1.1): framing, the handshake, and field encoding.

After the client's ``API\\0`` greeting, every message either way is a 4-byte big-endian length
followed by fields, each terminated by a NUL byte. Values are text.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable

from openbell.domain.errors import InvalidValue

SERVER_VERSION = 178
"""What the gateway answers: the highest version ib_async 2.1.0 asks for."""
MIN_CLIENT_VERSION = 157
GREETING = b"API\x00"
_LENGTH = struct.Struct(">I")
_VERSIONS = re.compile(r"^v(\d{1,6})\.\.(\d{1,6})(?: .*)?$")
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def field(value: object) -> str:
    """One value as the protocol writes it: bools as 1/0, None as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def encode(fields: Iterable[object]) -> bytes:
    """A framed message: length prefix, then each field followed by NUL."""
    payload = b"".join(field(f).encode() + b"\x00" for f in fields)
    return _LENGTH.pack(len(payload)) + payload


def negotiate(version_text: str) -> int:
    """The server version for a client's ``v<min>..<max>`` offer, or refuse it."""
    match = _VERSIONS.match(version_text)
    if match is None:
        raise InvalidValue("client version offer", "'v<min>..<max>'", version_text)
    low, high = int(match.group(1)), int(match.group(2))
    chosen = min(high, SERVER_VERSION)
    if chosen < max(low, MIN_CLIENT_VERSION):
        raise InvalidValue(
            "client version offer", f"a range reaching {MIN_CLIENT_VERSION}", version_text
        )
    return chosen


class FrameReader:
    """Cuts a byte stream into messages (lists of text fields)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[list[str]]:
        self._buffer.extend(data)
        messages = []
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length > MAX_MESSAGE_BYTES:
                raise InvalidValue("message length", f"at most {MAX_MESSAGE_BYTES} bytes", length)
            end = _LENGTH.size + length
            if len(self._buffer) < end:
                break
            payload = bytes(self._buffer[_LENGTH.size : end])
            del self._buffer[:end]
            fields = payload.decode("utf-8", errors="replace").split("\x00")
            messages.append(fields[:-1] if fields and fields[-1] == "" else fields)
        return messages
