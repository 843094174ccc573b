"""The whole IB wire path inside one process: a simulated gateway thread and the IB adapter.

Used where one process both simulates IB and trades against it: the rehearsal (``openbell
run``), the backtest's ``--via-gateway`` parity runs, tests and benchmarks. The bots of a live
day are separate processes instead, each with its own connection to ``openbell gateway``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from openbell.adapters.ib.broker import IbBroker, IbConnection
from openbell.bars.frame import DayBars
from openbell.domain.broker import BrokerEvent
from openbell.domain.orders import OrderIntent
from openbell.domain.sessions import Session
from openbell.domain.values import Money, OrderRef
from openbell.ports import Calendar, Clock
from openbell.venue import VenueConfig
from openbell.venue.tws.gateway import GatewayConfig, TwsGateway


class GatewayThread:
    """A :class:`TwsGateway` serving on 127.0.0.1 from its own thread and event loop.

    For one process that both simulates IB and trades against it (the rehearsal, tests,
    benchmarks); ``run`` executes a call inside the gateway's loop and returns its result.
    """

    def __init__(self, gateway: TwsGateway) -> None:
        self.gateway = gateway
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.port: int = self.run(lambda: self.gateway.start("127.0.0.1", 0))

    def run(self, make: Callable[[], Any]) -> Any:
        """Run ``make()`` in the gateway's loop (awaiting it if it is a coroutine)."""

        async def call() -> Any:
            result = make()
            if asyncio.iscoroutine(result):
                return await result
            return result

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout=30)

    def stop(self) -> None:
        self.run(self.gateway.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class GatewayBroker:
    """The Broker port through the IB adapter and ib_async to a gateway in this process.

    Stepped like the in-process :class:`~openbell.backtest.sim_broker.SimBroker` (``load_day``,
    ``advance_to``), so the backtest runner can drive the whole wire path: every order is
    encoded by ib_async, read by the gateway, matched, and reported back over loopback.
    """

    def __init__(
        self, server: GatewayThread, broker: IbBroker, loop: asyncio.AbstractEventLoop
    ) -> None:
        """Wrap a running gateway thread and a connected adapter (see :meth:`open`)."""
        self.server, self.gateway, self.broker = server, server.gateway, broker
        self._loop = loop

    @classmethod
    def open(
        cls,
        clock: Clock,
        config: GatewayConfig,
        calendar: Calendar | None = None,
        *,
        client_id: int = 1,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
    ) -> GatewayBroker:
        """Start a gateway thread on a free loopback port and connect the adapter to it."""
        server = GatewayThread(TwsGateway(config, clock, calendar))
        # ib_async's synchronous calls run this thread's event loop: give it its own.
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        connection = IbConnection(
            port=server.port,
            client_id=client_id,
            account=config.account,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
        )
        broker = IbBroker(connection, clock)
        try:
            broker.connect()
        except BaseException:  # leave no thread, socket or loop behind
            server.stop()
            asyncio.set_event_loop(None)
            loop.close()
            raise
        return cls(server, broker, loop)

    @classmethod
    def stepped(
        cls, clock: Clock, venue: VenueConfig, calendar: Calendar, starting_equity: Money
    ) -> GatewayBroker:
        """For a driver that moves the market itself (``advance_to``), as the backtest does."""
        config = GatewayConfig(
            cash=float(starting_equity.amount),
            venue=venue,
            replay_interval_s=3600.0,
            pump_on_request=False,
        )
        return cls.open(clock, config, calendar)

    def place(self, intent: OrderIntent) -> None:
        self.broker.place(intent)
        self.settle()

    def cancel(self, order_ref: OrderRef) -> None:
        self.broker.cancel(order_ref)
        self.settle()

    def events(self) -> Sequence[BrokerEvent]:
        self.settle()
        return self.broker.events()

    def reconcile(self, order_refs: Sequence[OrderRef]) -> None:
        self.broker.reconcile(order_refs)

    def net_liquidation(self) -> Money:
        self.settle()
        return self.broker.net_liquidation()

    def load_day(
        self,
        session: Session,
        bars: Mapping[str, DayBars],
        seconds: Mapping[str, DayBars] | None = None,
    ) -> None:
        self.server.run(lambda: self.gateway.load_day(session, bars, seconds))

    def advance_to(self, at: datetime) -> None:
        self.server.run(lambda: self.gateway.pump(at))
        self.settle()

    def settle(self) -> None:
        """A round trip: everything the gateway sent before its answer has been read.

        If the gateway went away, the adapter's pump below starts reconnecting.
        """
        if self.broker.ib.isConnected():
            with contextlib.suppress(ConnectionError):
                self.broker.ib.reqCurrentTime()
        self.broker.pump()

    def close(self) -> None:
        self.broker.disconnect()
        self._loop.run_until_complete(asyncio.sleep(0.01))  # let the transport close
        self.server.stop()
        asyncio.set_event_loop(None)
        self._loop.close()
