"""``openbell scan``: run the pre-market funnel on demand and show every symbol's way through."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from typing import Annotated

import typer

from openbell.cli.common import ConfigOption, Format, FormatOption, console, render, reported
from openbell.domain.errors import InvalidValue, RefusedInput
from openbell.domain.sessions import NEW_YORK, RelativeTime, Session
from openbell.reports.scan import SCAN_COLUMNS, SCORER_COLUMNS, scan_rows
from openbell.runtime import compose
from openbell.runtime.scanning import build_scan_source
from openbell.services.morning import exclusions
from openbell.strategy import scanner


def parse_at(raw: str | None, session: Session, default: RelativeTime) -> datetime:
    """``--at``: ``HH:MM`` New York time on the session's day, or relative to the session
    (``open - 60m``); the settings' scan time when not given."""
    if raw is None:
        return default.resolve(session)
    try:
        clock = time.fromisoformat(raw)
    except ValueError:
        try:
            return RelativeTime.parse(raw).resolve(session)
        except InvalidValue:
            raise RefusedInput(
                f"--at: expected HH:MM (New York) or a time like 'open - 60m', found {raw!r}"
            ) from None
    return datetime.combine(session.trading_day, clock, NEW_YORK)


def scan_command(
    day: Annotated[
        str | None, typer.Option(help="trading day YYYY-MM-DD (default: the upcoming session)")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            help="scan time: HH:MM New York, or 'open - 60m' (default: schedule.scan for "
            "bars, now for a provider)"
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(help="scan bars instead of scanner.source: demo or store"),
    ] = None,
    score: Annotated[
        bool,
        typer.Option("--score", help="also score the candidates with the configured scorer"),
    ] = False,
    kept_only: Annotated[bool, typer.Option("--kept-only", help="hide dropped symbols")] = False,
    fmt: FormatOption = Format.table,
    config: ConfigOption = None,
) -> None:
    """Run the pre-market funnel: universe -> filters -> features -> top-K candidates.

    Every symbol is listed with its features, and either its rank or the rule that dropped
    it. In sim mode (or with --data) it reads the replayed bars of --day.
    """
    with reported():
        out = console()
        settings = compose.settings_from_environment(config).settings
        calendar = compose.build_calendar()
        clock = compose.build_clock()
        session = (
            calendar.session(_day(day))
            if day is not None
            else calendar.upcoming_session(clock.now())
        )
        source = build_scan_source(settings, calendar, clock, data)
        when = (
            clock.now()
            if source.live and at is None
            else parse_at(at, session, settings.schedule.scan)
        )
        ledger = compose.open_ledger(settings, clock, process="scan")
        try:
            excluded = exclusions(ledger, session.trading_day, settings.protection.symbols())
            features = source.market.premarket_features(session.trading_day, when, source.universe)
            result = scanner.scan(features, settings.scan_filters(), excluded)
            batch = None
            if score:
                from openbell.runtime.scoring import build_scorer  # noqa: PLC0415 - LLM SDK

                batch = build_scorer(settings, ledger).score(
                    result.candidates(), session.trading_day
                )
        finally:
            source.close()
            ledger.close()
        rows = scan_rows(result, batch, grouped=fmt is Format.table)
        if kept_only:
            rows = [r for r in rows if r["rank"]]
        title = (
            f"scan of {session.trading_day} at {when.astimezone(NEW_YORK):%H:%M} ET from "
            f"{source.describe}: {result.summary()}"
        )
        if fmt is Format.json:
            payload = {
                "trading_day": session.trading_day.isoformat(),
                "at": when.isoformat(),
                "source": source.describe,
                "summary": result.summary(),
                "drops": result.drop_counts(),
                "rows": rows,
            }
            out.print_json(json.dumps(payload))
            return
        columns = [c for c in SCAN_COLUMNS if score or c not in SCORER_COLUMNS]
        render(out, rows, columns, fmt, title)


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise RefusedInput(f"--day: expected a date YYYY-MM-DD, found {raw!r}") from None
