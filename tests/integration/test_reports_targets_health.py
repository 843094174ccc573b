"""The profit-target and process-health reports over a real ledger and hand-built minute bars,
and the charts and HTML page that draw them.

One trading day, written the way the processes write it (each with its own ledger
connection and process name, one shared clock): four positions entered at 10.00 with a
+1.8 % target (10.18) and a -1 % stop (9.90):

* AAA: the target fills at 10:30;
* BBB: the price gets 60 % of the way (10.108), then the stop fills and IB cancels the target
  (one-cancels-other); a later rally to 10.50 comes after the target was gone;
* CCC: the price gets 85 % of the way (10.153); the flatten cancels the target and sells at
  10.05 (a pre-market spike to 11.00 and a rally after the flatten do not count);
* DDD: monitored exit mode, no target order; the price gets 40 % of the way (10.072).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from openbell.adapters.calendar import ExchangeCalendar
from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.backtest.memory import MemoryBars
from openbell.bars.frame import DayBars, to_ns
from openbell.domain.enums import (
    ExitReason,
    OrderRole,
    OrderStatus,
    OrderType,
    PositionRole,
    Side,
    TimeInForce,
)
from openbell.domain.errors import InvalidValue
from openbell.domain.orders import Fill, OrderIntent
from openbell.domain.positions import Position
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Confidence, OrderRef, Price, Quantity, Symbol
from openbell.reports.charts import (
    Section,
    html_page,
    realized_pnl_curve,
    target_distance_chart,
    trade_chart,
)
from openbell.reports.day import health_rows, restarts_by_process
from openbell.reports.health import PROCESS_COLUMNS, TIMELINE_COLUMNS, health_report
from openbell.reports.targets import (
    COLUMNS,
    TargetOutcome,
    target_row,
    target_summary,
    targets_report,
)
from openbell.strategy.exits import exit_prices
from openbell.strategy.management import exit_orders, flatten_order, market_exit

DAY = date(2025, 6, 2)
EVE = date(2025, 5, 30)
ENTRY, TARGET_PCT, STOP_PCT = Decimal("10.00"), Decimal("1.8"), Decimal("1.0")
PNG = b"\x89PNG\r\n\x1a\n"
OLD, NEW = "0.1.0+src111", "0.1.0+src222"


def ny(hour: int, minute: int, second: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hour, minute, second), NEW_YORK)


@pytest.fixture(scope="module")
def calendar() -> ExchangeCalendar:
    return ExchangeCalendar.nyse(date(2025, 5, 1), date(2025, 6, 30))


# --- the bars ---------------------------------------------------------------------------------


def minute_bars(symbol: str, highs: dict[time, float], lows: dict[time, float]) -> DayBars:
    """Flat 10.00 bars from 09:00 to 15:59 (pre-market included), but for the given highs
    and lows; a bar opens and closes at 10.00, or 2 cents above a low under 9.99."""
    starts = [ny(9, 0) + timedelta(minutes=i) for i in range(7 * 60)]
    wall = [s.astimezone(NEW_YORK).time() for s in starts]
    high = np.array([highs.get(t, 10.00) for t in wall])
    low = np.array([lows.get(t, 9.99) for t in wall])
    close = np.where(low < 9.99, low + 0.02, 10.00)
    return DayBars(
        symbol,
        DAY,
        60,
        np.array([to_ns(s) for s in starts], dtype=np.int64),
        close.copy(),
        high,
        low,
        close,
        np.full(len(starts), 1000.0),
    )


def day_bars() -> MemoryBars:
    return MemoryBars(
        days=[
            minute_bars("AAA", {time(10, 30): 10.20}, {}),
            minute_bars("BBB", {time(10, 15): 10.108, time(13, 0): 10.50}, {time(11, 0): 9.88}),
            minute_bars("CCC", {time(9, 10): 11.00, time(14, 0): 10.153, time(15, 50): 10.30}, {}),
            minute_bars("DDD", {time(12, 0): 10.072}, {}),
        ]
    )


# --- the day, as the processes write it -------------------------------------------------------


@dataclass
class Processes:
    clock: ManualClock
    supervisor: SqliteLedger
    trader: SqliteLedger
    exits: SqliteLedger

    def at(self, instant: datetime) -> None:
        self.clock.set(instant)

    def close(self) -> None:
        for ledger in (self.supervisor, self.trader, self.exits):
            ledger.close()


def processes(path: Path) -> Processes:
    clock = ManualClock(ny(15, 0, day=EVE))

    def open_as(name: str, version: str) -> SqliteLedger:
        return SqliteLedger.open(path, clock, process=name, code_version=version)

    return Processes(
        clock,
        open_as("supervisor", "0.1.0+srcsup"),
        open_as("day-trader", NEW),
        open_as("exit-manager", NEW),
    )


def start(p: Processes, child: str, pid: int) -> None:
    p.supervisor.append_event("START", f"started {child}", data={"process": child, "pid": pid})


def restart(p: Processes, child: str, why: str, count: int) -> None:
    p.supervisor.append_event("RESTART", why, data={"process": child, "restarts": count})


def plan(p: Processes, symbol: str) -> OrderRef:
    position = p.trader.plan_position(
        Position(
            DAY,
            Symbol(symbol),
            PositionRole.MASTER,
            Quantity(100),
            confidence=Confidence(Decimal("0.8")),
            target_pct=TARGET_PCT,
            stop_loss_pct=STOP_PCT,
        )
    )
    ref = OrderRef(f"{symbol}-entry")
    intent = OrderIntent(
        ref,
        Symbol(symbol),
        Side.BUY,
        Quantity(100),
        OrderType.MARKET,
        TimeInForce.AT_THE_OPEN,
        OrderRole.ENTRY,
    )
    p.trader.record_order(position.position_id or 0, intent, "day-trader")
    p.trader.update_order(ref, OrderStatus.SUBMITTED)
    return ref


def fill(ref: OrderRef, symbol: str, side: Side, price: str, at: datetime) -> Fill:
    return Fill(f"{ref}.x", ref, Symbol(symbol), side, Quantity(100), Price(Decimal(price)), at)


def protect(p: Processes, position: Position, *, resting: bool) -> tuple[OrderRef, OrderRef]:
    """What the exit manager does: record the exit prices, then (native mode) the OCA pair."""
    assert position.entry_price is not None
    prices = exit_prices(position.entry_price, TARGET_PCT, STOP_PCT)
    priced = p.exits.set_exit_prices(position.position_id or 0, prices.target, prices.stop)
    if not resting:
        return OrderRef("none"), OrderRef("none")
    pair = exit_orders(priced)
    for intent in (pair.target, pair.stop):
        p.exits.record_order(position.position_id or 0, intent, "exit-manager")
        p.exits.update_order(intent.order_ref, OrderStatus.SUBMITTED)
    return pair.target.order_ref, pair.stop.order_ref


def flatten(p: Processes, position_id: int, live: list[OrderRef], price: str, second: int) -> None:
    """The exit manager's flatten: cancel the working exits, then sell at market."""
    for ref in live:
        p.exits.update_order(ref, OrderStatus.CANCELLED, reason="cancelled: the flatten")
    held = p.exits.start_exit(position_id, ExitReason.FLATTEN)
    intent = flatten_order(held)
    p.exits.record_order(position_id, intent, "exit-manager")
    p.exits.update_order(intent.order_ref, OrderStatus.SUBMITTED)
    p.at(ny(15, 45, second))
    p.exits.record_exit_fill(
        fill(intent.order_ref, str(held.symbol), Side.SELL, price, ny(15, 45, second)), DAY
    )


def write_the_day(path: Path) -> None:
    p = processes(path)
    try:
        restart(p, "day-trader", "day-trader exited with code 1; restarting in 1.0 s", 1)
        p.at(ny(8, 0))
        p.supervisor.append_event("SCHEDULE", f"awake for {DAY}")
        for pid, child in enumerate(("gateway", "day-trader", "exit-manager"), start=100):
            start(p, child, pid)
        p.at(ny(9, 0))
        p.trader.append_event("SCAN_FAILED", "pre-market scan failed: 503 from the data vendor")
        p.at(ny(9, 28))
        refs = {s: plan(p, s) for s in ("AAA", "BBB", "CCC", "DDD", "FFF")}
        p.trader.update_order(refs["FFF"], OrderStatus.REJECTED, reason="201 no margin")
        p.at(ny(9, 30))
        held = {
            s: p.trader.record_entry_fill(fill(refs[s], s, Side.BUY, "10.00", ny(9, 30)))
            for s in ("AAA", "BBB", "CCC", "DDD")
        }
        p.at(ny(9, 30, 5))
        exits = {s: protect(p, held[s], resting=s != "DDD") for s in held}
        p.at(ny(10, 5))
        restart(p, "day-trader", "day-trader exited with code 1; restarting in 1.0 s", 1)
        start(p, "day-trader", 104)
        p.at(ny(10, 30))
        target, stop = exits["AAA"]
        p.exits.record_exit_fill(fill(target, "AAA", Side.SELL, "10.18", ny(10, 30)), DAY)
        p.at(ny(10, 30, 1))
        p.exits.update_order(stop, OrderStatus.CANCELLED, reason="OCA group cancelled")
        p.at(ny(11, 0))
        target, stop = exits["BBB"]
        p.exits.record_exit_fill(fill(stop, "BBB", Side.SELL, "9.90", ny(11, 0)), DAY)
        p.at(ny(11, 0, 1))
        p.exits.update_order(target, OrderStatus.CANCELLED, reason="OCA group cancelled")
        p.at(ny(11, 30))
        p.exits.append_event("DISCONNECTED", "IB connection lost: orders paused")
        p.at(ny(11, 31))
        p.exits.append_event("RECONNECTED", "reconnected to IB (reconnect 1) and reconciled")
        p.at(ny(12, 0))
        changed = f"exit-manager runs code {OLD} but the installed code is now {NEW}"
        p.supervisor.append_event("CODE_CHANGED", changed, data={"process": "exit-manager"})
        p.at(ny(12, 1))
        restart(p, "exit-manager", f"restarting exit-manager to run the installed code {NEW}", 1)
        start(p, "exit-manager", 105)
        p.at(ny(15, 45))
        flatten(p, held["CCC"].position_id or 0, list(exits["CCC"]), "10.05", 2)
        flatten(p, held["DDD"].position_id or 0, [], "10.02", 3)
        p.at(ny(15, 50))
        p.supervisor.beat("awake", f"awake for {DAY}")
        p.trader.beat("running", "waiting for rescans")
        p.exits.beat("running", "flat: the flatten time has passed")
    finally:
        p.close()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqliteLedger]:
    path = tmp_path / "ledger.sqlite"
    write_the_day(path)
    reader = SqliteLedger.open(path, ManualClock(ny(16, 0)), process="report")
    yield reader
    reader.close()


# --- targets ----------------------------------------------------------------------------------


def test_each_target_says_what_became_of_it_and_how_close_it_came(
    ledger: SqliteLedger, calendar: ExchangeCalendar
) -> None:
    report = targets_report(ledger, day_bars(), calendar, DAY)
    rows = {r["symbol"]: r for r in (target_row(t) for t in report)}
    assert list(rows) == ["AAA", "BBB", "CCC", "DDD"]  # FFF was never entered
    assert all(set(r) == set(COLUMNS) for r in rows.values())
    aaa, bbb, ccc, ddd = rows["AAA"], rows["BBB"], rows["CCC"], rows["DDD"]
    assert (aaa["target"], aaa["target_pct"], aaa["placed"]) == ("10.1800", "+1.80", "09:30:05")
    assert aaa["outcome"] == "filled 10:30:00 @ 10.1800"
    # the bar of the fill reached 10.20: 111 % of the way; nothing was left
    assert (aaa["high"], aaa["way_pct"], aaa["left_usd"]) == ("10.2000", "111.1", "-")

    assert bbb["outcome"] == "cancelled: stop filled (OCA) 11:00:01"
    # 10.108 is 60 % of the way from 10.00 to 10.18; the 13:00 rally came after the stop
    assert (bbb["high"], bbb["way_pct"]) == ("10.1080", "60.0")
    assert (bbb["exit_or_last"], bbb["left_per_share"]) == ("9.9000", "0.2800")
    assert (bbb["left_pct"], bbb["left_usd"]) == ("2.83", "28.00")

    assert ccc["outcome"] == "cancelled at the flatten 15:45:00"
    # not the 11.00 pre-market spike, nor the 15:50 rally after the flatten
    assert (ccc["high"], ccc["way_pct"], ccc["exit_or_last"]) == ("10.1530", "85.0", "10.0500")
    assert (ccc["left_per_share"], ccc["left_pct"], ccc["left_usd"]) == ("0.1300", "1.29", "13.00")

    assert (ddd["placed"], ddd["outcome"]) == ("not placed", "not placed (monitored)")
    assert (ddd["target"], ddd["high"], ddd["way_pct"]) == ("10.1800", "10.0720", "40.0")
    assert (ddd["left_per_share"], ddd["left_pct"], ddd["left_usd"]) == ("0.1600", "1.60", "16.00")
    outcomes = [t.outcome for t in report]
    assert outcomes == [
        TargetOutcome.FILLED,
        TargetOutcome.CANCELLED_BY_STOP,
        TargetOutcome.CANCELLED_AT_FLATTEN,
        TargetOutcome.NOT_PLACED,
    ]


def test_the_summary_answers_why_the_targets_were_not_hit(
    ledger: SqliteLedger, calendar: ExchangeCalendar
) -> None:
    summary = target_summary(targets_report(ledger, day_bars(), calendar, DAY))
    assert summary.line() == (
        "3 of 4 targets were not reached: best approach 85% of the way, median 60%"
    )
    counts = {r["metric"]: r["value"] for r in summary.rows()}
    assert counts == {
        "targets": "4",
        "placed": "3",
        "filled": "1",
        "cancelled at the flatten": "1",
        "cancelled by the stop (OCA)": "1",
        "cancelled otherwise": "0",
        "rejected": "0",
        "working": "0",
        "not placed (monitored)": "1",
        "hit (filled or crossed)": "1",
        "answer": summary.line(),
    }


def test_without_bars_the_report_says_so_instead_of_guessing(
    ledger: SqliteLedger, calendar: ExchangeCalendar
) -> None:
    report = targets_report(ledger, MemoryBars(), calendar, DAY)
    rows = [target_row(t) for t in report]
    assert [(r["high"], r["way_pct"]) for r in rows] == [("-", "-")] * 4
    # the exit prices are the ledger's, so the distance left is still known
    assert [r["left_usd"] for r in rows] == ["-", "28.00", "13.00", "16.00"]
    assert target_summary(report).line() == (
        "3 of 4 targets were not hit; 3 not measured (no bars)"
    )


def write_another_day(path: Path) -> None:
    """EEE's target is still working and was touched; GGG (monitored) crossed its target and
    sold at market; HHH's target was rejected and the flatten sold at 10.00."""
    p = processes(path)
    try:
        p.at(ny(9, 28))
        refs = {s: plan(p, s) for s in ("EEE", "GGG", "HHH")}
        p.at(ny(9, 30))
        held = {
            s: p.trader.record_entry_fill(fill(refs[s], s, Side.BUY, "10.00", ny(9, 30)))
            for s in refs
        }
        p.at(ny(9, 30, 5))
        exits = {s: protect(p, held[s], resting=s != "GGG") for s in held}
        p.at(ny(9, 30, 6))
        p.exits.update_order(exits["HHH"][0], OrderStatus.REJECTED, reason="201 order rejected")
        p.at(ny(10, 10, 1))
        crossing = p.exits.start_exit(held["GGG"].position_id or 0, ExitReason.TARGET)
        intent = market_exit(crossing, OrderRole.TARGET)
        p.exits.record_order(crossing.position_id or 0, intent, "exit-manager")
        p.exits.update_order(intent.order_ref, OrderStatus.SUBMITTED)
        p.exits.record_exit_fill(
            fill(intent.order_ref, "GGG", Side.SELL, "10.19", ny(10, 10, 1)), DAY
        )
        p.at(ny(15, 45))
        flatten(p, held["HHH"].position_id or 0, [exits["HHH"][1]], "10.00", 2)
    finally:
        p.close()


def test_working_touched_crossed_and_rejected_targets(
    tmp_path: Path, calendar: ExchangeCalendar
) -> None:
    write_another_day(tmp_path / "l.sqlite")
    bars = MemoryBars(
        days=[
            minute_bars("EEE", {time(10, 0): 10.18}, {}),
            minute_bars("GGG", {time(10, 10): 10.20}, {}),
            minute_bars("HHH", {}, {}),
        ]
    )
    ledger = SqliteLedger.open(tmp_path / "l.sqlite", ManualClock(ny(16, 0)), process="report")
    try:
        report = targets_report(ledger, bars, calendar, DAY)
    finally:
        ledger.close()
    rows = {r["symbol"]: r for r in map(target_row, report)}
    eee, ggg, hhh = rows["EEE"], rows["GGG"], rows["HHH"]
    # still held: the distance left is measured from the last close of the session
    assert (eee["outcome"], eee["way_pct"], eee["exit_or_last"]) == ("working", "100.0", "10.0000")
    assert ggg["outcome"] == "not placed (monitored): crossed, sold 10:10:01 @ 10.1900"
    assert (ggg["placed"], ggg["left_usd"]) == ("not placed", "-")
    assert (hhh["outcome"], hhh["way_pct"], hhh["left_usd"]) == (
        "rejected 09:30:06",
        "0.0",
        "18.00",
    )
    summary = target_summary(report)
    assert (summary.placed, summary.rejected, summary.working, summary.hit) == (2, 1, 1, 1)
    assert summary.line() == (
        "1 of 3 targets were not reached: best approach 0% of the way, median 0%; "
        "1 touched the target without filling"
    )


# --- health -----------------------------------------------------------------------------------


def test_health_counts_restarts_versions_errors_and_reconnects_of_the_day(
    ledger: SqliteLedger, calendar: ExchangeCalendar
) -> None:
    report = health_report(ledger, DAY, calendar)
    rows = {r["process"]: r for r in report.rows()}
    assert list(rows) == ["supervisor", "day-trader", "exit-manager", "gateway"]
    assert all(set(r) == set(PROCESS_COLUMNS) for r in rows.values())
    sup, trader, exits, gateway = (rows[n] for n in rows)
    assert (sup["status"], sup["code_versions"], sup["restarts"]) == (
        "awake",
        "0.1.0+srcsup",
        "0",
    )
    # the restart of the day before is not this day's
    assert (trader["starts"], trader["restarts"]) == ("2", "1")
    assert trader["restart_reasons"] == "day-trader exited with code 1; restarting in 1.0 s"
    assert (trader["errors"], trader["error_kinds"]) == ("2", "REJECTED_ORDER 1, SCAN_FAILED 1")
    assert trader["code_versions"] == NEW
    assert (exits["starts"], exits["restarts"]) == ("2", "1")
    assert exits["restart_reasons"] == f"restarting exit-manager to run the installed code {NEW}"
    assert exits["code_versions"] == f"{OLD}, {NEW}"
    assert (exits["reconnects"], exits["disconnects"], exits["errors"]) == ("1", "1", "0")
    assert (gateway["status"], gateway["starts"], gateway["last_beat"]) == (
        "no heartbeat",
        "1",
        "-",
    )
    [trader_health] = [p for p in report.processes if p.process == "day-trader"]
    assert trader_health.errors == (
        "SCAN_FAILED: pre-market scan failed: 503 from the data vendor",
        "REJECTED order FFF-entry: 201 no margin",
    )
    assert report.summary() == (
        f"{DAY}: 2 restarts (day-trader 1, exit-manager 1), 2 errors, 1 reconnects recorded, "
        "3 code versions seen"
    )


def test_the_timeline_lists_the_days_process_events_in_order(
    ledger: SqliteLedger, calendar: ExchangeCalendar
) -> None:
    timeline = health_report(ledger, DAY, calendar).timeline
    assert all(set(r) == set(TIMELINE_COLUMNS) for r in timeline)
    seen = [(r["time"], r["phase"], r["process"], r["kind"]) for r in timeline]
    assert seen == [
        ("08:00:00", "before the open", "supervisor", "SCHEDULE"),
        ("08:00:00", "before the open", "gateway", "START"),
        ("08:00:00", "before the open", "day-trader", "START"),
        ("08:00:00", "before the open", "exit-manager", "START"),
        ("09:00:00", "before the open", "day-trader", "SCAN_FAILED"),
        ("10:05:00", "session", "day-trader", "RESTART"),
        ("10:05:00", "session", "day-trader", "START"),
        ("11:30:00", "session", "exit-manager", "DISCONNECTED"),
        ("11:31:00", "session", "exit-manager", "RECONNECTED"),
        ("12:00:00", "session", "exit-manager", "CODE_CHANGED"),
        ("12:01:00", "session", "exit-manager", "RESTART"),
        ("12:01:00", "session", "exit-manager", "START"),
    ]


def test_the_moved_status_helpers_still_count_every_day(ledger: SqliteLedger) -> None:
    restarts = restarts_by_process(ledger)
    assert restarts == {"day-trader": 2, "exit-manager": 1}
    rows = {r["process"]: r for r in health_rows(ledger.heartbeats(), restarts)}
    assert (rows["day-trader"]["restarts"], rows["day-trader"]["code_version"]) == ("2", NEW)


# --- charts and the page ----------------------------------------------------------------------


def is_png(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(PNG) and len(data) > 5000


def test_charts_and_page_draw_the_ledgers_rows(
    ledger: SqliteLedger, calendar: ExchangeCalendar, tmp_path: Path
) -> None:
    bars = day_bars()
    rows = targets_report(ledger, bars, calendar, DAY)
    charts = tmp_path / "page" / "charts"
    charts.mkdir(parents=True)
    closed = list(ledger.closed_positions(DAY))
    assert len(closed) == 4
    curve = realized_pnl_curve(closed, charts / "pnl.png")
    [ccc] = [p for p in closed if str(p.symbol) == "CCC"]
    day_chart = trade_chart(ccc, bars.day("CCC", DAY) or _missing(), charts / "ccc.png")
    distance = target_distance_chart(rows, charts / "targets.png")
    for image in (curve, day_chart, distance):
        assert is_png(image), image

    summary = target_summary(rows)
    sections = [
        Section("Profit targets", [target_row(r) for r in rows], COLUMNS, [distance]),
        Section("Summary", summary.rows(), ("metric", "value"), notes=[summary.line()]),
        Section("P&L", images=[curve, day_chart]),
    ]
    linked = html_page(tmp_path / "page" / "linked.html", "targets", sections, embed=False)
    text = linked.read_text(encoding="utf-8")
    for name in ("charts/pnl.png", "charts/ccc.png", "charts/targets.png"):
        assert f'src="{name}"' in text
    assert "cancelled at the flatten 15:45:00" in text and "median 60%" in text
    embedded = html_page(tmp_path / "page" / "alone.html", "targets", sections).read_text()
    assert embedded.count('src="data:image/png;base64,iVBORw0KGgo') == 3
    assert 'alt="targets.png"' in embedded


def test_charts_refuse_what_they_cannot_draw(ledger: SqliteLedger, tmp_path: Path) -> None:
    planned = Position(DAY, Symbol("ZZZ"), PositionRole.MASTER, Quantity(1))
    bars = day_bars().day("AAA", DAY) or _missing()
    with pytest.raises(InvalidValue, match="an entry fill"):
        trade_chart(planned, bars, tmp_path / "z.png")
    with pytest.raises(InvalidValue, match="a closed position"):
        realized_pnl_curve([planned], tmp_path / "z.png")
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(PNG)
    with pytest.raises(InvalidValue, match="a file under"):
        html_page(tmp_path / "p" / "x.html", "x", [Section("s", images=[outside])], embed=False)


def _missing() -> DayBars:
    raise AssertionError("the test's bars are missing")
