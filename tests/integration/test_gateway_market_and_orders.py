"""The simulated IB Gateway's market data and order handling, seen through the real ib_async.

Every scenario runs the gateway and its ib_async clients in one event loop over loopback. The
test moves a :class:`ManualClock` and pumps the gateway; a round trip per client
(``reqCurrentTime``) then guarantees each has read everything sent before it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, time

import numpy as np
from ib_async import IB, LimitOrder, MarketOrder, Order, Stock
from ib_async.ib import StartupFetch, StartupFetchALL

from openbell.adapters.clock import ManualClock
from openbell.bars.frame import NEW_YORK, DayBars, to_ns
from openbell.domain.sessions import Session
from openbell.venue import FixedCommission, NoSlippage, VenueConfig
from openbell.venue.tws.account import con_id_for
from openbell.venue.tws.gateway import GatewayConfig, Holding, TwsGateway

DAY = date(2025, 10, 29)
ACCOUNT = "DU5550001"
REF = "ob-20251029-WULF-1-entry"
Bar = tuple[float, float, float, float, float]  # open, high, low, close, volume
PRE: Bar = (9.90, 9.92, 9.88, 9.91, 500.0)  # every pre-market minute, 04:00-09:29
RTH: list[Bar] = [
    (10.00, 10.10, 9.95, 10.05, 10_000.0),  # 09:30
    (10.06, 10.20, 10.00, 10.15, 20_000.0),  # 09:31
    (10.16, 10.30, 10.10, 10.25, 30_000.0),  # 09:32
    (10.24, 10.28, 10.05, 10.08, 15_000.0),  # 09:33, a down bar
    (10.08, 10.12, 9.80, 9.85, 12_000.0),  # 09:34 dips to 9.80
]
FLAT: Bar = (9.85, 9.85, 9.85, 9.85, 5_000.0)  # 09:35 to the close
ROWS = [PRE] * 330 + RTH + [FLAT] * (390 - len(RTH))


def at(hhmm: str) -> datetime:
    return datetime.combine(DAY, time.fromisoformat(hhmm), NEW_YORK)


SESSION = Session(DAY, at("09:30"), at("16:00"))


def wulf_bars() -> DayBars:
    o, h, lo, c, v = (np.array(col, dtype=float) for col in zip(*ROWS, strict=True))
    starts = np.array([to_ns(at("04:00")) + i * 60_000_000_000 for i in range(len(ROWS))])
    return DayBars("WULF", DAY, 60, starts, o, h, lo, c, v)


def row(hhmm: str) -> Bar:
    return ROWS[(at(hhmm) - at("04:00")).seconds // 60]


def config(*holdings: Holding) -> GatewayConfig:
    venue = VenueConfig(commission=FixedCommission(), slippage=NoSlippage())
    return GatewayConfig(account=ACCOUNT, holdings=holdings, venue=venue, replay_interval_s=3600.0)


class Rig:
    """A gateway on a manual clock, with the ib_async clients connected to it."""

    def __init__(self, start: str, cfg: GatewayConfig) -> None:
        self.clock = ManualClock(at(start))
        self.gateway = TwsGateway(cfg, self.clock)
        self.gateway.load_day(SESSION, {"WULF": wulf_bars()})
        self.clients: list[IB] = []
        self.errors: dict[int, list[tuple[int, int, str]]] = {}
        self.port = 0

    async def connect(self, client_id: int, **options: object) -> IB:
        ib = IB()
        seen = self.errors.setdefault(client_id, [])
        ib.errorEvent += lambda req, code, text, _c: seen.append((req, code, text))
        await ib.connectAsync("127.0.0.1", self.port, clientId=client_id, timeout=5, **options)
        self.clients.append(ib)
        return ib

    def codes(self, client_id: int) -> list[tuple[int, int]]:
        """(request or order id, code) of every error but the farm notices (21xx)."""
        return [(r, c) for r, c, _t in self.errors.get(client_id, []) if not 2100 <= c < 2200]

    async def move(self, hhmm: str) -> None:
        self.clock.set(at(hhmm))
        self.gateway.pump()
        await self.settle()

    async def settle(self) -> None:
        for ib in self.clients:
            if ib.isConnected():
                await asyncio.wait_for(ib.reqCurrentTimeAsync(), 5)


@asynccontextmanager
async def rig(start: str, *holdings: Holding) -> AsyncIterator[Rig]:
    r = Rig(start, config(*holdings))
    r.port = await r.gateway.start("127.0.0.1", 0)
    try:
        yield r
    finally:
        for ib in r.clients:
            ib.disconnect()
        await r.gateway.close()


def test_contracts_are_qualified_and_described_and_unknown_symbols_get_200() -> None:
    async def scenario() -> None:
        async with rig("08:00") as r:
            ib = await r.connect(1)
            wulf = Stock("WULF", "SMART", "USD")
            assert await ib.qualifyContractsAsync(wulf) == [wulf]
            assert (wulf.conId, wulf.primaryExchange) == (con_id_for("WULF"), "NASDAQ")
            (details,) = await ib.reqContractDetailsAsync(Stock("WULF", "SMART", "USD"))
            assert details.contract is not None and details.contract.conId == wulf.conId
            assert (details.minTick, details.timeZoneId) == (0.01, "US/Eastern")
            assert details.tradingHours == "20251029:0400-20251029:2000"
            assert details.liquidHours == "20251029:0930-20251029:1600"
            assert await ib.reqContractDetailsAsync(Stock("NOPE", "SMART", "USD")) == []
            assert [code for _r, code in r.codes(1)] == [200]

    asyncio.run(scenario())


def test_a_holding_is_known_without_bars_and_keeps_one_contract_id_everywhere() -> None:
    async def scenario() -> None:
        held = (Holding("SKYX", 182, 1.20, con_id=1001), Holding("WULF", 50, 8.0, con_id=2002))
        async with rig("08:00", *held) as r:
            ib = await r.connect(1)
            skyx, wulf = Stock("SKYX", "SMART", "USD"), Stock("WULF", "SMART", "USD")
            assert await ib.qualifyContractsAsync(skyx, wulf) == [skyx, wulf]
            assert (skyx.conId, wulf.conId) == (1001, 2002)
            ids = {p.contract.symbol: p.contract.conId for p in ib.positions()}
            assert ids == {"SKYX": 1001, "WULF": 2002}
            assert r.codes(1) == []

    asyncio.run(scenario())


def test_market_data_streams_each_bar_only_once_it_has_ended() -> None:
    async def scenario() -> None:
        async with rig("09:30:30") as r:
            ib = await r.connect(1)
            seen: list[tuple[int, float]] = []
            (wulf,) = await ib.qualifyContractsAsync(Stock("WULF", "SMART", "USD"))
            ticker = ib.reqMktData(wulf)
            ticker.updateEvent += lambda t: seen.extend(
                (k.tickType, k.price) for k in t.ticks if k.tickType in (1, 2, 4, 6, 7, 14)
            )
            await r.settle()
            # Mid-bar: the 09:30 open (with a quote around it), none of the bar's range yet.
            assert (ticker.last, ticker.bid, ticker.ask) == (10.00, 9.99, 10.01)
            assert math.isnan(ticker.high) and math.isnan(ticker.low)
            seen.clear()
            await r.move("09:31:30")
            # The 09:30 bar ended: its low, high, close (an up bar), quote, day stats, and the
            # 09:31 open, which is a trade at its start; nothing of the 09:31 bar's range.
            # (The day's low so far, 9.88, is the pre-market's.)
            assert seen[:5] == [(4, 9.95), (4, 10.10), (4, 10.05), (1, 10.04), (2, 10.06)]
            assert seen[5:] == [(6, 10.10), (7, 9.88), (4, 10.06)]
            assert ticker.volume == 330 * 500 + 10_000
            seen.clear()
            await r.move("09:34")
            # Three bars ended (09:31, 09:32, 09:33): 8 price ticks each; the last is a down
            # bar, so its high comes before its low; then the 09:34 open.
            assert len(seen) == 24
            assert seen[-8:-3] == [(4, 10.28), (4, 10.05), (4, 10.08), (1, 10.07), (2, 10.09)]
            assert seen[-3:] == [(6, 10.30), (7, 9.88), (4, 10.08)]
            assert (ticker.high, ticker.low, ticker.bid, ticker.ask) == (10.30, 9.88, 10.07, 10.09)
            assert ticker.last == row("09:34")[0]  # the 09:34 open, at its start
            assert ticker.volume == 330 * 500 + sum(b[4] for b in RTH[:4])
            assert 10.12 not in [p for _k, p in seen]  # the 09:34 bar's high: not yet
            sent = len(r.gateway.market.tick_sent)
            ib.cancelMktData(wulf)
            await r.settle()
            assert r.gateway.market.subscriptions == {}
            await r.move("09:40")
            assert len(r.gateway.market.tick_sent) == sent
            (snap,) = await asyncio.wait_for(ib.reqTickersAsync(wulf), 5)  # ends on 57
            assert (snap.last, snap.bid, snap.ask) == (9.85, 9.84, 9.86)
            assert r.gateway.market.subscriptions == {}
            assert r.codes(1) == []

    asyncio.run(scenario())


PRE_FIVES = ("09:10", "09:15", "09:20", "09:25")


def test_historical_bars_end_at_the_clock_and_aggregate_the_replayed_day() -> None:
    async def scenario() -> None:
        async with rig("09:36:30") as r:
            ib = await r.connect(1)
            (wulf,) = await ib.qualifyContractsAsync(Stock("WULF", "SMART", "USD"))

            async def history(size: str, rth: bool, fmt: int = 1, end: object = "") -> list:
                return list(
                    await ib.reqHistoricalDataAsync(
                        wulf, end, "1800 S", size, "TRADES", rth, fmt, timeout=5
                    )
                )

            def ohlcv(bars: list) -> list[tuple[datetime, Bar]]:
                return [(b.date, (b.open, b.high, b.low, b.close, b.volume)) for b in bars]

            # 1 min, all hours: 09:06:30-09:36:30 holds the bars 09:07..09:35 (09:36 is forming).
            minutes = ohlcv(await history("1 min", rth=False))
            stamps = [f"09:{m:02d}" for m in range(7, 36)]
            assert minutes == [(at(s), row(s)) for s in stamps]
            assert all(d.tzinfo is not None for d, _b in minutes)  # formatDate 1: zoned text
            # formatDate 2 (epoch seconds) and regular hours only.
            epochs = ohlcv(await history("1 min", rth=True, fmt=2))
            assert epochs == [(at(s), row(s)) for s in stamps[-6:]]
            # 5 mins: the buckets that have ended (09:35 has not); the first from the open.
            (opening,) = ohlcv(await history("5 mins", rth=True))
            assert opening == (at("09:30"), (10.00, 10.30, 9.80, 9.85, 87_000.0))
            fives = ohlcv(await history("5 mins", rth=False))
            assert fives == [(at(s), (9.90, 9.92, 9.88, 9.91, 2_500.0)) for s in PRE_FIVES] + [
                opening
            ]
            # An aware end in the past cuts the bars there; one in the future is cut at now.
            past = ohlcv(await history("1 min", rth=True, end=at("09:33")))
            assert [d for d, _b in past] == [at("09:30"), at("09:31"), at("09:32")]
            future = ohlcv(await history("1 min", rth=True, end=at("11:00")))
            assert [d for d, _b in future] == [at(s) for s in stamps[-6:]]
            assert r.codes(1) == []
            # A bar size the gateway cannot build: 162 and no bars.
            assert await history("1 day", rth=True) == []
            ((req, _code, text),) = [e for e in r.errors[1] if e[1] == 162]
            assert req > 0 and "bar size" in text and "1 day" in text

    asyncio.run(scenario())


def test_orders_belong_to_the_client_that_placed_them() -> None:
    async def scenario() -> None:
        async with rig("09:31") as r:
            a, b = await r.connect(1), await r.connect(2)
            (wulf,) = await a.qualifyContractsAsync(Stock("WULF", "SMART", "USD"))
            deep = a.placeOrder(wulf, LimitOrder("BUY", 100, 9.00, tif="DAY", orderId=10))
            dip = a.placeOrder(
                wulf, LimitOrder("BUY", 100, 9.90, tif="DAY", orderRef="dip", orderId=11)
            )
            other = b.placeOrder(wulf, LimitOrder("BUY", 50, 5.00, tif="DAY", orderId=10))
            await r.settle()
            # IB keys orders by (clientId, orderId): (1, 10) and (2, 10) are two orders.
            mine, theirs = r.gateway.desk.find(1, 10), r.gateway.desk.find(2, 10)
            assert mine is not None and theirs is not None
            assert mine.view.perm_id != theirs.view.perm_id
            assert [t.orderStatus.status for t in (deep, dip, other)] == ["Submitted"] * 3
            # B cannot cancel A's order 11 (B has none with that id): 10147; A's lives on.
            b.cancelOrder(Order(orderId=11))
            await r.settle()
            assert r.codes(2) == [(11, 10147)]
            assert r.codes(1) == []
            assert dip.orderStatus.status == "Submitted"
            working = r.gateway.desk.find(1, 11)
            assert working is not None and not working.is_done
            await r.move("09:35")  # the 09:34 bar dips to 9.80
            assert dip.orderStatus.status == "Filled"
            assert [(f.execution.price, f.execution.shares) for f in dip.fills] == [(9.90, 100)]
            assert dip.fills[0].execution.orderRef == "dip"
            # A cancels its order 10: 202 and Cancelled; B's order 10 is untouched.
            a.cancelOrder(deep.order)
            await r.settle()
            assert deep.orderStatus.status == "Cancelled"
            assert r.codes(1) == [(10, 202)]
            assert other.orderStatus.status == "Submitted" and not theirs.is_done
            # An order id A has used already: 103, and nothing new reaches the venue.
            orders = len(r.gateway.desk.orders)
            a.client.placeOrder(10, wulf, LimitOrder("BUY", 10, 9.50, tif="DAY"))
            await r.settle()
            assert r.codes(1) == [(10, 202), (10, 103)]
            assert len(r.gateway.desk.orders) == orders
            assert deep.orderStatus.status == "Cancelled"
            assert r.codes(2) == [(11, 10147)]

    asyncio.run(scenario())


HELD = {"SKYX": (182.0, 1.20), "WULF": (50.0, 8.00)}
MERGED = {"SKYX": (182.0, 1.20), "WULF": (150.0, round((50 * 8.00 + 100 * 10.00) / 150, 6))}


def positions(ib: IB) -> dict[str, tuple[float, float]]:
    return {p.contract.symbol: (p.position, round(p.avgCost, 6)) for p in ib.positions()}


def net_liquidation(ib: IB) -> float:
    (value,) = [v.value for v in ib.accountValues() if v.tag == "NetLiquidation"]
    return float(value)


def test_a_moo_fills_at_the_open_in_sim_time_and_the_account_follows() -> None:
    skyx, wulf_held = Holding("SKYX", 182, 1.20), Holding("WULF", 50, 8.00)

    async def scenario() -> None:
        async with rig("09:00", skyx, wulf_held) as r:
            ib = await r.connect(3)
            monitor = await r.connect(4, readonly=True)
            for client in (ib, monitor):
                assert positions(client) == HELD
            # WULF is valued at its last trade, the 09:00 bar's open; SKYX, with no bars, at cost.
            assert net_liquidation(ib) == round(100_000 + 182 * 1.20 + 50 * 9.90, 2)
            reports: list[float] = []
            ib.commissionReportEvent += lambda _t, _f, report: reports.append(report.commission)
            (wulf,) = await ib.qualifyContractsAsync(Stock("WULF", "SMART", "USD"))
            trade = ib.placeOrder(wulf, MarketOrder("BUY", 100, tif="OPG", orderRef=REF))
            await r.settle()
            assert trade.orderStatus.status == "PreSubmitted"
            await r.move("09:31")
            assert trade.orderStatus.status == "Filled"
            (fill,) = trade.fills
            assert fill.execution.time == at("09:30")  # the opening print, in sim time
            assert (fill.execution.price, fill.execution.shares) == (10.00, 100)
            assert fill.execution.orderRef == REF
            (execution,) = r.gateway.desk.executions
            assert fill.commissionReport.commission == execution.commission == 1.00
            assert reports == [1.00]  # the permId was known before the fill
            # Asked again (the pushed updates are checked by the test after this one), both
            # clients see the fill merged into the configured WULF holding; SKYX is untouched.
            for client in (ib, monitor):
                await client.reqPositionsAsync()
                assert positions(client) == MERGED
            await ib.reqAccountUpdatesAsync(ACCOUNT)
            (item,) = [i for i in ib.portfolio() if i.contract.symbol == "WULF"]
            assert (item.position, item.marketPrice) == (150, 10.06)  # the 09:31 open
            cash = 100_000 - 100 * 10.00 - 1.00
            assert net_liquidation(ib) == round(cash + 182 * 1.20 + 150 * 10.06, 2)
            assert r.codes(3) == r.codes(4) == []

    asyncio.run(scenario())


def test_a_fill_pushes_the_merged_position_and_portfolio_line_unasked() -> None:
    async def scenario() -> None:
        async with rig("09:00", Holding("SKYX", 182, 1.20), Holding("WULF", 50, 8.00)) as r:
            ib = await r.connect(3)
            (wulf,) = await ib.qualifyContractsAsync(Stock("WULF", "SMART", "USD"))
            ib.placeOrder(wulf, MarketOrder("BUY", 100, tif="OPG"))
            await r.settle()
            await r.move("09:31")
            assert positions(ib) == MERGED
            assert {i.contract.symbol: i.position for i in ib.portfolio()} == {
                "SKYX": 182,
                "WULF": 150,
            }

    asyncio.run(scenario())


def test_a_reconnected_client_gets_its_orders_fills_and_finished_orders_back() -> None:
    async def scenario() -> None:
        async with rig("09:00") as r:
            ib = await r.connect(5)
            (wulf,) = await ib.qualifyContractsAsync(Stock("WULF", "SMART", "USD"))
            entry = ib.placeOrder(wulf, MarketOrder("BUY", 100, tif="OPG", orderRef=REF))
            await r.settle()
            await r.move("09:31")
            target = ib.placeOrder(
                wulf, LimitOrder("SELL", 100, 11.00, tif="DAY", orderRef="ob-target")
            )
            await r.settle()
            assert (entry.orderStatus.status, target.orderStatus.status) == ("Filled", "Submitted")
            perm_id, order_id = target.order.permId, target.order.orderId
            assert perm_id > 0
            ib.disconnect()
            r.clients.remove(ib)
            for _ in range(100):
                if 5 not in r.gateway.sessions:
                    break
                await asyncio.sleep(0.01)
            await r.move("09:32")
            # Back with the same client id; executions are asked for explicitly below.
            again = await r.connect(5, fetchFields=StartupFetchALL & ~StartupFetch.EXECUTIONS)
            (back,) = again.openTrades()
            assert (back.order.orderId, back.order.permId) == (order_id, perm_id)
            assert (back.order.orderRef, back.order.lmtPrice) == ("ob-target", 11.00)
            assert back.orderStatus.status == "Submitted"
            (fill,) = await again.reqExecutionsAsync()
            assert (fill.execution.orderRef, fill.execution.time) == (REF, at("09:30"))
            assert (fill.execution.clientId, fill.commissionReport.commission) == (5, 1.00)
            completed = await again.reqCompletedOrdersAsync(False)
            assert [(t.order.orderRef, t.orderStatus.status) for t in completed] == [
                (REF, "Filled")
            ]
            # The order is still this client's: it can cancel it.
            again.cancelOrder(back.order)
            await r.settle()
            assert back.orderStatus.status == "Cancelled"
            assert r.codes(5) == [(order_id, 202)]

    asyncio.run(scenario())


def test_all_open_orders_lists_every_clients_working_orders() -> None:
    async def scenario() -> None:
        async with rig("09:31") as r:
            a, b, watcher = await r.connect(1), await r.connect(2), await r.connect(9)
            for client, ref in ((a, "from-a"), (b, "from-b")):
                (wulf,) = await client.qualifyContractsAsync(Stock("WULF", "SMART", "USD"))
                order = LimitOrder("BUY", 100, 9.00, tif="DAY", orderRef=ref, orderId=20)
                client.placeOrder(wulf, order)
            await r.settle()
            assert await watcher.reqOpenOrdersAsync() == []  # its own: none
            listed = await watcher.reqAllOpenOrdersAsync()
            assert sorted(
                (t.order.clientId, t.order.orderId, t.order.orderRef, t.orderStatus.status)
                for t in listed
            ) == [(1, 20, "from-a", "Submitted"), (2, 20, "from-b", "Submitted")]
            assert len({t.order.permId for t in listed}) == 2
            assert r.codes(9) == []

    asyncio.run(scenario())
