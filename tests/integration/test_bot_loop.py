"""The bot loop journals each loss and return of the IB link, once per change (also while news
waits for IB), and never drops the broker's news when the ledger is too busy to book it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from openbell.adapters.calendar import ExchangeCalendar
from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.config.settings import RuntimeSettings
from openbell.domain.broker import BrokerEvent, OrderUpdate
from openbell.domain.enums import OrderStatus
from openbell.domain.errors import BrokerUnavailable, LedgerBusy
from openbell.domain.orders import OrderIntent
from openbell.domain.sessions import Session
from openbell.domain.values import Money, OrderRef
from openbell.runtime.bots import BotLoop, StopFlag

NOW = datetime(2025, 10, 29, 14, 0, tzinfo=UTC)


class FlickeringBroker:
    """Ready or not at each pump, as scripted; stops the loop when the script ends."""

    def __init__(self, script: Sequence[bool], stop: StopFlag) -> None:
        self._script, self._stop = list(script), stop
        self.ready = True

    def connect(self) -> None:
        return None

    def disconnect(self) -> None:
        return None

    def pump(self, seconds: float = 0.0) -> None:
        if not self._script:
            self._stop.set("script over")
            return
        self.ready = self._script.pop(0)

    def place(self, intent: OrderIntent) -> None:
        raise AssertionError("the loop places nothing itself")

    def cancel(self, order_ref: OrderRef) -> None:
        raise AssertionError("the loop cancels nothing itself")

    def events(self) -> Sequence[BrokerEvent]:
        return []

    def net_liquidation(self) -> Money:
        raise AssertionError("not asked")

    def reconcile(self, order_refs: Sequence[OrderRef]) -> None:
        return None


class IdleBot:
    def __init__(self) -> None:
        self.steps = 0

    def start(self) -> object:
        return None

    def apply(self, events: Sequence[BrokerEvent], trading_day: date) -> None:
        return None

    def step(self, now: datetime, session: Session) -> str:
        self.steps += 1
        return "idle"


def test_each_loss_and_return_of_the_link_is_one_event(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    ledger = SqliteLedger.open(tmp_path / "l.sqlite", clock, process="day-trader")
    stop = StopFlag()
    broker = FlickeringBroker([True, False, False, True, True, False, True], stop)
    bot = IdleBot()
    loop = BotLoop(
        bot, broker, ledger, clock, ExchangeCalendar.nyse(), RuntimeSettings(tick_s=0.01), stop
    )
    try:
        assert loop.run() == 0
        kinds = [e.kind for e in ledger.events(limit=100) if e.kind.endswith("CONNECTED")]
    finally:
        ledger.close()
    assert kinds == ["DISCONNECTED", "RECONNECTED", "DISCONNECTED", "RECONNECTED"]
    assert bot.steps == 5  # 4 scripted ready ticks and the last (no step while down)


class OnceBroker(FlickeringBroker):
    """Always ready; hands out each scripted batch of news once, like IB's adapter."""

    def __init__(self, batches: Sequence[Sequence[BrokerEvent]], stop: StopFlag) -> None:
        super().__init__([True] * (len(batches) + 2), stop)
        self._batches = [list(batch) for batch in batches]

    def events(self) -> Sequence[BrokerEvent]:
        return self._batches.pop(0) if self._batches else []


class BusyOnceBot(IdleBot):
    """Books events in order; the ledger is busy the first time ``busy`` is booked."""

    def __init__(self, busy: BrokerEvent) -> None:
        super().__init__()
        self.busy: BrokerEvent | None = busy
        self.booked: list[BrokerEvent] = []

    def apply(self, events: Sequence[BrokerEvent], trading_day: date) -> None:
        for event in events:
            if event is self.busy:
                self.busy = None
                raise LedgerBusy("the ledger stayed locked by another process")
            self.booked.append(event)


def test_news_a_busy_ledger_could_not_book_is_booked_at_the_next_tick_once(
    tmp_path: Path,
) -> None:
    clock = ManualClock(NOW)
    ledger = SqliteLedger.open(tmp_path / "l.sqlite", clock, process="exit-manager")
    stop = StopFlag()
    first, second, third = (
        OrderUpdate(OrderRef(f"ob-20251029-WULF-1-{n}"), OrderStatus.SUBMITTED, NOW)
        for n in ("entry", "target", "stop")
    )
    later = OrderUpdate(OrderRef("ob-20251029-WULF-1-flatten"), OrderStatus.SUBMITTED, NOW)
    broker = OnceBroker([[first, second, third], [later]], stop)
    bot = BusyOnceBot(busy=second)
    loop = BotLoop(
        bot, broker, ledger, clock, ExchangeCalendar.nyse(), RuntimeSettings(tick_s=0.01), stop
    )
    try:
        assert loop.run() == 0
    finally:
        ledger.close()
    # the busy ledger held up the second event; nothing was lost, nothing booked twice
    assert bot.booked == [first, second, third, later]


class NewsWhileDownBroker(FlickeringBroker):
    """Hands out its news at the first tick, while the link is already down."""

    def __init__(self, script: Sequence[bool], news: BrokerEvent, stop: StopFlag) -> None:
        super().__init__(script, stop)
        self._news: list[BrokerEvent] = [news]

    def events(self) -> Sequence[BrokerEvent]:
        news, self._news = self._news, []
        return news


class CancelsAfterFillBot(IdleBot):
    """Books its news only with IB there (a fill whose leftover exit it must cancel), and notes
    the heartbeat each time it is asked."""

    def __init__(self, broker: FlickeringBroker, ledger: SqliteLedger) -> None:
        super().__init__()
        self._broker, self._ledger = broker, ledger
        self.booked: list[BrokerEvent] = []
        self.beats: list[str] = []

    def apply(self, events: Sequence[BrokerEvent], trading_day: date) -> None:
        self.beats += [f"{b.status}: {b.detail}" for b in self._ledger.heartbeats()]
        for event in events:
            if not self._broker.ready:
                raise BrokerUnavailable(f"not cancelling {event.order_ref}: IB is not connected")
            self.booked.append(event)


def test_a_lost_link_is_journaled_while_news_waits_for_ib(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    ledger = SqliteLedger.open(tmp_path / "l.sqlite", clock, process="exit-manager")
    stop = StopFlag()
    fill = OrderUpdate(OrderRef("ob-20251029-WULF-1-target"), OrderStatus.FILLED, NOW)
    broker = NewsWhileDownBroker([False, False, False, True, True], fill, stop)
    bot = CancelsAfterFillBot(broker, ledger)
    runtime = RuntimeSettings(tick_s=0.01, heartbeat_s=0.001)
    loop = BotLoop(bot, broker, ledger, clock, ExchangeCalendar.nyse(), runtime, stop)
    try:
        assert loop.run() == 0
        kinds = [e.kind for e in ledger.events(limit=100) if e.kind.endswith("CONNECTED")]
    finally:
        ledger.close()
    # the outage is in the ledger although the fill's news could not be finished during it
    assert kinds == ["DISCONNECTED", "RECONNECTED"]
    assert bot.booked == [fill]  # finished once IB was back
    down = "reconnecting: IB is not connected and reconciled: no orders go out; waiting: "
    assert f"{down}not cancelling {fill.order_ref}: IB is not connected" in bot.beats
    assert not any(b.startswith("retrying") for b in bot.beats)
