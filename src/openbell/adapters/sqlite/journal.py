"""The ledger's journal: scores, approvals, controls, heartbeats, day steps, operator requests
and the event log."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from openbell.adapters.sqlite import rows
from openbell.adapters.sqlite.core import INSERT_EVENT, LedgerCore
from openbell.domain.errors import Conflict, InvalidValue, NotFound
from openbell.domain.records import (
    Approval,
    Control,
    DayStep,
    EventDraft,
    Heartbeat,
    LedgerEvent,
    LlmCallDraft,
    LlmCallRecord,
    LlmUsage,
    OperatorRequest,
    ScoreDraft,
    ScoreRecord,
)
from openbell.domain.values import Confidence, Symbol

CONTROL_NAMES = ("kill_switch", "entries_paused")
REQUEST_KINDS = ("LIQUIDATE_MANAGED", "LIQUIDATE_TODAY")
_STEP_NAME = re.compile(r"[a-z0-9_:.-]{1,64}")
_MAX_STEP_DETAIL = 2000
_MAX_EVENTS_PER_READ = 10_000


class LedgerJournal(LedgerCore):
    # --- scores ------------------------------------------------------------------------------

    def record_score(
        self,
        trading_day: date,
        symbol: Symbol,
        scorer: str,
        confidence: Confidence,
        inputs: Mapping[str, Any],
        output: Mapping[str, Any],
    ) -> ScoreRecord:
        """Keep one scorer decision with everything it saw and said."""
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO scores (trading_day, symbol, scorer, confidence, inputs, output, "
                "scored_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    trading_day.isoformat(),
                    str(symbol),
                    scorer,
                    str(confidence.value),
                    rows.to_json(inputs),
                    rows.to_json(output),
                    self._now_text(),
                ),
            )
            row = conn.execute(
                "SELECT * FROM scores WHERE score_id = ?", (cursor.lastrowid,)
            ).fetchone()
        return rows.score_from(row)

    def record_scores(self, trading_day: date, scorer: str, drafts: Sequence[ScoreDraft]) -> int:
        """Keep many scorer decisions in one transaction; return how many were kept."""
        now = self._now_text()
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO scores (trading_day, symbol, scorer, confidence, inputs, output, "
                "scored_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        trading_day.isoformat(),
                        str(d.symbol),
                        scorer,
                        str(d.confidence.value),
                        rows.to_json(d.inputs),
                        rows.to_json(d.output),
                        now,
                    )
                    for d in drafts
                ],
            )
        return len(drafts)

    def scores(self, trading_day: date) -> Sequence[ScoreRecord]:
        cursor = self._conn.execute(
            "SELECT * FROM scores WHERE trading_day = ? ORDER BY score_id",
            (trading_day.isoformat(),),
        )
        return [rows.score_from(row) for row in cursor]

    # --- LLM calls ---------------------------------------------------------------------------

    def record_llm_call(self, call: LlmCallDraft) -> LlmCallRecord:
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO llm_calls (trading_day, symbol, provider, model, prompt_version, "
                "prompt_hash, inputs, outcome, reason, raw_answer, parsed, confidence, "
                "latency_ms, prompt_tokens, completion_tokens, cost_usd, called_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    call.trading_day.isoformat(),
                    str(call.symbol),
                    call.provider,
                    call.model,
                    call.prompt_version,
                    call.prompt_hash,
                    rows.to_json(call.inputs),
                    call.outcome.value,
                    call.reason,
                    call.raw_answer,
                    rows.to_json(call.parsed),
                    None if call.confidence is None else str(call.confidence.value),
                    call.latency_ms,
                    call.prompt_tokens,
                    call.completion_tokens,
                    str(call.cost_usd),
                    self._now_text(),
                ),
            )
            row = conn.execute(
                "SELECT * FROM llm_calls WHERE call_id = ?", (cursor.lastrowid,)
            ).fetchone()
        return rows.llm_call_from(row)

    def llm_calls(self, trading_day: date) -> Sequence[LlmCallRecord]:
        cursor = self._conn.execute(
            "SELECT * FROM llm_calls WHERE trading_day = ? ORDER BY call_id",
            (trading_day.isoformat(),),
        )
        return [rows.llm_call_from(row) for row in cursor]

    def llm_usage(self, trading_day: date) -> LlmUsage:
        # cost is exact decimal text: summed here, not by SQLite's floats
        cursor = self._conn.execute(
            "SELECT prompt_tokens + completion_tokens, cost_usd FROM llm_calls "
            "WHERE trading_day = ?",
            (trading_day.isoformat(),),
        )
        calls, tokens, cost = 0, 0, Decimal(0)
        for used, spent in cursor:
            calls, tokens, cost = calls + 1, tokens + used, cost + Decimal(spent)
        return LlmUsage(calls, tokens, cost)

    # --- approvals ---------------------------------------------------------------------------

    def request_approval(self, trading_day: date, symbol: Symbol, request: str) -> Approval:
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO approvals (trading_day, symbol, request, status, requested_at) "
                "VALUES (?, ?, ?, 'PENDING', ?)",
                (trading_day.isoformat(), str(symbol), request, self._now_text()),
            )
            approval_id = int(cursor.lastrowid or 0)
            self._event(
                "APPROVAL_REQUESTED", request, symbol=symbol, data={"approval_id": approval_id}
            )
            return self._approval(approval_id)

    def decide_approval(self, approval_id: int, approved: bool, decided_by: str) -> Approval:
        """Approve or reject a pending request once; a second decision is refused."""

        def body() -> Approval:
            current = self._approval(approval_id)
            if current.status != "PENDING":
                raise Conflict(f"approval {approval_id}: expected PENDING, found {current.status}")
            verdict = "APPROVED" if approved else "REJECTED"
            self._conn.execute(
                "UPDATE approvals SET status = ?, decided_at = ?, decided_by = ? "
                "WHERE approval_id = ?",
                (verdict, self._now_text(), decided_by, approval_id),
            )
            self._event(
                f"APPROVAL_{verdict}",
                f"{current.request} ({decided_by})",
                symbol=current.symbol,
                data={"approval_id": approval_id},
            )
            return self._approval(approval_id)

        return self._command(f"decide approval {approval_id}", None, body)

    def approvals(
        self, trading_day: date | None = None, *, pending_only: bool = False
    ) -> Sequence[Approval]:
        where, params = [], []
        if trading_day is not None:
            where.append("trading_day = ?")
            params.append(trading_day.isoformat())
        if pending_only:
            where.append("status = 'PENDING'")
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        cursor = self._conn.execute(
            f"SELECT * FROM approvals {clause}ORDER BY approval_id",
            params,
        )
        return [rows.approval_from(row) for row in cursor]

    def approval(self, approval_id: int) -> Approval:
        return self._approval(approval_id)

    def _approval(self, approval_id: int) -> Approval:
        row = self._conn.execute(
            "SELECT * FROM approvals WHERE approval_id = ?", (approval_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"approval {approval_id}: expected a recorded request, found none")
        return rows.approval_from(row)

    # --- controls ----------------------------------------------------------------------------

    def set_control(self, name: str, enabled: bool, reason: str) -> Control:
        """Flip ``kill_switch`` or ``entries_paused``, with a reason for the log."""
        if name not in CONTROL_NAMES:
            raise InvalidValue("control", " or ".join(CONTROL_NAMES), name)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO controls (name, enabled, reason, changed_by, changed_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                "enabled = excluded.enabled, reason = excluded.reason, "
                "changed_by = excluded.changed_by, changed_at = excluded.changed_at",
                (name, int(enabled), reason, self._process, self._now_text()),
            )
            self._event("CONTROL", f"{name} {'on' if enabled else 'off'}: {reason}")
        return self.controls()[name]

    def controls(self) -> Mapping[str, Control]:
        cursor = self._conn.execute("SELECT * FROM controls ORDER BY name")
        return {row["name"]: rows.control_from(row) for row in cursor}

    # --- heartbeats --------------------------------------------------------------------------

    def beat(self, status: str, detail: str = "") -> Heartbeat:
        """Record that this process is alive, which code it runs, and what it is doing."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO heartbeats (process, pid, code_version, status, detail, beat_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(process) DO UPDATE SET pid = excluded.pid, "
                "code_version = excluded.code_version, status = excluded.status, "
                "detail = excluded.detail, beat_at = excluded.beat_at",
                (self._process, os.getpid(), self._code_version, status, detail, self._now_text()),
            )
            row = conn.execute(
                "SELECT * FROM heartbeats WHERE process = ?", (self._process,)
            ).fetchone()
        return rows.heartbeat_from(row)

    def heartbeats(self) -> Sequence[Heartbeat]:
        cursor = self._conn.execute("SELECT * FROM heartbeats ORDER BY process")
        return [rows.heartbeat_from(row) for row in cursor]

    # --- day steps ---------------------------------------------------------------------------

    def mark_step(self, trading_day: date, step: str, detail: str = "") -> bool:
        """Record that ``step`` of ``trading_day`` is done; True only the first time.

        False means some process had already marked it, and nothing changed. The insert is
        the check, so two processes racing for the same step cannot both get True; inside a
        batch the mark commits or rolls back with the batch.
        """
        _check_step(step, detail)
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO day_steps (trading_day, step, process, done_at, detail) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(trading_day, step) DO NOTHING",
                (trading_day.isoformat(), step, self._process, self._now_text(), detail),
            )
            first = cursor.rowcount == 1
            if first:
                self._event(
                    "STEP",
                    f"{step} done: {detail}" if detail else f"{step} done",
                    data={"trading_day": trading_day.isoformat(), "step": step},
                )
        return first

    def day_steps(self, trading_day: date) -> Mapping[str, DayStep]:
        """The steps of ``trading_day`` marked so far, by step name, in the order done."""
        cursor = self._conn.execute(
            "SELECT * FROM day_steps WHERE trading_day = ? ORDER BY done_at, step",
            (trading_day.isoformat(),),
        )
        return {row["step"]: rows.day_step_from(row) for row in cursor}

    # --- operator requests -------------------------------------------------------------------

    def request_work(self, kind: str, reason: str) -> OperatorRequest:
        """Ask the process that owns ``kind`` of work to do it (status PENDING)."""
        if kind not in REQUEST_KINDS:
            raise InvalidValue("request kind", " or ".join(REQUEST_KINDS), kind)
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO requests (kind, reason, status, requested_by, requested_at) "
                "VALUES (?, ?, 'PENDING', ?, ?)",
                (kind, reason, self._process, self._now_text()),
            )
            request_id = int(cursor.lastrowid or 0)
            self._event("REQUESTED", f"{kind}: {reason}", data={"request_id": request_id})
            return self.operator_request(request_id)

    def pending_requests(self) -> Sequence[OperatorRequest]:
        """Requests nobody has finished yet, oldest first."""
        cursor = self._conn.execute(
            "SELECT * FROM requests WHERE status = 'PENDING' ORDER BY request_id"
        )
        return [rows.request_from(row) for row in cursor]

    def operator_request(self, request_id: int) -> OperatorRequest:
        row = self._conn.execute(
            "SELECT * FROM requests WHERE request_id = ?", (request_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"request {request_id}: expected a recorded request, found none")
        return rows.request_from(row)

    def finish_request(self, request_id: int, ok: bool, outcome: str) -> OperatorRequest:
        """Finish a pending request once, as DONE or FAILED; a second finish is refused."""

        def body() -> OperatorRequest:
            current = self.operator_request(request_id)
            if current.status != "PENDING":
                raise Conflict(f"request {request_id}: expected PENDING, found {current.status}")
            verdict = "DONE" if ok else "FAILED"
            self._conn.execute(
                "UPDATE requests SET status = ?, finished_by = ?, finished_at = ?, outcome = ? "
                "WHERE request_id = ?",
                (verdict, self._process, self._now_text(), outcome, request_id),
            )
            self._event(
                f"REQUEST_{verdict}",
                f"{current.kind}: {outcome}",
                data={"request_id": request_id},
            )
            return self.operator_request(request_id)

        return self._command(f"finish request {request_id}", None, body)

    # --- events ------------------------------------------------------------------------------

    def append_event(
        self,
        kind: str,
        message: str,
        *,
        symbol: Symbol | None = None,
        position_id: int | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> LedgerEvent:
        """Append a decision or fact, with its reason, to the append-only event log."""
        with self._write():
            event_id = self._event(kind, message, symbol=symbol, position_id=position_id, data=data)
        return self.events(after_id=event_id - 1, limit=1)[0]

    def append_events(self, drafts: Sequence[EventDraft]) -> int:
        """Append many events in one transaction, in order; return how many."""
        now = self._now_text()
        with self._write() as conn:
            conn.executemany(INSERT_EVENT, [self._event_row(d, now) for d in drafts])
        return len(drafts)

    def events(self, *, after_id: int = 0, limit: int = 100) -> Sequence[LedgerEvent]:
        """Events with ids above ``after_id``, oldest first, at most ``limit`` of them."""
        if not 1 <= limit <= _MAX_EVENTS_PER_READ:
            raise InvalidValue("events limit", f"1 to {_MAX_EVENTS_PER_READ}", limit)
        cursor = self._conn.execute(
            "SELECT * FROM events WHERE event_id > ? ORDER BY event_id LIMIT ?", (after_id, limit)
        )
        return [rows.event_from(row) for row in cursor]

    def last_events(self, count: int) -> Sequence[LedgerEvent]:
        """The ``count`` most recent events, oldest first (for tailing)."""
        if not 1 <= count <= _MAX_EVENTS_PER_READ:
            raise InvalidValue("events count", f"1 to {_MAX_EVENTS_PER_READ}", count)
        cursor = self._conn.execute(
            "SELECT * FROM (SELECT * FROM events ORDER BY event_id DESC LIMIT ?) ORDER BY event_id",
            (count,),
        )
        return [rows.event_from(row) for row in cursor]


def _check_step(step: str, detail: str) -> None:
    if _STEP_NAME.fullmatch(step) is None:
        raise InvalidValue("day step", "1 to 64 characters of a-z, 0-9, _ : . -", step)
    if len(detail) > _MAX_STEP_DETAIL:
        raise InvalidValue("day step detail length", f"at most {_MAX_STEP_DETAIL}", len(detail))
