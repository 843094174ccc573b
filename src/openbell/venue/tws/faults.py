"""Faults the simulated gateway can inject, scripted by tests or on the command line.

Each reproduces something real IB gateways do (IBKR.md §2.7, §2.8, §3.4):

``drop``              the socket closes under every client (a crash, a network blip).
``1100-1101``         connectivity to IB is lost, then restored with market data lost: order
                      news is held during the outage, market data subscriptions are dropped.
``1100-1102``         the same, restored with data maintained.
``10349``             "Order TIF was set to DAY based on order preset" about a live order
                      (ib_async 2.1.0 marks the order Cancelled; it lives on and may fill).
``late-10147``        "not found" about a live order nobody asked to cancel.
``fill-after-cancel`` the next fill's news is held; when its client then cancels the order,
                      it gets a Cancelled status and 202 first, and the fill after them.
                      A client that never cancels gets the news after ``FILL_NEWS_LATEST``
                      (IB reports every fill in the end; only the order of news races).
``cancelled-before-201``  the next rejection sends its Cancelled status before the 201.
``restart``           the gateway goes away for ``seconds`` and comes back with its orders.

On the command line a fault is ``KIND@HH:MM[:SS]`` (New York time on the replayed day) or
``KIND@YYYY-MM-DDTHH:MM[:SS]`` (on that day, for runs of several days), with ``restart``
taking ``restart@HH:MM+SECONDS``; the order faults apply to every client's most
recent working order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from openbell.domain.errors import InvalidValue
from openbell.domain.sessions import NEW_YORK
from openbell.venue.tws.desk import Outgoing


class FaultKind(StrEnum):
    DROP = "drop"
    OUTAGE_DATA_LOST = "1100-1101"
    OUTAGE_DATA_KEPT = "1100-1102"
    TIF_PRESET = "10349"
    LATE_NOT_FOUND = "late-10147"
    FILL_AFTER_CANCEL = "fill-after-cancel"
    CANCELLED_BEFORE_REJECT = "cancelled-before-201"
    RESTART = "restart"


CONNECTIVITY_LOST = (1100, "Connectivity between IB and Trader Workstation has been lost.")
RESTORED_DATA_LOST = (
    1101,
    "Connectivity between IB and Trader Workstation has been restored - data lost.",
)
RESTORED_DATA_KEPT = (
    1102,
    "Connectivity between IB and Trader Workstation has been restored - data maintained.",
)

_SCRIPTED = re.compile(
    r"^([a-z0-9-]+)@(?:(\d{4}-\d{2}-\d{2})t)?(\d{1,2}:\d{2}(?::\d{2})?)(?:\+(\d+(?:\.\d+)?))?$"
)


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault, due at ``at`` (None: now). ``seconds`` is an outage's or restart's length."""

    kind: FaultKind
    at: datetime | None = None
    seconds: float = 1.0

    @classmethod
    def parse(cls, text: str, trading_day: date) -> Fault:
        """``KIND@[YYYY-MM-DDT]HH:MM[:SS][+SECONDS]``, New York time, on the date given or
        else on ``trading_day`` (a run of several days names each fault's day)."""
        match = _SCRIPTED.match(text.strip().lower())
        kinds = ", ".join(k.value for k in FaultKind)
        if match is None:
            raise InvalidValue(
                "fault", f"KIND@[YYYY-MM-DDT]HH:MM[:SS][+SECONDS] with KIND one of {kinds}", text
            )
        try:
            kind = FaultKind(match.group(1))
            day = date.fromisoformat(match.group(2)) if match.group(2) else trading_day
            hour, rest = match.group(3).split(":", 1)
            clock = time.fromisoformat(f"{int(hour):02d}:{rest}")
        except ValueError:
            raise InvalidValue(
                "fault", f"a kind among {kinds}, a valid date and a valid time", text
            ) from None
        seconds = float(match.group(4)) if match.group(4) else 1.0
        return cls(kind, datetime.combine(day, clock, NEW_YORK), seconds)


@dataclass
class FaultState:
    """How the armed faults reshape the gateway's messages, and what they hold back."""

    outage: bool = False
    """IB is "unreachable" (1100): order news waits in ``held`` until it is restored."""
    held: dict[int, list[list[object]]] = field(default_factory=dict)
    fill_after_cancel: bool = False
    held_fills: dict[tuple[int, int], list[list[object]]] = field(default_factory=dict)
    held_since: dict[tuple[int, int], datetime] = field(default_factory=dict)
    cancelled_first: bool = False

    def shape(self, out: list[Outgoing], now: datetime) -> list[Outgoing]:
        """The messages to send now; under ``fill-after-cancel`` a fill's news is kept back."""
        if not self.fill_after_cancel:
            return out
        passed: list[Outgoing] = []
        for i, (client_id, fields) in enumerate(out):
            order_id = _fill_order_id(out, i)
            if order_id is None:
                passed.append((client_id, fields))
            else:
                self.held_fills.setdefault((client_id, order_id), []).append(fields)
                self.held_since.setdefault((client_id, order_id), now)
        return passed

    def overdue(self, now: datetime) -> dict[tuple[int, int], list[list[object]]]:
        """Held fill news whose client has not cancelled within ``FILL_NEWS_LATEST``: it is
        told now (the fault ends). Keyed by (client id, order id)."""
        late = [k for k, since in self.held_since.items() if now - since >= FILL_NEWS_LATEST]
        released = {}
        for key in late:
            released[key] = self.held_fills.pop(key)
            del self.held_since[key]
        if released:
            self.fill_after_cancel = False
        return released

    def holds(self, client_id: int, fields: list[object]) -> bool:
        """During an outage keep order news (not error messages) for later; True if kept."""
        if self.outage and fields[0] != ERROR_MESSAGE:
            self.held.setdefault(client_id, []).append(fields)
            return True
        return False

    def release(self) -> dict[int, list[list[object]]]:
        """Connectivity is back: hand over what the outage held."""
        self.outage = False
        held, self.held = self.held, {}
        return held

    def reorder_reject(self, out: list[Outgoing]) -> list[Outgoing]:
        """Under ``cancelled-before-201``: the next rejection's status goes before its 201."""
        if not self.cancelled_first:
            return out
        for i in range(len(out) - 1):
            first, second = out[i][1], out[i + 1][1]
            if first[0] == ERROR_MESSAGE and first[3] == REJECTED and second[0] == ORDER_STATUS:
                self.cancelled_first = False
                return [*out[:i], out[i + 1], out[i], *out[i + 2 :]]
        return out

    def take_fill_news(self, client_id: int, order_id: int) -> list[list[object]] | None:
        """The held news of a fill this client now tries to cancel (the race is then over)."""
        held = self.held_fills.pop((client_id, order_id), None)
        self.held_since.pop((client_id, order_id), None)
        if held is not None:
            self.fill_after_cancel = False
        return held


FILL_NEWS_LATEST = timedelta(minutes=2)
"""Sim time after which a fill held by ``fill-after-cancel`` is told though nobody cancelled.
Held for ever, it modelled a gateway that loses a fill: a flatten's market order filled at
the gateway and its exit-manager never heard of it (day 72 of the 200-day chaos run)."""

ERROR_MESSAGE, ORDER_STATUS, EXEC_DETAILS, COMMISSION_REPORT, REJECTED = 4, 3, 11, 59, 201


def _fill_order_id(out: list[Outgoing], i: int) -> int | None:
    """The order id if message ``i`` is part of a fill's news (status, execution, commission)."""
    fields = out[i][1]
    if fields[0] == EXEC_DETAILS:
        return int(str(fields[2]))
    if fields[0] == COMMISSION_REPORT and i > 0 and out[i - 1][1][0] == EXEC_DETAILS:
        return int(str(out[i - 1][1][2]))
    if fields[0] == ORDER_STATUS and i + 1 < len(out) and out[i + 1][1][0] == EXEC_DETAILS:
        return int(str(fields[1]))
    return None
