"""What every importer returns, and the one error it raises for a malformed file."""

from __future__ import annotations

from dataclasses import dataclass

from openbell.bars import DailyBars, DayBars, Split
from openbell.domain.errors import RefusedInput


class BadBarFile(RefusedInput):
    """Refuse a bar file that does not parse; the message names the file and the 1-based line.

    ``line`` is None when the problem is the file as a whole (an empty file, a zip with no CSV).
    """

    def __init__(self, origin: str, line: int | None, expected: str, found: str) -> None:
        self.origin = origin
        self.line = line
        self.expected = expected
        self.found = found
        where = origin if line is None else f"{origin} line {line}"
        super().__init__(f"{where}: expected {expected}, found {found}")


@dataclass(frozen=True)
class ParsedFile:
    """The bars parsed from one file, before anything is written to a store.

    ``days`` holds intraday bars (one entry per symbol-day), ``daily`` one series per symbol, and
    ``notes`` says what was left out on purpose and why (e.g. rows of a reused ticker).
    """

    format: str
    days: tuple[DayBars, ...] = ()
    daily: tuple[DailyBars, ...] = ()
    notes: tuple[str, ...] = ()
    splits: tuple[Split, ...] = ()
