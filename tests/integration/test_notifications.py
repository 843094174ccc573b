"""Notifications end to end: ledger events -> notices -> apprise ``json://`` -> a local webhook.

The processes write a day into a real ledger (each with its own connection and name, as they
do); the notifier tails it with the real apprise sender, posting to a scripted HTTP server on
127.0.0.1 whose URL carries a token, as a Telegram or Discord URL would. Wall time for the
rate limiter is a hand-moved number.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from entries import moo_filled
from http_server import Reply, ScriptedServer
from pydantic import SecretStr

from openbell.adapters.clock import ManualClock
from openbell.adapters.notify.apprise_sender import AppriseSender
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.config.settings import LedgerSettings, LoggingSettings, RuntimeSettings, Settings
from openbell.domain.enums import (
    OrderRole,
    OrderStatus,
    PositionRole,
    Side,
)
from openbell.domain.errors import InvalidValue
from openbell.domain.orders import Fill
from openbell.domain.positions import Position
from openbell.domain.values import Confidence, Money, OrderRef, Price, Quantity, Symbol
from openbell.runtime.bots import StopFlag
from openbell.runtime.notifier import (
    CURSOR_FILE,
    CursorFile,
    NotifierLoop,
    notifier_log_secrets,
    notify_config,
    run_notifier,
)
from openbell.services.notify import NoticeKind, NotifyConfig
from openbell.services.rescans import Proposal
from openbell.strategy.exits import exit_prices
from openbell.strategy.management import exit_orders

DAY = date(2025, 10, 29)
OPEN = datetime(2025, 10, 29, 13, 30, tzinfo=UTC)
TOKEN = "tk9Zq7SECRETwebhook4242"
TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:  # one per module; each test posts to its own path
        yield running


@dataclass
class Wall:
    """Monotonic wall seconds, moved by hand."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Day:
    """The ledger as every process sees it, and the notifier watching it."""

    path: Path
    logs: Path
    clock: ManualClock
    server: ScriptedServer
    hook: str
    wall: Wall = field(default_factory=Wall)
    opened: list[SqliteLedger] = field(default_factory=list)
    senders: list[AppriseSender] = field(default_factory=list)

    def as_(self, process: str) -> SqliteLedger:
        ledger = SqliteLedger.open(self.path, self.clock, process=process)
        self.opened.append(ledger)
        return ledger

    @property
    def url(self) -> str:
        return f"json://{self.server.url.removeprefix('http://')}{self.hook}"

    def notifier(self, **settings: Any) -> NotifierLoop:
        config = NotifyConfig(urls=(self.url,), timeout_s=TIMEOUT_S, **settings)
        sender = AppriseSender(config.urls, config.timeout_s)
        self.senders.append(sender)
        cursor = CursorFile(self.logs / CURSOR_FILE)
        loop = NotifierLoop(
            self.as_("notifier"), sender, config, cursor, StopFlag(), 5.0, self.wall
        )
        loop.start()
        return loop

    def posts(self) -> list[dict[str, Any]]:
        return [seen.json() for seen in self.server.seen(self.hook)]

    def titles(self) -> list[str]:
        return [post["title"] for post in self.posts()]


@pytest.fixture
def day(tmp_path: Path, server: ScriptedServer, request: pytest.FixtureRequest) -> Iterator[Day]:
    hook = f"/hook/{request.node.name}/{TOKEN}"
    server.route("POST", hook, Reply(200))
    d = Day(tmp_path / "l.sqlite", tmp_path / "logs", ManualClock(OPEN), server, hook)
    yield d
    for sender in d.senders:
        sender.close()
    for ledger in d.opened:
        ledger.close()


# --- the day, as the processes write it ----------------------------------------------------


def entered(trader: SqliteLedger, exits: SqliteLedger, symbol: str, qty: int, price: str) -> int:
    """Plan, fill the MOO and protect ``symbol`` the way the two bots do; return the id."""
    planned = Position(
        DAY,
        Symbol(symbol),
        PositionRole.MASTER,
        Quantity(qty),
        confidence=Confidence(Decimal("0.8")),
        target_pct=Decimal("2.6"),
        stop_loss_pct=Decimal("0.9"),
    )
    held = moo_filled(trader, planned, price, OPEN)
    pid = held.position_id or 0
    assert held.entry_price is not None
    prices = exit_prices(held.entry_price, Decimal("2.6"), Decimal("0.9"))
    priced = exits.set_exit_prices(pid, prices.target, prices.stop)
    pair = exit_orders(priced)
    for order in (pair.target, pair.stop):
        exits.record_order(pid, order, "exit-manager")
        exits.update_order(order.order_ref, OrderStatus.SUBMITTED)
    return pid


def fill(ref: OrderRef, symbol: str, side: Side, qty: int, price: str) -> Fill:
    return Fill(
        f"{ref}.x1",
        ref,
        Symbol(symbol),
        side,
        Quantity(qty),
        Price(Decimal(price)),
        OPEN,
        Money(Decimal(1)),
    )


def stopped_out(exits: SqliteLedger, pid: int, price: str) -> None:
    stop = next(o for o in exits.orders(pid) if o.role is OrderRole.STOP)
    exits.record_exit_fill(fill(stop.order_ref, str(stop.symbol), Side.SELL, 38, price), DAY)


def proposal(symbol: str) -> str:
    return Proposal(
        Symbol(symbol),
        Confidence(Decimal("0.86")),
        Price(Decimal("15.19")),
        Decimal("2.6"),
        "rules",
        "gap and volume",
        OPEN + timedelta(minutes=45),
    ).to_request()


def halted(trader: SqliteLedger, why: str) -> None:
    trader.append_event("HALTED", f"stopped acting: {why}; a person must look")


def restarted(supervisor: SqliteLedger, child: str, count: int) -> None:
    why = f"{child} exited with code 1; restarting in 1.0 s"
    supervisor.append_event("RESTART", why, data={"process": child, "restarts": count})


# --- what people hear ----------------------------------------------------------------------


def test_each_thing_worth_knowing_is_one_post_saying_what_and_why(day: Day) -> None:
    trader, exits, supervisor = (
        day.as_("day-trader"),
        day.as_("exit-manager"),
        day.as_("supervisor"),
    )
    loop = day.notifier()
    pid = entered(trader, exits, "AMZN", 38, "666.05")
    stopped_out(exits, pid, "659.88")
    trader.mark_step(DAY, "smart_shutdown", "every master position hit its target")
    halted(trader, "execution X1 cannot be booked")
    restarted(supervisor, "exit-manager", 2)
    pending = trader.request_approval(DAY, Symbol("WULF"), proposal("WULF"))
    decided = trader.request_approval(DAY, Symbol("BBAR"), proposal("BBAR"))
    trader.decide_approval(decided.approval_id, False, "expired")  # nothing left to act on
    trader.append_event("SCHEDULE", "awake")  # not worth a message

    loop.tick()

    posts = day.posts()
    assert [(p["title"], p["type"]) for p in posts] == [
        ("FILL: bought 38 AMZN @ 666.05", "info"),
        ("STOP: sold 38 AMZN @ 659.88, P&L -$236.46", "warning"),
        ("SMART SHUTDOWN: done for 2025-10-29", "success"),
        ("ERROR: day-trader halted", "failure"),
        ("RESTART: exit-manager", "warning"),
        (f"APPROVAL NEEDED #{pending.approval_id}: WULF", "warning"),
    ]
    entry, stop, shutdown, error, restart, approval = (p["message"] for p in posts)
    assert (
        entry
        == "master position 1 entered at 09:30:00 ET: avg entry 666.05; target 683.37, stop 660.06"
    )
    assert stop == (
        "the stop 660.06 was hit at 09:30:00 ET; position 1 closed; entry avg 666.05; "
        "P&L -$236.46 net of $2.00 commissions"
    )
    assert shutdown.startswith("every master position hit its target: no new entries today")
    assert "execution X1 cannot be booked; a person must look (day-trader" in error
    assert (
        "exited with code 1; restarting in 1.0 s; restart 2 since the supervisor started" in restart
    )
    assert "buy WULF at market: confidence 0.86" in approval
    assert f"openbell approvals approve {pending.approval_id}" in approval
    assert loop.stats.sent == 6
    assert loop.stats.failed == 0

    loop.tick()  # the cursor moved past them: nothing twice
    assert len(day.posts()) == 6


def test_a_flood_is_held_back_then_summarized_errors_first(day: Day) -> None:
    trader, supervisor = day.as_("day-trader"), day.as_("supervisor")
    loop = day.notifier(max_per_minute=3, cooldown_s=30.0)
    restarted(supervisor, "day-trader", 1)
    restarted(supervisor, "day-trader", 2)  # within the cooldown of the first: held
    halted(trader, "first")  # errors skip the cooldown
    halted(trader, "second")
    halted(trader, "third")  # the minute's cap is reached: held
    loop.tick()
    assert day.titles() == [
        "RESTART: day-trader",
        "ERROR: day-trader halted",
        "ERROR: day-trader halted",
    ]

    day.wall.now += 31  # the restart's cooldown is over, the minute is not
    loop.tick()
    assert len(day.posts()) == 3

    day.wall.now += 30
    restarted(supervisor, "exit-manager", 1)
    loop.tick()
    posts = day.posts()
    assert len(posts) == 5
    summary = posts[3]
    assert (
        summary["title"]
        == "+2 more suppressed (1 error, 1 restart), incl. ERROR: day-trader halted"
    )
    assert summary["type"] == "failure"
    assert summary["message"].splitlines()[1:] == [
        "- ERROR: day-trader halted",
        "- RESTART: day-trader",
    ]
    assert posts[4]["title"] == "RESTART: exit-manager"
    assert loop.stats.held_back == 2


def test_kinds_not_chosen_are_not_sent(day: Day) -> None:
    trader, supervisor = day.as_("day-trader"), day.as_("supervisor")
    loop = day.notifier(kinds=frozenset({NoticeKind.ERROR}))
    restarted(supervisor, "day-trader", 1)
    halted(trader, "broken")
    loop.tick()
    assert day.titles() == ["ERROR: day-trader halted"]


def test_a_failing_or_hanging_webhook_costs_one_send_and_the_next_goes_out(day: Day) -> None:
    day.server.route("POST", day.hook, Reply(500), Reply(200, delay_s=3 * TIMEOUT_S), Reply(200))
    trader = day.as_("day-trader")
    loop = day.notifier()
    for why in ("answered 500", "hung", "delivered"):
        halted(trader, why)

    started = time.monotonic()
    loop.tick()
    took = time.monotonic() - started

    assert len(day.posts()) == 3
    assert (loop.stats.sent, loop.stats.failed) == (1, 2)
    assert took < 4 * TIMEOUT_S
    last = trader.last_events(1)[0].event_id
    assert loop.cursor == last  # a failed notice is not retried forever


def test_a_restart_resumes_after_the_saved_cursor(day: Day) -> None:
    trader = day.as_("day-trader")
    halted(trader, "before the notifier ever ran")  # history: never sent
    first = day.notifier()
    halted(trader, "one")
    first.tick()
    assert [p["message"].split(";")[0] for p in day.posts()] == ["stopped acting: one"]

    halted(trader, "two")  # while the notifier is down
    second = day.notifier()
    second.tick()

    assert [p["message"].split(";")[0] for p in day.posts()] == [
        "stopped acting: one",
        "stopped acting: two",
    ]
    saved = CursorFile(day.logs / CURSOR_FILE).load()
    assert saved == trader.last_events(1)[0].event_id == second.cursor


def test_a_cursor_past_the_end_of_the_log_starts_at_the_end(day: Day) -> None:
    trader = day.as_("day-trader")
    halted(trader, "old")
    CursorFile(day.logs / CURSOR_FILE).save(999)
    loop = day.notifier()
    assert loop.cursor == trader.last_events(1)[0].event_id
    halted(trader, "new")
    loop.tick()
    assert len(day.posts()) == 1


def test_the_token_never_reaches_a_log_or_the_cursor_file(
    day: Day, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    day.server.route("POST", day.hook, Reply(200), Reply(500))
    trader = day.as_("day-trader")
    loop = day.notifier()
    halted(trader, "delivered")
    halted(trader, "refused")
    loop.tick()
    with pytest.raises(InvalidValue) as refused:
        AppriseSender([f"nosuchservice://{TOKEN}@example.com/x"], TIMEOUT_S)

    assert (loop.stats.sent, loop.stats.failed) == (1, 1)
    assert TOKEN not in str(refused.value)
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in logged
    assert "/hook/" in logged  # apprise and urllib3 did log the URL, masked
    assert TOKEN not in (day.logs / CURSOR_FILE).read_text(encoding="utf-8")
    assert TOKEN not in repr(NotifyConfig(urls=(day.url,)))


# --- the process -----------------------------------------------------------------------------


def settings_for(day: Day) -> Settings:
    return Settings(
        ledger=LedgerSettings(path=day.path),
        logging=LoggingSettings(directory=day.logs),
        runtime=RuntimeSettings(heartbeat_s=0.05),
    )


def until(condition: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def status_of(ledger: SqliteLedger, process: str) -> str | None:
    beats = {b.process: b.status for b in ledger.heartbeats()}
    return beats.get(process)


def test_the_process_sends_beats_and_stops_when_asked(day: Day) -> None:
    trader = day.as_("day-trader")
    stop = StopFlag()
    config = NotifyConfig(urls=(day.url,), timeout_s=TIMEOUT_S, poll_s=0.02)
    codes: list[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(run_notifier(settings_for(day), stop, config))
    )
    thread.start()
    try:
        until(lambda: status_of(trader, "notifier") == "running")
        halted(trader, "seen by the process")
        until(lambda: len(day.posts()) == 1)
    finally:
        stop.set("test over")
        thread.join(timeout=5)
    assert codes == [0]
    assert status_of(trader, "notifier") == "stopped"
    assert (day.logs / CURSOR_FILE).exists()


def test_without_urls_the_process_only_beats_disabled(day: Day) -> None:
    trader = day.as_("day-trader")
    stop = StopFlag()
    thread = threading.Thread(target=run_notifier, args=(settings_for(day), stop, NotifyConfig()))
    thread.start()
    try:
        until(lambda: status_of(trader, "notifier") == "disabled")
    finally:
        stop.set("test over")
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_an_unusable_url_halts_the_process_without_showing_it(day: Day) -> None:
    trader = day.as_("day-trader")
    stop = StopFlag()
    config = NotifyConfig(urls=(f"nosuchservice://{TOKEN}@example.com/x",))
    thread = threading.Thread(target=run_notifier, args=(settings_for(day), stop, config))
    thread.start()
    try:
        until(lambda: status_of(trader, "notifier") == "halted")
    finally:
        stop.set("test over")
        thread.join(timeout=5)
    beat = next(b for b in trader.heartbeats() if b.process == "notifier")
    assert "notifications.urls[1]" in beat.detail
    assert TOKEN not in beat.detail


def test_an_unreadable_cursor_is_a_first_start(day: Day) -> None:
    trader = day.as_("day-trader")
    halted(trader, "history")
    (day.logs).mkdir()
    (day.logs / CURSOR_FILE).write_text("{not json", encoding="utf-8")
    loop = day.notifier()
    assert loop.cursor == trader.last_events(1)[0].event_id
    assert CursorFile(day.logs / CURSOR_FILE).load() == loop.cursor


@dataclass(frozen=True)
class Section:
    """The ``notifications`` settings section, as pydantic hands it over."""

    urls: tuple[SecretStr, ...]
    kinds: tuple[str, ...] = ("stop", "error")
    max_per_minute: int = 5
    cooldown_s: float = 10.0
    timeout_s: float = 2.0
    poll_s: float = 0.5


def test_the_settings_section_becomes_the_config_and_its_tokens_are_masked(day: Day) -> None:
    config = notify_config(Section((SecretStr(day.url),)))
    assert config.urls == (day.url,)
    assert config.kinds == {NoticeKind.STOP, NoticeKind.ERROR}
    assert (config.max_per_minute, config.cooldown_s, config.timeout_s) == (5, 10.0, 2.0)
    assert TOKEN in notifier_log_secrets(settings_for(day), config)


def test_an_event_whose_record_is_gone_is_sent_as_written(day: Day) -> None:
    trader = day.as_("day-trader")
    loop = day.notifier()
    trader.append_event("APPROVAL_REQUESTED", "buy WULF?", data={"approval_id": 999})
    loop.tick()
    assert [(p["title"], p["message"]) for p in day.posts()] == [("APPROVAL NEEDED", "buy WULF?")]


def test_an_event_that_cannot_be_described_is_passed_with_a_plain_notice(day: Day) -> None:
    trader = day.as_("day-trader")
    loop = day.notifier()
    trader.append_event("APPROVAL_REQUESTED", "buy WULF?", data={"approval_id": "not a number"})
    trader.append_event("HALTED", "stopped acting: the ledger is corrupt")
    loop.tick()  # neither raises nor stops at the odd event
    titles = [p["title"] for p in day.posts()]
    assert titles[0].endswith("(APPROVAL_REQUESTED) could not be described")
    assert len(titles) == 2 and "HALTED" not in titles[0]
    restarted = day.notifier()
    restarted.tick()
    assert len(day.posts()) == 2  # the cursor moved past it: no crash loop, no resend


def test_openbell_run_refuses_an_unusable_url_before_starting_anything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENBELL")}
    env |= {
        "OPENBELL__NOTIFICATIONS__URLS": f'["nosuchservice://{TOKEN}@example.com/x"]',
        "OPENBELL__LEDGER__PATH": str(tmp_path / "ledger.sqlite"),
        "COLUMNS": "250",
    }
    done = subprocess.run(
        [sys.executable, "-m", "openbell", "run", "--mode", "sim", "--day", "2016-04-29"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "notifications.urls[1]" in done.stderr
    assert "nosuchservice://" in done.stderr
    assert TOKEN not in done.stdout + done.stderr
    assert not (tmp_path / "ledger.sqlite").exists()  # refused before the supervisor began
