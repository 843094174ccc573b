"""The Massive (formerly Polygon.io) REST answers openbell reads, in their documented shapes.

Field names are Massive's own (``prevDay``, ``lastTrade``, ``min.av``, ``T``, ``next_url``):

* full-market snapshot ``GET /v2/snapshot/locale/us/markets/stocks/tickers`` (and
  ``.../gainers``): ``{"status", "count", "tickers": [{"ticker", "day": {o,h,l,c,v,vw},
  "min": {av,t,n,o,h,l,c,v,vw}, "prevDay": {o,h,l,c,v,vw}, "lastTrade": {c,i,p,s,t,x},
  "lastQuote": {P,S,p,s,t}, "todaysChange", "todaysChangePerc", "updated"}]}``; ``min.t`` is
  in milliseconds, ``lastTrade.t`` in nanoseconds;
* aggregates ``GET /v2/aggs/ticker/{ticker}/range/{n}/{timespan}/{from}/{to}`` and previous
  day ``GET /v2/aggs/ticker/{ticker}/prev``: ``{"ticker", "status", "adjusted",
  "resultsCount", "results": [{o,h,l,c,v,vw,t,n}], "next_url"}`` with ``t`` the bar's start
  in milliseconds; ``results`` is absent when there are no bars;
* grouped daily ``GET /v2/aggs/grouped/locale/us/market/stocks/{date}``: the same, each
  result naming its ticker in ``T``;
* splits ``GET /v3/reference/splits``: ``{"results": [{"ticker", "execution_date",
  "split_from", "split_to"}], "status", "next_url"}``;
* tickers ``GET /v3/reference/tickers``: ``{"results": [{"ticker", "type", "market",
  "active", ...}], "status", "next_url"}``.

Models ignore the fields openbell does not use, so an addition never breaks a scan. A field
openbell needs that is missing or of the wrong kind is a changed schema: :func:`parsed`
reports it as MarketDataUnavailable naming the field and what was found (see
:mod:`~openbell.adapters.data.schema`), never as a KeyError or a ValidationError.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, TypeVar

from pydantic import Field, ValidationError

from openbell.adapters.data.schema import Model, schema_problem
from openbell.domain.errors import MarketDataUnavailable

PROVIDER = "massive"
OK_STATUSES = frozenset({"OK", "DELAYED"})
"""``DELAYED``: the plan's data is 15 minutes late; the answer is still well formed."""


# --- snapshot --------------------------------------------------------------------------------
class PrevDay(Model):
    """The previous session's bar; only its close is needed."""

    close: float = Field(alias="c")


class DayBar(Model):
    """Today's bar so far. Massive fills it with zeros until the day has trades."""

    volume: float | None = Field(None, alias="v")


class MinuteBar(Model):
    """The latest minute bar; ``av`` is the day's volume accumulated up to it."""

    accumulated_volume: float | None = Field(None, alias="av")
    close: float | None = Field(None, alias="c")
    start_ms: int | None = Field(None, alias="t")


class LastTrade(Model):
    price: float = Field(alias="p")
    sip_ns: int = Field(alias="t")


class TickerSnapshot(Model):
    """One ticker of a snapshot. ``lastTrade`` comes only with plans that include trades."""

    ticker: str
    prev_day: PrevDay = Field(alias="prevDay")
    day: DayBar | None = None
    minute: MinuteBar | None = Field(None, alias="min")
    last_trade: LastTrade | None = Field(None, alias="lastTrade")


class _Answer(Model):
    status: str
    error: str | None = None
    message: str | None = None


class SnapshotAnswer(_Answer):
    tickers: tuple[Mapping[str, Any], ...] | None = None
    """Raw entries, validated one by one so one odd ticker does not sink a scan."""


# --- aggregates and reference data -----------------------------------------------------------
class Rows(_Answer):
    """An answer listing ``results``: raw rows, validated one by one (see
    :class:`~openbell.adapters.data.massive_client.MassiveClient`), so one odd row of the
    whole market's bars does not sink a scan."""

    results: tuple[Any, ...] | None = None


class Paged(Rows):
    next_url: str | None = None


class _Bar(Model):
    open: float = Field(alias="o")
    high: float = Field(alias="h")
    low: float = Field(alias="l")
    close: float = Field(alias="c")
    volume: float = Field(alias="v")


class Agg(_Bar):
    start_ms: int = Field(alias="t")


class GroupedAgg(_Bar):
    ticker: str = Field(alias="T")


class SplitRow(Model):
    ticker: str
    execution_date: date
    split_from: float
    split_to: float


class TickerRow(Model):
    ticker: str
    type: str | None = None


# --- reading an answer -----------------------------------------------------------------------
M = TypeVar("M", bound=Model)


def parsed(model: type[M], body: object, what: str) -> M:
    """``body`` as ``model``; a changed schema raises MarketDataUnavailable saying where."""
    try:
        answer = model.model_validate(body)
    except ValidationError as exc:
        raise MarketDataUnavailable(PROVIDER, what, schema_problem(exc)) from None
    if isinstance(answer, _Answer) and answer.status not in OK_STATUSES:
        said = answer.error or answer.message or "no reason given"
        raise MarketDataUnavailable(
            PROVIDER, what, f"expected status OK, found {answer.status!r}: {said}"
        )
    return answer
