"""Two sessions across Christmas 2015 through real processes, on real GOOG minute bars.

``openbell run --mode sim --day 2015-12-24 --days 2``: Thursday 2015-12-24 is a half day
(the close at 13:00, so the flatten at 12:45), Friday the 25th is Christmas, then a weekend,
then Monday the 28th is a full day. The clock runs fast while the bots sleep
(``sim.asleep_speed``: the 88 hours from Thursday's sleep to Monday's wake pass in about 11
wall seconds), and the four days take about 80 s. Not faster: the supervisor looks at the
clock every 0.2 wall seconds plus its own work, and next to the unit tests on two workers one
loop took at least 0.6 wall seconds (no look in the first 18 sim hours of Christmas at
x100,000). At x200,000 it saw none of the three closed days, in three runs of three. At x30,000
one loop would have to take over 8 s.

The rule scorer rates GOOG about 0.45 on both mornings (no gap, little pre-market volume),
so a single tier from confidence 0 picks it; its +50 % target is out of reach and the 0.9 %
stop is not touched on either day (the lows are 0.4 % under the open), so each day's
position is held to the flatten.
"""

from __future__ import annotations

import os
import shutil
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from sim_day import (
    SimRun,
    check_against_the_gateway,
    executions_at_gateway,
    orders_at_gateway,
    sim_run,
)

from openbell.adapters.bars.importers.dispatch import import_path
from openbell.adapters.bars.store import BarStore
from openbell.domain.enums import OrderRole, PositionState
from openbell.domain.records import LedgerEvent
from openbell.domain.sessions import NEW_YORK
from openbell.runtime.version import package_dir

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
LEAN = REAL / "lean" / "equity" / "usa"
pytestmark = pytest.mark.skipif(not LEAN.is_dir(), reason=f"real data not found at {LEAN}")

HALF_DAY, MONDAY = date(2015, 12, 24), date(2015, 12, 28)
CLOSED = (date(2015, 12, 25), date(2015, 12, 26), date(2015, 12, 27))
BOTS = ("day-trader", "exit-manager")
SPEED = 1200  # sim seconds per wall second while the bots are awake

# Starting a bot and connecting it takes 5 to 15 wall seconds on a busy machine, so the bots
# wake four hours before the open: at x1200 that leaves them 12 wall seconds to be ready
# before the MOO cutoff. The clock starts at the first wake, so on the first day they start
# during the warm-up, while the clock stands still.
CONFIG = """
[schedule]
wake = "open - 240m"
moo_submit = "open - 15m"

[strategy]
top_n = 1

[[strategy.target_tiers]]
min_confidence = 0
target_pct = 50

[data]
store = "bars"

[sim]
data = "store"
start = "open - 240m"
warmup_s = 8
asleep_speed = 30000
"""


def at(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), NEW_YORK)


def sim_day(instant: object) -> date:
    return datetime.fromisoformat(str(instant)).astimezone(NEW_YORK).date()


def import_goog(workdir: Path) -> None:
    store = BarStore(workdir / "bars")
    minute = LEAN / "minute" / "goog"
    for name in ("20151223_trade.zip", "20151224_trade.zip", "20151228_trade.zip"):
        import_path(minute / name, store)
    import_path(LEAN / "daily" / "goog.zip", store)


def a_copy_of_the_code(root: Path) -> dict[str, str]:
    """The environment that makes the run import a copy of the ``openbell`` package.

    An edit to the working tree while the run goes on (another change being made) would make
    the supervisor restart the bots on the new code, and at x1200 a restart costs them an
    hour or two of sim time: this test is about the calendar, not about code changes.
    """
    shutil.copytree(package_dir(), root / "openbell", ignore=shutil.ignore_patterns("__pycache__"))
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.getenv("PYTHONPATH")]))}


def test_a_half_day_then_christmas_then_a_full_day(tmp_path: Path) -> None:
    workdir = tmp_path / "run"
    import_goog(workdir)
    env = a_copy_of_the_code(tmp_path / "code")
    with sim_run(workdir, HALF_DAY, CONFIG, speed=SPEED, days=2, extra_env=env) as run:
        out = run.finish()
    _check_the_ground_truth(run)
    _check_each_day_entered_at_the_open_and_flattened(run)
    _check_nothing_ran_while_the_exchange_was_closed(run)
    assert "positions of 2015-12-24" in out and "positions of 2015-12-28" in out


def _check_the_ground_truth(run: SimRun) -> None:
    """The common checks, then: only GOOG was traded (the protected SKYX never), one position
    a day."""
    positions = check_against_the_gateway(run, (HALF_DAY, MONDAY))
    assert {str(o["symbol"]) for o in orders_at_gateway(run)} == {"GOOG"}, "SKYX was touched"
    assert len(positions) == 2


def _check_each_day_entered_at_the_open_and_flattened(run: SimRun) -> None:
    orders, executions = orders_at_gateway(run), executions_at_gateway(run)
    ledger = run.ledger()
    try:
        for day, flatten in ((HALF_DAY, at(HALF_DAY, "12:45")), (MONDAY, at(MONDAY, "15:45"))):
            (position,) = ledger.positions_of_day(day)
            assert position.state is PositionState.CLOSED
            assert position.exit_reason == "FLATTEN", f"{day}: {position.exit_reason}"
            day_orders = {str(o.order_ref): o for o in ledger.orders(position.position_id)}
            entry_ref = next(r for r, o in day_orders.items() if o.role is OrderRole.ENTRY)
            (entry,) = [o for o in orders if o["order_ref"] == entry_ref]
            assert (entry["order_type"], entry["tif"]) == ("MKT", "OPG")
            assert sim_day(entry["at"]) == day
            fills = [e for e in executions if e["order_ref"] in day_orders]
            entry_fills = [e for e in fills if e["order_ref"] == entry_ref]
            assert {datetime.fromisoformat(str(e["at"])) for e in entry_fills} == {at(day, "09:30")}
            # the flatten: at 12:45 (15:45) the exit-manager cancels the target and the stop,
            # then sells at the market, a minute or two of sim time later at x1200
            flatten_ref = next(r for r, o in day_orders.items() if o.role is OrderRole.FLATTEN)
            (sell,) = [o for o in orders if o["order_ref"] == flatten_ref]
            window = (flatten, flatten + timedelta(minutes=5))
            assert window[0] <= datetime.fromisoformat(str(sell["at"])) < window[1], sell
            sold = [e for e in fills if e["side"] == "SLD"]
            assert [e["order_ref"] for e in sold] == [flatten_ref]
            assert sum(float(str(e["shares"])) for e in sold) == position.entry_quantity
            for instant in (datetime.fromisoformat(str(sold[0]["at"])), position.closed_at):
                assert instant is not None and window[0] <= instant <= window[1], instant
    finally:
        ledger.close()


def _check_nothing_ran_while_the_exchange_was_closed(run: SimRun) -> None:
    journal = run.journal
    assert {sim_day(r["at"]) for r in journal} <= {HALF_DAY, MONDAY}
    ledger = run.ledger()
    try:
        events = list(ledger.events(limit=10_000))
        heartbeats = {b.process: b for b in ledger.heartbeats()}
    finally:
        ledger.close()
    lives = [e for e in events if e.kind in ("START", "RESTART") and e.data["process"] in BOTS]
    # each bot started on each trading day, between its wake (05:30 ET) and its sleep, and
    # never in between (a restart would be allowed, but only while the bots are awake)
    starts = {(str(e.data["process"]), _day(e)) for e in lives if e.kind == "START"}
    assert starts == {(bot, day) for bot in BOTS for day in (HALF_DAY, MONDAY)}
    for event in lives:
        day = _day(event)
        assert day in (HALF_DAY, MONDAY), event
        assert at(day, "05:30") <= event.at < _sleep(day), event
    closed = [e for e in events if _day(e) in CLOSED]
    assert closed, "the supervisor said nothing while the exchange was closed"
    assert {(e.process, e.kind) for e in closed} == {("supervisor", "SCHEDULE")}
    assert all(e.message.startswith("asleep") for e in closed)
    # each bot's last heartbeat is Monday's: no life of theirs ran after it
    for bot in BOTS:
        assert heartbeats[bot].beat_at.astimezone(NEW_YORK).date() == MONDAY


def _sleep(day: date) -> datetime:
    return at(day, "13:05") if day == HALF_DAY else at(day, "16:05")


def _day(event: LedgerEvent) -> date:
    return event.at.astimezone(NEW_YORK).date()
