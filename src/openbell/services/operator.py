"""What a person decides, the same from the command line and the dashboard.

Approving or rejecting a rescan entry and turning on the kill switch. Each is one ledger
command; the bots act on it (the day-trader buys an approved entry, the exit-manager serves
the liquidation). Nothing here talks to the broker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from openbell.domain.errors import Conflict, StopAndAlert
from openbell.domain.positions import Position
from openbell.domain.records import Approval, Control, Heartbeat, OperatorRequest
from openbell.ports import Ledger
from openbell.services.exit_desk import LIQUIDATE_MANAGED
from openbell.services.liquidation import Presence, to_flatten

log = logging.getLogger(__name__)

KILL_SWITCH = "kill_switch"


def decide_approval(ledger: Ledger, approval_id: int, approved: bool, decided_by: str) -> Approval:
    """Approve or reject the waiting request ``approval_id`` for ``decided_by``.

    A request already decided is refused with :class:`Conflict` naming who decided it; the
    ledger checks again inside its write, so two people deciding at once cannot both win.
    An expired request may still be approved: the day-trader checks the time on its own
    clock (the shared one in sim, which a command in another terminal does not read) and
    sends nothing for it, saying so in the request's outcome.
    """
    current = ledger.approval(approval_id)
    if current.status != "PENDING":
        raise Conflict(
            f"request {approval_id} ({current.symbol}): expected one waiting for a decision, "
            f"found {current.status} by {current.decided_by}"
        )
    decided = ledger.decide_approval(approval_id, approved, decided_by)
    log.info("approval %d %s by %s", approval_id, decided.status, decided_by)
    return decided


@dataclass(frozen=True)
class KillOutcome:
    """What turning on the kill switch did."""

    control: Control
    held: tuple[Position, ...]
    """The managed positions that held shares: the liquidation covers them."""
    request: OperatorRequest | None
    """The liquidation written for the exit-manager, or None when nothing is held."""


def kill(
    ledger: Ledger,
    trading_day: date,
    reason: str,
    presence: Presence,
    exit_manager: Heartbeat | None = None,
) -> KillOutcome:
    """Turn on the kill switch, then ask for every managed position to be flattened.

    The switch goes on first and whatever follows: the day-trader sends no entry and
    cancels its working ones. The liquidation is a ledger request that the running
    exit-manager serves. A halted exit-manager holds the exit client id and serves nothing,
    so no request is written for it: :class:`StopAndAlert` says a person must look first.
    """
    held = tuple(to_flatten(ledger, LIQUIDATE_MANAGED, trading_day))
    control = ledger.set_control(KILL_SWITCH, True, reason)
    log.warning("kill switch on (%s); %d managed positions hold shares", reason, len(held))
    if not held:
        return KillOutcome(control, held, None)
    if presence is Presence.HALTED:
        pid = f" (pid {exit_manager.pid})" if exit_manager else ""
        detail = f": {exit_manager.detail}" if exit_manager and exit_manager.detail else ""
        raise StopAndAlert(
            f"the kill switch is on, but the exit-manager{pid} is halted{detail}. It holds the "
            "exit client id and serves no liquidation; find out why, stop it, then run "
            "`openbell liquidate --managed`"
        )
    waiting = [r for r in ledger.pending_requests() if r.kind == LIQUIDATE_MANAGED]
    if waiting:  # asked twice (a double click, a reload): one liquidation is enough
        log.info("liquidation request %d is already waiting", waiting[0].request_id)
        return KillOutcome(control, held, waiting[0])
    request = ledger.request_work(LIQUIDATE_MANAGED, reason)
    return KillOutcome(control, held, request)
