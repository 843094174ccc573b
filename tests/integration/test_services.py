"""The services against a real SQLite ledger and a hand-written broker fake."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from openbell.adapters.calendar import ExchangeCalendar
from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.config import Settings
from openbell.domain.broker import BrokerEvent, OrderUpdate
from openbell.domain.candidates import PremarketFeatures, ScoreBatch
from openbell.domain.enums import (
    ExitReason,
    OrderRole,
    OrderStatus,
    OrderType,
    PositionState,
    Side,
)
from openbell.domain.errors import BrokerUnavailable, MarketDataUnavailable
from openbell.domain.orders import Fill, OrderIntent
from openbell.domain.values import Money, OrderRef, Price, Quantity, Symbol
from openbell.services.entries import send_entries
from openbell.services.exits import MAX_PROTECT_ATTEMPTS, REPLACE_AFTER, ExitManager
from openbell.services.morning import plan_the_morning
from openbell.services.trading import DayTrader, TradingRules
from openbell.strategy.exits import TargetTier
from openbell.strategy.scoring import RuleScorer
from openbell.strategy.selection import SelectionRules
from openbell.strategy.timing import EntryTiming

DAY = date(2025, 10, 29)
OPEN = datetime(2025, 10, 29, 13, 30, tzinfo=UTC)
TIERS = (
    TargetTier(Decimal("0.8"), Decimal("2.6"), inclusive=False),
    TargetTier(Decimal("0.7"), Decimal("1.8")),
)


class FakeBroker:
    """Records what was sent; the test scripts what comes back."""

    def __init__(self) -> None:
        self.placed: list[OrderIntent] = []
        self.cancelled: list[OrderRef] = []
        self.queued: list[BrokerEvent] = []

    def place(self, intent: OrderIntent) -> None:
        self.placed.append(intent)

    def cancel(self, order_ref: OrderRef) -> None:
        self.cancelled.append(order_ref)

    def events(self) -> Sequence[BrokerEvent]:
        drained, self.queued = self.queued, []
        return drained

    def net_liquidation(self) -> Money:
        return Money(Decimal(100_000))


class FakeMarket:
    def __init__(self, rows: Sequence[PremarketFeatures]) -> None:
        self.rows = list(rows)

    def premarket_features(
        self, trading_day: date, at: datetime, symbols: Sequence[Symbol] | None = None
    ) -> Sequence[PremarketFeatures]:
        return self.rows


def row(symbol: str, last: str, pre_volume: int) -> PremarketFeatures:
    return PremarketFeatures(
        Symbol(symbol),
        Price(Decimal(10)),
        Price(Decimal(last)),
        Decimal(pre_volume),
        Decimal(1_000_000),
        Decimal(4),
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(OPEN - timedelta(hours=1))


@pytest.fixture
def ledger(tmp_path: Path, clock: ManualClock) -> SqliteLedger:
    return SqliteLedger.open(
        tmp_path / "l.sqlite", clock, process="test", protected_symbols=frozenset({Symbol("SKYX")})
    )


def fill(ref: OrderRef, symbol: str, side: Side, qty: int, price: str, n: int = 1) -> Fill:
    return Fill(
        f"{ref}.{n}.01",  # IB's form: a correction changes only the digits after the last dot
        ref,
        Symbol(symbol),
        side,
        Quantity(qty),
        Price(Decimal(price)),
        OPEN,
        Money(Decimal(1)),
    )


def morning(ledger: SqliteLedger, rows: Sequence[PremarketFeatures]) -> list[int]:
    plan = plan_the_morning(
        ledger,
        FakeMarket(rows),
        RuleScorer(),
        trading_day=DAY,
        at=OPEN - timedelta(hours=1),
        rules=SelectionRules(3, TIERS),
        equity=Money(Decimal(100_000)),
        allocation_pct=Decimal(25),
        stop_loss_pct=Decimal("0.9"),
        protected=frozenset({Symbol("SKYX")}),
    )
    return [p.position_id or 0 for p in plan.planned]


def test_the_morning_scores_everything_and_plans_the_top_three(ledger: SqliteLedger) -> None:
    rows = [
        row("WULF", "10.60", 200_000),
        row("BBAR", "10.50", 150_000),
        row("RCAT", "10.35", 30_000),
        row("FLAT", "10.00", 0),
        row("SKYX", "11", 900_000),
        row("BYND", "10.30", 20_000),
    ]
    planned = morning(ledger, rows)
    positions = [ledger.position(pid) for pid in planned]
    assert [p.symbol.value for p in positions] == ["WULF", "BBAR", "RCAT"]
    assert all(p.state is PositionState.PLANNED for p in positions)
    assert positions[0].planned_quantity == Quantity(2358)  # 25% of $100k at $10.60
    # every candidate's score is kept, picked or not; the protected SKYX never reaches the
    # scorer: the funnel drops it and the SCAN event says why
    assert sorted(s.symbol.value for s in ledger.scores(DAY)) == [
        "BBAR",
        "BYND",
        "FLAT",
        "RCAT",
        "WULF",
    ]
    events = ledger.events(limit=100)
    (scan,) = [e for e in events if e.kind == "SCAN"]
    assert scan.data["dropped"] == {"SKYX": "protected symbol"}
    assert scan.data["kept"] == ["WULF", "BBAR", "RCAT", "BYND", "FLAT"]
    assert scan.message == "6 scanned, 5 kept; dropped: protected 1"
    skipped = {e.symbol.value: e.message for e in events if e.kind == "SKIPPED" and e.symbol}
    assert "below every target tier" in skipped["FLAT"]


def test_entries_are_recorded_before_they_are_sent(ledger: SqliteLedger) -> None:
    planned = morning(ledger, [row("WULF", "10.60", 200_000)])
    broker = FakeBroker()
    sent = send_entries(ledger, broker, [ledger.position(p) for p in planned], EntryTiming())
    assert [i.order_ref for i in broker.placed] == sent
    order = ledger.order(sent[0])
    assert (order.status, order.role) == (OrderStatus.PENDING, OrderRole.ENTRY)
    assert broker.placed[0].is_market_on_open
    again = send_entries(ledger, broker, [ledger.position(p) for p in planned], EntryTiming())
    assert again == [] and len(broker.placed) == 1  # never twice


def test_paused_entries_abandon_the_plans(ledger: SqliteLedger) -> None:
    planned = morning(ledger, [row("WULF", "10.60", 200_000)])
    broker = FakeBroker()
    assert (
        send_entries(
            ledger,
            broker,
            [ledger.position(p) for p in planned],
            EntryTiming(),
            entries_allowed=False,
        )
        == []
    )
    assert ledger.position(planned[0]).state is PositionState.ABANDONED
    assert broker.placed == []


def entered(ledger: SqliteLedger, broker: FakeBroker, manager: ExitManager) -> int:
    pid = morning(ledger, [row("WULF", "10.60", 200_000)])[0]
    (ref,) = send_entries(ledger, broker, [ledger.position(pid)], EntryTiming())
    broker.queued = [
        OrderUpdate(ref, OrderStatus.SUBMITTED, OPEN, broker_order_id=5),
        fill(ref, "WULF", Side.BUY, 2358, "10.00"),
    ]
    manager.apply(broker.events(), DAY)
    return pid


def protected_then(
    ledger: SqliteLedger, clock: ManualClock, later: timedelta
) -> tuple[FakeBroker, ExitManager, int, OrderIntent, OrderIntent]:
    """WULF entered and protected by a target and a stop; the clock then moves ``later``."""
    broker = FakeBroker()
    manager = ExitManager(ledger, broker, clock=clock)
    pid = entered(ledger, broker, manager)
    target, stop = broker.placed[1:]
    clock.advance(later)
    return broker, manager, pid, target, stop


def test_an_entry_fill_is_protected_by_a_target_and_a_stop(ledger: SqliteLedger) -> None:
    broker = FakeBroker()
    manager = ExitManager(ledger, broker)
    pid = entered(ledger, broker, manager)
    position = ledger.position(pid)
    assert position.state is PositionState.OPEN
    assert (position.target_price, position.stop_price) == (
        Price(Decimal("10.26")),
        Price(Decimal("9.91")),
    )  # +2.6% / -0.9% of the real fill
    target, stop = broker.placed[1:]
    assert (target.order_type, stop.order_type) == (OrderType.LIMIT, OrderType.STOP)
    assert target.oca_group == stop.oca_group is not None
    assert target.quantity == stop.quantity == Quantity(2358)
    manager.protect(ledger.position(pid))  # already protected: nothing more is sent
    assert len(broker.placed) == 3


def test_the_target_fill_closes_the_position(ledger: SqliteLedger) -> None:
    broker = FakeBroker()
    manager = ExitManager(ledger, broker)
    pid = entered(ledger, broker, manager)
    target, stop = broker.placed[1:]
    broker.queued = [
        fill(target.order_ref, "WULF", Side.SELL, 2358, "10.26"),
        OrderUpdate(stop.order_ref, OrderStatus.CANCELLED, OPEN, "OCA"),
    ]
    manager.apply(broker.events(), DAY)
    position = ledger.position(pid)
    assert (position.state, position.exit_reason) == (PositionState.CLOSED, ExitReason.TARGET)
    assert ledger.orders(pid, live_only=True) == []
    assert manager.flatten()  # nothing held: the flatten is already done


def test_flatten_cancels_the_bracket_before_selling(ledger: SqliteLedger) -> None:
    broker = FakeBroker()
    manager = ExitManager(ledger, broker)
    pid = entered(ledger, broker, manager)
    target, stop = broker.placed[1:]
    assert not manager.flatten()
    assert set(broker.cancelled) == {target.order_ref, stop.order_ref}
    assert len(broker.placed) == 3  # no market sell while the bracket may still fill
    assert not manager.flatten()
    assert len(broker.cancelled) == 2  # asked once only
    broker.queued = [
        OrderUpdate(target.order_ref, OrderStatus.CANCELLED, OPEN),
        OrderUpdate(stop.order_ref, OrderStatus.CANCELLED, OPEN),
    ]
    manager.apply(broker.events(), DAY)
    assert not manager.flatten()
    flat = broker.placed[-1]
    assert (flat.role, flat.order_type, flat.quantity) == (
        OrderRole.FLATTEN,
        OrderType.MARKET,
        Quantity(2358),
    )
    assert ledger.position(pid).state is PositionState.EXITING
    broker.queued = [fill(flat.order_ref, "WULF", Side.SELL, 2358, "9.95")]
    manager.apply(broker.events(), DAY)
    assert manager.flatten()
    assert ledger.position(pid).exit_reason is ExitReason.FLATTEN


def test_events_for_orders_openbell_did_not_place_are_ignored(ledger: SqliteLedger) -> None:
    broker = FakeBroker()
    manager = ExitManager(ledger, broker)
    foreign = OrderRef("manual-trade")
    manager.apply(
        [
            fill(foreign, "SKYX", Side.SELL, 182, "1.20"),
            OrderUpdate(foreign, OrderStatus.FILLED, OPEN),
        ],
        DAY,
    )
    assert ledger.positions_of_day(DAY) == []
    assert [e.kind for e in ledger.events(limit=10)] == ["FOREIGN", "FOREIGN"]


def test_an_adopted_position_without_exit_rules_is_flagged(ledger: SqliteLedger) -> None:
    broker = FakeBroker()
    adopted = ledger.adopt(Symbol("VMD"), Quantity(35), Price(Decimal("6.84")), "user", DAY)
    ExitManager(ledger, broker).protect(adopted)
    assert broker.placed == []
    assert ledger.events(limit=10)[-1].kind == "UNPROTECTED"


def partly_entered(ledger: SqliteLedger, broker: FakeBroker, manager: ExitManager) -> OrderRef:
    """WULF's entry sent, and 1,000 of its 2,358 shares filled and protected."""
    pid = morning(ledger, [row("WULF", "10.60", 200_000)])[0]
    (ref,) = send_entries(ledger, broker, [ledger.position(pid)], EntryTiming())
    broker.queued = [fill(ref, "WULF", Side.BUY, 1000, "10.00", n=1)]
    manager.apply(broker.events(), DAY)
    return ref


def test_shares_from_a_later_partial_entry_fill_are_protected_too(ledger: SqliteLedger) -> None:
    broker = FakeBroker()
    manager = ExitManager(ledger, broker)
    ref = partly_entered(ledger, broker, manager)
    pid = ledger.order(ref).position_id
    first_target, first_stop = broker.placed[1:]
    assert first_target.quantity == Quantity(1000)
    broker.queued = [fill(ref, "WULF", Side.BUY, 1358, "10.00", n=2)]
    manager.apply(broker.events(), DAY)
    # The first pair covers 1,000 of 2,358 shares: it is cancelled, then replaced.
    assert set(broker.cancelled) == {first_target.order_ref, first_stop.order_ref}
    assert len(broker.placed) == 3
    broker.queued = [
        OrderUpdate(first_target.order_ref, OrderStatus.CANCELLED, OPEN),
        OrderUpdate(first_stop.order_ref, OrderStatus.CANCELLED, OPEN),
    ]
    manager.apply(broker.events(), DAY)
    second_target, second_stop = broker.placed[3:]
    assert second_target.quantity == second_stop.quantity == Quantity(2358)
    assert second_target.oca_group == second_stop.oca_group != first_target.oca_group
    live = ledger.orders(pid, live_only=True)
    assert {o.order_ref for o in live} == {second_target.order_ref, second_stop.order_ref}


def test_a_late_entry_fill_after_the_target_sold_the_first_shares_is_protected(
    ledger: SqliteLedger,
) -> None:
    broker = FakeBroker()
    manager = ExitManager(ledger, broker)
    ref = partly_entered(ledger, broker, manager)
    pid = ledger.order(ref).position_id
    target, stop = broker.placed[1:]
    broker.queued = [
        OrderUpdate(ref, OrderStatus.CANCELLED, OPEN),  # the rest of the entry, cancelled
        fill(target.order_ref, "WULF", Side.SELL, 1000, "10.26"),
        OrderUpdate(stop.order_ref, OrderStatus.CANCELLED, OPEN),  # by the OCA group
    ]
    manager.apply(broker.events(), DAY)
    assert ledger.position(pid).state is PositionState.CLOSED
    # IB then tells a fill of the cancelled entry: 1,358 real shares, openbell's to manage.
    broker.queued = [fill(ref, "WULF", Side.BUY, 1358, "10.05", n=2)]
    manager.apply(broker.events(), DAY)
    reopened = ledger.position(pid)
    assert (reopened.state, reopened.held_quantity) == (PositionState.OPEN, 1358)
    new_target, new_stop = broker.placed[3:]
    assert new_target.quantity == new_stop.quantity == Quantity(1358)
    assert (new_target.role, new_stop.role) == (OrderRole.TARGET, OrderRole.STOP)


def test_cancels_during_a_flatten_do_not_re_protect(ledger: SqliteLedger) -> None:
    broker = FakeBroker()
    manager = ExitManager(ledger, broker)
    entered(ledger, broker, manager)
    target, stop = broker.placed[1:]
    manager.flatten()
    broker.queued = [
        OrderUpdate(target.order_ref, OrderStatus.CANCELLED, OPEN),
        OrderUpdate(stop.order_ref, OrderStatus.CANCELLED, OPEN),
    ]
    manager.apply(broker.events(), DAY)
    assert len(broker.placed) == 3  # no new target or stop
    manager.flatten()
    assert broker.placed[-1].role is OrderRole.FLATTEN


def test_replacing_brackets_stops_after_the_limit(ledger: SqliteLedger) -> None:
    broker = FakeBroker()
    manager = ExitManager(ledger, broker)
    pid = entered(ledger, broker, manager)
    for _ in range(12):  # a broker that cancels every pair it is sent
        pair = [i for i in broker.placed if i.role is not OrderRole.ENTRY][-2:]
        broker.queued = [OrderUpdate(i.order_ref, OrderStatus.CANCELLED, OPEN) for i in pair]
        manager.apply(broker.events(), DAY)
    targets = [o for o in ledger.orders(pid) if o.role is OrderRole.TARGET]
    assert len(targets) == MAX_PROTECT_ATTEMPTS
    assert ledger.events(limit=1000)[-1].kind == "UNPROTECTED"


def test_a_pair_missing_its_target_is_replaced_whole(ledger: SqliteLedger) -> None:
    broker = FakeBroker()
    manager = ExitManager(ledger, broker)
    entered(ledger, broker, manager)
    target, stop = broker.placed[1:]
    broker.queued = [OrderUpdate(target.order_ref, OrderStatus.CANCELLED, OPEN, "by the broker")]
    manager.apply(broker.events(), DAY)
    assert broker.cancelled == [stop.order_ref]  # the lone stop goes too...
    assert len(broker.placed) == 3
    broker.queued = [OrderUpdate(stop.order_ref, OrderStatus.CANCELLED, OPEN)]
    manager.apply(broker.events(), DAY)
    new_target, new_stop = broker.placed[3:]  # ...and a whole new pair replaces both
    assert (new_target.role, new_stop.role) == (OrderRole.TARGET, OrderRole.STOP)
    assert new_target.oca_group == new_stop.oca_group != target.oca_group


def default_rules() -> TradingRules:
    """The settings' day plan, top 3, 25 % each, a 0.9 % stop."""
    return TradingRules(
        plan=Settings().day_plan(),
        selection=SelectionRules(3, TIERS),
        allocation_pct=Decimal(25),
        stop_loss_pct=Decimal("0.9"),
    )


class CancelFailsOnce(FakeBroker):
    """A broker that is disconnected at the first cancel."""

    def cancel(self, order_ref: OrderRef) -> None:
        if not self.cancelled and not getattr(self, "failed", False):
            self.failed = True
            raise BrokerUnavailable("IB is not connected")
        super().cancel(order_ref)


def test_an_entry_cancel_the_broker_could_not_take_is_tried_again(
    ledger: SqliteLedger, clock: ManualClock
) -> None:
    broker = CancelFailsOnce()
    rules = default_rules()
    trader = DayTrader(
        ledger, broker, FakeMarket([row("WULF", "10.60", 200_000)]), RuleScorer(), rules
    )
    session = ExchangeCalendar.nyse().session(DAY)
    trader.step(clock.set(OPEN - timedelta(minutes=4)), session)  # plans the morning
    trader.step(clock.now(), session)  # and sends the MOO on the next tick
    [entry] = broker.placed
    late = clock.set(OPEN + timedelta(minutes=6))  # still working after the grace
    with pytest.raises(BrokerUnavailable):
        trader.step(late, session)
    assert broker.cancelled == []
    trader.step(late, session)  # the next tick asks again
    trader.step(late, session)  # and only once
    assert broker.cancelled == [entry.order_ref]


class MarketDownTwice(FakeMarket):
    """A provider that fails the first two scans (down, then rate limited), then answers."""

    def __init__(self, rows: Sequence[PremarketFeatures]) -> None:
        super().__init__(rows)
        self.asked: list[datetime] = []

    def premarket_features(
        self, trading_day: date, at: datetime, symbols: Sequence[Symbol] | None = None
    ) -> Sequence[PremarketFeatures]:
        self.asked.append(at)
        if len(self.asked) == 1:
            raise MarketDataUnavailable("massive", "GET /v2/snapshot", "server error (HTTP 503)")
        if len(self.asked) == 2:
            raise MarketDataUnavailable("massive", "GET /v2/snapshot", "rate limited (HTTP 429)")
        return self.rows


def test_a_failed_scan_is_reported_and_tried_again_after_a_pause(
    ledger: SqliteLedger, clock: ManualClock
) -> None:
    broker = FakeBroker()
    rules = default_rules()
    market = MarketDownTwice([row("WULF", "10.60", 200_000)])
    trader = DayTrader(ledger, broker, market, RuleScorer(), rules)
    session = ExchangeCalendar.nyse().session(DAY)
    scan_at = OPEN - timedelta(hours=1)
    trader.step(clock.set(scan_at), session)
    trader.step(clock.set(scan_at + timedelta(seconds=30)), session)  # within the pause
    assert len(market.asked) == 1
    trader.step(clock.set(scan_at + timedelta(minutes=1)), session)
    trader.step(clock.set(scan_at + timedelta(minutes=2)), session)
    assert len(market.asked) == 3
    failures = [e.message for e in ledger.events(limit=100) if e.kind == "SCAN_FAILED"]
    assert len(failures) == 2
    assert "HTTP 503" in failures[0] and "next attempt at 08:31:00 ET" in failures[0]
    assert "HTTP 429" in failures[1]
    [planned] = ledger.positions_of_day(DAY)
    assert planned.symbol == Symbol("WULF")
    assert ledger.day_steps(DAY)["morning"].detail == "picks: WULF"


class SlowScorer(RuleScorer):
    """Scores like the rules, but the clock moves on while it thinks (a slow LLM)."""

    def __init__(self, clock: ManualClock, takes: timedelta) -> None:
        self._clock, self._takes = clock, takes

    def score(
        self, features: Sequence[PremarketFeatures], trading_day: date | None = None
    ) -> ScoreBatch:
        self._clock.set(self._clock.now() + self._takes)
        return super().score(features, trading_day)


def test_a_scan_that_ends_after_the_moo_cutoff_sends_nothing(
    ledger: SqliteLedger, clock: ManualClock
) -> None:
    broker = FakeBroker()
    rules = default_rules()
    slow = SlowScorer(clock, timedelta(minutes=3))
    trader = DayTrader(ledger, broker, FakeMarket([row("WULF", "10.60", 200_000)]), slow, rules)
    session = ExchangeCalendar.nyse().session(DAY)
    trader.step(clock.set(OPEN - timedelta(minutes=4)), session)  # scored until 09:29
    assert broker.placed == []  # not on the tick that started at 09:26
    trader.step(clock.now(), session)  # 09:29: past the 09:28 cutoff
    assert broker.placed == []
    [position] = ledger.positions_of_day(DAY)
    assert position.state is PositionState.ABANDONED


class CountingScorer(RuleScorer):
    def __init__(self) -> None:
        self.calls = 0

    def score(
        self, features: Sequence[PremarketFeatures], trading_day: date | None = None
    ) -> ScoreBatch:
        self.calls += 1
        return super().score(features, trading_day)


class NoEquityYet(FakeBroker):
    """A broker that cannot tell the account's equity for the first two asks."""

    def __init__(self) -> None:
        super().__init__()
        self.asks = 0

    def net_liquidation(self) -> Money:
        self.asks += 1
        if self.asks <= 2:
            raise BrokerUnavailable("IB is not connected")
        return super().net_liquidation()


def test_the_scorer_is_not_asked_again_when_the_plan_must_wait(
    ledger: SqliteLedger, clock: ManualClock
) -> None:
    broker = NoEquityYet()
    rules = default_rules()
    scorer = CountingScorer()
    trader = DayTrader(ledger, broker, FakeMarket([row("WULF", "10.60", 200_000)]), scorer, rules)
    session = ExchangeCalendar.nyse().session(DAY)
    at = clock.set(OPEN - timedelta(hours=1))
    for _ in range(2):
        with pytest.raises(BrokerUnavailable):
            trader.step(at, session)
    assert scorer.calls == 0  # the equity is asked first: no scan is paid for in vain
    trader.step(at, session)
    assert scorer.calls == 1
    assert [p.symbol for p in ledger.positions_of_day(DAY)] == [Symbol("WULF")]


def test_a_fill_reported_after_its_cancel_never_sells_the_shares_twice(
    ledger: SqliteLedger, clock: ManualClock
) -> None:
    """The chaos harness found it (seed 9, a fill-after-cancel fault): the stop filled, IB
    cancelled the target (OCA) and held the fill's news; the manager cancelled the stop, got
    Cancelled, and sent a new pair at once. The fill came next and closed the position, and
    the new stop then sold the same shares again. A new pair now waits REPLACE_AFTER."""
    broker, manager, pid, target, stop = protected_then(ledger, clock, timedelta(minutes=40))
    broker.queued = [OrderUpdate(target.order_ref, OrderStatus.CANCELLED, OPEN, "OCA")]
    manager.apply(broker.events(), DAY)
    assert broker.cancelled == [stop.order_ref]  # one side gone: the other is cancelled
    broker.queued = [OrderUpdate(stop.order_ref, OrderStatus.CANCELLED, OPEN)]  # IB says so
    manager.apply(broker.events(), DAY)
    manager.protect(ledger.position(pid))
    assert len(broker.placed) == 3  # no new pair yet: the stop's fill may still come
    clock.advance(REPLACE_AFTER / 2)
    broker.queued = [fill(stop.order_ref, "WULF", Side.SELL, 2358, "9.91")]  # and it does
    manager.apply(broker.events(), DAY)
    position = ledger.position(pid)
    assert (position.state, position.exit_reason) == (PositionState.CLOSED, ExitReason.STOP)
    clock.advance(REPLACE_AFTER)
    manager.protect(position)
    assert len(broker.placed) == 3  # closed: nothing is ever sent again


def test_a_target_filled_in_part_ends_its_pair_so_a_late_stop_never_oversells(
    ledger: SqliteLedger, clock: ManualClock
) -> None:
    """Day 115 of the 200-day chaos run: the target was marketable when it arrived and
    filled 4,037 of 11,159 AMD before its stop joined the OCA group; the stop, never shrunk
    for that fill, later sold 4,037 shares openbell no longer held. A target filled in part
    now ends its pair, and a new pair for what is still held follows after the wait."""
    broker, manager, pid, target, stop = protected_then(ledger, clock, timedelta(minutes=40))
    broker.queued = [fill(target.order_ref, "WULF", Side.SELL, 1000, "10.26")]
    manager.apply(broker.events(), DAY)
    assert ledger.position(pid).held_quantity == 1358
    assert set(broker.cancelled) == {target.order_ref, stop.order_ref}
    broker.queued = [
        fill(target.order_ref, "WULF", Side.SELL, 358, "10.26", n=2),  # told after the cancel
        OrderUpdate(target.order_ref, OrderStatus.CANCELLED, OPEN),
        OrderUpdate(stop.order_ref, OrderStatus.CANCELLED, OPEN),
    ]
    manager.apply(broker.events(), DAY)
    assert len(broker.placed) == 3  # the wait: more of the target may still be told
    clock.advance(REPLACE_AFTER)
    manager.protect(ledger.position(pid))
    new_target, new_stop = broker.placed[3:]
    assert (new_target.role, new_stop.role) == (OrderRole.TARGET, OrderRole.STOP)
    assert new_target.quantity == new_stop.quantity == Quantity(1000)  # 2358 - 1000 - 358


def test_a_closed_position_cancels_the_exit_ib_left_working(
    ledger: SqliteLedger, clock: ManualClock
) -> None:
    """Day 147 of the 200-day chaos run: the target filled all 11,884 AMD before its stop
    joined the OCA group, the stop stayed whole and sold 11,884 shares at 11:03."""
    broker, manager, pid, target, stop = protected_then(ledger, clock, timedelta(minutes=40))
    broker.queued = [fill(target.order_ref, "WULF", Side.SELL, 2358, "10.26")]
    manager.apply(broker.events(), DAY)
    assert ledger.position(pid).state is PositionState.CLOSED
    assert broker.cancelled == [stop.order_ref]
    broker.queued = [OrderUpdate(stop.order_ref, OrderStatus.CANCELLED, OPEN)]
    manager.apply(broker.events(), DAY)
    clock.advance(REPLACE_AFTER)
    manager.protect(ledger.position(pid))
    assert len(broker.placed) == 3 and broker.cancelled == [stop.order_ref]


def test_a_stop_filled_in_part_cancels_the_target_and_finishes_its_sale(
    ledger: SqliteLedger, clock: ManualClock
) -> None:
    broker, manager, pid, target, stop = protected_then(ledger, clock, timedelta(minutes=40))
    broker.queued = [fill(stop.order_ref, "WULF", Side.SELL, 2000, "9.91")]
    manager.apply(broker.events(), DAY)
    assert broker.cancelled == [target.order_ref]  # the stop is selling: it is left alone
    broker.queued = [OrderUpdate(target.order_ref, OrderStatus.CANCELLED, OPEN)]
    manager.apply(broker.events(), DAY)
    clock.advance(REPLACE_AFTER)
    manager.protect(ledger.position(pid))
    assert broker.cancelled == [target.order_ref] and len(broker.placed) == 3
    broker.queued = [fill(stop.order_ref, "WULF", Side.SELL, 358, "9.90", n=2)]
    manager.apply(broker.events(), DAY)
    position = ledger.position(pid)
    assert (position.state, position.exit_reason) == (PositionState.CLOSED, ExitReason.STOP)


def test_a_pair_that_ended_unfilled_is_replaced_after_the_wait(
    ledger: SqliteLedger, clock: ManualClock
) -> None:
    broker, manager, pid, target, stop = protected_then(ledger, clock, timedelta(minutes=40))
    broker.queued = [
        OrderUpdate(target.order_ref, OrderStatus.CANCELLED, OPEN, "10349"),
        OrderUpdate(stop.order_ref, OrderStatus.CANCELLED, OPEN, "10349"),
    ]
    manager.apply(broker.events(), DAY)
    assert len(broker.placed) == 3
    clock.advance(REPLACE_AFTER - timedelta(seconds=1))
    manager.protect(ledger.position(pid))
    assert len(broker.placed) == 3
    clock.advance(timedelta(seconds=1))
    manager.protect(ledger.position(pid))
    new_target, new_stop = broker.placed[3:]
    assert (new_target.role, new_stop.role) == (OrderRole.TARGET, OrderRole.STOP)
    assert new_target.quantity == new_stop.quantity == Quantity(2358)


def test_the_flatten_waits_for_a_fill_that_may_follow_the_cancel(
    ledger: SqliteLedger, clock: ManualClock
) -> None:
    """The same race at the flatten: the bracket is cancelled, IB says Cancelled, and the
    stop's fill comes after. The market sell waits REPLACE_AFTER, so it is never sent."""
    broker = FakeBroker()
    manager = ExitManager(ledger, broker, clock=clock)
    pid = entered(ledger, broker, manager)
    target, stop = broker.placed[1:]
    clock.advance(timedelta(hours=6))
    assert not manager.flatten()
    broker.queued = [
        OrderUpdate(target.order_ref, OrderStatus.CANCELLED, OPEN),
        OrderUpdate(stop.order_ref, OrderStatus.CANCELLED, OPEN),
    ]
    manager.apply(broker.events(), DAY)
    assert not manager.flatten()
    assert len(broker.placed) == 3  # no market sell yet
    broker.queued = [fill(stop.order_ref, "WULF", Side.SELL, 2358, "9.91")]
    manager.apply(broker.events(), DAY)
    clock.advance(REPLACE_AFTER)
    assert manager.flatten()  # the late fill sold everything: nothing left to flatten
    assert len(broker.placed) == 3
    assert ledger.position(pid).exit_reason is ExitReason.STOP


def test_without_a_late_fill_the_flatten_sells_after_the_wait(
    ledger: SqliteLedger, clock: ManualClock
) -> None:
    broker = FakeBroker()
    manager = ExitManager(ledger, broker, clock=clock)
    pid = entered(ledger, broker, manager)
    target, stop = broker.placed[1:]
    clock.advance(timedelta(hours=6))
    manager.flatten()
    broker.queued = [
        OrderUpdate(target.order_ref, OrderStatus.CANCELLED, OPEN),
        OrderUpdate(stop.order_ref, OrderStatus.CANCELLED, OPEN),
    ]
    manager.apply(broker.events(), DAY)
    clock.advance(REPLACE_AFTER)
    assert not manager.flatten()
    flat = broker.placed[-1]
    assert (flat.role, flat.quantity) == (OrderRole.FLATTEN, Quantity(2358))
    assert ledger.position(pid).state is PositionState.EXITING
