"""Historical bars from IB (``reqHistoricalData`` through ib_async) for ``openbell data fetch``.

:class:`IbBars` is the :class:`~openbell.adapters.data.fetch.BarFetcher` over an ib_async
``IB`` the composition root has already connected (with a read-only client id). It asks for
TRADES bars, unadjusted:

* ``minutes(symbol, day)``: 1-minute bars of the New York day, extended hours included
  (``useRTH`` off), over ``1 D`` ending at the day's 20:00 New York, with bar times as UTC
  epoch seconds (``formatDate`` 2). Only bars whose New York date is ``day`` are kept.
* ``daily(symbol, start, end)``: regular-hours daily bars over ``N D`` (``N Y`` past 365
  days) ending at 16:00 New York of ``end`` (at or after every session's close, half days
  included), kept within ``[start, end]``.

Every request first waits out IB's historical-data pacing (IBKR.md §3.5), on an injected
``sleep`` and ``monotonic`` so tests see the waits without serving them (:class:`HistoryPacer`).
IB's answers are read as follows:

* bars: returned (an answer without bars, or IB's 162 "HMDS query returned no data", is
  None: no bars, not an error);
* 162 "pacing violation": wait ``violation_wait_s`` and ask once more; a second violation
  raises :class:`MarketDataUnavailable`;
* any other error code, no answer within ``timeout_s``, or a lost connection:
  :class:`MarketDataUnavailable` (retry later);
* a symbol IB cannot qualify as one US stock in USD (200): :class:`NotFound`, a
  :class:`RefusedInput` ("ib knows no stock X"): the input is wrong, retrying will not help.

IB's texts are passed on with anything shaped like an account code removed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as wall_time
from enum import Enum

import numpy as np
from ib_async import IB, BarData, Contract, RequestError

from openbell.adapters.ib import mapping
from openbell.adapters.ib.mapping import ErrorKind
from openbell.bars.frame import F64, Basis, DailyBars, DayBars, to_ns
from openbell.domain.errors import InvalidValue, MarketDataUnavailable, NotFound, RefusedInput
from openbell.domain.sessions import NEW_YORK
from openbell.domain.values import Symbol
from openbell.ports import Clock

log = logging.getLogger(__name__)

PROVIDER = "ib"
WHAT_TO_SHOW = "TRADES"
EXTENDED_END = wall_time(20, 0)
"""New York time the extended session (and a minute request) ends."""
DAILY_END = wall_time(16, 0)
"""New York time a daily request ends: at or after every session's close."""
HISTORICAL_ERROR = 162
NO_SECURITY = 200
_PACING_WORDS = "pacing violation"
_NO_DATA_WORDS = "returned no data"
_ACCOUNT = re.compile(r"\b(?:D?[UFI])\d{4,}\b")


@dataclass(frozen=True)
class HistoryPacing:
    """IB's historical-data limits (IBKR.md §3.5) and what to do on a violation.

    Defaults are IB's published limits: at most 60 requests in any 600 s, fewer than 6
    (so 5) for one contract in any 2 s, and no identical request within 15 s.
    ``violation_wait_s`` is the pause before the one retry after a 162 pacing violation
    (at least ``identical_gap_s``, since the retry is the identical request).
    """

    max_requests: int = 60
    window_s: float = 600.0
    same_contract_max: int = 5
    same_contract_window_s: float = 2.0
    identical_gap_s: float = 15.0
    violation_wait_s: float = 60.0

    def __post_init__(self) -> None:
        for name in ("max_requests", "same_contract_max"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidValue(f"history pacing {name}", "a whole number of 1 or more", value)
        for name in ("window_s", "same_contract_window_s", "identical_gap_s", "violation_wait_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise InvalidValue(f"history pacing {name}", "seconds of 0 or more", value)


class HistoryPacer:
    """Waits before each historical request until IB's limits allow it, and records it.

    Requests are keyed by contract id (the same-contract rule) and by everything IB compares
    for "identical" (the 15 s rule). Times come from ``monotonic``; waits go to ``sleep``.
    """

    def __init__(
        self,
        pacing: HistoryPacing,
        sleep: Callable[[float], object],
        monotonic: Callable[[], float],
    ) -> None:
        self.pacing = pacing
        self._sleep, self._monotonic = sleep, monotonic
        self._sent: deque[tuple[float, int, Hashable]] = deque()
        self._horizon_s = max(
            pacing.window_s, pacing.same_contract_window_s, pacing.identical_gap_s
        )

    def wait(self, contract_id: int, request: Hashable) -> float:
        """Sleep until ``request`` may go out, record it as sent, and return the seconds slept."""
        now = self._monotonic()
        ready = self.ready_at(now, contract_id, request)
        waited = 0.0
        if ready > now:
            waited = ready - now
            log.info("ib history: waiting %.1f s for IB's pacing limits", waited)
            self._sleep(waited)
            now = self._monotonic()
        self._sent.append((max(now, ready), contract_id, request))
        return waited

    def ready_at(self, now: float, contract_id: int, request: Hashable) -> float:
        """The earliest instant (on ``monotonic``) at which ``request`` keeps every limit."""
        while self._sent and self._sent[0][0] <= now - self._horizon_s:
            self._sent.popleft()
        p = self.pacing
        ready = now
        every = [t for t, _c, _r in self._sent]
        if len(every) >= p.max_requests:
            ready = max(ready, every[-p.max_requests] + p.window_s)
        same = [t for t, c, _r in self._sent if c == contract_id]
        if len(same) >= p.same_contract_max:
            ready = max(ready, same[-p.same_contract_max] + p.same_contract_window_s)
        identical = [t for t, _c, r in self._sent if r == request]
        if identical:
            ready = max(ready, identical[-1] + p.identical_gap_s)
        return ready


@dataclass(frozen=True, slots=True)
class _IbError:
    req_id: int
    code: int
    text: str
    contract: object


@dataclass(frozen=True, slots=True)
class _Request:
    """One ``reqHistoricalData`` of TRADES bars."""

    end: datetime
    duration: str
    bar_size: str
    use_rth: bool
    format_date: int

    def key(self, contract_id: int) -> Hashable:
        """What IB compares to call two requests identical."""
        return (contract_id, self.end, self.duration, self.bar_size, WHAT_TO_SHOW, self.use_rth)


class _Verdict(Enum):
    NO_BARS = "no bars"
    PACED = "pacing violation"


class IbBars:
    """Unadjusted daily and minute TRADES bars from IB's historical data (see the module).

    ``ib`` is connected already; this class never connects or disconnects it. ``sleep``
    defaults to ``ib.sleep`` (ib_async keeps reading the socket while it waits);
    ``timeout_s`` bounds each request. With a ``clock``, days that are not over yet (today
    in New York or later) are refused for minutes and left out of daily ranges, since their
    bars are not final and a stored day is never fetched again.
    """

    name = PROVIDER

    def __init__(
        self,
        ib: IB,
        *,
        pacing: HistoryPacing | None = None,
        sleep: Callable[[float], object] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        timeout_s: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or timeout_s <= 0:
            raise InvalidValue("ib history timeout_s", "seconds above 0", timeout_s)
        self._ib = ib
        self.pacing = pacing or HistoryPacing()
        self._sleep: Callable[[float], object] = sleep or ib.sleep
        self.pacer = HistoryPacer(self.pacing, self._sleep, monotonic)
        self._timeout_s = float(timeout_s)
        self._clock = clock
        self._contracts: dict[str, Contract] = {}
        self._errors: list[_IbError] = []
        ib.errorEvent += self._on_error

    def close(self) -> None:
        """Stop listening to the connection's errors (the connection stays as it is)."""
        self._ib.errorEvent -= self._on_error

    # --- the BarFetcher --------------------------------------------------------------------
    def minutes(self, symbol: str, day: date) -> DayBars | None:
        self._refuse_unfinished(symbol, day)
        contract = self._contract(symbol)
        what = f"1 min bars of {symbol} on {day}"
        end = datetime.combine(day, EXTENDED_END, tzinfo=NEW_YORK)
        bars = self._history(contract, what, _Request(end, "1 D", "1 min", False, 2))
        kept = [(start_ns, bar) for bar in bars if (start_ns := _minute_start(bar, day, what))]
        if not kept:
            return None
        return DayBars(
            symbol,
            day,
            60,
            np.array([start_ns for start_ns, _bar in kept], dtype=np.int64),
            *_columns([bar for _start, bar in kept]),
            basis=Basis.RAW,
            source=PROVIDER,
        )

    def daily(self, symbol: str, start: date, end: date) -> DailyBars | None:
        if end < start:
            raise RefusedInput(
                f"{symbol} daily bars: expected an end on or after {start}, found {end}"
            )
        last = end if self._clock is None else min(end, self._today() - timedelta(days=1))
        if last < start:
            return None
        contract = self._contract(symbol)
        what = f"daily bars of {symbol} from {start} to {last}"
        request = _Request(
            datetime.combine(last, DAILY_END, tzinfo=NEW_YORK),
            daily_duration(start, last),
            "1 day",
            True,
            1,
        )
        bars = self._history(contract, what, request)
        kept = [(day, bar) for bar in bars if start <= (day := _bar_day(bar, what)) <= last]
        if not kept:
            return None
        return DailyBars(
            symbol,
            np.array([day for day, _bar in kept], dtype="datetime64[D]"),
            *_columns([bar for _day, bar in kept]),
            basis=Basis.RAW,
            source=PROVIDER,
        )

    # --- contracts ---------------------------------------------------------------------------
    def _contract(self, symbol: str) -> Contract:
        """The qualified contract of ``symbol`` (asked once per symbol)."""
        known = self._contracts.get(symbol)
        if known is not None:
            return known
        contract: Contract = mapping.ib_contract(Symbol(symbol))
        what = f"contract of {symbol}"
        self._require_connection(what)
        self._errors.clear()
        try:
            self._ib.run(
                asyncio.wait_for(self._ib.qualifyContractsAsync(contract), self._timeout_s)
            )
        except TimeoutError:
            raise MarketDataUnavailable(PROVIDER, what, self._no_answer()) from None
        except ConnectionError:
            raise MarketDataUnavailable(PROVIDER, what, "the connection to IB was lost") from None
        except RequestError:
            pass  # the error event below says what IB answered
        if not contract.conId:
            raise self._unqualified(symbol, what, contract)
        self._contracts[symbol] = contract
        return contract

    def _unqualified(self, symbol: str, what: str, contract: Contract) -> Exception:
        errors = [e for e in self._errors if e.contract is contract and _matters(e.code)]
        other = [e for e in errors if e.code != NO_SECURITY]
        if other:
            return MarketDataUnavailable(PROVIDER, what, _reason(other[0]))
        found = "none" if errors else "no single match"
        return NotFound(
            f"ib knows no stock {symbol}: expected one US stock in USD routed through SMART, "
            f"IB found {found}"
        )

    # --- requests --------------------------------------------------------------------------
    def _history(self, contract: Contract, what: str, request: _Request) -> list[BarData]:
        """The bars IB answers ``request`` with, paced; [] when IB has none."""
        violation: _IbError | None = None
        for attempt in (1, 2):
            self.pacer.wait(contract.conId, request.key(contract.conId))
            bars, errors, elapsed_s = self._ask(contract, what, request)
            if bars:
                return bars
            verdict, violation = _verdict(errors, what), _first(errors)
            if verdict is _Verdict.NO_BARS:
                if not errors and elapsed_s >= self._timeout_s - 0.001:
                    raise MarketDataUnavailable(PROVIDER, what, self._no_answer())
                return []
            if attempt == 1:
                wait_s = self.pacing.violation_wait_s
                log.warning("ib %s: pacing violation; asking again in %.0f s", what, wait_s)
                self._sleep(wait_s)
        assert violation is not None
        raise MarketDataUnavailable(
            PROVIDER, what, f"{_reason(violation)} (again after a retry); try later"
        )

    def _ask(
        self, contract: Contract, what: str, request: _Request
    ) -> tuple[list[BarData], list[_IbError], float]:
        """Send ``request`` and wait for its answer: (bars, IB errors about it, seconds)."""

        async def asked() -> tuple[list[BarData], int, float]:
            loop = asyncio.get_running_loop()
            started = loop.time()
            bars = await self._ib.reqHistoricalDataAsync(
                contract,
                request.end,
                request.duration,
                request.bar_size,
                WHAT_TO_SHOW,
                request.use_rth,
                request.format_date,
                timeout=self._timeout_s,
            )
            return list(bars), bars.reqId, loop.time() - started

        self._require_connection(what)
        self._errors.clear()
        try:
            bars, req_id, elapsed_s = self._ib.run(asked())
        except ConnectionError:
            raise MarketDataUnavailable(PROVIDER, what, "the connection to IB was lost") from None
        except RequestError as exc:  # an IB that raises request errors (RaiseRequestErrors)
            bars, req_id, elapsed_s = [], exc.reqId, 0.0
        errors = [e for e in self._errors if e.req_id == req_id and _matters(e.code)]
        return bars, errors, elapsed_s

    def _require_connection(self, what: str) -> None:
        if not self._ib.isConnected():
            raise MarketDataUnavailable(PROVIDER, what, "not connected to IB")

    def _no_answer(self) -> str:
        return f"expected an answer from IB within {self._timeout_s:g} s, found none"

    def _on_error(self, req_id: int, code: int, text: str, contract: object) -> None:
        self._errors.append(_IbError(req_id, code, text, contract))

    # --- days ------------------------------------------------------------------------------
    def _refuse_unfinished(self, symbol: str, day: date) -> None:
        if self._clock is None:
            return
        today = self._today()
        if day >= today:
            raise RefusedInput(
                f"{symbol} {day}: expected a day that is over (before {today} in New York), "
                f"found {day}; its minute bars are not final yet"
            )

    def _today(self) -> date:
        assert self._clock is not None
        return self._clock.now().astimezone(NEW_YORK).date()


def daily_duration(start: date, end: date) -> str:
    """IB's ``durationStr`` covering ``start`` to ``end`` (inclusive) of daily bars.

    IB takes days up to 365 and whole years beyond (``400 D`` is refused, ``2 Y`` is not).
    """
    days = (end - start).days + 1
    if days < 1:
        raise InvalidValue("daily bar range", f"an end on or after {start}", end)
    return f"{days} D" if days <= 365 else f"{math.ceil(days / 365)} Y"


def _verdict(errors: Sequence[_IbError], what: str) -> _Verdict:
    """What an answer without bars means; raises when IB refused the request."""
    if not errors:
        return _Verdict.NO_BARS
    error = errors[0]
    text = error.text.lower()
    if error.code == HISTORICAL_ERROR and _PACING_WORDS in text:
        return _Verdict.PACED
    if error.code == HISTORICAL_ERROR and _NO_DATA_WORDS in text:
        return _Verdict.NO_BARS
    raise MarketDataUnavailable(PROVIDER, what, _reason(error))


def _first(errors: Sequence[_IbError]) -> _IbError | None:
    return errors[0] if errors else None


def _matters(code: int) -> bool:
    """False for IB's notices that say nothing about a request (farms, 165, 21xx)."""
    return mapping.classify_error(code) not in (ErrorKind.INFORMATIONAL, ErrorKind.DATA_FARM)


def _reason(error: _IbError) -> str:
    text = _ACCOUNT.sub("<account>", error.text.strip())
    return f"IB error {error.code}: {text}"


def _minute_start(bar: BarData, day: date, what: str) -> int:
    """The bar's start in UTC epoch ns, or 0 when it starts on another New York day."""
    start = bar.date
    if not isinstance(start, datetime) or start.utcoffset() is None:
        raise MarketDataUnavailable(
            PROVIDER, what, f"expected bar times as UTC instants (formatDate 2), found {start!r}"
        )
    return to_ns(start) if start.astimezone(NEW_YORK).date() == day else 0


def _bar_day(bar: BarData, what: str) -> date:
    """A daily bar's trading day (IB sends ``yyyymmdd``; ib_async makes it a date)."""
    stamp = bar.date
    if isinstance(stamp, datetime):
        if stamp.utcoffset() is None:
            raise MarketDataUnavailable(
                PROVIDER, what, f"expected a day or an aware time per daily bar, found {stamp!r}"
            )
        return stamp.astimezone(NEW_YORK).date()
    return stamp


def _columns(bars: Sequence[BarData]) -> tuple[F64, F64, F64, F64, F64]:
    def column(values: list[float]) -> F64:
        return np.array(values, dtype=np.float64)

    return (
        column([b.open for b in bars]),
        column([b.high for b in bars]),
        column([b.low for b in bars]),
        column([b.close for b in bars]),
        column([float(b.volume) for b in bars]),
    )
