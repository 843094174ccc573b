"""The notifications' rate limit: a flood is held back, then summarized in one notice.

Pure: times are wall seconds passed in by the caller, from any monotonic origin.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from openbell.domain.values import Symbol
from openbell.services.notify import Notice, NoticeKind, Severity

WINDOW_S = 60.0
_MAX_LISTED = 10


@dataclass
class _Held:
    """Notices the limiter held back since its last summary."""

    count: int = 0
    kinds: Counter[NoticeKind] = field(default_factory=Counter)
    titles: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    loudest: Severity = Severity.INFO
    reopen_at: float = 0.0

    def add(self, notice: Notice, reopen_at: float) -> None:
        self.count += 1
        self.kinds[notice.kind] += 1
        listed = self.failures if notice.severity is Severity.FAILURE else self.titles
        if len(listed) < _MAX_LISTED:  # the summary names this many; a flood costs no memory
            listed.append(notice.title)
        if notice.severity.loudness > self.loudest.loudness:
            self.loudest = notice.severity
        self.reopen_at = max(self.reopen_at, reopen_at)


class RateLimiter:
    """At most ``max_per_minute`` notices in any 60 s, and one per kind and symbol every
    ``cooldown_s``. Times are wall seconds from any monotonic origin.

    A notice held back is never lost silently: once the time it would have been allowed has
    come for every held notice and the minute has room, :meth:`summary` returns one notice
    "+K more suppressed" that names them, errors first. Errors skip the cooldown (each halt
    is news) but count toward the minute's cap.
    """

    def __init__(self, max_per_minute: int, cooldown_s: float) -> None:
        self._max = max_per_minute
        self._cooldown_s = cooldown_s
        self._sent: deque[float] = deque()
        self._last: dict[tuple[NoticeKind, Symbol | None], float] = {}
        self._held = _Held()

    def admit(self, notice: Notice, now_s: float) -> bool:
        """True if ``notice`` may go out now (it then counts as sent); else it is held."""
        self._expire(now_s)
        key = (notice.kind, notice.symbol)
        if len(self._sent) >= self._max:
            self._hold(notice, self._sent[0] + WINDOW_S)
            return False
        last = self._last.get(key)
        error = notice.severity is Severity.FAILURE
        if last is not None and now_s - last < self._cooldown_s and not error:
            self._hold(notice, last + self._cooldown_s)
            return False
        self._sent.append(now_s)
        self._last[key] = now_s
        return True

    def summary(self, now_s: float) -> Notice | None:
        """The summary of the held notices once it is due (it counts as sent), else None."""
        held = self._held
        self._expire(now_s)
        if held.count == 0 or now_s < held.reopen_at or len(self._sent) >= self._max:
            return None
        self._sent.append(now_s)
        self._held = _Held()
        return _summary_notice(held, self._max, self._cooldown_s)

    @property
    def holding(self) -> int:
        """Notices held back and not summarized yet."""
        return self._held.count

    def _hold(self, notice: Notice, reopen_at: float) -> None:
        self._held.add(notice, reopen_at)

    def _expire(self, now_s: float) -> None:
        while self._sent and now_s - self._sent[0] >= WINDOW_S:
            self._sent.popleft()


def _listing(titles: Iterable[str], count: int) -> str:
    shown = list(titles)[:_MAX_LISTED]
    lines = [f"- {t}" for t in shown]
    if count > len(shown):
        lines.append(f"- and {count - len(shown)} more")
    return "\n".join(lines)


def _summary_notice(held: _Held, max_per_minute: int, cooldown_s: float) -> Notice:
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(held.kinds.items()))
    title = f"+{held.count} more suppressed ({kinds})"
    if held.failures:
        title += f", incl. {held.failures[0]}"
    body = (
        f"held back by the rate limit (at most {max_per_minute} a minute, one per kind and "
        f"symbol every {cooldown_s:g} s):\n" + _listing([*held.failures, *held.titles], held.count)
    )
    return Notice(NoticeKind.SUPPRESSED, title, body, severity=held.loudest)
