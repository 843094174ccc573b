"""Which events become notices, in what words, and the rate limit that holds a flood back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from openbell.adapters.notify import url_secrets
from openbell.domain.enums import ExitReason, PositionRole, PositionState, Side
from openbell.domain.errors import InvalidValue
from openbell.domain.positions import Position
from openbell.domain.records import Approval, FillRecord, LedgerEvent
from openbell.domain.values import Money, OrderRef, Price, Quantity, Symbol
from openbell.services.notify import (
    EventFacts,
    Notice,
    NoticeKind,
    NotifyConfig,
    Severity,
    notice_for,
)
from openbell.services.notify_limit import RateLimiter

DAY = date(2025, 10, 29)
AT = datetime(2025, 10, 29, 14, 5, tzinfo=UTC)  # 10:05 ET


def event(
    kind: str,
    message: str = "why",
    *,
    symbol: str | None = None,
    process: str = "exit-manager",
    data: Mapping[str, Any] | None = None,
) -> LedgerEvent:
    return LedgerEvent(
        1, AT, process, kind, message, Symbol(symbol) if symbol else None, 7, data or {}
    )


def position(reason: ExitReason | None, *, sold: int = 100) -> Position:
    state = PositionState.CLOSED if sold == 100 else PositionState.EXITING
    return Position(
        DAY,
        Symbol("WULF"),
        PositionRole.RESCAN,
        Quantity(100),
        state=state,
        position_id=7,
        target_price=Price(Decimal("15.58")),
        stop_price=Price(Decimal("15.05")),
        entry_quantity=100,
        entry_cost=Decimal("1519"),
        exit_quantity=sold,
        exit_proceeds=Decimal("15.58") * sold,
        commissions=Decimal("2"),
        exit_reason=reason,
    )


def fill(side: Side = Side.SELL, qty: int = 100, price: str = "15.58") -> FillRecord:
    return FillRecord(
        "x1",
        OrderRef("WULF-target"),
        7,
        Symbol("WULF"),
        side,
        Quantity(qty),
        Price(Decimal(price)),
        AT,
        Money(Decimal(1)),
    )


def exit_notice(kind: str, reason: ExitReason | None, *, sold: int = 100) -> Notice | None:
    facts = EventFacts(position(reason, sold=sold), fill(qty=sold), last_fill=True)
    return notice_for(event(kind, symbol="WULF"), facts)


# --- events to notices -----------------------------------------------------------------------


def test_an_entry_before_its_exit_prices_says_they_follow() -> None:
    opened = replace(position(None, sold=0), state=PositionState.OPEN, target_price=None)
    notice = notice_for(
        event("ENTRY_FILL", symbol="WULF"), EventFacts(opened, fill(Side.BUY, price="15.19"))
    )
    assert notice == Notice(
        NoticeKind.ENTRY,
        "FILL: bought 100 WULF @ 15.19",
        "rescan position 7 entered at 10:05:00 ET: avg entry 15.19; "
        "the target and stop follow from the fill",
        Symbol("WULF"),
    )


@pytest.mark.parametrize(
    ("kind", "reason", "title", "why", "severity"),
    [
        ("TARGET_FILL", ExitReason.TARGET, "TARGET", "the profit target 15.58 was reached",
         Severity.SUCCESS),
        ("STOP_FILL", ExitReason.STOP, "STOP", "the stop 15.05 was hit", Severity.WARNING),
        ("FLATTEN_FILL", ExitReason.FLATTEN, "FLATTEN",
         "the end-of-day flatten sold it before the close", Severity.INFO),
        ("FLATTEN_FILL", ExitReason.KILL, "FLATTEN", "the kill switch liquidated it",
         Severity.INFO),
        ("FLATTEN_FILL", ExitReason.MANUAL, "FLATTEN", "a person asked to liquidate it",
         Severity.INFO),
    ],
)  # fmt: skip
def test_each_exit_says_why_it_sold_and_the_pnl(
    kind: str, reason: ExitReason, title: str, why: str, severity: Severity
) -> None:
    notice = exit_notice(kind, reason)
    assert notice is not None
    assert notice.title == f"{title}: sold 100 WULF @ 15.58, P&L $37.00"
    assert notice.body == (
        f"{why} at 10:05:00 ET; position 7 closed; entry avg 15.19; P&L $37.00 net of "
        "$2.00 commissions"
    )
    assert notice.severity is severity


def test_a_partial_exit_says_what_is_still_held() -> None:
    notice = exit_notice("TARGET_FILL", ExitReason.TARGET, sold=40)
    assert notice is not None
    assert notice.title == "TARGET: sold 40 WULF @ 15.58"
    assert "position 7 still holds 60; entry avg 15.19; P&L so far $13.60" in notice.body


def test_an_exit_that_is_not_the_last_fill_leaves_the_pnl_to_the_last() -> None:
    facts = EventFacts(position(ExitReason.STOP), fill(qty=100), last_fill=False)
    notice = notice_for(event("STOP_FILL", symbol="WULF"), facts)
    assert notice is not None
    assert notice.title == "STOP: sold 100 WULF @ 15.58"


@pytest.mark.parametrize("kind", ["ENTRY_FILL", "TARGET_FILL", "STOP_FILL", "FLATTEN_FILL"])
def test_a_fill_without_its_records_repeats_the_event(kind: str) -> None:
    notice = notice_for(event(kind, "BUY 5 @ 1 (x9)", symbol="WULF"))
    assert notice is not None
    assert notice.title.endswith(": WULF")
    assert notice.body == "BUY 5 @ 1 (x9)"


def test_only_the_smart_shutdown_step_is_news() -> None:
    data = {"trading_day": "2025-10-29", "step": "smart_shutdown"}
    shutdown = notice_for(event("STEP", "smart_shutdown done: all at target", data=data))
    assert shutdown == Notice(
        NoticeKind.SMART_SHUTDOWN,
        "SMART SHUTDOWN: done for 2025-10-29",
        "all at target: no new entries today; the bots go to sleep (10:05:00 ET)",
        severity=Severity.SUCCESS,
    )
    assert notice_for(event("STEP", "plan done", data={"step": "plan"})) is None


@pytest.mark.parametrize(
    ("kind", "symbol", "title"),
    [
        ("HALTED", None, "ERROR: exit-manager halted"),
        ("SCAN_FAILED", None, "ERROR: scan failed"),
        ("UNPROTECTED", "WULF", "ERROR: WULF left alone, unprotected"),
        ("REQUEST_FAILED", None, "ERROR: a requested liquidation failed"),
        ("NOT_FLAT", None, "ALERT: not flat at the flatten"),
    ],
)
def test_errors_are_failures_naming_the_process(kind: str, symbol: str | None, title: str) -> None:
    notice = notice_for(event(kind, "it broke", symbol=symbol))
    assert notice is not None
    assert (notice.kind, notice.title, notice.severity) == (NoticeKind.ERROR, title, "failure")
    assert notice.body == "it broke (exit-manager, 10:05:00 ET)"


def test_a_flatten_not_done_by_the_close_says_so() -> None:
    notice = notice_for(event("NOT_FLAT", "MU 2,854 sh", data={"stage": "close"}))
    assert notice is not None
    assert (notice.title, notice.severity) == ("ALERT: not flat at the close", "failure")


def test_the_ib_link_going_and_coming_back() -> None:
    lost = notice_for(event("DISCONNECTED", "lost it", process="day-trader"))
    back = notice_for(event("RECONNECTED", "back", process="day-trader"))
    assert lost is not None
    assert back is not None
    assert (lost.title, lost.severity) == ("day-trader lost the IB connection", "warning")
    assert (back.title, back.severity) == ("day-trader regained the IB connection", "success")


def test_a_restart_without_its_count() -> None:
    notice = notice_for(event("RESTART", "silent for 130 s", data={"process": "exit-manager"}))
    assert notice is not None
    assert notice.body == "silent for 130 s (10:05:00 ET)"


def test_an_approval_says_how_to_decide_and_is_dropped_once_decided() -> None:
    pending = Approval(3, DAY, Symbol("WULF"), "buy it", "PENDING", AT)
    raised = event("APPROVAL_REQUESTED", "buy it", symbol="WULF", data={"approval_id": 3})
    notice = notice_for(raised, EventFacts(approval=pending))
    assert notice is not None
    assert notice.title == "APPROVAL NEEDED #3: WULF"
    assert notice.body.startswith("buy it. Approve with 'openbell approvals approve 3'")
    decided = replace(pending, status="REJECTED")
    assert notice_for(raised, EventFacts(approval=decided)) is None
    bare = notice_for(raised)
    assert bare is not None
    assert (bare.title, bare.body) == ("APPROVAL NEEDED", "buy it")


def test_other_events_are_not_news() -> None:
    assert notice_for(event("ORDER_RECORDED")) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_per_minute", 0), ("cooldown_s", -1.0), ("timeout_s", 0.0), ("poll_s", 0.0)],
)
def test_the_config_refuses_nonsense(field: str, value: float) -> None:
    with pytest.raises(InvalidValue, match=f"notifications.{field}"):
        NotifyConfig(**{field: value})  # type: ignore[arg-type]


def test_the_config_is_off_without_urls_and_hides_them() -> None:
    assert not NotifyConfig().enabled
    config = NotifyConfig(urls=("tgram://123:secret/42",))
    assert config.enabled
    assert "secret" not in repr(config)


# --- rate limit ------------------------------------------------------------------------------


def notice(kind: NoticeKind, title: str, severity: Severity = Severity.INFO) -> Notice:
    return Notice(kind, title, "body", Symbol("WULF"), severity)


def test_the_cooldown_is_per_kind_and_symbol() -> None:
    limiter = RateLimiter(max_per_minute=10, cooldown_s=30)
    assert limiter.admit(notice(NoticeKind.STOP, "a"), 0)
    assert limiter.admit(notice(NoticeKind.TARGET, "b"), 1)
    other = replace(notice(NoticeKind.STOP, "c"), symbol=Symbol("AMZN"))
    assert limiter.admit(other, 2)
    assert not limiter.admit(notice(NoticeKind.STOP, "d"), 29)
    assert limiter.holding == 1
    assert limiter.admit(notice(NoticeKind.STOP, "e"), 30)


def test_a_summary_waits_for_every_held_notice_and_names_at_most_ten() -> None:
    limiter = RateLimiter(max_per_minute=2, cooldown_s=0)
    assert limiter.admit(notice(NoticeKind.ENTRY, "first"), 0)
    assert limiter.admit(notice(NoticeKind.ENTRY, "second"), 10)
    for n in range(11):
        assert not limiter.admit(notice(NoticeKind.ENTRY, f"held {n}"), 20)
    assert not limiter.admit(notice(NoticeKind.RESTART, "warned", Severity.WARNING), 20)
    assert limiter.summary(59) is None  # the minute is still full
    summary = limiter.summary(60)
    assert summary is not None
    assert summary.title == "+12 more suppressed (11 entry, 1 restart)"
    assert summary.severity is Severity.WARNING
    lines = summary.body.splitlines()
    assert lines[1:3] == ["- held 0", "- held 1"]
    assert lines[-1] == "- and 2 more"
    assert limiter.summary(60) is None  # nothing held any more
    assert not limiter.admit(notice(NoticeKind.ENTRY, "full again"), 60.5)
    assert limiter.summary(61) is None  # the summary took the slot "first" freed
    assert limiter.summary(70) is not None


def test_the_secret_parts_of_apprise_urls() -> None:
    secrets = url_secrets(
        [
            "tgram://123456789:AAHdqTcvCH1vGWJx/-100123",
            "json://hooks.example.com:8080/hook/tk9Zq7?token=abcdef12",
            "mailtos://me:p4ssw0rd@gmail.com",
            "json://[::1",
        ]
    )
    for part in ("AAHdqTcvCH1vGWJx", "123456789", "-100123", "tk9Zq7", "abcdef12", "p4ssw0rd"):
        assert part in secrets
    assert "hooks.example.com" not in secrets
    assert "gmail.com" not in secrets
    assert secrets == sorted(secrets, key=len, reverse=True)
