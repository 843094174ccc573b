"""Provider answers kept on disk by day, so a rerun does not pay for them twice.

Only answers about days that are over are cached (a past day's bars, yesterday's grouped
daily bars): they cannot change. Snapshots taken before today's open are asked fresh every
time. Files live in ``<root>/<provider>/<day>/<hash>.json``; each holds the request it
answers, so a hash collision or a stray file is detected and ignored rather than served.
A file that cannot be read is ignored and replaced: the cache only ever saves requests.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Cached:
    body: Any


class DayCache:
    def __init__(self, root: Path, provider: str) -> None:
        self._root = root / provider

    def _file(self, day: date, path: str, params: Mapping[str, Any]) -> tuple[Path, str]:
        request = json.dumps({"path": path, "params": params}, sort_keys=True, default=str)
        digest = hashlib.sha256(request.encode()).hexdigest()[:32]
        return self._root / day.isoformat() / f"{digest}.json", request

    def get(self, day: date, path: str, params: Mapping[str, Any]) -> Cached | None:
        file, request = self._file(day, path, params)
        try:
            stored = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            log.warning("ignoring unreadable cache file %s: %s", file, exc)
            return None
        if not isinstance(stored, dict) or "body" not in stored:
            log.warning("ignoring cache file %s: expected a request and its answer", file)
            return None
        if stored.get("request") != request:
            log.warning("ignoring cache file %s: it answers another request", file)
            return None
        return Cached(stored["body"])

    def put(self, day: date, path: str, params: Mapping[str, Any], body: Any) -> None:
        file, request = self._file(day, path, params)
        temporary: str | None = None
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=file.parent, suffix=".part")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump({"request": request, "body": body}, out)
            os.replace(temporary, file)  # readers see the old file or the whole new one
        except OSError as exc:  # a full disk or a read-only cache costs a request, not a day
            log.warning("cannot cache %s %s: %s", path, day, exc)
            if temporary is not None:  # no half-written file left behind
                Path(temporary).unlink(missing_ok=True)
