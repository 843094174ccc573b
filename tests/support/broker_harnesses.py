"""Two ways to run the Broker port over the same venue, for the shared contract suite.

``SimHarness``: the in-process :class:`SimBroker` over a :class:`MatchingEngine`.
``GatewayHarness``: the :class:`IbBroker` (real ib_async) connected over loopback to an
``openbell gateway`` (:class:`TwsGateway`) running in its own thread and event loop.

Both share a :class:`ManualClock`; ``advance_to`` moves the market and then waits until the
broker has heard everything the venue said up to that instant.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol, TypeVar

from openbell.adapters.clock import ManualClock
from openbell.backtest.sim_broker import SimBroker
from openbell.bars.frame import DayBars
from openbell.domain.broker import BrokerEvent
from openbell.domain.orders import OrderIntent
from openbell.domain.sessions import Session
from openbell.domain.values import Money, OrderRef
from openbell.runtime.loopback import GatewayBroker
from openbell.venue import MatchingEngine, VenueConfig
from openbell.venue.tws.gateway import GatewayConfig

T = TypeVar("T")


class Harness(Protocol):
    name: str
    clock: ManualClock

    def place(self, intent: OrderIntent) -> None: ...

    def cancel(self, ref: OrderRef) -> None: ...

    def advance_to(self, at: datetime) -> None: ...

    def advance_unheard(self, at: datetime) -> None:
        """Move the market to ``at`` without letting the broker hear of it yet."""
        ...

    def events(self) -> Sequence[BrokerEvent]: ...

    def reconcile(self, refs: Sequence[OrderRef]) -> None: ...

    def close(self) -> None: ...


class SimHarness:
    name = "sim"

    def __init__(
        self, start: datetime, session: Session, bars: Mapping[str, DayBars], venue: VenueConfig
    ) -> None:
        self.clock = ManualClock(start)
        self.broker = SimBroker(
            MatchingEngine(venue), self.clock, starting_equity=Money(Decimal(100_000))
        )
        self.broker.load_day(session, bars)

    def place(self, intent: OrderIntent) -> None:
        self.broker.place(intent)

    def cancel(self, ref: OrderRef) -> None:
        self.broker.cancel(ref)

    def advance_to(self, at: datetime) -> None:
        self.clock.set(at)
        self.broker.advance_to(at)

    def advance_unheard(self, at: datetime) -> None:
        self.advance_to(at)  # in process, the venue's news is only read with events()

    def events(self) -> Sequence[BrokerEvent]:
        return self.broker.events()

    def reconcile(self, refs: Sequence[OrderRef]) -> None:
        self.broker.reconcile(refs)

    def close(self) -> None:
        return


class GatewayHarness:
    """The IB adapter on ib_async, over loopback to a gateway thread, on a manual clock."""

    name = "gateway"

    def __init__(
        self,
        start: datetime,
        session: Session,
        bars: Mapping[str, DayBars],
        venue: VenueConfig,
        client_id: int = 7,
        backoff_s: float = 0.05,
    ) -> None:
        self.clock = ManualClock(start)
        config = GatewayConfig(account="DU0000001", venue=venue, replay_interval_s=3600.0)
        self.wire = GatewayBroker.open(
            self.clock, config, client_id=client_id, backoff_s=backoff_s, max_backoff_s=0.5
        )
        self.wire.load_day(session, bars)
        self.server, self.broker = self.wire.server, self.wire.broker

    def place(self, intent: OrderIntent) -> None:
        self.wire.place(intent)  # settles: the gateway reads the order at this clock time

    def cancel(self, ref: OrderRef) -> None:
        self.wire.cancel(ref)

    def advance_to(self, at: datetime) -> None:
        self.advance_unheard(at)
        self.settle()

    def advance_unheard(self, at: datetime) -> None:
        self.clock.set(at)
        self.server.run(self.server.gateway.pump)

    def settle(self) -> None:
        self.wire.settle()

    def recover(self, timeout_s: float = 10.0) -> None:
        """Let the broker reconnect and reconcile until it is ready again (or fail)."""
        deadline = time.monotonic() + timeout_s
        while not self.broker.ready:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: the broker did not recover in {timeout_s} s")
            self.broker.pump(0.02)
        self.settle()

    def events(self) -> Sequence[BrokerEvent]:
        return self.wire.events()

    def reconcile(self, refs: Sequence[OrderRef]) -> None:
        self.wire.reconcile(refs)

    def close(self) -> None:
        self.wire.close()
