"""Selection, entry timing, exit orders, flatten, smart shutdown and the rule scorer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from openbell.domain.broker import OrderUpdate
from openbell.domain.candidates import Candidate, PremarketFeatures
from openbell.domain.enums import (
    ExitReason,
    OrderRole,
    OrderStatus,
    OrderType,
    PositionRole,
    PositionState,
    Side,
    TimeInForce,
)
from openbell.domain.errors import InvalidValue
from openbell.domain.positions import Position
from openbell.domain.sessions import RelativeTime, Session
from openbell.domain.values import Confidence, Money, OrderRef, Price, Quantity, Symbol
from openbell.strategy.exits import TargetTier
from openbell.strategy.management import (
    crossed_level,
    day_is_done,
    exit_orders,
    flatten_order,
    market_exit,
    must_flatten,
)
from openbell.strategy.schedule import DayPlan
from openbell.strategy.scoring import (
    RuleScorer,
    gap_score,
    range_score,
    rule_confidence,
    volume_score,
)
from openbell.strategy.selection import Exclusions, SelectionRules, select
from openbell.strategy.sizing import shares_per_pick, shares_within_equity
from openbell.strategy.timing import EntryTiming

DAY = date(2025, 10, 29)
TIERS = (
    TargetTier(Decimal("0.8"), Decimal("2.6"), inclusive=False),
    TargetTier(Decimal("0.7"), Decimal("1.8")),
)
RULES = SelectionRules(top_n=3, tiers=TIERS, min_price=Decimal(2), max_price=Decimal(500))
SESSION = Session(
    DAY, datetime(2025, 10, 29, 13, 30, tzinfo=UTC), datetime(2025, 10, 29, 20, 0, tzinfo=UTC)
)
TIMELINE = DayPlan(
    *(
        RelativeTime.parse(t)
        for t in ("open - 90m", "open - 60m", "open - 5m", "close - 15m", "close + 5m")
    )
).resolve(SESSION)


def cand(symbol: str, confidence: str, price: str = "15") -> Candidate:
    return Candidate(Symbol(symbol), Confidence(Decimal(confidence)), Price(Decimal(price)))


class TestSelection:
    def test_top_n_by_confidence_with_every_skip_explained(self) -> None:
        candidates = [
            cand("WULF", "0.86"),
            cand("BBAR", "0.91"),
            cand("RCAT", "0.74"),
            cand("BYND", "0.72"),
            cand("LOW", "0.5"),
            cand("SKYX", "0.99"),
            cand("PENNY", "0.95", "1.5"),
            cand("HELD", "0.9"),
            cand("DONE", "0.9"),
            cand("WULF", "0.8"),
            cand("ASKED", "0.9"),
        ]
        excluded = Exclusions(
            protected={Symbol("SKYX")},
            active={Symbol("HELD")},
            closed_today={Symbol("DONE")},
            proposed={Symbol("ASKED")},
        )
        result = select(candidates, RULES, excluded)
        assert [(p.candidate.symbol.value, p.rank, p.target_pct) for p in result.picks] == [
            ("BBAR", 1, Decimal("2.6")),
            ("WULF", 2, Decimal("2.6")),
            ("RCAT", 3, Decimal("1.8")),
        ]
        reasons = {s.symbol.value + ":" + s.reason.split(" ")[0] for s in result.skipped}
        assert reasons == {
            "SKYX:protected",
            "PENNY:price",
            "HELD:already",
            "DONE:closed",
            "BYND:ranked",
            "LOW:confidence",
            "WULF:duplicate",
            "ASKED:already",
        }

    def test_ties_break_by_symbol(self) -> None:
        result = select([cand("B", "0.9"), cand("A", "0.9")], RULES, Exclusions())
        assert [p.candidate.symbol.value for p in result.picks] == ["A", "B"]


class TestTiming:
    def test_moo(self) -> None:
        moo = EntryTiming.parse("moo")
        assert moo.is_moo and str(moo) == "moo"
        assert moo.submit_at(TIMELINE) == SESSION.open - timedelta(minutes=5)
        intent = moo.entry_intent(OrderRef("e"), Symbol("WULF"), Quantity(10))
        assert intent.is_market_on_open

    def test_late_entry(self) -> None:
        late = EntryTiming.parse("late:60m")
        assert str(late) == "late:60m" and not late.is_moo
        assert late.submit_at(TIMELINE) == SESSION.open + timedelta(minutes=60)
        intent = late.entry_intent(OrderRef("e"), Symbol("WULF"), Quantity(10))
        assert (intent.order_type, intent.time_in_force) == (OrderType.MARKET, TimeInForce.DAY)

    @pytest.mark.parametrize("text", ["late", "late:0m", "late:390m", "moo ", "late:60"])
    def test_bad_timing(self, text: str) -> None:
        with pytest.raises(InvalidValue, match="late:60m"):
            EntryTiming.parse(text)


def held(
    state: PositionState = PositionState.OPEN,
    reason: ExitReason | None = None,
    role: PositionRole = PositionRole.MASTER,
) -> Position:
    at = SESSION.open
    position = Position(
        DAY,
        Symbol("WULF"),
        role,
        Quantity(100),
        state=PositionState.OPEN,
        position_id=7,
        target_price=Price(Decimal("15.58")),
        stop_price=Price(Decimal("15.05")),
        entry_quantity=100,
        entry_cost=Decimal(1519),
        opened_at=at,
    )
    if state is PositionState.CLOSED:
        return position.record_exit_fill(
            Quantity(100), Price(Decimal(15)), at, reason or ExitReason.TARGET, DAY
        )
    return replace(position, state=state)


class TestManagement:
    def test_exit_orders_share_an_oca_group_and_cover_every_share(self) -> None:
        pair = exit_orders(held(), attempt=1)
        assert pair.target.oca_group == pair.stop.oca_group == "oca-20251029-7-1"
        assert pair.target.limit_price == Price(Decimal("15.58"))
        assert pair.stop.stop_price == Price(Decimal("15.05"))
        assert pair.target.quantity == pair.stop.quantity == Quantity(100)
        assert str(pair.stop.order_ref) == "ob-20251029-WULF-7-stop-1"
        assert str(exit_orders(held()).target.order_ref) == "ob-20251029-WULF-7-target"

    def test_exit_orders_need_prices_and_shares(self) -> None:
        with pytest.raises(InvalidValue, match="exit prices"):
            exit_orders(replace(held(), target_price=None))
        with pytest.raises(InvalidValue, match="held quantity"):
            exit_orders(replace(held(), entry_quantity=100, exit_quantity=100))

    def test_flatten(self) -> None:
        order = flatten_order(held())
        assert (order.order_type, order.quantity) == (OrderType.MARKET, Quantity(100))
        assert must_flatten(TIMELINE.flatten, TIMELINE)
        assert not must_flatten(TIMELINE.flatten - timedelta(seconds=1), TIMELINE)

    @pytest.mark.parametrize(
        ("price", "role"),
        [
            ("15.58", OrderRole.TARGET),
            ("16.00", OrderRole.TARGET),
            ("15.57", None),
            ("15.06", None),
            ("15.05", OrderRole.STOP),
            ("14.00", OrderRole.STOP),
        ],
    )
    def test_crossed_level(self, price: str, role: OrderRole | None) -> None:
        assert crossed_level(held(), Price(Decimal(price))) is role

    def test_no_level_is_crossed_without_recorded_prices(self) -> None:
        assert crossed_level(replace(held(), stop_price=None), Price(Decimal(1))) is None

    def test_market_exit_sells_every_held_share_in_its_role(self) -> None:
        order = market_exit(held(), OrderRole.STOP, attempt=2)
        assert (order.order_type, order.side, order.quantity, order.role) == (
            OrderType.MARKET,
            Side.SELL,
            Quantity(100),
            OrderRole.STOP,
        )
        assert str(order.order_ref) == "ob-20251029-WULF-7-stop-2"
        with pytest.raises(InvalidValue, match="monitored exit role"):
            market_exit(held(), OrderRole.ENTRY)

    def test_smart_shutdown_needs_every_master_at_its_target(self) -> None:
        at_target = held(PositionState.CLOSED, ExitReason.TARGET)
        stopped = held(PositionState.CLOSED, ExitReason.STOP)
        abandoned = held(PositionState.ABANDONED)
        adopted_open = held(role=PositionRole.ADOPTED)
        assert day_is_done([at_target, at_target, abandoned, adopted_open])
        assert not day_is_done([at_target, stopped])
        assert not day_is_done([at_target, held()])
        assert not day_is_done([abandoned])


def features(gap_to: str, pre_volume: str = "50000", atr: str = "4") -> PremarketFeatures:
    return PremarketFeatures(
        Symbol("WULF"),
        Price(Decimal("10")),
        Price(Decimal(gap_to)),
        Decimal(pre_volume),
        Decimal(1_000_000),
        Decimal(atr),
    )


class TestRuleScorer:
    def test_features(self) -> None:
        row = features("10.60", "100000")
        assert row.gap_pct == Decimal(6)
        assert row.relative_volume == Decimal("0.1")
        empty = PremarketFeatures(
            Symbol("X"), Price(Decimal(1)), Price(Decimal(1)), Decimal(0), Decimal(0), Decimal(0)
        )
        assert empty.relative_volume == 0
        with pytest.raises(InvalidValue):
            PremarketFeatures(
                Symbol("X"),
                Price(Decimal(1)),
                Price(Decimal(1)),
                Decimal(-1),
                Decimal(0),
                Decimal(0),
            )

    def test_score_parts(self) -> None:
        assert gap_score(-2.0) == 0
        assert gap_score(3.0) == 0.5
        assert gap_score(8.0) == 1
        assert gap_score(15.0) == 0.5
        assert gap_score(25.0) == 0
        assert range_score(8.0) == 1
        assert volume_score(0.0) == 0
        assert volume_score(0.1) == pytest.approx(0.5207, abs=1e-4)

    def test_a_strong_gap_with_volume_earns_the_top_tier(self) -> None:
        strong, reason = rule_confidence(features("10.60", "200000", "4"))
        assert strong.value > Decimal("0.8")
        assert "gap +6.00%" in reason
        flat, _ = rule_confidence(features("10.00", "0", "0"))
        assert flat.value == Decimal("0.4")

    def test_the_scorer_keeps_order_and_prices(self) -> None:
        rows = [features("10.60"), features("10.10")]
        scored = RuleScorer().score(rows).candidates
        assert RuleScorer().score(rows).unscored == ()
        assert [c.reference_price for c in scored] == [r.last_price for r in rows]
        assert scored[0].confidence > scored[1].confidence


def test_shares_per_pick_never_spend_more_than_the_equity() -> None:
    prices = [Price(Decimal(10))] * 5
    shares = shares_per_pick(Money(Decimal(10_000)), Decimal(25), prices)
    assert [q.value if q else None for q in shares] == [200] * 5  # 20% each, not 25%
    assert shares_per_pick(Money(Decimal(10_000)), Decimal(25), []) == []
    three = shares_per_pick(Money(Decimal(10_000)), Decimal(25), prices[:3])
    assert [q.value if q else None for q in three] == [250] * 3


def test_order_update_needs_an_aware_time() -> None:
    update = OrderUpdate(OrderRef("x"), OrderStatus.FILLED, SESSION.open)
    assert update.status is OrderStatus.FILLED
    with pytest.raises(InvalidValue):
        OrderUpdate(OrderRef("x"), OrderStatus.FILLED, datetime(2025, 1, 1))


def test_one_more_position_never_takes_more_than_the_equity_left() -> None:
    equity, price = Money(Decimal(10_000)), Price(Decimal(10))
    assert shares_within_equity(equity, Decimal(25), price, Decimal(0)) == Quantity(250)
    assert shares_within_equity(equity, Decimal(25), price, Decimal(9_000)) == Quantity(100)
    assert shares_within_equity(equity, Decimal(25), price, Decimal(10_000)) is None
    assert shares_within_equity(equity, Decimal(25), price, Decimal(12_000)) is None
    assert shares_within_equity(Money(Decimal(0)), Decimal(25), price, Decimal(0)) is None


def test_rescans_fall_every_interval_after_the_open_until_the_last_entry() -> None:
    every = timedelta(minutes=15)
    open_ = SESSION.open
    assert TIMELINE.last_entry == SESSION.close - timedelta(minutes=45)
    assert TIMELINE.rescan_slot(open_ + timedelta(minutes=14), every) is None
    assert TIMELINE.rescan_slot(open_ + timedelta(minutes=15), every) == open_ + every
    assert TIMELINE.rescan_slot(open_ + timedelta(minutes=44), every) == open_ + 2 * every
    assert TIMELINE.rescan_slot(open_ - timedelta(minutes=20), every) is None
    assert TIMELINE.rescan_slot(TIMELINE.last_entry, every) is None
    assert TIMELINE.rescan_slot(open_ + timedelta(hours=1), timedelta(0)) is None


def test_the_last_entry_must_fall_between_the_open_and_the_flatten() -> None:
    times = ("open - 90m", "open - 60m", "open - 5m", "close - 15m", "close + 5m")
    plan = DayPlan(*(RelativeTime.parse(t) for t in times))
    early = replace(plan, last_entry=RelativeTime.parse("open - 1m")).resolve(SESSION)
    late = replace(plan, last_entry=RelativeTime.parse("close - 10m")).resolve(SESSION)
    assert early.ordering_problems() == [("last_entry", "after the open")]
    assert late.ordering_problems() == [("last_entry", "no later than the flatten")]
    assert ("last_entry", plan.resolve(SESSION).last_entry) in plan.resolve(SESSION).steps()
