"""The day's timeline, resolved from relative times against a real session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from openbell.domain.sessions import Anchor, RelativeTime, Session

VENUE_MOO_CUTOFF = RelativeTime(Anchor.OPEN, timedelta(minutes=-2))
"""The venue refuses Market-On-Open orders after this (Nasdaq's 09:28 ET; IBKR.md §3.2)."""

LAST_ENTRY = RelativeTime(Anchor.CLOSE, timedelta(minutes=-45))
"""By default no intraday (rescan) entry is proposed or sent from 45 minutes before the close."""


@dataclass(frozen=True, slots=True)
class DayPlan:
    """The relative times of a trading day, in the order they happen."""

    wake: RelativeTime
    scan: RelativeTime
    moo_submit: RelativeTime
    flatten: RelativeTime
    sleep: RelativeTime
    last_entry: RelativeTime = LAST_ENTRY

    def resolve(self, session: Session) -> DayTimeline:
        return DayTimeline(
            session=session,
            wake=self.wake.resolve(session),
            scan=self.scan.resolve(session),
            moo_submit=self.moo_submit.resolve(session),
            moo_cutoff=VENUE_MOO_CUTOFF.resolve(session),
            flatten=self.flatten.resolve(session),
            sleep=self.sleep.resolve(session),
            last_entry=self.last_entry.resolve(session),
        )


@dataclass(frozen=True, slots=True)
class DayTimeline:
    """A :class:`DayPlan` resolved to aware instants for one session."""

    session: Session
    wake: datetime
    scan: datetime
    moo_submit: datetime
    moo_cutoff: datetime
    flatten: datetime
    sleep: datetime
    last_entry: datetime
    """No intraday (rescan) entry is proposed or sent from this instant on."""

    def steps(self) -> list[tuple[str, datetime]]:
        """Named instants in time order, for display and for checking order."""
        named = [
            ("wake", self.wake),
            ("scan", self.scan),
            ("moo_submit", self.moo_submit),
            ("moo_cutoff", self.moo_cutoff),
            ("open", self.session.open),
            ("last_entry", self.last_entry),
            ("flatten", self.flatten),
            ("close", self.session.close),
            ("sleep", self.sleep),
        ]
        return sorted(named, key=lambda item: item[1])

    def may_submit_moo(self, now: datetime) -> bool:
        """True from the submission time until the venue's cutoff (exclusive)."""
        return self.moo_submit <= now < self.moo_cutoff

    def rescan_slot(self, now: datetime, every: timedelta) -> datetime | None:
        """The latest rescan instant at or before ``now`` (``open + k * every``, k >= 1),
        or None before the first one and from ``last_entry`` on."""
        if every <= timedelta(0) or now >= self.last_entry:
            return None
        slots = (now - self.session.open) // every
        return self.session.open + slots * every if slots >= 1 else None

    def ordering_problems(self) -> list[tuple[str, str]]:
        """Every violation of wake <= scan <= moo_submit < cutoff, of
        open < flatten < close <= sleep and of open < last_entry <= flatten, as
        (step, what was expected)."""
        checks = [
            (self.wake <= self.scan, "wake", "no later than scan"),
            (self.scan <= self.moo_submit, "scan", "no later than moo_submit"),
            (self.moo_submit < self.moo_cutoff, "moo_submit", "before the venue cutoff open - 2m"),
            (self.session.open < self.flatten, "flatten", "after the open"),
            (self.flatten < self.session.close, "flatten", "before the close"),
            (self.session.close <= self.sleep, "sleep", "no earlier than the close"),
            (self.session.open < self.last_entry, "last_entry", "after the open"),
            (self.last_entry <= self.flatten, "last_entry", "no later than the flatten"),
        ]
        return [(step, expected) for ok, step, expected in checks if not ok]
