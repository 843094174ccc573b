"""Properties of the matching engine over random bars and random order flows."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from venue_fakes import BUY, SELL, Row, bars, ny, order, session

from openbell.venue import (
    Event,
    Fill,
    FixedBps,
    FixedCommission,
    Liquidity,
    MatchingEngine,
    Tif,
    VenueConfig,
    VenueOrder,
    VenueOrderType,
)

SYMBOLS = ("AAA", "BBB")
MINUTES = ["08:00", "08:01", "08:02"] + [f"09:{m:02d}" for m in range(30, 46)] + ["13:00"]
START = ny("07:59")
CLOSE = "09:40"


def day_bars(rng: random.Random) -> list[Row]:
    """A random walk in cents with consistent OHLC and some empty minutes."""
    price = rng.randint(900, 1100)
    rows = []
    for minute in MINUTES:
        opening = price + rng.randint(-30, 30)
        closing = opening + rng.randint(-30, 30)
        high = max(opening, closing) + rng.randint(0, 20)
        low = min(opening, closing) - rng.randint(0, 20)
        volume = rng.choice([0, 40, 200, 1000])
        rows.append((minute, opening / 100, high / 100, low / 100, closing / 100, volume))
        price = closing
    return rows


@dataclass(frozen=True)
class Step:
    at: datetime
    order: VenueOrder | None
    cancel_id: int | None = None


def flow(rng: random.Random, count: int) -> list[Step]:
    """``count`` orders and cancels at random half-minutes from 07:59 to 09:39."""
    steps = []
    for oid in range(1, count + 1):
        at = START + timedelta(seconds=30 * rng.randint(0, 200))
        if oid > 1 and rng.random() < 0.25:
            steps.append(Step(at, None, cancel_id=rng.randint(1, oid - 1)))
        else:
            steps.append(Step(at, random_order(rng, oid)))
    return sorted(steps, key=lambda s: s.at)


def random_order(rng: random.Random, oid: int) -> VenueOrder:
    kind = rng.choice(list(VenueOrderType))
    tif = rng.choice([Tif.DAY, Tif.DAY, Tif.GTC, Tif.IOC, Tif.OPG])
    if tif is Tif.OPG and kind.is_stop:
        tif = Tif.DAY
    limit = (
        rng.randint(850, 1150) / 100
        if kind in (VenueOrderType.LMT, VenueOrderType.STP_LMT)
        else None
    )
    stop = rng.randint(850, 1150) / 100 if kind.is_stop else None
    group = rng.choice([None, None, "G1", "G1", "G2", "G3"])
    return order(
        oid,
        kind,
        rng.choice([BUY, SELL]),
        rng.randint(1, 500),
        symbol=rng.choice(SYMBOLS),
        tif=tif,
        limit_price=limit,
        stop_price=stop,
        outside_rth=rng.random() < 0.5,
        oca_group=group,
        oca_type=int(group[-1]) if group else 1,  # G1 cancels, G2 and G3 reduce
        parent_id=rng.randint(1, oid - 1) if oid > 1 and rng.random() < 0.4 else None,
        transmit=rng.random() < 0.8,
    )


def seconds_of(rows: list[Row], rng: random.Random) -> list[Row]:
    """1-second bars inside each traded minute: the open, then the high and low in random
    order, so the intrabar rule is exercised both ways."""
    seconds: list[Row] = []
    for minute, opening, high, low, _, volume in rows:
        if not volume:
            continue
        extremes = [high, low] if rng.random() < 0.5 else [low, high]
        for second, price in zip(("00", "20", "40"), [opening, *extremes], strict=True):
            seconds.append((f"{minute}:{second}", price, price, price, price, 1.0))
    return seconds


@dataclass(frozen=True)
class Scenario:
    rows: dict[str, list[Row]]
    seconds: dict[str, list[Row]]
    steps: list[Step]
    volume_share: float | None

    @property
    def orders(self) -> dict[int, VenueOrder]:
        return {s.order.order_id: s.order for s in self.steps if s.order is not None}


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Bars and an order flow from one seed: cheap to draw, and shrinks to a small seed."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    count = draw(st.integers(1, 14))
    rows = {s: day_bars(rng) for s in SYMBOLS}
    seconds = {"AAA": seconds_of(rows["AAA"], rng)} if draw(st.booleans()) else {}
    share = draw(st.sampled_from([None, 0.3, 0.05]))
    return Scenario(rows, seconds, flow(rng, count), share)


def _run(scenario: Scenario) -> tuple[MatchingEngine, list[Event]]:
    config = VenueConfig(
        commission=FixedCommission(),
        slippage=FixedBps(2.0),
        max_volume_share=scenario.volume_share,
    )
    venue = MatchingEngine(config)
    minute_bars = {s: bars(s, r) for s, r in scenario.rows.items()}
    seconds = {s: bars(s, r, resolution_s=1) for s, r in scenario.seconds.items()}
    venue.load_day(session(close=CLOSE), minute_bars, seconds)
    events: list[Event] = []
    for step in scenario.steps:
        if step.order is not None:
            events += venue.submit(step.order, step.at)
        elif step.cancel_id is not None:
            events += venue.cancel(step.cancel_id, 1, step.at)
    events += venue.advance_to(ny("20:00"))
    return venue, events


SCENARIOS = scenarios()
FAST = settings(max_examples=150, deadline=None)


@FAST
@given(SCENARIOS)
def test_shares_and_cash_reconcile(scenario: Scenario) -> None:
    venue, events = _run(scenario)
    fills = [e for e in events if isinstance(e, Fill)]
    net: dict[str, int] = defaultdict(int)
    for fill in fills:
        net[fill.symbol] += fill.quantity if fill.action is BUY else -fill.quantity
    assert {s: p.quantity for s, p in venue.positions().items()} == {
        s: q for s, q in net.items() if q
    }
    paid = sum((f.quantity if f.action is BUY else -f.quantity) * f.price for f in fills)
    commissions = sum(f.commission for f in fills)
    assert venue.cash() == pytest.approx(-paid - commissions, abs=1e-6)
    assert all(f.commission >= 0 for f in fills)


@FAST
@given(SCENARIOS)
def test_no_order_overfills_and_oca_type_1_fills_once(
    scenario: Scenario,
) -> None:
    _, events = _run(scenario)
    orders = scenario.orders
    filled: dict[int, int] = defaultdict(int)
    for fill in (e for e in events if isinstance(e, Fill)):
        filled[fill.order_id] += fill.quantity
        assert fill.cumulative_quantity == filled[fill.order_id]
        limit = orders[fill.order_id].limit_price
        if limit is not None:  # a limit never fills worse than its limit
            assert fill.price <= limit if fill.action is BUY else fill.price >= limit
    assert all(filled[oid] <= orders[oid].quantity for oid in filled)
    groups: dict[str, set[int]] = defaultdict(set)
    for oid in filled:
        if orders[oid].oca_group is not None and orders[oid].oca_type == 1:
            groups[orders[oid].oca_group].add(oid)
    assert all(len(members) <= 1 for members in groups.values())
    for oid, shares in filled.items():
        parent = orders[oid].parent_id
        if parent is not None:
            assert shares <= filled[parent] * orders[oid].quantity // orders[parent].quantity


@FAST
@given(SCENARIOS)
def test_events_are_deterministic_and_in_time_order(
    scenario: Scenario,
) -> None:
    first = _run(scenario)[1]
    assert first == _run(scenario)[1]
    times = [e.time for e in first]
    assert times == sorted(times)
    exec_ids = [e.exec_id for e in first if isinstance(e, Fill)]
    assert len(exec_ids) == len(set(exec_ids))


@FAST
@given(SCENARIOS)
def test_every_day_order_has_ended_by_the_end_of_extended_hours(
    scenario: Scenario,
) -> None:
    venue, _ = _run(scenario)
    assert all(state.order.tif is Tif.GTC for state in venue.open_orders())


# --- sessions: when and at what price a fill may happen --------------------------------------

OPEN = ny("09:30")
PRE_MARKET = ny("04:00")
POST_MARKET = ny(CLOSE) + timedelta(hours=4)  # 13:40: four hours after this early close
BAR = timedelta(minutes=1)
SESSION_RULES = settings(FAST, derandomize=True, database=None)


@dataclass(frozen=True)
class Bar:
    start: datetime
    open: float
    high: float
    low: float


def traded_bars(rows: list[Row]) -> list[Bar]:
    """The bars with volume, the only ones that can fill anything."""
    return [Bar(ny(r[0]), r[1], r[2], r[3]) for r in rows if r[5] > 0]


def window(order: VenueOrder) -> tuple[datetime, datetime]:
    """When ``order`` may trade: extended hours only for LMT, STP and STP LMT with
    ``outside_rth`` that are neither OPG nor IOC (IB ignores the flag on the others)."""
    ignored = order.order_type is VenueOrderType.MKT or order.tif in (Tif.OPG, Tif.IOC)
    if order.outside_rth and not ignored:
        return PRE_MARKET, POST_MARKET
    return OPEN, ny(CLOSE)


def sent_at(scenario: Scenario) -> dict[int, datetime]:
    return {s.order.order_id: s.at for s in scenario.steps if s.order is not None}


@SESSION_RULES
@given(SCENARIOS)
def test_no_fill_happens_outside_its_orders_session_or_before_its_price_traded(
    scenario: Scenario,
) -> None:
    _, events = _run(scenario)
    orders, sent = scenario.orders, sent_at(scenario)
    fills = [e for e in events if isinstance(e, Fill)]
    first_fills = {f.order_id: f for f in reversed(fills)}
    for fill in fills:
        order = orders[fill.order_id]
        bars = traded_bars(scenario.rows[order.symbol])
        # Stamped at the start (decided by the open) or the end of a traded bar of its symbol,
        # never before the order was sent.
        assert any(fill.time in (b.start, b.start + BAR) for b in bars)
        assert fill.time >= sent[order.order_id]
        if order.tif is Tif.OPG:  # MOO and LOO fill only in the opening auction, at its print
            auction = next(b for b in bars if OPEN <= b.start < ny(CLOSE))
            assert (fill.time, fill.price) == (auction.start, auction.open)
            continue
        start, end = window(order)
        assert start <= fill.time <= end
        if order.tif is Tif.IOC:  # the bar starting within one bar length of arrival, or none
            assert fill.time < sent[order.order_id] + 2 * BAR
        if order.order_type.is_stop:
            assert order.stop_price is not None
            stop, sell = order.stop_price, order.action is SELL
            # some bar of its session, sent no later than it started, reached the stop first
            touched = [
                b
                for b in bars
                if max(start, sent[order.order_id]) <= b.start <= fill.time
                and b.start < end
                and (b.low <= stop if sell else b.high >= stop)
            ]
            assert touched, "a stop filled before any bar of its session reached its stop"
            if order.order_type is VenueOrderType.STP and first_fills[order.order_id] is fill:
                # triggered at the stop, or through a gap at the worse open, plus slippage
                assert fill.price <= stop if sell else fill.price >= stop


@SESSION_RULES
@given(SCENARIOS)
def test_a_market_order_sent_before_the_open_first_fills_at_the_opening_print(
    scenario: Scenario,
) -> None:
    _, events = _run(scenario)
    orders, sent = scenario.orders, sent_at(scenario)
    first_fills = {e.order_id: e for e in reversed(events) if isinstance(e, Fill)}
    for order_id, fill in first_fills.items():
        order = orders[order_id]
        early_market = (
            order.order_type is VenueOrderType.MKT
            and order.tif in (Tif.DAY, Tif.GTC)
            and order.parent_id is None
            and order.transmit
            and sent[order_id] < OPEN
        )
        if early_market:
            bars = traded_bars(scenario.rows[order.symbol])
            auction = next(b for b in bars if OPEN <= b.start < ny(CLOSE))
            assert (fill.time, fill.price, fill.liquidity) == (
                auction.start,
                auction.open,
                Liquidity.AUCTION,
            )
