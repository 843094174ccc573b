"""Process logging: text or JSON lines to a file per process and to stderr, secrets redacted.

Every handler carries a filter that replaces each configured secret (API keys, the account id)
with ``********`` in the final message, arguments and exception text included, so a secret that
slips into an f-string or a traceback still never reaches a log.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from openbell.adapters.notify import url_secrets
from openbell.adapters.redact import RedactSecrets
from openbell.config import LoggingSettings, Settings

_MAX_BYTES = 20 * 1024 * 1024
_BACKUPS = 5


def secret_values(settings: Settings) -> list[str]:
    """Every secret the settings hold, longest first so overlapping values mask fully."""
    candidates = [
        settings.broker.account,
        settings.dashboard.token,
        *settings.secrets.model_dump().values(),
    ]
    values = {c.get_secret_value() for c in candidates if c is not None}
    values |= set(url_secrets(u.get_secret_value() for u in settings.notifications.urls))
    return sorted((v for v in values if v), key=len, reverse=True)


class JsonLines(logging.Formatter):
    """One JSON object per line: time (UTC), level, process, logger, message."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self._process = process

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "process": self._process,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry)


def configure_logging(
    settings: LoggingSettings, process: str, secrets: Iterable[str], *, supervised: bool = False
) -> Path | None:
    """Send this process's logs to ``<directory>/<process>.log`` and stderr; return the file.

    A ``supervised`` process writes JSON lines to stderr only: the supervisor shows them with
    the process's prefix and files them, one JSON log per process per day.
    """
    redact = RedactSecrets(secrets)
    path: Path | None = None
    if supervised:
        formatter: logging.Formatter = JsonLines(process)
        handlers: list[logging.Handler] = [logging.StreamHandler()]
    else:
        settings.directory.mkdir(parents=True, exist_ok=True)
        path = settings.directory / f"{process}.log"
        if settings.format == "json":
            formatter = JsonLines(process)
        else:
            formatter = logging.Formatter(
                f"%(asctime)s %(levelname)s {process} %(name)s: %(message)s"
            )
        handlers = [
            logging.handlers.RotatingFileHandler(
                path, maxBytes=_MAX_BYTES, backupCount=_BACKUPS, encoding="utf-8"
            ),
            logging.StreamHandler(),
        ]
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(redact)
        root.addHandler(handler)
    root.setLevel(settings.level)
    return path
