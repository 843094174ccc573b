"""The gateway's market data desk: contract details, streaming ticks and historical bars.

Everything comes from the replayed day and is cut at the gateway's clock: a subscriber or a
historical request never sees a bar that has not ended yet (see :mod:`.market`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openbell.bars.frame import DayBars, to_ns
from openbell.domain.errors import InvalidValue
from openbell.domain.sessions import NEW_YORK, Session
from openbell.venue.day import DayHours
from openbell.venue.tws import answers, market
from openbell.venue.tws.account import LISTING, con_id_for
from openbell.venue.tws.answers import ContractView
from openbell.venue.tws.requests import (
    parse_cancel_market_data,
    parse_contract_details,
    parse_historical_data,
    parse_market_data,
    parse_market_data_type,
)

log = logging.getLogger(__name__)

NO_SECURITY = (200, "No security definition has been found for the request")
HISTORICAL_ERROR = 162
LIVE = 1


class Client(Protocol):
    client_id: int | None


Send = Callable[[int, list[object]], None]


@dataclass
class Subscription:
    symbol: str
    seen_ns: int
    """Ticks known up to this instant have been sent."""


@dataclass
class MarketService:
    """Answers market data requests from the replayed bars; ``pump`` streams new ticks."""

    now: Callable[[], datetime]
    """The gateway's time (see :meth:`TwsGateway.now`)."""
    send: Send
    con_id: Callable[[str], int] = con_id_for
    """The contract id the gateway reports for a symbol (the same in every message)."""
    hours: DayHours = field(default_factory=DayHours)
    """How the venue derives a session's extended hours."""
    listed: set[str] = field(default_factory=set)
    """Symbols known without bars (the account's holdings)."""
    session: Session | None = None
    bars: dict[str, DayBars] = field(default_factory=dict)
    subscriptions: dict[tuple[int, int], Subscription] = field(default_factory=dict)
    tick_sent: list[float] = field(default_factory=list)
    """``time.perf_counter()`` of each streamed batch of ticks (for latency benchmarks)."""

    def handlers(self) -> dict[int, Callable[[Client, list[str]], None]]:
        return {
            1: self._subscribe,
            2: self._unsubscribe,
            9: self._contract_details,
            20: self._historical,
            25: self._ignore,
            59: self._data_type,
        }

    def load_day(self, session: Session, bars: Mapping[str, DayBars]) -> None:
        self.session = session
        self.bars = {symbol.upper(): b for symbol, b in bars.items()}

    def knows(self, symbol: str) -> bool:
        return symbol.upper() in self.bars or symbol.upper() in self.listed

    def last_price(self, symbol: str) -> float | None:
        bars = self.bars.get(symbol)
        return None if bars is None else market.last_price(bars, to_ns(self.now()))

    def pump(self, now: datetime) -> None:
        if self.session is None or not self.subscriptions:
            return
        now_ns = to_ns(now)
        open_ns = to_ns(self.session.open)
        for (client_id, req_id), sub in list(self.subscriptions.items()):
            if now_ns <= sub.seen_ns:
                continue
            bars, since = self.bars.get(sub.symbol), sub.seen_ns
            sub.seen_ns = now_ns
            if bars is None:  # no bars today (a later day without this symbol): no ticks
                continue
            ticks = market.ticks_between(bars, since, now_ns, open_ns)
            if ticks:
                self._send_ticks(client_id, req_id, ticks)

    def drop_subscriptions(self) -> None:
        """IB's 1101: market data subscriptions are lost and must be made again."""
        self.subscriptions.clear()

    def forget(self, client_id: int) -> None:
        for key in [k for k in self.subscriptions if k[0] == client_id]:
            del self.subscriptions[key]

    # --- requests ------------------------------------------------------------------------
    def _subscribe(self, client: Client, message: list[str]) -> None:
        assert client.client_id is not None
        request = parse_market_data(message)
        symbol = request.contract.symbol.upper()
        if symbol not in self.bars:
            self.send(client.client_id, answers.error(request.req_id, *NO_SECURITY))
            return
        cid, rid = client.client_id, request.req_id
        self.send(cid, answers.market_data_type(rid, LIVE))
        self.send(cid, answers.tick_req_params(rid, 0.01, "9c0001", 3))
        now_ns = to_ns(self.now())
        snapshot = self._snapshot(symbol, now_ns)
        if snapshot:
            self._send_ticks(cid, rid, snapshot)
        if request.snapshot or request.regulatory_snapshot:
            self.send(cid, answers.tick_snapshot_end(rid))
            return
        self.subscriptions[(cid, rid)] = Subscription(symbol, now_ns)

    def _snapshot(self, symbol: str, now_ns: int) -> list[market.Tick]:
        bars = self.bars[symbol]
        price = market.last_price(bars, now_ns)
        if price is None:
            return []
        return [market.Tick(now_ns, market.LAST, price, 0.0), *market.quote(now_ns, price)]

    def _send_ticks(self, client_id: int, req_id: int, ticks: list[market.Tick]) -> None:
        for tick in ticks:
            if tick.price is None:
                self.send(client_id, answers.tick_size(req_id, tick.kind, tick.size))
            else:
                self.send(client_id, answers.tick_price(req_id, tick.kind, tick.price, tick.size))
        self.tick_sent.append(time.perf_counter())

    def _unsubscribe(self, client: Client, message: list[str]) -> None:
        assert client.client_id is not None
        self.subscriptions.pop((client.client_id, parse_cancel_market_data(message)), None)

    def _data_type(self, client: Client, message: list[str]) -> None:
        parse_market_data_type(message)  # only live data exists here; the request is valid

    def _ignore(self, client: Client, message: list[str]) -> None:
        return

    def _contract_details(self, client: Client, message: list[str]) -> None:
        assert client.client_id is not None
        request = parse_contract_details(message)
        symbol = request.contract.symbol.upper()
        if not self.knows(symbol) or request.contract.sec_type not in ("STK", ""):
            self.send(client.client_id, answers.error(request.req_id, *NO_SECURITY))
            return
        contract = ContractView(self.con_id(symbol), symbol, "SMART", LISTING, "USD")
        hours = self._hours()
        details = answers.contract_details(
            request.req_id,
            contract,
            long_name=symbol,
            trading_hours=hours[0],
            liquid_hours=hours[1],
        )
        self.send(client.client_id, details)
        self.send(client.client_id, answers.contract_details_end(request.req_id))

    def _hours(self) -> tuple[str, str]:
        """IB's ``tradingHours`` and ``liquidHours`` for the replayed day."""
        if self.session is None:
            return "", ""
        pre, post = self.hours.extended(self.session)

        def span(a: datetime, b: datetime) -> str:
            a, b = a.astimezone(NEW_YORK), b.astimezone(NEW_YORK)
            return f"{a:%Y%m%d:%H%M}-{b:%Y%m%d:%H%M}"

        return span(pre, post), span(self.session.open, self.session.close)

    def _historical(self, client: Client, message: list[str]) -> None:
        assert client.client_id is not None
        request = parse_historical_data(message)
        cid, rid = client.client_id, request.req_id
        symbol = request.contract.symbol.upper()
        bars = self.bars.get(symbol)
        if bars is None or self.session is None:
            self.send(cid, answers.error(rid, *NO_SECURITY))
            return
        try:
            size_s = market.bar_size_seconds(request.bar_size)
            duration_s = market.duration_seconds(request.duration)
            end = self._end(request.end)
            rth = (to_ns(self.session.open), to_ns(self.session.close)) if request.use_rth else None
            rows = market.historical_bars(bars, end, duration_s, size_s, rth)
        except InvalidValue as exc:
            text = f"Historical Market Data Service error message:{exc}"
            self.send(cid, answers.error(rid, HISTORICAL_ERROR, text))
            return
        start = end - timedelta(seconds=duration_s)
        stamp = "%Y%m%d %H:%M:%S"
        self.send(
            cid,
            answers.historical_data(
                rid,
                start.astimezone(NEW_YORK).strftime(stamp),
                end.astimezone(NEW_YORK).strftime(stamp),
                rows,
                format_date=request.format_date,
            ),
        )
        if request.keep_up_to_date:
            log.info("historical request %s: keepUpToDate is not streamed; bars sent once", rid)

    def _end(self, text: str) -> datetime:
        """The request's end time, never later than now (no bar from the future).

        IB's forms: ``yyyymmdd hh:mm:ss [zone]`` (ib_async sends aware times in UTC) or
        ``yyyymmdd-hh:mm:ss`` in UTC; a missing zone means New York here.
        """
        now = self.now()
        raw = text.strip()
        if not raw:
            return now
        expected = "'yyyymmdd hh:mm:ss [zone]' or 'yyyymmdd-hh:mm:ss'"
        try:
            # The zone is not part of the stamp; it is read from the rest of the text below.
            stamp = datetime.strptime(raw[:17].replace("-", " "), "%Y%m%d %H:%M:%S")  # noqa: DTZ007
            zone_name = raw[17:].strip() or ("UTC" if raw[8:9] == "-" else "America/New_York")
            zone = UTC if zone_name in ("UTC", "GMT") else ZoneInfo(zone_name)
        except (ValueError, ZoneInfoNotFoundError, OSError):  # OSError: a zone that is a path
            raise InvalidValue("historical end time", expected, text) from None
        return min(stamp.replace(tzinfo=zone), now)
