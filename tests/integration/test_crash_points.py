"""A bot killed at the two worst moments, replayed deterministically over the real wire.

The chaos harness aims SIGKILLs at these moments and checks the outcome on whole days; these
tests put the crash exactly there, on a manual clock, so each recovery is reproduced every run:

- between an order's submission and its acknowledgement: the order reached the gateway, the
  ledger still says PENDING. The next life must take it over, never send it again;
- between a fill and its ledger write: the execution reached the bot's socket, the ledger has
  no fill. The next life must book it from IB's executions, exactly once.

"Killed" is the first life's socket closed with nothing it received ever read: what the
gateway sees of a SIGKILL, and what the ledger sees of it (no write after the send). Each new
life is a fresh IB client with the same client id, as the supervisor's restart would be.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from openbell.adapters.calendar import ExchangeCalendar
from openbell.adapters.clock import ManualClock
from openbell.adapters.ib.broker import IbBroker, IbConnection
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.bars.frame import DayBars, to_ns
from openbell.config import Settings
from openbell.domain.broker import BrokerEvent
from openbell.domain.candidates import PremarketFeatures, ScoreBatch
from openbell.domain.enums import OrderRole, OrderStatus, PositionRole, PositionState
from openbell.domain.positions import Position
from openbell.domain.sessions import NEW_YORK, Session
from openbell.domain.values import Confidence, OrderRef, Quantity, Symbol
from openbell.runtime.loopback import GatewayThread
from openbell.services.entries import send_entries
from openbell.services.exits import ExitManager
from openbell.services.trading import MORNING, DayTrader, TradingRules
from openbell.strategy.selection import SelectionRules
from openbell.strategy.timing import EntryTiming
from openbell.venue import FixedCommission, NoSlippage, VenueConfig
from openbell.venue.tws.gateway import GatewayConfig, TwsGateway
from openbell.venue.tws.journal import read_journal

CALENDAR = ExchangeCalendar.nyse()
DAY = date(2016, 4, 29)
SESSION: Session = CALENDAR.session(DAY)
ACCOUNT = "DU0000001"
WULF = Symbol("WULF")
TRADER_ID, EXITS_ID = 1, 2


def at(hhmm: str) -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime(DAY.year, DAY.month, DAY.day, hour, minute, tzinfo=NEW_YORK)


def wulf_bars() -> DayBars:
    """10.00 at the open, through the +2.6% target (10.26) in the 09:40 bar, then flat."""
    minutes = int((SESSION.close - SESSION.open).total_seconds() // 60)
    close = np.array([10.0] * 10 + [10.3] * (minutes - 10))
    starts = np.array([to_ns(SESSION.open) + i * 60_000_000_000 for i in range(minutes)])
    return DayBars(
        "WULF", DAY, 60, starts, close, close + 0.01, close - 0.01, close, np.full(minutes, 1e6)
    )


class NoMarket:
    """The day-trader's scan is not part of these tests: it is never called."""

    def premarket_features(
        self, trading_day: date, at: datetime, symbols: Sequence[Symbol] | None = None
    ) -> list[PremarketFeatures]:
        raise AssertionError("no scan in a crash test")


class NoScorer:
    name = "none"

    def score(self, features: Sequence[PremarketFeatures], trading_day: date) -> ScoreBatch:
        raise AssertionError("no scoring in a crash test")


class Venue:
    """The simulated gateway on loopback, one ledger file, and bot lives that come and go."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = ManualClock(at("09:00"))
        venue = VenueConfig(commission=FixedCommission(), slippage=NoSlippage())
        self.journal = tmp_path / "gateway-journal.jsonl"
        config = GatewayConfig(
            account=ACCOUNT, venue=venue, replay_interval_s=3600.0, journal=self.journal
        )
        self.server = GatewayThread(TwsGateway(config, self.clock, CALENDAR))
        self.gateway = self.server.gateway
        self.server.run(lambda: self.gateway.load_day(SESSION, {"WULF": wulf_bars()}))
        self.ledger = SqliteLedger.open(tmp_path / "ledger.sqlite", self.clock, process="test")
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.lives: list[IbBroker] = []

    def life(self, client_id: int) -> IbBroker:
        """A new IB client, as a restarted bot process connects."""
        connection = IbConnection(
            port=self.server.port,
            client_id=client_id,
            account=ACCOUNT,
            backoff_s=0.05,
            max_backoff_s=0.5,
            commission_wait_s=0.5,
        )
        broker = IbBroker(connection, self.clock)
        broker.connect()
        self.lives.append(broker)
        return broker

    def kill(self, broker: IbBroker) -> None:
        """The process dies: its socket closes, nothing it received is ever read."""
        broker.disconnect()
        self.loop.run_until_complete(asyncio.sleep(0.05))  # the gateway sees the close

    def advance_to(self, when: datetime) -> None:
        self.clock.set(when)
        self.server.run(self.gateway.pump)

    def wait_for(self, what: str, done: Callable[[], bool], broker: IbBroker) -> None:
        deadline = time.monotonic() + 10
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}")
            broker.pump(0.02)

    def drain(self, broker: IbBroker, settle_s: float = 0.8) -> list[BrokerEvent]:
        """Every event the broker reports while it settles (fills wait for commissions)."""
        self.wait_for("the broker to be ready", lambda: broker.ready, broker)
        events: list[BrokerEvent] = []
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline:
            broker.pump(0.02)
            events.extend(broker.events())
        return events

    def orders_sent(self, ref: str) -> int:
        return sum(1 for _client, order in self.gateway.received_orders if order.order_ref == ref)

    def executions(self) -> list[str]:
        """The gateway's own record of what it executed (the ground truth)."""
        return [str(r["exec_id"]) for r in read_journal(self.journal) if r["kind"] == "execution"]

    def close(self) -> None:
        for broker in self.lives:
            broker.disconnect()
        self.loop.run_until_complete(asyncio.sleep(0.01))
        self.ledger.close()
        self.server.stop()
        asyncio.set_event_loop(None)
        self.loop.close()


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[Venue]:
    built = Venue(tmp_path)
    yield built
    built.close()


def trader(venue: Venue, broker: IbBroker) -> DayTrader:
    rules = TradingRules(
        plan=Settings().day_plan(),
        selection=SelectionRules(3, Settings().strategy.tiers()),
        allocation_pct=Decimal(25),
        stop_loss_pct=Decimal("0.9"),
    )
    return DayTrader(venue.ledger, broker, NoMarket(), NoScorer(), rules)


def planned(venue: Venue) -> Position:
    """WULF, planned as the morning would (and the morning marked done)."""
    venue.ledger.mark_step(DAY, MORNING, "picks: WULF")
    return venue.ledger.plan_position(
        Position(
            DAY,
            WULF,
            PositionRole.MASTER,
            Quantity(100),
            confidence=Confidence(Decimal("0.9")),
            target_pct=Decimal("2.6"),
            stop_loss_pct=Decimal("0.9"),
        )
    )


def moo_sent(venue: Venue) -> tuple[IbBroker, DayTrader, OrderRef]:
    """A day-trader's life that sent WULF's MOO at 09:25, and the gateway has read it."""
    broker = venue.life(TRADER_ID)
    venue.wait_for("the day-trader to be ready", lambda: broker.ready, broker)
    venue.advance_to(at("09:25"))
    (ref,) = send_entries(venue.ledger, broker, [planned(venue)], EntryTiming())
    venue.wait_for("the MOO at the gateway", lambda: venue.orders_sent(str(ref)) == 1, broker)
    return broker, trader(venue, broker), ref


def test_killed_between_the_moo_submission_and_its_ack_the_next_life_sends_nothing_again(
    venue: Venue,
) -> None:
    first, _life, ref = moo_sent(venue)
    venue.kill(first)
    assert venue.ledger.order(ref).status is OrderStatus.PENDING  # the ack was never read

    second = venue.life(TRADER_ID)
    reborn = trader(venue, second)
    assert reborn.start() == [ref]  # it takes the earlier life's order over
    reborn.apply(venue.drain(second))
    assert venue.ledger.order(ref).status is OrderStatus.SUBMITTED
    reborn.step(at("09:26"), SESSION)  # the MOO window: nothing is planned and unsent
    venue.advance_to(at("09:31"))
    reborn.apply(venue.drain(second))
    [position] = venue.ledger.positions_of_day(DAY)
    assert (position.state, position.held_quantity) == (PositionState.OPEN, 100)
    assert venue.orders_sent(str(ref)) == 1  # and never a second time
    assert [f.execution_id for f in venue.ledger.fills()] == venue.executions()


def test_killed_between_a_fill_and_its_ledger_write_the_next_lives_book_it_once(
    venue: Venue,
) -> None:
    first, first_life, ref = moo_sent(venue)
    first_life.apply(venue.drain(first))
    assert venue.ledger.order(ref).status is OrderStatus.SUBMITTED
    venue.advance_to(at("09:31"))  # the auction fills the MOO; the execution goes out
    first.pump(0.2)  # it reaches the bot's socket, but the bot dies before the ledger write
    venue.kill(first)
    assert len(venue.executions()) == 1
    assert venue.ledger.fills() == []

    for _life in range(2):  # booked by the next life, and not again by the one after
        broker = venue.life(TRADER_ID)
        reborn = trader(venue, broker)
        reborn.start()
        reborn.apply(venue.drain(broker))
        venue.kill(broker)
        assert [f.execution_id for f in venue.ledger.fills()] == venue.executions()
    [position] = venue.ledger.positions_of_day(DAY)
    assert (position.state, position.held_quantity) == (PositionState.OPEN, 100)
    assert venue.ledger.order(ref).filled_quantity == 100


def test_an_exit_manager_killed_before_booking_its_target_fill_never_sells_again(
    venue: Venue,
) -> None:
    entries, day_trader, _ref = moo_sent(venue)
    venue.advance_to(at("09:31"))
    day_trader.apply(venue.drain(entries))
    [position] = venue.ledger.positions_of_day(DAY)
    pid = position.position_id or 0

    first = venue.life(EXITS_ID)
    manager = ExitManager(venue.ledger, first)
    manager.start()
    venue.drain(first)
    manager.protect(venue.ledger.position(pid))  # a target at 10.26 and a stop, one OCA group
    manager.apply(venue.drain(first), DAY)
    target = next(o for o in venue.ledger.orders(pid) if o.role is OrderRole.TARGET)
    assert target.status is OrderStatus.SUBMITTED
    venue.advance_to(at("09:41"))  # the 09:40 bar trades through the target: it fills
    first.pump(0.2)
    venue.kill(first)  # before the fill reaches the ledger
    assert venue.ledger.position(pid).held_quantity == 100

    second = venue.life(EXITS_ID)
    reborn = ExitManager(venue.ledger, second)
    assert set(reborn.start()) == {o.order_ref for o in venue.ledger.orders(pid) if o.role.is_exit}
    reborn.apply(venue.drain(second), DAY)
    closed = venue.ledger.position(pid)
    assert (closed.state, closed.held_quantity) == (PositionState.CLOSED, 0)
    reborn.apply(venue.drain(second), DAY)
    assert reborn.flatten()  # nothing is left to sell, so nothing is sent
    sells = [o for _c, o in venue.gateway.received_orders if o.action == "SELL"]
    assert len(sells) == 2  # the target and its stop, once each; no flatten, no second sale
    assert sorted(f.execution_id for f in venue.ledger.fills()) == sorted(venue.executions())
