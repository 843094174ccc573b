"""The clocks: the only code in openbell that reads the time.

* :class:`SystemClock` - the real wall clock (live and paper trading).
* :class:`ManualClock` - a discrete-event clock set by hand (tests and backtests).
* :class:`SimClock` - an accelerated clock every process derives identically from one
  :class:`SimAnchor`: ``sim_time = sim_start + (wall_now - wall_start) * speed``, piecewise
  when the anchor changes speed at later sim instants (fast while the bots sleep).

Every instant returned is timezone-aware UTC. Waits sleep in chunks of at most one wall
second and re-read the clock after each, so a wall-clock jump (NTP step, suspend) is noticed
within a second instead of being slept through.
"""

from __future__ import annotations

import asyncio
import math
import time
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from openbell.domain.errors import ConfigError, InvalidValue
from openbell.domain.orders import require_aware

SIM_ANCHOR_ENV = "OPENBELL_SIM_ANCHOR"
"""The environment variable that carries the encoded :class:`SimAnchor` to every process."""

MAX_SIM_SPEED = 100_000.0
"""The fastest a simulated clock may run, in sim seconds per wall second (the settings keep the
awake pace at x10,000 or less; only the clock of sleeping bots goes faster)."""

_MAX_NAP_SECONDS = 1.0
# One microsecond is the resolution of datetime: a shorter nap could leave a fake wall clock
# unmoved and loop for ever.
_MIN_NAP_SECONDS = 1e-6
_SEPARATOR = "|"
_CHANGE_SEPARATOR = "@"
_ANCHOR_FORMAT = (
    "'<sim_start>|<wall_start>|<speed>' with aware ISO 8601 datetimes and a number, "
    "then '|<speed>@<sim instant>' for each later speed change, "
    "e.g. '2025-11-28T08:00:00-05:00|2026-11-23T23:50:00+00:00|60'"
)
_CHANGE_FORMAT = (
    "'<speed>@<sim instant>' with a number and an aware ISO 8601 datetime, "
    "e.g. '10000@2025-11-28T13:05:00-05:00'"
)


def utc_now() -> datetime:
    """Return the current wall-clock instant, aware UTC."""
    return datetime.now(UTC)


def _nap_seconds(now: datetime, deadline: datetime, speed: float) -> float:
    """Return the wall seconds to sleep next on the way to ``deadline``; 0 once it is reached.

    ``speed`` is clock seconds per wall second (1 for the real clock).
    """
    remaining = (deadline - now).total_seconds()
    if remaining <= 0:
        return 0.0
    return min(max(remaining / speed, _MIN_NAP_SECONDS), _MAX_NAP_SECONDS)


class SystemClock:
    """The real wall clock, in UTC."""

    def now(self) -> datetime:
        """Return the current instant, aware UTC."""
        return utc_now()

    def sleep_until(self, deadline: datetime) -> None:
        """Block until ``deadline`` (aware); return at once if it has passed."""
        require_aware("sleep deadline", deadline)
        while (nap := _nap_seconds(self.now(), deadline, 1.0)) > 0:
            time.sleep(nap)

    async def wait_until(self, deadline: datetime) -> None:
        """Await ``deadline`` (aware) without blocking the event loop."""
        require_aware("wait deadline", deadline)
        await asyncio.sleep(0)  # always give other tasks a turn, even for a past deadline
        while (nap := _nap_seconds(self.now(), deadline, 1.0)) > 0:
            await asyncio.sleep(nap)


class ManualClock:
    """A clock that moves only when told to: a discrete-event clock for tests and backtests.

    Waiting for a future deadline jumps the clock straight to it, so a backtest runs as fast
    as its code. Time never goes backwards.
    """

    def __init__(self, start: datetime) -> None:
        require_aware("manual clock start", start)
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        """Return the instant the clock is set to, aware UTC."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` (zero or more) and return the new instant."""
        if not isinstance(delta, timedelta) or delta < timedelta(0):
            raise InvalidValue("manual clock advance", "a timedelta of zero or more", delta)
        self._now += delta
        return self._now

    def set(self, instant: datetime) -> datetime:
        """Move the clock to ``instant`` (aware, not before now) and return it in UTC."""
        require_aware("manual clock instant", instant)
        if instant < self._now:
            raise InvalidValue(
                "manual clock instant", f"no earlier than the clock's now {self._now}", instant
            )
        self._now = instant.astimezone(UTC)
        return self._now

    def sleep_until(self, deadline: datetime) -> None:
        """Jump to ``deadline`` (aware) if it is in the future; otherwise do nothing."""
        require_aware("sleep deadline", deadline)
        if deadline > self._now:
            self._now = deadline.astimezone(UTC)

    async def wait_until(self, deadline: datetime) -> None:
        """Jump to ``deadline`` like :meth:`sleep_until`, yielding once to the event loop."""
        self.sleep_until(deadline)
        await asyncio.sleep(0)


@dataclass(frozen=True, slots=True)
class SpeedChange:
    """From sim instant ``at`` (aware) on, sim time runs ``speed`` sim seconds per wall second
    (greater than 0, at most 10 000)."""

    at: datetime
    speed: float

    def __post_init__(self) -> None:
        require_aware("sim anchor speed change", self.at)
        object.__setattr__(self, "speed", _checked_speed("sim anchor speed change", self.speed))

    def encode(self) -> str:
        """Return the change as text: ``speed@at``."""
        return f"{_speed_text(self.speed)}{_CHANGE_SEPARATOR}{self.at.isoformat()}"


@dataclass(frozen=True, slots=True)
class SimAnchor:
    """The one fact every process of a simulation shares: when and how fast sim time runs.

    At wall instant ``wall_start`` the simulated time is ``sim_start``; from then on it runs
    ``speed`` sim seconds per wall second (greater than 0, at most 10 000) until the first of
    ``changes`` (sim instants after ``sim_start``, in time order), then at each change's speed
    from its sim instant on; the last speed holds for ever after. Before ``wall_start`` (the
    warm-up) sim time stands still at ``sim_start``.

    The wall instant of each change follows by integration, so every process derives the same
    mapping from the same anchor, in both directions: :meth:`sim_at` and :meth:`wall_at`.
    """

    sim_start: datetime
    wall_start: datetime
    speed: float
    changes: tuple[SpeedChange, ...] = ()
    # Derived in __post_init__: where each segment starts, in sim and wall time (UTC), and
    # its speed. Segment 0 starts at (sim_start, wall_start).
    _sims: tuple[datetime, ...] = field(init=False, repr=False, compare=False)
    _walls: tuple[datetime, ...] = field(init=False, repr=False, compare=False)
    _speeds: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        require_aware("sim anchor sim_start", self.sim_start)
        require_aware("sim anchor wall_start", self.wall_start)
        object.__setattr__(self, "speed", _checked_speed("sim anchor speed", self.speed))
        changes = self.changes
        if not isinstance(changes, tuple) or not all(isinstance(c, SpeedChange) for c in changes):
            raise InvalidValue("sim anchor changes", "a tuple of SpeedChange", changes)
        sims = [self.sim_start.astimezone(UTC)]
        walls = [self.wall_start.astimezone(UTC)]
        speeds = [self.speed]
        for change in changes:
            if change.at <= sims[-1]:
                raise InvalidValue(
                    "sim anchor speed change",
                    f"an instant after {sims[-1].isoformat()} (changes follow sim_start "
                    "and each other in time order)",
                    change.at.isoformat(),
                )
            walls.append(walls[-1] + (change.at - sims[-1]) / speeds[-1])
            sims.append(change.at.astimezone(UTC))
            speeds.append(change.speed)
        object.__setattr__(self, "_sims", tuple(sims))
        object.__setattr__(self, "_walls", tuple(walls))
        object.__setattr__(self, "_speeds", tuple(speeds))

    @classmethod
    def starting_now(
        cls, sim_start: datetime, speed: float, wall_clock: Callable[[], datetime] = utc_now
    ) -> SimAnchor:
        """Return an anchor whose sim time is ``sim_start`` at ``wall_clock``'s current instant."""
        return cls(sim_start=sim_start, wall_start=wall_clock(), speed=speed)

    def sim_at(self, wall: datetime) -> datetime:
        """Return the sim instant (UTC) at the aware wall instant ``wall``."""
        segment = bisect_right(self._walls, wall) - 1
        if segment < 0:
            return self._sims[0]  # the warm-up: the clock has not started
        sim = self._sims[segment] + (wall - self._walls[segment]) * self._speeds[segment]
        if segment + 1 < len(self._sims):  # rounding never carries past the next change
            sim = min(sim, self._sims[segment + 1])
        return sim

    def wall_at(self, sim: datetime) -> datetime:
        """Return the wall instant (UTC) at which sim time reaches the aware ``sim``;
        ``wall_start`` for any instant up to ``sim_start``."""
        segment = bisect_right(self._sims, sim) - 1
        if segment < 0:
            return self._walls[0]
        return self._walls[segment] + (sim - self._sims[segment]) / self._speeds[segment]

    def encode(self) -> str:
        """Return the anchor as text for ``OPENBELL_SIM_ANCHOR``:
        ``sim|wall|speed``, then ``|speed@at`` per change."""
        fields = [self.sim_start.isoformat(), self.wall_start.isoformat(), _speed_text(self.speed)]
        fields += [change.encode() for change in self.changes]
        return _SEPARATOR.join(fields)

    @classmethod
    def decode(cls, text: str) -> SimAnchor:
        """Parse text written by :meth:`encode` (with or without speed changes); raise
        InvalidValue saying what is wrong."""
        if not isinstance(text, str) or text.count(_SEPARATOR) < 2:
            raise InvalidValue(SIM_ANCHOR_ENV, _ANCHOR_FORMAT, text)
        sim_text, wall_text, speed_text, *change_texts = (
            part.strip() for part in text.split(_SEPARATOR)
        )
        return cls(
            sim_start=_parse_instant("sim anchor sim_start", sim_text),
            wall_start=_parse_instant("sim anchor wall_start", wall_text),
            speed=_parse_speed("sim anchor speed", speed_text),
            changes=tuple(_parse_change(change) for change in change_texts),
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SimAnchor:
        """Decode the anchor from ``environ[OPENBELL_SIM_ANCHOR]``; refuse if it is unset."""
        text = environ.get(SIM_ANCHOR_ENV, "")
        if not text.strip():
            raise ConfigError(
                [(SIM_ANCHOR_ENV, f"a sim anchor {_ANCHOR_FORMAT}", "nothing (it is not set)")],
                source="the environment",
            )
        return cls.decode(text)


def _checked_speed(what: str, speed: object) -> float:
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        raise InvalidValue(what, "a number", speed)
    if not 0 < speed <= MAX_SIM_SPEED:
        raise InvalidValue(what, f"greater than 0 and at most {MAX_SIM_SPEED:.0f}", speed)
    return float(speed)


def _speed_text(speed: float) -> str:
    return str(int(speed)) if speed.is_integer() else repr(speed)


def _parse_instant(what: str, text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidValue(what, "an ISO 8601 datetime with a UTC offset", text) from None


def _parse_speed(what: str, text: str) -> float:
    try:
        speed = float(text)
    except ValueError:
        raise InvalidValue(what, "a number", text) from None
    if not math.isfinite(speed):
        raise InvalidValue(what, "a finite number", text)
    return speed


def _parse_change(text: str) -> SpeedChange:
    speed_text, separator, at_text = text.partition(_CHANGE_SEPARATOR)
    if not separator:
        raise InvalidValue("sim anchor speed change", _CHANGE_FORMAT, text)
    return SpeedChange(
        at=_parse_instant("sim anchor speed change instant", at_text.strip()),
        speed=_parse_speed("sim anchor speed change speed", speed_text.strip()),
    )


class SimClock:
    """An accelerated clock: ``sim_start + (wall_now - wall_start) * speed``, piecewise over
    the anchor's speed changes, aware UTC.

    Processes built from the same :class:`SimAnchor` read the same sim time at the same wall
    instant. ``wall`` (aware instants) and ``sleep`` (wall seconds) are injectable so tests
    can drive the clock with fakes.
    """

    def __init__(
        self,
        anchor: SimAnchor,
        wall: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._anchor = anchor
        self._wall = wall
        self._sleep = sleep

    @property
    def anchor(self) -> SimAnchor:
        """Return the anchor this clock derives its time from."""
        return self._anchor

    def now(self) -> datetime:
        """Return the simulated instant for the wall clock's current instant, aware UTC."""
        return self._anchor.sim_at(self._wall())

    def sleep_until(self, deadline: datetime) -> None:
        """Block until sim time reaches ``deadline``: until the wall instant the anchor maps
        it to, however many speed changes lie between."""
        require_aware("sleep deadline", deadline)
        while (nap := self._nap_seconds(deadline)) > 0:
            self._sleep(nap)

    async def wait_until(self, deadline: datetime) -> None:
        """Await sim time reaching ``deadline`` without blocking the event loop."""
        require_aware("wait deadline", deadline)
        await asyncio.sleep(0)  # always give other tasks a turn, even for a past deadline
        while (nap := self._nap_seconds(deadline)) > 0:
            await asyncio.sleep(nap)

    def _nap_seconds(self, deadline: datetime) -> float:
        """The wall seconds to sleep next on the way to ``deadline``; 0 once it is reached."""
        wall_now = self._wall()
        if self._anchor.sim_at(wall_now) >= deadline:
            return 0.0
        remaining = (self._anchor.wall_at(deadline) - wall_now).total_seconds()
        return min(max(remaining, _MIN_NAP_SECONDS), _MAX_NAP_SECONDS)
