"""Rows for ``openbell approvals list``: each rescan request, what was decided, what came of it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from openbell.domain.records import Approval
from openbell.domain.sessions import NEW_YORK
from openbell.ports import Ledger
from openbell.services.rescans import approval_step, describe

COLUMNS = ("id", "trading_day", "symbol", "status", "requested", "request", "outcome")


def approval_rows(
    ledger: Ledger, approvals: Sequence[Approval], valid_for: timedelta
) -> list[dict[str, str]]:
    """One row per request; ``outcome`` is what the day-trader did, or when it expires."""
    steps_by_day = {a.trading_day: ledger.day_steps(a.trading_day) for a in approvals}
    rows = []
    for approval in approvals:
        step = steps_by_day[approval.trading_day].get(approval_step(approval.approval_id))
        rows.append(
            {
                "id": str(approval.approval_id),
                "trading_day": approval.trading_day.isoformat(),
                "symbol": str(approval.symbol),
                "status": approval.status,
                "requested": _et(approval),
                "request": describe(approval),
                "outcome": _outcome(approval, step.detail if step else None, valid_for),
            }
        )
    return rows


def _et(approval: Approval) -> str:
    return approval.requested_at.astimezone(NEW_YORK).strftime("%H:%M ET")


def _outcome(approval: Approval, acted: str | None, valid_for: timedelta) -> str:
    if acted is not None:
        return acted
    if approval.status == "PENDING":
        expires = (approval.requested_at + valid_for).astimezone(NEW_YORK)
        return f"waiting for a person; expires {expires:%H:%M} ET"
    if approval.status == "APPROVED":
        return f"approved by {approval.decided_by}; waiting for the day-trader"
    return f"rejected by {approval.decided_by}"
