from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from openbell.backtest.metrics import Trade, max_drawdown, summarize

AT = datetime(2016, 4, 27, 13, 30, tzinfo=UTC)


def trade(pnl: str, reason: str, high: str = "103", n: int = 0, synthetic: bool = False) -> Trade:
    return Trade(
        trading_day=date(2016, 4, 27),
        symbol=f"S{n}",
        confidence=Decimal("0.85"),
        target_pct=Decimal("2.6"),
        quantity=100,
        entry_at=AT,
        entry_price=Decimal(100),
        exit_at=AT + timedelta(minutes=n),
        exit_price=Decimal(100) + Decimal(pnl) / 100,
        exit_reason=reason,
        pnl=Decimal(pnl),
        commissions=Decimal(2),
        target_price=Decimal("102.60"),
        stop_price=Decimal("99.10"),
        high_after_entry=Decimal(high),
        open_price=Decimal(100),
        synthetic=synthetic,
    )


def test_summary_of_a_mixed_day() -> None:
    trades = [
        trade("258", "TARGET", n=1),
        trade("-92", "STOP", "101", n=2),
        trade("-20", "FLATTEN", "102.7", n=3, synthetic=True),
    ]
    summary = summarize(trades)
    assert summary.trades == 3
    assert summary.pnl == Decimal(146)
    assert summary.win_rate_pct == Decimal("33.3")
    assert summary.average_win == Decimal("258.00")
    assert summary.average_loss == Decimal("-56.00")
    assert summary.profit_factor == Decimal("2.30")
    assert summary.max_drawdown == Decimal(112)
    assert summary.exits_by_reason == {"FLATTEN": 1, "STOP": 1, "TARGET": 1}
    assert summary.target_fill_rate_pct == Decimal("33.3")
    assert summary.pick_accuracy_pct == Decimal("66.7")  # the flattened one did reach +2.6%
    assert summary.synthetic_trades == 1
    assert trades[0].return_pct == Decimal("2.58")
    assert trades[0].high_from_open_pct == Decimal(3)


def test_no_losses_and_no_trades() -> None:
    assert summarize([trade("10", "TARGET")]).profit_factor is None
    empty = summarize([])
    assert (empty.trades, empty.pnl, empty.win_rate_pct, empty.average_win) == (0, 0, 0, 0)


def test_max_drawdown_is_measured_from_the_running_peak() -> None:
    assert max_drawdown([Decimal(x) for x in (5, -3, -4, 10, -1)]) == Decimal(7)
    assert max_drawdown([Decimal(-5)]) == Decimal(5)
    assert max_drawdown([]) == 0
