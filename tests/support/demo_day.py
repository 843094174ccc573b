"""2016-04-29 on the bundled demo data, the day several e2e tests run, and its checks.

The rule scorer picks AMZN and FCX; FCX reaches its target and AMZN falls through its stop.
The account also holds SKYX (the brief's long-term holding) and 35 AMZN bought before openbell
ran (the brief's VMD case: an outside position in a symbol the bot trades, whose price crosses
the bot's stop).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sim_day import SimRun, check_against_the_gateway, executions_at_gateway, orders_at_gateway

from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.domain.enums import OrderRole, OrderStatus
from openbell.domain.sessions import NEW_YORK

DAY = date(2016, 4, 29)
OPEN = datetime.combine(DAY, time(9, 30), NEW_YORK)
FLATTEN = datetime.combine(DAY, time(15, 45), NEW_YORK)
DAY_TRADER_ID, EXIT_MANAGER_ID = 2, 10  # the default broker.client_ids

CONFIG = """
[schedule]
wake = "open - 150m"
moo_submit = "open - 15m"

[sim]
start = "open - 155m"
warmup_s = 12
holdings = ["SKYX:182@1.20", "AMZN:35@690.00"]
"""


def check_the_demo_day(run: SimRun) -> None:
    """The common checks, then: our refs only, SKYX untouched, closed by the flatten, and each
    order sent by the client id of the bot that owns its role."""
    positions = check_against_the_gateway(run, (DAY,))
    orders = orders_at_gateway(run)
    assert all(str(o["order_ref"]).startswith("ob-") for o in orders)
    assert not [o for o in orders if o["symbol"] == "SKYX"], "the protected holding was touched"
    assert all(
        p.closed_at is None or p.closed_at <= FLATTEN + timedelta(minutes=5) for p in positions
    )
    ledger = run.ledger()
    try:
        owners = {str(o.order_ref): o for o in ledger.orders()}
    finally:
        ledger.close()
    for order in orders:
        role = owners[str(order["order_ref"])].role
        expected = DAY_TRADER_ID if role is OrderRole.ENTRY else EXIT_MANAGER_ID
        assert order["client_id"] == expected, f"{order['order_ref']} from the wrong client"


def check_the_undisturbed_demo_day(run: SimRun) -> None:
    """A demo day nobody disturbed: MOO entries filled at the open, exits from the real fills,
    FCX at its target and AMZN at its stop, the 35 AMZN held outside the ledger never sold,
    and the day's report printed at the end."""
    check_the_demo_day(run)
    orders, executions = orders_at_gateway(run), executions_at_gateway(run)
    entries = [o for o in orders if str(o["order_ref"]).endswith("-entry")]
    assert sorted(str(o["symbol"]) for o in entries) == ["AMZN", "FCX"]
    assert {(o["order_type"], o["tif"]) for o in entries} == {("MKT", "OPG")}
    entry_fills = [e for e in executions if str(e["order_ref"]).endswith("-entry")]
    assert {datetime.fromisoformat(str(e["at"])) for e in entry_fills} == {OPEN}
    ledger: SqliteLedger = run.ledger()
    try:
        by_symbol = {str(p.symbol): p for p in ledger.positions_of_day(DAY)}
        amzn, fcx = by_symbol["AMZN"], by_symbol["FCX"]
        assert (fcx.exit_reason, amzn.exit_reason) == ("TARGET", "STOP")
        amzn_held = amzn.entry_quantity
        for position in (amzn, fcx):
            # targets and stops come from the real fill: entry x (1 + tier) and x (1 - 0.9%)
            entry = position.entry_price
            assert entry is not None and position.target_price and position.stop_price
            assert position.target_pct is not None
            ratio = position.target_price.value / entry.value - 1
            assert abs(ratio * 100 - position.target_pct) < Decimal("0.05")
            assert abs(position.stop_price.value / entry.value - 1 + Decimal("0.009")) < Decimal(
                "0.0005"
            )
            exits = [
                o for o in ledger.orders(position.position_id) if o.role is not OrderRole.ENTRY
            ]
            assert {o.role for o in exits} == {OrderRole.TARGET, OrderRole.STOP}
            assert {o.status for o in exits} == {OrderStatus.FILLED, OrderStatus.CANCELLED}
    finally:
        ledger.close()
    # the VMD case: the 35 AMZN held outside the ledger were never sold, though AMZN's
    # price fell through the stop: the bot sold exactly the shares it had bought
    amzn_fills = [e for e in executions if e["symbol"] == "AMZN"]
    bought = sum(float(str(e["shares"])) for e in amzn_fills if e["side"] == "BOT")
    sold = sum(float(str(e["shares"])) for e in amzn_fills if e["side"] == "SLD")
    assert bought == sold == amzn_held
    out = run.output()
    assert "FCX" in out and "processes" in out  # the day's report was printed
    assert "2 positions, 4 fills, 1 of 2 masters at target" in out
