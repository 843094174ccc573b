"""What every command shares: consoles, output formats, errors as exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from openbell.domain.errors import OpenbellError, RefusedInput, RetryLater, StopAndAlert
from openbell.domain.sessions import NEW_YORK
from openbell.ports import Calendar, Clock
from openbell.reports.sections import Section
from openbell.reports.tables import markdown_table, rows_table

EXIT_REFUSED, EXIT_ALERT, EXIT_RETRY = 2, 3, 75

_PIPED_WIDTH = 140


def console(*, stderr: bool = False) -> Console:
    """A console for this call; piped output (make run, CI logs) gets a wide one so tables
    are not cut at 80 columns. ``COLUMNS`` still wins."""
    stream = sys.stderr if stderr else sys.stdout
    piped = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, width=_PIPED_WIDTH if piped else None)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    md = "md"


ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="settings file (default ./openbell.toml)")
]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table, json, csv or md")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")]


@contextmanager
def reported() -> Iterator[None]:
    """Turn openbell errors into a clear message and an exit code by family."""
    try:
        yield
    except RefusedInput as exc:
        console(stderr=True).print(f"[red]refused:[/red] {exc}", highlight=False)
        raise typer.Exit(EXIT_REFUSED) from None
    except StopAndAlert as exc:
        console(stderr=True).print(f"[bold red]stop:[/bold red] {exc}", highlight=False)
        raise typer.Exit(EXIT_ALERT) from None
    except RetryLater as exc:
        console(stderr=True).print(f"[yellow]try again later:[/yellow] {exc}", highlight=False)
        raise typer.Exit(EXIT_RETRY) from None
    except OpenbellError as exc:  # pragma: no cover - every error has a family
        console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None


def render(
    out: Console, rows: Sequence[dict[str, str]], columns: Sequence[str], fmt: Format, title: str
) -> None:
    if fmt is Format.json:
        out.print_json(json.dumps(list(rows)))
    elif fmt is Format.csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
    elif fmt is Format.md:
        sys.stdout.write(markdown_table(rows, columns, title))
    else:
        table = rows_table(rows, columns, title)
        out.print(table)


def render_sections(out: Console, sections: Sequence[Section], fmt: Format) -> None:
    """Several tables of one report: one JSON object keyed by title, or each table in turn
    (CSV tables are preceded by a ``# title`` line)."""
    if fmt is Format.json:
        out.print_json(json.dumps({title: list(rows) for title, rows, _ in sections}))
        return
    for title, rows, columns in sections:
        if fmt is Format.csv:
            sys.stdout.write(f"# {title}\n")
        render(out, rows, columns, fmt, title)


def trading_day_of(calendar: Calendar, clock: Clock) -> date:
    """Today's trading day in New York, or the last one on a day the exchange is closed."""
    today = clock.now().astimezone(NEW_YORK).date()
    if calendar.is_trading_day(today):
        return today
    return calendar.previous_session(today).trading_day


def parse_day(raw: str | None) -> date | None:
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise typer.BadParameter(f"expected a date YYYY-MM-DD, found {raw!r}") from None


def confirm(question: str, yes: bool) -> None:
    """Ask ``question`` unless ``yes``; refuse (nothing changed) without a terminal or a yes."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise RefusedInput(f"{question} needs confirmation: run it in a terminal or pass --yes")
    if not typer.confirm(question):
        raise RefusedInput("not confirmed; nothing was changed")
