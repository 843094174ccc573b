"""The day's timeline, resolved from relative times against a real session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from openbell.domain.sessions import Anchor, RelativeTime, Session

VENUE_MOO_CUTOFF = RelativeTime(Anchor.OPEN, timedelta(minutes=-2))
"""The venue refuses Market-On-Open orders after this (Nasdaq's 09:28 ET; IBKR.md §3.2)."""


@dataclass(frozen=True, slots=True)
class DayPlan:
    """The relative times of a trading day, in the order they happen."""

    wake: RelativeTime
    scan: RelativeTime
    moo_submit: RelativeTime
    flatten: RelativeTime
    sleep: RelativeTime

    def resolve(self, session: Session) -> DayTimeline:
        return DayTimeline(
            session=session,
            wake=self.wake.resolve(session),
            scan=self.scan.resolve(session),
            moo_submit=self.moo_submit.resolve(session),
            moo_cutoff=VENUE_MOO_CUTOFF.resolve(session),
            flatten=self.flatten.resolve(session),
            sleep=self.sleep.resolve(session),
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

    def steps(self) -> list[tuple[str, datetime]]:
        """Named instants in time order, for display and for checking order."""
        named = [
            ("wake", self.wake),
            ("scan", self.scan),
            ("moo_submit", self.moo_submit),
            ("moo_cutoff", self.moo_cutoff),
            ("open", self.session.open),
            ("flatten", self.flatten),
            ("close", self.session.close),
            ("sleep", self.sleep),
        ]
        return sorted(named, key=lambda item: item[1])

    def may_submit_moo(self, now: datetime) -> bool:
        """True from the submission time until the venue's cutoff (exclusive)."""
        return self.moo_submit <= now < self.moo_cutoff

    def ordering_problems(self) -> list[tuple[str, str]]:
        """Every violation of wake <= scan <= moo_submit < cutoff and of
        open < flatten < close <= sleep, as (step, what was expected)."""
        checks = [
            (self.wake <= self.scan, "wake", "no later than scan"),
            (self.scan <= self.moo_submit, "scan", "no later than moo_submit"),
            (self.moo_submit < self.moo_cutoff, "moo_submit", "before the venue cutoff open - 2m"),
            (self.session.open < self.flatten, "flatten", "after the open"),
            (self.flatten < self.session.close, "flatten", "before the close"),
            (self.session.close <= self.sleep, "sleep", "no earlier than the close"),
        ]
        return [(step, expected) for ok, step, expected in checks if not ok]
