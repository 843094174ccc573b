from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from openbell.domain.errors import InvalidValue
from openbell.domain.sessions import RelativeTime, Session
from openbell.domain.values import Confidence, Money, Price
from openbell.strategy.exits import (
    TargetTier,
    exit_prices,
    round_to_tick,
    target_pct_for,
    tick_size,
)
from openbell.strategy.schedule import DayPlan
from openbell.strategy.sizing import shares_for_allocation

TIERS = (
    TargetTier(Decimal("0.8"), Decimal("2.6"), inclusive=False),
    TargetTier(Decimal("0.7"), Decimal("1.8")),
)


def conf(raw: str) -> Confidence:
    return Confidence(Decimal(raw))


class TestTargetTiers:
    @pytest.mark.parametrize(
        ("confidence", "target"),
        [("0.95", "2.6"), ("0.8001", "2.6"), ("0.8", "1.8"), ("0.75", "1.8"), ("0.7", "1.8")],
    )
    def test_the_briefs_tiers(self, confidence: str, target: str) -> None:
        assert target_pct_for(conf(confidence), TIERS) == Decimal(target)

    def test_below_every_tier_means_no_entry(self) -> None:
        assert target_pct_for(conf("0.69"), TIERS) is None

    def test_tier_order_in_settings_does_not_matter(self) -> None:
        assert target_pct_for(conf("0.9"), tuple(reversed(TIERS))) == Decimal("2.6")

    @pytest.mark.parametrize(("minimum", "target"), [("1.1", "2"), ("-0.1", "2"), ("0.5", "0")])
    def test_bad_tiers_are_refused(self, minimum: str, target: str) -> None:
        with pytest.raises(InvalidValue):
            TargetTier(Decimal(minimum), Decimal(target))


class TestExitPrices:
    def test_target_and_stop_from_the_real_fill(self) -> None:
        prices = exit_prices(Price(Decimal("15.19")), Decimal("2.6"), Decimal("0.9"))
        assert prices.target == Price(Decimal("15.58"))
        assert prices.stop == Price(Decimal("15.05"))

    def test_sub_dollar_prices_use_the_sub_penny_tick(self) -> None:
        prices = exit_prices(Price(Decimal("0.5123")), Decimal("2.6"), Decimal("0.9"))
        assert prices.target == Price(Decimal("0.5256"))
        assert tick_size(Decimal("0.99")) == Decimal("0.0001")
        assert tick_size(Decimal("1")) == Decimal("0.01")
        assert round_to_tick(Decimal("10.005")) == Price(Decimal("10.01"))

    @pytest.mark.parametrize(("target", "stop"), [("0", "0.9"), ("2.6", "0"), ("2.6", "100")])
    def test_bad_percentages_are_refused(self, target: str, stop: str) -> None:
        with pytest.raises(InvalidValue):
            exit_prices(Price(Decimal(10)), Decimal(target), Decimal(stop))


class TestSizing:
    def test_a_quarter_of_net_liquidation(self) -> None:
        shares = shares_for_allocation(Money(Decimal(10_000)), Decimal(25), Price(Decimal("15.19")))
        assert shares is not None and shares.value == 164

    def test_no_share_when_the_allocation_is_too_small(self) -> None:
        assert shares_for_allocation(Money(Decimal(10)), Decimal(25), Price(Decimal(50))) is None
        assert shares_for_allocation(Money(Decimal(-5)), Decimal(25), Price(Decimal(5))) is None

    @pytest.mark.parametrize("pct", ["0", "100.01"])
    def test_bad_allocation_is_refused(self, pct: str) -> None:
        with pytest.raises(InvalidValue):
            shares_for_allocation(Money(Decimal(1000)), Decimal(pct), Price(Decimal(5)))


def _session(close_hour: int) -> Session:
    day = date(2025, 11, 28)
    open_utc = datetime(2025, 11, 28, 14, 30, tzinfo=UTC)
    return Session(
        day,
        open_utc,
        datetime(2025, 11, 28, close_hour + 5, tzinfo=UTC),
        early_close=close_hour != 16,
    )


def _plan(**changes: str) -> DayPlan:
    times = {
        "wake": "open - 90m",
        "scan": "open - 60m",
        "moo_submit": "open - 5m",
        "flatten": "close - 15m",
        "sleep": "close + 5m",
    }
    times.update(changes)
    return DayPlan(**{k: RelativeTime.parse(v) for k, v in times.items()})


class TestDayPlan:
    def test_a_half_day_flattens_at_12_45_et(self) -> None:
        timeline = _plan().resolve(_session(13))
        assert timeline.flatten == datetime(2025, 11, 28, 17, 45, tzinfo=UTC)
        assert timeline.moo_cutoff == timeline.session.open - timedelta(minutes=2)
        assert timeline.ordering_problems() == []
        assert [name for name, _ in timeline.steps()][:5] == [
            "wake",
            "scan",
            "moo_submit",
            "moo_cutoff",
            "open",
        ]

    def test_the_moo_window_closes_at_the_venue_cutoff(self) -> None:
        timeline = _plan().resolve(_session(16))
        assert timeline.may_submit_moo(timeline.moo_submit)
        assert not timeline.may_submit_moo(timeline.moo_cutoff)
        assert not timeline.may_submit_moo(timeline.moo_submit - timedelta(seconds=1))

    def test_every_misordering_is_reported(self) -> None:
        plan = _plan(
            wake="open + 2m",
            scan="open + 1m",
            moo_submit="open",
            flatten="close + 1m",
            sleep="close - 1h",
        )
        problems = dict(plan.resolve(_session(16)).ordering_problems())
        assert set(problems) == {"wake", "scan", "moo_submit", "flatten", "sleep"}
        early = _plan(flatten="open - 1m").resolve(_session(16)).ordering_problems()
        assert early == [
            ("flatten", "after the open"),
            ("last_entry", "no later than the flatten"),  # close - 45m is after it
        ]
