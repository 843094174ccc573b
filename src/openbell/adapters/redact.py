"""Secrets out of log records: one filter for every process's handlers and for the vendor
loggers an adapter quiets (apprise and urllib3 log whole URLs)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

MASK = "********"


class RedactSecrets(logging.Filter):
    """Replace every secret in a record's rendered message and exception text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
