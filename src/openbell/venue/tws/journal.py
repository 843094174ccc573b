"""The gateway's own record of what it received and executed: the ground truth for tests,
and what a restarted gateway rebuilds its account from.

One JSON object per line, appended and flushed as it happens, so a test (or the chaos
harness) can check the bots against what really reached the venue even after the gateway
process is gone: no order sent twice, every execution booked once, nothing sold that the
ledger does not hold.

Records: ``start`` (a gateway process began serving a run), ``order`` (a placeOrder, with its
wire fields), ``cancel`` (a cancel the venue acted on) and ``execution``. At IB the account
lives on the servers, not in the Gateway process; the simulated gateway's account lives in
its process, so a restarted one replays the ``order`` and ``cancel`` records of its run
(:func:`earlier_life`) through a fresh matching engine to stand where the killed one stood.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from openbell.domain.values import COMMISSION_PLACES, decimal_from_float
from openbell.venue.tws.desk import Execution
from openbell.venue.tws.requests import PlaceOrder


class GatewayJournal:
    """Appends ``order`` and ``execution`` records to ``path`` (owner-only permissions)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file: TextIO = os.fdopen(descriptor, "a", encoding="utf-8")

    def start(self, run: str, at: datetime) -> None:
        """A gateway process of ``run`` begins serving at sim time ``at``."""
        self._write({"kind": "start", "at": at.isoformat(), "run": run})

    def order(
        self,
        client_id: int,
        request: PlaceOrder,
        at: datetime,
        fields: list[str] | None = None,
        version: int | None = None,
    ) -> None:
        """A placeOrder read; with its wire ``fields`` and the session's server ``version``
        a restarted gateway can place it again."""
        self._write(
            {
                "kind": "order",
                "at": at.isoformat(),
                "fields": fields,
                "version": version,
                "client_id": client_id,
                "order_id": request.order_id,
                "order_ref": request.order_ref,
                "symbol": request.contract.symbol,
                "action": request.action,
                "quantity": request.quantity,
                "order_type": request.order_type,
                "tif": request.tif,
                "oca_group": request.oca_group,
            }
        )

    def cancel(self, client_id: int, order_id: int, at: datetime) -> None:
        """A cancel the venue acted on (one answered from held fill news never reached it)."""
        self._write(
            {"kind": "cancel", "at": at.isoformat(), "client_id": client_id, "order_id": order_id}
        )

    def execution(self, fill: Execution) -> None:
        order, execution = fill.order, fill.execution
        self._write(
            {
                "kind": "execution",
                "at": execution.time.isoformat(),
                "client_id": order.client_id,
                "order_ref": order.order_ref,
                "exec_id": execution.exec_id,
                "symbol": order.contract.symbol,
                "side": execution.side,
                "shares": execution.shares,
                "price": execution.price,
                "commission": fill.commission,
            }
        )

    def close(self) -> None:
        self._file.close()

    def _write(self, record: dict[str, object]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()


def read_journal(path: Path) -> list[dict[str, object]]:
    """Every record of a journal, in order; a line that is not a JSON object (an unfinished
    last line, if the gateway died mid-write) is skipped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def earlier_life(records: list[dict[str, object]], run: str) -> list[dict[str, object]]:
    """The records of ``run`` from its first ``start`` on: what an earlier gateway process of
    the same run received and executed. Empty for a run this journal has not seen (a journal
    kept across runs replays nothing of the others)."""
    first = next(
        (i for i, r in enumerate(records) if r.get("kind") == "start" and r.get("run") == run),
        None,
    )
    if first is None:
        return []
    mine, current = [], run
    for record in records[first:]:
        if record.get("kind") == "start":
            current = str(record.get("run"))
        elif current == run:
            mine.append(record)
    return mine


def executions_pnl(executions: list[dict[str, object]]) -> Decimal:
    """Cash in minus cash out minus commissions, to the cent, of journal ``execution``
    records: the gateway's own P&L, the ground truth a ledger's is checked against.

    Each commission counts as IB reports it, to a hundredth of a cent (what the IB adapter
    books). The journal holds the venue's float, whose noise (51.425000000000004) decided a
    total that was a true half-cent tie (-717.845) the other way from the ledger's.
    """
    total = Decimal(0)
    for e in executions:
        value = Decimal(str(e["price"])) * Decimal(str(e["shares"]))
        total += -value if e["side"] == "BOT" else value
        total -= decimal_from_float(float(str(e["commission"])), COMMISSION_PLACES)
    return total.quantize(Decimal("0.01"))
