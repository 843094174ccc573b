"""``openbell gateway``: the simulated IB Gateway's server, session by session.

This first slice speaks the connection handshake and the startup synchronisation that
``ib_async.IB.connectAsync`` performs (IBKR.md §1.2): accounts, positions (pre-existing
holdings such as the user's SKYX 182 @ 1.20), account values and portfolio, open and completed
orders, executions, and the current (simulated) time. Orders arrive with the next slice.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from openbell.domain.errors import InvalidValue
from openbell.domain.sessions import NEW_YORK
from openbell.ports import Clock
from openbell.venue.tws import wire
from openbell.venue.tws.requests import PlaceOrder, parse_place_order

log = logging.getLogger(__name__)

FARMS_OK = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnj"),
)
LISTING = "NASDAQ"  # the exchange every simulated holding is reported on
CLIENT_ID_IN_USE = (
    326,
    "Unable to connect as the client id is already in use. Retry with a unique client id.",
)


@dataclass(frozen=True)
class Holding:
    """A position the account already holds when the gateway starts (not openbell's)."""

    symbol: str
    quantity: int
    average_cost: float
    con_id: int = 0

    @classmethod
    def parse(cls, text: str) -> Holding:
        """``SYMBOL:QTY@PRICE``, e.g. ``SKYX:182@1.20``."""
        try:
            symbol, rest = text.split(":", 1)
            quantity, price = rest.split("@", 1)
            return cls(symbol.strip().upper(), int(quantity), float(price))
        except ValueError:
            raise InvalidValue("holding", "SYMBOL:QTY@PRICE, e.g. SKYX:182@1.20", text) from None


@dataclass(frozen=True)
class GatewayConfig:
    account: str = "DU1234567"
    cash: float = 100_000.0
    holdings: tuple[Holding, ...] = ()
    first_order_id: int = 1


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
class _Session:
    writer: asyncio.StreamWriter
    client_id: int | None = None
    version: int = wire.SERVER_VERSION

    def send(self, *fields: object) -> None:
        self.writer.write(wire.encode(fields))


@dataclass
class TwsGateway:
    """The server. Build it, then ``await start(host, port)``; ``close()`` stops it."""

    config: GatewayConfig
    clock: Clock
    sessions: dict[int, _Session] = field(default_factory=dict)
    received_orders: list[PlaceOrder] = field(default_factory=list)
    """Every order request parsed, in arrival order (matching arrives with the next slice)."""
    _server: asyncio.Server | None = None
    _next_order_id: int = 0

    def __post_init__(self) -> None:
        self._next_order_id = self.config.first_order_id
        self._handlers: dict[int, Callable[[_Session, list[str]], None]] = {
            61: self._positions,
            5: self._open_orders,
            99: self._completed_orders,
            6: self._account_updates,
            76: self._account_updates_multi,
            7: self._executions,
            49: self._current_time,
            8: self._ids,
            16: self._open_orders,
            15: self._ignore,
            64: self._ignore,
            3: self._place_order,
        }
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(
        self, host: str = "127.0.0.1", port: int = 4002, allow_remote: bool = False
    ) -> int:
        """Listen on ``host:port`` (port 0 picks one); return the port."""
        check_loopback(host, allow_remote)
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening, end every session, and wait until each has finished."""
        if self._server is not None:
            self._server.close()
            for session in list(self.sessions.values()):
                session.writer.close()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

    # --- one connection -------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        session = _Session(writer)
        try:
            pending = await self._handshake(reader, session)
            await self._converse(reader, session, pending)
        except (ConnectionError, asyncio.IncompleteReadError, InvalidValue) as exc:
            log.info("session ended: %s", exc)
        finally:
            if session.client_id is not None and self.sessions.get(session.client_id) is session:
                del self.sessions[session.client_id]
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _handshake(self, reader: asyncio.StreamReader, session: _Session) -> list[list[str]]:
        """Read ``API\\0`` and the version offer, answer with ours; return what followed."""
        greeting = await reader.readexactly(len(wire.GREETING))
        if greeting != wire.GREETING:
            raise InvalidValue("greeting", "API\\0", greeting)
        frames = wire.FrameReader()
        while not (messages := frames.feed(await reader.read(4096))):
            pass
        session.version = wire.negotiate(messages[0][0])
        now = self.clock.now().astimezone(NEW_YORK)
        session.send(session.version, now.strftime("%Y%m%d %H:%M:%S %Z"))
        await session.writer.drain()
        return messages[1:]

    async def _converse(
        self, reader: asyncio.StreamReader, session: _Session, pending: list[list[str]]
    ) -> None:
        frames = wire.FrameReader()
        while True:
            for message in pending:
                if not self._handle(session, message):
                    await session.writer.drain()
                    return
            await session.writer.drain()
            data = await reader.read(65536)
            if not data:
                return
            pending = frames.feed(data)

    def _handle(self, session: _Session, message: list[str]) -> bool:
        """Answer one request; False ends the session."""
        try:
            msg_id = int(message[0])
        except (ValueError, IndexError):
            log.warning("unreadable message %r", message[:3])
            return True
        if msg_id == 71:
            return self._start_api(session, message)
        handler = self._handlers.get(msg_id)
        if handler is None:
            self._error(
                session,
                -1,
                321,
                f"Error validating request: message {msg_id} is "
                "not supported by the openbell gateway yet",
            )
            return True
        handler(session, message)
        return True

    # --- answers --------------------------------------------------------------------------
    def _error(self, session: _Session, req_id: int, code: int, text: str) -> None:
        session.send(4, 2, req_id, code, text, "")

    def _start_api(self, session: _Session, message: list[str]) -> bool:
        client_id = int(message[2])
        if client_id in self.sessions:
            self._error(session, -1, *CLIENT_ID_IN_USE)
            return False
        session.client_id = client_id
        self.sessions[client_id] = session
        session.send(15, 1, self.config.account)
        session.send(9, 1, self._next_order_id)
        for code, text in FARMS_OK:
            self._error(session, -1, code, text)
        return True

    def _contract(self, holding: Holding) -> list[object]:
        """The 11 contract fields of position and portfolio messages (no primaryExchange)."""
        return [
            holding.con_id,
            holding.symbol,
            "STK",
            "",
            0.0,
            "",
            "",
            LISTING,
            "USD",
            holding.symbol,
            holding.symbol,
        ]

    def _positions(self, session: _Session, _: list[str]) -> None:
        for holding in self.config.holdings:
            session.send(
                61,
                3,
                self.config.account,
                *self._contract(holding),
                holding.quantity,
                holding.average_cost,
            )
        session.send(62, 1)

    def _open_orders(self, session: _Session, _: list[str]) -> None:
        session.send(53, 1)

    def _completed_orders(self, session: _Session, _: list[str]) -> None:
        session.send(102)

    def _account_values(self) -> list[tuple[str, str]]:
        held = sum(h.quantity * h.average_cost for h in self.config.holdings)
        cash = self.config.cash
        return [
            ("NetLiquidation", f"{cash + held:.2f}"),
            ("TotalCashValue", f"{cash:.2f}"),
            ("AvailableFunds", f"{cash:.2f}"),
            ("BuyingPower", f"{cash * 4:.2f}"),
        ]

    def _account_updates(self, session: _Session, message: list[str]) -> None:
        account = self.config.account
        for key, value in self._account_values():
            session.send(6, 2, key, value, "USD", account)
        for h in self.config.holdings:
            worth = h.quantity * h.average_cost
            session.send(
                7,
                8,
                *self._contract(h),
                h.quantity,
                h.average_cost,
                worth,
                h.average_cost,
                0.0,
                0.0,
                account,
            )
        session.send(8, 1, self.clock.now().astimezone(NEW_YORK).strftime("%H:%M"))
        session.send(54, 1, account)

    def _account_updates_multi(self, session: _Session, message: list[str]) -> None:
        req_id = int(message[2])
        for key, value in self._account_values():
            session.send(73, 1, req_id, self.config.account, "", key, value, "USD")
        session.send(74, 1, req_id)

    def _executions(self, session: _Session, message: list[str]) -> None:
        session.send(55, 1, int(message[2]))

    def _current_time(self, session: _Session, _: list[str]) -> None:
        session.send(49, 1, int(self.clock.now().timestamp()))

    def _ids(self, session: _Session, _: list[str]) -> None:
        session.send(9, 1, self._next_order_id)

    def _ignore(self, session: _Session, _: list[str]) -> None:
        return

    def _place_order(self, session: _Session, message: list[str]) -> None:
        order_id = int(message[1]) if len(message) > 1 and message[1].isdigit() else -1
        try:
            order = parse_place_order(message, session.version)
        except InvalidValue as exc:
            self._error(session, order_id, 321, f"Error validating request: {exc}")
            return
        self.received_orders.append(order)
        self._next_order_id = max(self._next_order_id, order.order_id + 1)
        # Until the matching engine is wired behind the socket, refuse honestly.
        self._error(
            session,
            order.order_id,
            201,
            "Order rejected - reason:the openbell gateway does not execute orders yet",
        )
