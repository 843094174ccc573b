"""A loopback port held for the simulated gateway for the whole of a run.

Probing for a free port and handing its number to a process that binds it later is a race:
until the gateway binds, any process may take the port (another run's gateway, or an outgoing
connection given it as its local port). It bit a 200-day chaos run: a resumed gateway replayed
its journal for a few seconds before binding, another day's gateway took the port meanwhile,
and this day's gateway could not listen again before the close.

So the supervisor *reserves* the port: it binds a socket to it with ``SO_REUSEPORT`` and keeps
it open, without listening, for the whole run. The kernel then hands the port to nobody else
(neither ``bind`` to port 0 nor an outgoing connection takes a bound port), yet a gateway
started with ``--reserved-port`` may listen on it beside the reservation, because it sets
``SO_REUSEPORT`` too (Linux also requires the same user, which it is). The reservation never
listens, so while no gateway does (it was killed, or is restarting), connections are refused,
as they are when a real IB Gateway is down; and every life of the gateway takes the same port.

The reserving socket is not inherited by children (Python's sockets are not inheritable), so a
supervisor killed with SIGKILL frees the port with its process.
"""

from __future__ import annotations

import socket

from openbell.domain.errors import ConfigError

LOOPBACK = "127.0.0.1"


class PortReservation:
    """A loopback port nobody else can bind while this object is open."""

    def __init__(self, port: int = 0) -> None:
        """Reserve ``port`` (0: a free one the kernel picks)."""
        reuse_port = getattr(socket, "SO_REUSEPORT", None)
        if reuse_port is None:  # pragma: no cover - every platform openbell runs on has it
            raise ConfigError(
                [("sim gateway port", "a platform with SO_REUSEPORT (Linux, macOS)", "none")]
            )
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, reuse_port, 1)
            self._socket.bind((LOOPBACK, port))
        except BaseException:
            self._socket.close()
            raise
        self.port = int(self._socket.getsockname()[1])

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> PortReservation:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
