"""The notifier process: tail the ledger's event log and tell people what happened.

Each tick reads the events after a cursor, turns the ones people care about into notices
(``openbell.services.notify``), lets the rate limiter hold back a flood, sends the rest and
beats. The process only reads the ledger (and writes its heartbeat), so nothing it does,
fails at or waits for can hold up trading; a channel that errors or hangs costs one send's
timeout and the next notice goes out as usual. A failed send is logged and counted, not
retried (apprise URLs take ``?retry=N`` for that).

The cursor, the id of the last event handled, lives in ``<logging.directory>/
notify-cursor.json``, rewritten atomically after each notice sent and after each batch:

* the first start (no cursor file) begins at the current end of the log: no flood of history;
* a restart resumes after the saved id, so nothing sent is sent again and nothing new is
  skipped, except around a crash: a notice sent just before the process died, before its
  cursor was saved, is sent once more after the restart (at least once, never lost);
* a cursor past the end of the log (the ledger was replaced) restarts at the end, warning.

Notices the rate limiter holds back wait in memory for their summary; a crash before it is
sent loses the summary (each held notice was logged when it was held).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from openbell.adapters.notify import url_secrets
from openbell.config import LoggingSettings, Settings
from openbell.domain.errors import NotFound, RefusedInput, RetryLater
from openbell.domain.records import LedgerEvent
from openbell.ports import Ledger
from openbell.runtime import compose
from openbell.runtime.bots import SUPERVISOR_PID_ENV, StopFlag
from openbell.runtime.logs import configure_logging, secret_values
from openbell.services.notify import (
    NOTIFIED_EVENT_KINDS,
    EventFacts,
    Notice,
    NoticeKind,
    NotifyConfig,
    Sender,
    Severity,
    facts_for,
    needs_facts,
    notice_for,
)
from openbell.services.notify_limit import RateLimiter

log = logging.getLogger(__name__)

NOTIFIER = "notifier"
"""The process name: its heartbeat and log file."""
CURSOR_FILE = "notify-cursor.json"
_BATCH = 200


class TailedLedger(Ledger, Protocol):
    """A ledger that can say where its event log ends (the SQLite ledger)."""

    def last_events(self, count: int) -> Sequence[LedgerEvent]: ...


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


class NotificationSection(Protocol):
    """What :func:`notify_config` reads: the ``notifications`` settings section."""

    @property
    def urls(self) -> Sequence[_Secret]: ...
    @property
    def kinds(self) -> Sequence[str]: ...
    @property
    def max_per_minute(self) -> int: ...
    @property
    def cooldown_s(self) -> float: ...
    @property
    def timeout_s(self) -> float: ...
    @property
    def poll_s(self) -> float: ...


def notify_config(section: NotificationSection) -> NotifyConfig:
    """The plain values of the ``notifications`` settings section."""
    return NotifyConfig(
        urls=tuple(u.get_secret_value() for u in section.urls),
        kinds=frozenset(NoticeKind(k) for k in section.kinds),
        max_per_minute=section.max_per_minute,
        cooldown_s=section.cooldown_s,
        timeout_s=section.timeout_s,
        poll_s=section.poll_s,
    )


def notifier_log_secrets(settings: Settings, config: NotifyConfig) -> list[str]:
    """What the notifier's log handlers mask: every settings secret and the URLs' tokens."""
    return sorted({*secret_values(settings), *url_secrets(config.urls)}, key=len, reverse=True)


def check_notification_urls(settings: Settings) -> None:
    """Refuse unusable apprise URLs before a run starts, not in its notifier minutes later
    (``InvalidValue`` names the URL by position and scheme, never its text)."""
    urls = [url.get_secret_value() for url in settings.notifications.urls]
    if not urls:
        return
    from openbell.adapters.notify.apprise_sender import AppriseSender  # noqa: PLC0415 - apprise

    AppriseSender(urls, settings.notifications.timeout_s).close()  # parses; sends nothing


def cursor_path(settings: LoggingSettings) -> Path:
    return settings.directory / CURSOR_FILE


class CursorFile:
    """The last event id the notifier handled, kept across restarts in a small JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> int | None:
        """The saved id; None on a first start, or (logged) when the file is unreadable."""
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))["last_event_id"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("cursor %s unreadable (%s): treated as a first start", self.path, exc)
            return None
        if isinstance(saved, bool) or not isinstance(saved, int) or saved < 0:
            log.warning("cursor %s holds %r, not an event id: a first start", self.path, saved)
            return None
        return saved

    def save(self, last_event_id: int) -> None:
        """Replace the file atomically: a crash leaves the old cursor or the new one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump({"last_event_id": last_event_id}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.path)


@dataclass
class NotifierStats:
    sent: int = 0
    failed: int = 0
    held_back: int = 0

    def describe(self, cursor: int, holding: int) -> str:
        return (
            f"sent {self.sent}, failed {self.failed}, held back {self.held_back} "
            f"({holding} awaiting a summary); after event {cursor}"
        )


class NotifierLoop:
    """Tail, turn into notices, rate-limit, send, beat. Build with every collaborator."""

    def __init__(
        self,
        ledger: TailedLedger,
        sender: Sender,
        config: NotifyConfig,
        cursor_file: CursorFile,
        stop: StopFlag,
        heartbeat_s: float,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ledger, self._sender, self._config = ledger, sender, config
        self._cursor_file, self._stop = cursor_file, stop
        self._heartbeat_s, self._wall = heartbeat_s, wall
        self._limiter = RateLimiter(config.max_per_minute, config.cooldown_s)
        self.stats = NotifierStats()
        self.cursor = 0
        self._saved = -1
        self._status = "starting"
        self._last_beat: float | None = None

    def run(self) -> int:
        """Run until stopped; return the exit code (0: stopped on purpose)."""
        self.start()
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self._config.poll_s)
        log.info("stopping: %s", self._stop.reason or "asked to")
        self._beat("stopped", self._stop.reason)
        return 0

    def start(self) -> None:
        """Place the cursor: the saved one, or the end of the log on a first start."""
        end = self._end_of_log()
        saved = self._cursor_file.load()
        if saved is None:
            log.info("first start: notifying from event %s on (earlier events are not sent)", end)
            self.cursor = end
        elif saved > end:
            log.warning("saved cursor %s is past the log's end %s: starting at the end", saved, end)
            self.cursor = end
        else:
            log.info("resuming after event %s", saved)
            self.cursor = saved
        self._save()

    def tick(self) -> None:
        """Handle the events after the cursor, send a due summary, beat when due."""
        try:
            events = self._ledger.events(after_id=self.cursor, limit=_BATCH)
            for event in events:
                self._handle_safely(event)
                self.cursor = event.event_id
            self._status = "running"
        except RetryLater as exc:  # a busy ledger: the same event is handled next tick
            log.warning("event log not read: %s", exc)
            self._status = "retrying"
        self._deliver_summary()
        self._save()
        self._beat_if_due(self._status)

    def _end_of_log(self) -> int:
        last = self._ledger.last_events(1)
        return last[-1].event_id if last else 0

    def _handle_safely(self, event: LedgerEvent) -> None:
        """One event that cannot be described (odd data, a bug) is logged and passed, with
        a plain notice: it must not stop the notices after it, nor fail every restart."""
        try:
            self._handle(event)
        except RetryLater:
            raise  # a busy ledger: the same event next tick
        except Exception:
            log.exception("event %s (%s) could not be notified", event.event_id, event.kind)
            self.stats.failed += 1
            title = f"openbell: event {event.event_id} ({event.kind}) could not be described"
            notice = Notice(NoticeKind.ERROR, title, event.message, event.symbol, Severity.FAILURE)
            self._deliver(notice)

    def _handle(self, event: LedgerEvent) -> None:
        if event.kind not in NOTIFIED_EVENT_KINDS:
            return
        notice = notice_for(event, self._facts(event))
        if notice is None or notice.kind not in self._config.kinds:
            return
        self._deliver_summary()
        if not self._limiter.admit(notice, self._wall()):
            self.stats.held_back += 1
            log.info("held back by the rate limit: %s", notice.title)
            return
        self._deliver(notice)
        self.cursor = event.event_id
        self._save()

    def _facts(self, event: LedgerEvent) -> EventFacts:
        if not needs_facts(event):
            return EventFacts()
        try:
            return facts_for(self._ledger, event)
        except NotFound as exc:
            log.warning("event %s: %s; notifying without details", event.event_id, exc)
            return EventFacts()

    def _deliver_summary(self) -> None:
        summary = self._limiter.summary(self._wall())
        if summary is not None:
            self._deliver(summary)

    def _deliver(self, notice: Notice) -> None:
        if self._sender.send(notice.title, notice.body, notice.severity):
            self.stats.sent += 1
            log.info("sent: %s", notice.title)
        else:
            self.stats.failed += 1
            log.warning("not sent (a channel failed or timed out): %s", notice.title)
        self._beat_if_due("sending")  # a backlog on a slow channel must not look like a hang

    def _save(self) -> None:
        if self.cursor == self._saved:
            return
        try:
            self._cursor_file.save(self.cursor)
            self._saved = self.cursor
        except OSError as exc:  # a full disk: try again after the next event
            log.warning("cursor not saved to %s: %s", self._cursor_file.path, exc)

    def _beat_if_due(self, status: str) -> None:
        if self._last_beat is None or self._wall() - self._last_beat >= self._heartbeat_s:
            self._beat(status, self.stats.describe(self.cursor, self._limiter.holding))

    def _beat(self, status: str, detail: str) -> None:
        try:
            self._ledger.beat(status, detail[:500])
            self._last_beat = self._wall()
        except RetryLater as exc:
            log.warning("heartbeat not written: %s", exc)


def _idle(ledger: Ledger, stop: StopFlag, status: str, detail: str, heartbeat_s: float) -> int:
    """Beat ``status`` until stopped: a notifier with nothing to do is not restarted."""
    while not stop.is_set():
        try:
            ledger.beat(status, detail[:500])
        except RetryLater as exc:
            log.warning("heartbeat not written: %s", exc)
        stop.wait(heartbeat_s)
    return 0


def run_notifier(
    settings: Settings,
    stop: StopFlag,
    config: NotifyConfig,
    *,
    wall: Callable[[], float] = time.monotonic,
) -> int:
    """Run the notifier until ``stop``; return its exit code.

    Logging is the caller's: configure it with :func:`notifier_log_secrets` so no URL token
    reaches a handler. With no URLs, or a URL apprise cannot use, it only beats (status
    ``disabled`` or ``halted``, saying why) so the supervisor does not restart it in vain.
    """
    from openbell.adapters.notify.apprise_sender import AppriseSender  # noqa: PLC0415 - heavy

    ledger = compose.open_ledger(settings, compose.build_clock(), process=NOTIFIER)
    heartbeat_s = settings.runtime.heartbeat_s
    try:
        if not config.enabled:
            log.info("notifications are off: notifications.urls is empty")
            return _idle(ledger, stop, "disabled", "no notifications.urls", heartbeat_s)
        try:
            sender = AppriseSender(config.urls, config.timeout_s)
        except RefusedInput as exc:
            log.critical("notifications halted: %s", exc)
            return _idle(ledger, stop, "halted", str(exc), heartbeat_s)
        log.info("notifying %s channel(s)", sender.channels)
        with sender:
            cursor = CursorFile(cursor_path(settings.logging))
            loop = NotifierLoop(ledger, sender, config, cursor, stop, heartbeat_s, wall)
            return loop.run()
    finally:
        ledger.close()


def run_notifier_process(config_file: Path | None = None) -> int:
    """``openbell notifier``: load the settings, log with every token masked, run until
    SIGTERM or until the supervisor that started it is gone."""
    settings = compose.settings_from_environment(config_file).settings
    config = notify_config(settings.notifications)
    parent = os.environ.get(SUPERVISOR_PID_ENV)
    configure_logging(
        settings.logging,
        NOTIFIER,
        notifier_log_secrets(settings, config),
        supervised=parent is not None,
    )
    stop = StopFlag(int(parent) if parent and parent.isdigit() else None)
    stop.install()
    return run_notifier(settings, stop, config)
