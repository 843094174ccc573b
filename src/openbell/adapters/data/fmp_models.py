"""The Financial Modeling Prep (FMP) answers openbell reads, in their documented shapes.

FMP's current API generation, ``https://financialmodelingprep.com/stable/...`` (the legacy
``/api/v3`` paths are deprecated), answers every endpoint used here with a JSON list of flat
objects. Field names are FMP's own:

* movers ``GET /stable/biggest-gainers`` and ``/stable/most-actives``: ``[{"symbol", "price",
  "name", "change", "changesPercentage", "exchange"}]``;
* quotes ``GET /stable/batch-quote?symbols=A,B``: ``[{"symbol", "name", "price",
  "changePercentage", "change", "volume", "dayLow", "dayHigh", "yearHigh", "yearLow",
  "marketCap", "priceAvg50", "priceAvg200", "exchange", "open", "previousClose",
  "timestamp"}]`` with ``timestamp`` in Unix seconds; a symbol FMP does not know is absent;
* extended-hours trades ``GET /stable/batch-aftermarket-trade?symbols=A,B``: ``[{"symbol",
  "price", "tradeSize", "timestamp"}]`` with ``timestamp`` in Unix milliseconds;
* company profile ``GET /stable/profile?symbol=A``: ``[{"symbol", "price", "marketCap",
  "sector", "industry", "exchange", "isEtf", "isFund", "isAdr", "isActivelyTrading", ...}]``
  (an empty list for an unknown symbol);
* daily bars ``GET /stable/historical-price-eod/full?symbol=A&from=&to=`` (split-adjusted):
  ``[{"symbol", "date", "open", "high", "low", "close", "volume", "change",
  "changePercent", "vwap"}]``, newest first; ``/stable/historical-price-eod/
  non-split-adjusted`` (raw) names its prices ``adjOpen``, ``adjHigh``, ``adjLow``,
  ``adjClose`` although they are the unadjusted ones;
* minute bars ``GET /stable/historical-chart/1min?symbol=A&from=&to=&nonadjusted=``:
  ``[{"date": "2025-02-04 15:59:00", "open", "low", "high", "close", "volume"}]``, newest
  first; ``date`` is New York wall time without a zone (the documented example's last bar of
  a regular session is stamped 15:59) and names the minute a bar starts.

FMP sometimes answers a failure with HTTP 200 and ``{"Error Message": "..."}`` instead of the
list ("Invalid API KEY...", "Limit Reach ..."): :func:`error_message` finds it.

Models ignore the fields openbell does not use, so an addition never breaks a scan. A field
openbell needs that is missing or of the wrong kind is a changed schema: :func:`rows`
reports it as MarketDataUnavailable naming the field and what was found (see
:mod:`~openbell.adapters.data.schema`), never as a KeyError or a ValidationError.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime
from typing import TypeVar

from pydantic import Field

from openbell.adapters.data.schema import Model, short, valid_entries
from openbell.domain.errors import MarketDataUnavailable

log = logging.getLogger(__name__)

PROVIDER = "fmp"
ERROR_FIELD = "Error Message"
_SECONDS_BEFORE = 10**11
"""Unix seconds stay below this until the year 5138 and milliseconds are above it since
1973: a timestamp in the other unit is a changed schema, not a date far away."""


class Mover(Model):
    """One symbol of a movers list; only its symbol is needed (the quote says the rest)."""

    symbol: str


class Quote(Model):
    """One symbol's regular-session quote. ``volume`` and ``marketCap`` may be null."""

    symbol: str
    price: float
    previous_close: float = Field(alias="previousClose")
    volume: float | None
    timestamp_s: int = Field(alias="timestamp", gt=0, lt=_SECONDS_BEFORE)
    market_cap: float | None = Field(None, alias="marketCap")


class ExtendedTrade(Model):
    """The last trade outside regular hours (``batch-aftermarket-trade``)."""

    symbol: str
    price: float
    timestamp_ms: int = Field(alias="timestamp", gt=_SECONDS_BEFORE, lt=1000 * _SECONDS_BEFORE)


class Profile(Model):
    """What kind of security a symbol is, and its market cap and sector (nullable)."""

    symbol: str
    market_cap: float | None = Field(alias="marketCap")
    sector: str | None
    is_etf: bool = Field(alias="isEtf")
    is_fund: bool = Field(alias="isFund")
    is_adr: bool = Field(alias="isAdr")
    is_actively_trading: bool = Field(alias="isActivelyTrading")


class DailyBar(Model):
    """A split-adjusted daily bar (``historical-price-eod/full``)."""

    day: date = Field(alias="date")
    open: float
    high: float
    low: float
    close: float
    volume: float


class RawDailyBar(Model):
    """An unadjusted daily bar (``historical-price-eod/non-split-adjusted``): FMP names the
    raw prices ``adj*``; the attributes match :class:`DailyBar`."""

    day: date = Field(alias="date")
    open: float = Field(alias="adjOpen")
    high: float = Field(alias="adjHigh")
    low: float = Field(alias="adjLow")
    close: float = Field(alias="adjClose")
    volume: float


class MinuteBar(Model):
    """A one-minute bar; ``start`` is New York wall time when FMP gives no zone."""

    start: datetime = Field(alias="date")
    open: float
    high: float
    low: float
    close: float
    volume: float


# --- reading an answer ----------------------------------------------------------------------
R = TypeVar("R", bound=Model)


def error_message(body: object) -> str | None:
    """FMP's ``{"Error Message": ...}`` text, if ``body`` is such an error object."""
    if isinstance(body, Mapping) and ERROR_FIELD in body:
        return str(body[ERROR_FIELD])
    return None


def rows(model: type[R], body: object, what: str, *, strict: bool) -> list[R]:
    """``body`` (a JSON list) as ``model`` rows.

    A row that does not fit is a changed schema when ``strict`` (bars: a hole would bend the
    ATR) or when it is most rows; otherwise it is left out and logged, so one odd quote does
    not sink a scan. Either way the error names the field and what was found.
    """
    if not isinstance(body, list):
        raise MarketDataUnavailable(
            PROVIDER, what, f"expected a JSON list, found {type(body).__name__} {short(body)}"
        )
    return valid_entries(
        model, body, provider=PROVIDER, what=what, noun="row", log=log, strict=strict
    )
