from datetime import date, time

import numpy as np
import pytest

from openbell.bars.frame import DayBars
from openbell.bars.synthetic import DailyFacts, session_bounds, synthetic_day
from openbell.domain.errors import InvalidValue

DAY = date(2025, 10, 29)
FACTS = DailyFacts(
    open=15.19, high=16.23, low=15.00, close=16.00, volume=1_234_567, previous_close=14.50
)


def regular(bars, open_):  # type: ignore[no-untyped-def]
    return slice(bars.index_at_or_after(open_), len(bars))


@pytest.mark.parametrize("seed", [0, 1, 7, 42])
def test_the_path_honours_the_real_daily_bar_exactly(seed: int) -> None:
    open_, close = session_bounds(DAY)
    bars = synthetic_day("WULF", DAY, open_, close, FACTS, seed=seed)
    rth = regular(bars, open_)
    assert bars.synthetic
    assert bars.start(rth.start) == open_
    assert len(bars.open[rth]) == 390
    assert bars.open[rth][0] == FACTS.open
    assert bars.close[-1] == FACTS.close
    assert bars.high[rth].max() == FACTS.high
    assert bars.low[rth].min() == FACTS.low
    assert bars.volume.sum() == FACTS.volume
    assert (np.diff(bars.start_ns) > 0).all()


def test_pre_market_runs_from_four_to_the_open_and_ends_near_it() -> None:
    open_, close = session_bounds(DAY)
    bars = synthetic_day("WULF", DAY, open_, close, FACTS, seed=3)
    first_rth = bars.index_at_or_after(open_)
    assert bars.start(0).time() >= time(4, 0)
    assert first_rth > 0
    assert bars.start(first_rth - 1).time() == time(9, 29)
    assert abs(bars.close[first_rth - 1] - FACTS.open) < 0.02 * FACTS.open
    assert 0 < bars.volume[:first_rth].sum() < 0.05 * FACTS.volume


def test_same_seed_same_bars_other_seed_other_bars() -> None:
    open_, close = session_bounds(DAY)
    a = synthetic_day("WULF", DAY, open_, close, FACTS, seed=1)
    b = synthetic_day("WULF", DAY, open_, close, FACTS, seed=1)
    c = synthetic_day("WULF", DAY, open_, close, FACTS, seed=2)
    assert np.array_equal(a.close, b.close) and np.array_equal(a.start_ns, b.start_ns)
    assert not np.array_equal(a.close[-300:], c.close[-300:])


def test_a_half_day_without_pre_market() -> None:
    open_, close = session_bounds(date(2025, 11, 28), close=time(13))
    bars = synthetic_day("WULF", date(2025, 11, 28), open_, close, FACTS, premarket=False)
    assert len(bars) == 210
    assert bars.volume.sum() == FACTS.volume


def test_inconsistent_daily_facts_are_refused() -> None:
    with pytest.raises(InvalidValue):
        DailyFacts(open=10, high=9, low=8, close=9, volume=1, previous_close=10)
    with pytest.raises(InvalidValue):
        DailyFacts(open=10, high=11, low=9, close=10, volume=-1, previous_close=10)


def test_trusted_bars_equal_checked_ones_and_skip_only_the_checks() -> None:
    open_, close = session_bounds(DAY)
    checked = synthetic_day("WULF", DAY, open_, close, FACTS, seed=5)
    trusted = DayBars.trusted(
        checked.symbol,
        checked.trading_day,
        60,
        checked.start_ns,
        checked.open,
        checked.high,
        checked.low,
        checked.close,
        checked.volume,
        synthetic=True,
    )
    assert trusted.symbol == "WULF" and trusted.synthetic and trusted.source == ""
    assert np.array_equal(trusted.close, checked.close) and len(trusted) == len(checked)
    with pytest.raises(InvalidValue):  # the checked constructor refuses what trusted would take
        DayBars(
            "X",
            DAY,
            60,
            checked.start_ns[::-1].copy(),
            checked.open,
            checked.high,
            checked.low,
            checked.close,
            checked.volume,
        )
