"""``openbell gateway``: the simulated IB Gateway's server, session by session.

It speaks the TWS API (server version 178) to unmodified ib_async clients on loopback: the
handshake and startup synchronisation (IBKR.md §1.2), orders through the matching engine
(:mod:`~openbell.venue.tws.desk`), market data and historical bars from the replayed day
(:mod:`~openbell.venue.tws.market`), and scripted faults (:mod:`~openbell.venue.tws.faults`).

Time comes from the gateway's clock (a sim clock in rehearsals, a manual clock in tests).
:meth:`TwsGateway.pump` moves the venue to the clock's now and sends what happened; the server
pumps before every request and every ``replay_interval_s`` of wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from openbell.bars.frame import DayBars
from openbell.domain.errors import InvalidValue
from openbell.domain.sessions import NEW_YORK, Session
from openbell.ports import Calendar, Clock
from openbell.venue import messages as msg
from openbell.venue.engine import MatchingEngine, VenueConfig
from openbell.venue.tws import answers, wire
from openbell.venue.tws.account import LISTING, Account, Holding, con_id_for
from openbell.venue.tws.connection import (
    CLIENT_ID_IN_USE,
    FARMS_OK,
    Connection,
    check_loopback,
    handshake,
)
from openbell.venue.tws.desk import CODE_TIF_PRESET, TIF_PRESET, OrderDesk, Outgoing
from openbell.venue.tws.faults import (
    CONNECTIVITY_LOST,
    EXEC_DETAILS,
    RESTORED_DATA_KEPT,
    RESTORED_DATA_LOST,
    Fault,
    FaultKind,
    FaultState,
)
from openbell.venue.tws.journal import GatewayJournal
from openbell.venue.tws.requests import (
    PlaceOrder,
    parse_cancel_order,
    parse_executions,
    parse_place_order,
)
from openbell.venue.tws.service import NO_SECURITY, MarketService

__all__ = ["GatewayConfig", "Holding", "TwsGateway", "check_loopback"]

log = logging.getLogger(__name__)

NextDay = Callable[[date], "tuple[Session, Mapping[str, DayBars]] | None"]


@dataclass(frozen=True)
class GatewayConfig:
    account: str = "DU1234567"
    cash: float = 100_000.0
    holdings: tuple[Holding, ...] = ()
    first_order_id: int = 1
    venue: VenueConfig = field(default_factory=VenueConfig)
    replay_interval_s: float = 0.02
    """Wall seconds between two pumps while serving."""
    pump_on_request: bool = True
    """Catch the market up to the clock before answering each request. Off when a driver
    moves the market itself (``pump(until)``), as a backtest steps its venue."""
    journal: Path | None = None
    """Where to append every order received and every execution (JSON lines), if anywhere."""


@dataclass
class TwsGateway:
    """The server: build it, ``load_day``, ``await start(host, port)``; ``close()`` stops it."""

    config: GatewayConfig
    clock: Clock
    calendar: Calendar | None = None
    next_day: NextDay | None = None
    """Where the session after the replayed one comes from (None: replay one day only)."""
    sessions: dict[int, Connection] = field(default_factory=dict)
    received_orders: list[tuple[int, PlaceOrder]] = field(default_factory=list)
    """Every order request parsed, in arrival order (with its client id)."""
    order_arrivals: list[float] = field(default_factory=list)
    """``time.perf_counter()`` when each order request was read (for latency benchmarks)."""

    def __post_init__(self) -> None:
        self.engine = MatchingEngine(self.config.venue, calendar=self.calendar)
        self.market = MarketService(self.now, self._send_to, self._con_id, self.config.venue.hours)
        self.market.listed = {h.symbol for h in self.config.holdings}
        self.desk = OrderDesk(self.engine, self.config.account, self._con_id, lambda _s: LISTING)
        self.account = Account(
            self.config.account,
            self.config.cash,
            self.config.holdings,
            self.engine,
            self.market.last_price,
        )
        self.faults: list[Fault] = []
        self._next_order_id = self.config.first_order_id
        self._server: asyncio.Server | None = None
        self._host, self._port = "127.0.0.1", 0
        self._reuse_port = False
        """Listen beside a reservation of the port (see :meth:`start`)."""
        self._tasks: set[asyncio.Task[None]] = set()
        """One task per connection."""
        self._background: set[asyncio.Task[None]] = set()
        """Scripted restarts in progress."""
        self._replay: asyncio.Task[None] | None = None
        self.fault_state = FaultState()
        self._handlers: dict[int, Callable[[Connection, list[str]], None]] = {
            3: self._place_order,
            4: self._cancel_order,
            5: self._open_orders,
            6: self._account_updates,
            7: self._executions,
            8: self._ids,
            15: self._ignore,
            16: self._all_open_orders,
            49: self._current_time,
            61: self._positions,
            64: self._ignore,
            76: self._account_updates_multi,
            99: self._completed_orders,
        }
        self._handlers.update(self.market.handlers())
        self._journal = None if self.config.journal is None else GatewayJournal(self.config.journal)
        self._journaled = 0
        self._journaled_ids: set[str] = set()
        """Executions already in the journal (by an earlier life): never written again."""
        self._replaying = False
        self._to_remake: set[str] = set()
        """Executions of an earlier life the replay must make again (see :meth:`replay`)."""

    @property
    def open_connections(self) -> int:
        """Connections being served (including any still in their handshake)."""
        return len(self._tasks)

    # --- the replayed market ----------------------------------------------------------------
    def load_day(
        self,
        session: Session,
        bars: Mapping[str, DayBars],
        seconds: Mapping[str, DayBars] | None = None,
    ) -> None:
        """Make ``session`` the replayed day with these bars (one :class:`DayBars` per symbol).

        ``seconds``: 1-second bars, where known, settle which of two levels in one minute was
        touched first (see the matching engine).
        """
        self._deliver(self.desk.load(self.engine.load_day(session, bars, seconds)))
        self.market.load_day(session, bars)

    def now(self) -> datetime:
        """The gateway's time: the clock's, but never before what the venue has processed."""
        clock_now, venue_now = self.clock.now(), self.engine.now
        return clock_now if venue_now is None or venue_now <= clock_now else venue_now

    def pump(self, until: datetime | None = None) -> None:
        """Move the venue and market data to ``until`` (default: the clock's now) and send
        what happened."""
        now = self.now() if until is None else max(until, self.now())
        self._roll_over(now)
        for fault in [f for f in self.faults if f.at is not None and f.at <= now]:
            self.faults.remove(fault)
            self.inject(fault)
        self._deliver(self.desk.advance(now))
        for (client_id, order_id), messages in self.fault_state.overdue(now).items():
            log.info("fill-after-cancel: order %s was never cancelled; its fill is told", order_id)
            self._send_all([(client_id, fields) for fields in messages])
        self.market.pump(now)
        if self._to_remake:
            missing = self._to_remake - {e.execution.exec_id for e in self.desk.executions}
            self._to_remake = set()
            if missing:
                log.error(
                    "the replay did not make executions %s of the earlier life: the simulated "
                    "account differs from it",
                    sorted(missing),
                )

    def _roll_over(self, now: datetime) -> None:
        """Once the replayed session's extended hours are over, load the next session."""
        session = self.market.session
        if session is None or self.next_day is None:
            return
        if now < self.config.venue.hours.extended(session)[1]:  # its post-market end
            return
        following = self.next_day(session.trading_day)
        if following is None:
            self.next_day = None  # nothing more to replay: the market stays after hours
            log.warning("no bars after %s: the replay ends there", session.trading_day)
            return
        log.info("replaying the next session, %s", following[0].trading_day)
        self.load_day(*following)

    # --- an earlier life ----------------------------------------------------------------------
    def replay(self, records: Sequence[Mapping[str, object]]) -> int:
        """Stand where an earlier process of this gateway stood: place and cancel again, at
        their journaled sim times, every ``order`` and ``cancel`` of ``records`` (see
        :func:`~openbell.venue.tws.journal.earlier_life`). Return the orders replayed.

        Call it after loading the first replayed day and before serving. Nobody is connected,
        so nothing is sent; executions the journal already holds are not written again. The
        matching engine is deterministic, so the same requests at the same times give the
        same fills, ids and account; an execution the journal has but the replay does not
        make is logged as an error (the simulated account then differs from the first one's).
        """
        journaled = {str(r.get("exec_id")) for r in records if r.get("kind") == "execution"}
        self._journaled_ids |= journaled
        placed, last = 0, None
        self._replaying = True
        try:
            for number, record in enumerate(records, start=1):
                try:
                    at = _sim_time(record)
                    last = at if last is None else max(last, at)
                    placed += self._replay_one(record, at)
                except (KeyError, TypeError, ValueError) as exc:  # InvalidValue is a ValueError
                    raise InvalidValue(
                        f"gateway journal record {number} of this run",
                        "an order with its wire fields and version, or a cancel, each with its "
                        "sim time and client id (refusing to guess the account)",
                        f"{str(record)[:200]} ({type(exc).__name__}: {exc})",
                    ) from None
            if last is not None:  # as far as the earlier life is known to have come
                self._roll_over(last)
                self._deliver(self.desk.advance(last))
        finally:
            self._replaying = False
        self._to_remake = journaled  # checked at the first pump, once the clock is past them
        self._journal_executions()  # made by the earlier life, which died before writing them
        log.warning(
            "replayed %d orders of an earlier life of this gateway: %d executions, %d working",
            placed,
            len(self.desk.executions),
            sum(1 for o in self.desk.orders.values() if not o.is_done),
        )
        return placed

    def _replay_one(self, record: Mapping[str, object], at: datetime) -> int:
        """Place or cancel one journaled request again at its sim time ``at``; return 1 for
        an order, else 0."""
        kind = record.get("kind")
        if kind not in ("order", "cancel"):
            return 0
        self._roll_over(at)
        self._deliver(self.desk.advance(at))
        client_id = int(str(record["client_id"]))
        if kind == "cancel":
            self._deliver(self.desk.cancel(client_id, int(str(record["order_id"])), at))
            return 0
        fields = record["fields"]
        if not isinstance(fields, list):
            raise TypeError(f"fields: expected a list, found {type(fields).__name__}")
        request = parse_place_order([str(f) for f in fields], int(str(record["version"])))
        self.received_orders.append((client_id, request))
        self._next_order_id = max(self._next_order_id, request.order_id + 1)
        if self.market.knows(request.contract.symbol):
            self._deliver(self.desk.place(client_id, request, at))
        return 1

    def _journal_executions(self) -> None:
        if self._journal is None:
            return
        for execution in self.desk.executions[self._journaled :]:
            if execution.execution.exec_id not in self._journaled_ids:
                self._journal.execution(execution)
                self._journaled_ids.add(execution.execution.exec_id)
        self._journaled = len(self.desk.executions)

    def close_journal(self) -> None:
        """Close the journal of a gateway that will not serve (``close`` does it otherwise)."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def mark_start(self, run: str) -> None:
        """Journal that a process of ``run`` starts serving (what a restart replays from)."""
        if self._journal is not None:
            self._journal.start(run, self.now())

    # --- serving ------------------------------------------------------------------------------
    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 4002,
        allow_remote: bool = False,
        *,
        reserved: bool = False,
    ) -> int:
        """Listen on ``host:port`` (port 0 picks one); return the port.

        ``reserved``: the port is held for this gateway by the process that started it
        (``openbell run``, see :mod:`openbell.runtime.reserved_port`); listen beside that
        reservation (``SO_REUSEPORT``). Without it, a port in use is refused.
        """
        check_loopback(host, allow_remote)
        self._reuse_port = reserved
        self._server = await asyncio.start_server(self._serve, host, port, reuse_port=reserved)
        self._host = host
        self._port = int(self._server.sockets[0].getsockname()[1])
        if self._replay is None:
            self._replay = asyncio.create_task(self._run_replay())
        return self._port

    async def close(self) -> None:
        """Stop listening, end every session, and wait until each has finished."""
        for task in [self._replay, *self._background]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._replay = None
        await self._stop_serving()
        self.close_journal()

    async def _stop_serving(self) -> None:
        if self._server is not None:
            self._server.close()
            for session in list(self.sessions.values()):
                session.writer.close()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _run_replay(self) -> None:
        while True:
            await asyncio.sleep(self.config.replay_interval_s)
            try:
                self.pump()
            except Exception:  # the replay must outlive one bad step; say so loudly
                log.exception("gateway replay step failed")

    # --- faults -------------------------------------------------------------------------------
    def inject(self, fault: Fault) -> None:
        """Apply ``fault`` now (see :mod:`openbell.venue.tws.faults`)."""
        log.warning("injecting fault %s", fault.kind)
        kind = fault.kind
        if kind is FaultKind.DROP:
            for session in list(self.sessions.values()):
                session.writer.close()
        elif kind in (FaultKind.OUTAGE_DATA_LOST, FaultKind.OUTAGE_DATA_KEPT):
            self.connectivity_lost()
            loop = asyncio.get_running_loop()
            lost = kind is FaultKind.OUTAGE_DATA_LOST
            loop.call_later(fault.seconds, self.connectivity_restored, lost)
        elif kind is FaultKind.TIF_PRESET:
            self._about_latest_order(CODE_TIF_PRESET, lambda _o: TIF_PRESET)
        elif kind is FaultKind.LATE_NOT_FOUND:
            self._about_latest_order(msg.CODE_NOT_FOUND, msg.not_found)
        elif kind is FaultKind.FILL_AFTER_CANCEL:
            self.fault_state.fill_after_cancel = True
        elif kind is FaultKind.CANCELLED_BEFORE_REJECT:
            self.fault_state.cancelled_first = True
        else:
            task = asyncio.get_running_loop().create_task(self.restart(fault.seconds))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def connectivity_lost(self) -> None:
        """Tell every client IB is unreachable; hold order news until it is back."""
        self.fault_state.outage = True
        self._broadcast(*CONNECTIVITY_LOST)

    def connectivity_restored(self, data_lost: bool) -> None:
        """1101 (subscriptions dropped) or 1102; then deliver the news held meanwhile."""
        held = self.fault_state.release()
        self._broadcast(*(RESTORED_DATA_LOST if data_lost else RESTORED_DATA_KEPT))
        if data_lost:
            self.market.drop_subscriptions()
        for client_id, messages in held.items():
            for fields in messages:
                self._send_to(client_id, fields)

    async def restart(self, seconds: float) -> None:
        """Go away for ``seconds`` (every session ends), then listen again; orders live on."""
        await self._stop_serving()
        await asyncio.sleep(seconds)
        self._server = await asyncio.start_server(
            self._serve, self._host, self._port, reuse_port=self._reuse_port
        )

    def _broadcast(self, code: int, text: str) -> None:
        for session in self.sessions.values():
            session.send(*answers.error(-1, code, text))

    def _about_latest_order(self, code: int, text: Callable[[int], str]) -> None:
        latest: dict[int, int] = {}
        for order in self.desk.orders.values():
            if not order.is_done:
                latest[order.client_id] = order.view.order_id
        for client_id, order_id in latest.items():
            self._send_to(client_id, answers.error(order_id, code, text(order_id)))

    # --- delivery -----------------------------------------------------------------------------
    def _deliver(self, out: list[Outgoing]) -> None:
        out = self.fault_state.shape(out, self.now())
        self._send_all(out)
        self._after_fills(out)

    def _send_all(self, out: list[Outgoing]) -> None:
        """Send each message, or keep it while IB is "unreachable" (an outage)."""
        for client_id, fields in out:
            if not self.fault_state.holds(client_id, fields):
                self._send_to(client_id, fields)

    def _send_to(self, client_id: int, fields: list[object]) -> None:
        session = self.sessions.get(client_id)
        if session is not None:
            session.send(*fields)

    # --- one connection -------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        session = Connection(writer)
        frames = wire.FrameReader()
        try:
            pending = await handshake(reader, session, self.now(), frames)
            await self._converse(reader, session, pending, frames)
        except (ConnectionError, asyncio.IncompleteReadError, InvalidValue) as exc:
            log.info("session ended: %s", exc)
        except Exception:  # one client's bytes must never take the gateway down
            log.exception("session ended on an error (client %s)", session.client_id)
        finally:
            if session.client_id is not None and self.sessions.get(session.client_id) is session:
                del self.sessions[session.client_id]
                self.market.forget(session.client_id)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _converse(
        self,
        reader: asyncio.StreamReader,
        session: Connection,
        pending: list[list[str]],
        frames: wire.FrameReader,
    ) -> None:
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

    def _handle(self, session: Connection, message: list[str]) -> bool:
        """Answer one request; False ends the session."""
        try:
            msg_id = int(message[0])
        except (ValueError, IndexError):
            log.warning("unreadable message %r", message[:3])
            return True
        if msg_id == 71:
            return self._start_api(session, message)
        if session.client_id is None:
            log.warning("message %s before startApi: ignored", msg_id)
            return True
        handler = self._handlers.get(msg_id)
        if handler is None:
            text = f"Error validating request: message {msg_id} is not supported here"
            session.send(*answers.error(-1, 321, text))
            return True
        try:
            if self.config.pump_on_request:
                self.pump()
            handler(session, message)
        except InvalidValue as exc:
            req_id = _request_id(message)
            session.send(*answers.error(req_id, 321, f"Error validating request: {exc}"))
        except Exception:  # one bad request must not end the session or the gateway
            log.exception("gateway failed on message %s from client %s", msg_id, session.client_id)
            session.send(
                *answers.error(-1, 321, f"Error validating request: message {msg_id} failed")
            )
        return True

    # --- answers --------------------------------------------------------------------------
    def _start_api(self, session: Connection, message: list[str]) -> bool:
        if session.client_id is not None:
            text = f"Error validating request: startApi again (client {session.client_id})"
            session.send(*answers.error(-1, 321, text))
            return True
        try:
            client_id = int(message[2])
        except (ValueError, IndexError):
            session.send(*answers.error(-1, 321, "Error validating request: no client id"))
            return False
        if client_id in self.sessions:
            session.send(*answers.error(-1, *CLIENT_ID_IN_USE))
            return False
        session.client_id = client_id
        self.sessions[client_id] = session
        session.send(15, 1, self.config.account)
        session.send(9, 1, self._next_order_id)
        for code, text in FARMS_OK:
            session.send(*answers.error(-1, code, text))
        return True

    def _con_id(self, symbol: str) -> int:
        held = next((h.con_id for h in self.config.holdings if h.symbol == symbol and h.con_id), 0)
        return held or con_id_for(symbol)

    def _positions(self, session: Connection, _: list[str]) -> None:
        session.positions = True
        for line in self.account.lines():
            session.send(*self.account.position_message(line))
        session.send(62, 1)

    def _account_updates(self, session: Connection, message: list[str]) -> None:
        session.account_updates = message[2:3] != ["0"]
        for fields in self.account.value_messages():
            session.send(*fields)
        for line in self.account.lines():
            session.send(*self.account.portfolio_message(line))
        session.send(8, 1, self.now().astimezone(NEW_YORK).strftime("%H:%M"))
        session.send(54, 1, self.config.account)

    def _account_updates_multi(self, session: Connection, message: list[str]) -> None:
        req_id = int(message[2])
        for key, value in self.account.values():
            session.send(73, 1, req_id, self.config.account, "", key, value, "USD")
        session.send(74, 1, req_id)

    def _after_fills(self, out: list[Outgoing]) -> None:
        """Push positions, portfolio lines and account values after fills, as IB streams them."""
        if not self._replaying:
            self._journal_executions()
        # execDetails is 11, reqId, orderId, conId, symbol, ...
        symbols = sorted({str(f[4]) for _c, f in out if f[0] == EXEC_DETAILS})
        if not symbols:
            return
        lines = [self.account.line(symbol) for symbol in symbols]
        values = self.account.value_messages()
        for session in self.sessions.values():
            for line in lines:
                if session.positions:
                    session.send(*self.account.position_message(line))
                if session.account_updates:
                    session.send(*self.account.portfolio_message(line))
            if session.account_updates:
                for fields in values:
                    session.send(*fields)

    def _open_orders(self, session: Connection, _: list[str]) -> None:
        assert session.client_id is not None
        for _client, fields in self.desk.open_orders(session.client_id):
            session.send(*fields)
        session.send(53, 1)

    def _all_open_orders(self, session: Connection, _: list[str]) -> None:
        for _client, fields in self.desk.open_orders(None):
            session.send(*fields)
        session.send(53, 1)

    def _completed_orders(self, session: Connection, _: list[str]) -> None:
        assert session.client_id is not None
        for _client, fields in self.desk.completed_orders(session.client_id):
            session.send(*fields)
        session.send(102)

    def _executions(self, session: Connection, message: list[str]) -> None:
        assert session.client_id is not None
        request = parse_executions(message)
        reports = self.desk.execution_reports(
            session.client_id,
            request.req_id,
            lambda e: request.client_id in (0, e.order.client_id),
        )
        for _client, fields in reports:
            session.send(*fields)
        session.send(55, 1, request.req_id)

    def _current_time(self, session: Connection, _: list[str]) -> None:
        session.send(49, 1, int(self.now().timestamp()))

    def _ids(self, session: Connection, _: list[str]) -> None:
        session.send(9, 1, self._next_order_id)

    def _ignore(self, session: Connection, _: list[str]) -> None:
        return

    def _place_order(self, session: Connection, message: list[str]) -> None:
        self.order_arrivals.append(time.perf_counter())
        assert session.client_id is not None
        order_id = int(message[1]) if len(message) > 1 and message[1].isdigit() else -1
        try:
            request = parse_place_order(message, session.version)
        except InvalidValue as exc:
            session.send(*answers.error(order_id, 321, f"Error validating request: {exc}"))
            return
        self.received_orders.append((session.client_id, request))
        if self._journal is not None:
            self._journal.order(session.client_id, request, self.now(), message, session.version)
        self._next_order_id = max(self._next_order_id, request.order_id + 1)
        if not self.market.knows(request.contract.symbol):
            session.send(*answers.error(request.order_id, *NO_SECURITY))
            return
        out = self.desk.place(session.client_id, request, self.now())
        self._deliver(self.fault_state.reorder_reject(out))

    def _cancel_order(self, session: Connection, message: list[str]) -> None:
        assert session.client_id is not None
        order_id = parse_cancel_order(message, session.version)
        order = self.desk.find(session.client_id, order_id)
        held = self.fault_state.take_fill_news(session.client_id, order_id)
        if held is not None and order is not None:
            # The venue filled it before the cancel arrived; IB's race reports the cancel first.
            v = order.view
            session.send(*answers.error(order_id, 202, "Order Canceled - reason:"))
            session.send(
                *answers.order_status(
                    order_id, "Cancelled", 0, 0, 0, v.perm_id, v.parent_id, 0, v.client_id
                )
            )
            for fields in held:
                session.send(*fields)
            return
        if self._journal is not None:
            self._journal.cancel(session.client_id, order_id, self.now())
        out = self.desk.cancel(session.client_id, order_id, self.now())
        self._deliver(out)


def _sim_time(record: Mapping[str, object]) -> datetime:
    at = datetime.fromisoformat(str(record["at"]))
    if at.tzinfo is None:
        raise ValueError(f"at: expected a time with its zone, found {record['at']!r}")
    return at


def _request_id(message: list[str]) -> int:
    """The request id a refused request carries in its third field, or -1."""
    text = message[2] if len(message) > 2 else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else -1
