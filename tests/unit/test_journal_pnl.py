"""The gateway's P&L from its journal: the ground truth every ledger is checked against."""

from __future__ import annotations

from decimal import Decimal

from openbell.adapters.ib.mapping import domain_commission
from openbell.venue.tws.journal import executions_pnl


def _execution(side: str, shares: float, price: float, commission: float) -> dict[str, object]:
    return {
        "kind": "execution",
        "side": side,
        "shares": shares,
        "price": price,
        "commission": commission,
    }


def test_cash_in_minus_cash_out_minus_commissions_to_the_cent() -> None:
    executions = [_execution("BOT", 973.0, 31.13, 4.865), _execution("SLD", 973.0, 30.8438, 4.865)]
    # 973 x (30.8438 - 31.13) - 9.73 = -288.2026
    assert executions_pnl(executions) == Decimal("-288.20")


def test_a_commission_counts_as_ib_reports_it_not_with_the_venue_float_noise() -> None:
    noisy = 51.425000000000004  # the venue's float, as the journal of chaos day 1 held it
    executions = [_execution("BOT", 100.0, 10.0, 0.5), _execution("SLD", 100.0, 10.1, noisy)]
    booked = domain_commission(noisy)  # what the IB adapter books from the same report
    assert booked is not None and booked.amount == Decimal("51.425")
    # 1010 - 1000 - 0.5 - 51.425 = -41.925: a true half-cent tie, rounded as the ledger's total
    exact = Decimal("1010") - Decimal("1000") - Decimal("0.5") - booked.amount
    assert executions_pnl(executions) == exact.quantize(Decimal("0.01")) == Decimal("-41.92")
