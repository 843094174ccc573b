"""The pure translation between openbell's vocabulary and ib_async's, on real ib_async objects."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from ib_async import Execution, Order, Stock
from ib_async.util import UNSET_DOUBLE

from openbell.adapters.ib.mapping import (
    CANCEL_CONFIRMED_CODES,
    CANCEL_REFUSED_CODES,
    CANCEL_TARGET_GONE_CODES,
    CLIENT_ID_IN_USE_CODES,
    CONNECTION_LOST_CODES,
    CONNECTION_RESTORED_CODES,
    CONNECTION_RESTORED_DATA_LOST_CODES,
    DATA_FARM_CODES,
    INFORMATIONAL_CODES,
    NO_SECURITY_CODES,
    OCA_REDUCE_WITH_BLOCK,
    ORDER_REJECTED_CODES,
    PACING_CODES,
    ErrorKind,
    classify_error,
    domain_commission,
    domain_fill,
    domain_side,
    domain_status,
    domain_symbol,
    ib_contract,
    ib_order,
    ib_symbol,
    is_informational,
    our_order_ref,
)
from openbell.domain.enums import (
    OrderRole,
    OrderStatus,
    OrderType,
    PositionRole,
    Side,
    TimeInForce,
)
from openbell.domain.errors import InvalidValue
from openbell.domain.orders import Fill, OrderIntent
from openbell.domain.positions import Position
from openbell.domain.values import Money, OrderRef, Price, Quantity, Symbol
from openbell.strategy.management import order_ref

REF = OrderRef("ob-20260105-WULF-7-entry")
SYM = Symbol("WULF")
AT = datetime(2026, 1, 5, 14, 30, 1, tzinfo=UTC)


def intent(
    order_type: OrderType = OrderType.MARKET,
    tif: TimeInForce = TimeInForce.AT_THE_OPEN,
    *,
    role: OrderRole = OrderRole.ENTRY,
    limit: str | None = None,
    stop: str | None = None,
    outside_rth: bool = False,
    oca_group: str | None = None,
    quantity: int = 150,
) -> OrderIntent:
    return OrderIntent(
        order_ref=REF,
        symbol=SYM,
        side=Side.BUY if role is OrderRole.ENTRY else Side.SELL,
        quantity=Quantity(quantity),
        order_type=order_type,
        time_in_force=tif,
        role=role,
        limit_price=None if limit is None else Price(Decimal(limit)),
        stop_price=None if stop is None else Price(Decimal(stop)),
        outside_rth=outside_rth,
        oca_group=oca_group,
    )


def execution(
    *,
    ref: str = str(REF),
    side: str = "BOT",
    shares: float = 150.0,
    price: float = 10.26,
    time: datetime = AT,
    exec_id: str = "0000e0d5.6789abcd.01.01",
) -> Execution:
    return Execution(
        execId=exec_id,
        time=time,
        acctNumber="DU123456",
        exchange="NASDAQ",
        side=side,
        shares=shares,
        price=price,
        permId=123456789,
        clientId=1,
        orderId=42,
        cumQty=shares,
        avgPrice=price,
        orderRef=ref,
    )


class TestContract:
    def test_a_stock_is_smart_routed_in_usd_without_a_primary_exchange(self) -> None:
        contract = ib_contract(SYM)
        assert isinstance(contract, Stock)
        assert (contract.symbol, contract.secType, contract.exchange, contract.currency) == (
            "WULF",
            "STK",
            "SMART",
            "USD",
        )
        assert contract.primaryExchange == ""

    def test_a_primary_exchange_settles_an_ambiguous_symbol(self) -> None:
        assert ib_contract(SYM, primary_exchange="NASDAQ").primaryExchange == "NASDAQ"

    @pytest.mark.parametrize("bad", ["nasdaq", "NAS DAQ", 7])
    def test_a_malformed_primary_exchange_is_refused(self, bad: object) -> None:
        with pytest.raises(InvalidValue, match="primary_exchange"):
            ib_contract(SYM, primary_exchange=bad)  # type: ignore[arg-type]

    @pytest.mark.parametrize(("ours", "ibs"), [("BRK.B", "BRK B"), ("BF-B", "BF B")])
    def test_share_classes_use_ibs_space(self, ours: str, ibs: str) -> None:
        assert ib_symbol(Symbol(ours)) == ibs
        assert ib_contract(Symbol(ours)).symbol == ibs

    def test_ib_symbols_come_back_as_ours(self) -> None:
        assert domain_symbol("BRK B") == Symbol("BRK.B")
        assert domain_symbol("AAPL") == Symbol("AAPL")

    @pytest.mark.parametrize("bad", ["", "BRK  B", "$$$", None])
    def test_an_unreadable_ib_symbol_is_refused(self, bad: object) -> None:
        with pytest.raises(InvalidValue, match="IB contract symbol"):
            domain_symbol(bad)  # type: ignore[arg-type]


class TestOrder:
    def test_market_on_open_is_mkt_opg_inside_regular_hours(self) -> None:
        order = ib_order(intent(), account="DU123456")
        assert isinstance(order, Order)
        assert (order.action, order.orderType, order.tif) == ("BUY", "MKT", "OPG")
        assert order.totalQuantity == 150.0
        assert order.outsideRth is False
        assert order.orderRef == str(REF)
        assert order.account == "DU123456"
        assert order.transmit is True
        assert order.orderId == 0  # ib_async assigns it when placing
        assert order.lmtPrice == UNSET_DOUBLE
        assert order.auxPrice == UNSET_DOUBLE
        assert (order.ocaGroup, order.ocaType) == ("", 0)

    def test_limit_on_open_is_lmt_opg_with_its_price(self) -> None:
        order = ib_order(intent(OrderType.LIMIT, limit="10.26"))
        assert (order.orderType, order.tif, order.lmtPrice) == ("LMT", "OPG", 10.26)
        assert order.outsideRth is False

    def test_a_target_in_an_oca_group_reduces_its_sibling(self) -> None:
        target = intent(
            OrderType.LIMIT,
            TimeInForce.DAY,
            role=OrderRole.TARGET,
            limit="10.53",
            oca_group="oca-20260105-7-0",
        )
        order = ib_order(target)
        assert (order.action, order.orderType, order.tif) == ("SELL", "LMT", "DAY")
        assert order.lmtPrice == 10.53
        assert order.ocaGroup == "oca-20260105-7-0"
        assert order.ocaType == OCA_REDUCE_WITH_BLOCK == 2
        assert order.orderRef == str(REF)

    def test_a_stop_carries_its_trigger_in_aux_price(self) -> None:
        stop = intent(OrderType.STOP, TimeInForce.DAY, role=OrderRole.STOP, stop="9.87")
        order = ib_order(stop)
        assert (order.orderType, order.auxPrice, order.lmtPrice) == ("STP", 9.87, UNSET_DOUBLE)

    def test_a_stop_limit_carries_both_prices(self) -> None:
        stop = intent(
            OrderType.STOP_LIMIT,
            TimeInForce.GTC,
            role=OrderRole.STOP,
            stop="9.87",
            limit="9.80",
            outside_rth=True,
        )
        order = ib_order(stop)
        assert (order.orderType, order.tif) == ("STP LMT", "GTC")
        assert (order.auxPrice, order.lmtPrice) == (9.87, 9.80)
        assert order.outsideRth is True

    def test_an_immediate_or_cancel_flatten(self) -> None:
        order = ib_order(intent(OrderType.MARKET, TimeInForce.IOC, role=OrderRole.FLATTEN))
        assert (order.action, order.orderType, order.tif) == ("SELL", "MKT", "IOC")
        assert order.outsideRth is False

    @pytest.mark.parametrize("text", ["10.26", "0.0001", "1234.5678", "15.19", "0.1"])
    def test_prices_go_out_as_the_same_digits(self, text: str) -> None:
        order = ib_order(intent(OrderType.LIMIT, TimeInForce.DAY, limit=text))
        assert repr(order.lmtPrice) == repr(float(text))
        assert Decimal(repr(order.lmtPrice)) == Decimal(text)

    def test_a_blank_oca_group_is_refused(self) -> None:
        with pytest.raises(InvalidValue, match="oca_group"):
            ib_order(intent(OrderType.LIMIT, TimeInForce.DAY, limit="1", oca_group=" "))

    @pytest.mark.parametrize(("bad", "account"), [("not an intent", ""), (None, 5)])
    def test_wrong_inputs_are_refused(self, bad: object, account: object) -> None:
        real = intent() if bad is None else bad
        with pytest.raises(InvalidValue):
            ib_order(real, account=account)  # type: ignore[arg-type]


class TestStatus:
    @pytest.mark.parametrize(
        ("word", "filled", "remaining", "expected"),
        [
            ("PendingSubmit", 0, 150, None),
            ("ApiPending", 0, 150, None),
            ("PreSubmitted", 0, 150, OrderStatus.SUBMITTED),
            ("Submitted", 0, 150, OrderStatus.SUBMITTED),
            ("Submitted", 40, 110, OrderStatus.PARTIALLY_FILLED),
            ("PreSubmitted", 40, 110, OrderStatus.PARTIALLY_FILLED),
            # only the word Filled ends an order; the counts never do
            ("Submitted", 150, 0, OrderStatus.PARTIALLY_FILLED),
            ("PendingCancel", 0, 150, None),
            ("PendingCancel", 40, 110, None),
            ("ApiCancelled", 0, 150, OrderStatus.CANCELLED),
            ("Cancelled", 0, 150, OrderStatus.CANCELLED),
            ("Cancelled", 40, 0, OrderStatus.CANCELLED),
            ("Filled", 150, 0, OrderStatus.FILLED),
            ("Inactive", 0, 150, OrderStatus.REJECTED),
            ("Inactive", 40, 110, OrderStatus.CANCELLED),
            ("ValidationError", 0, 150, None),
            ("ApiUpdate", 0, 150, None),
        ],
    )
    def test_every_ib_word(
        self, word: str, filled: float, remaining: float, expected: OrderStatus | None
    ) -> None:
        assert domain_status(word, float(filled), float(remaining)) is expected

    def test_an_order_held_by_ib_is_not_rejected(self) -> None:
        assert domain_status("Inactive", 0.0, 150.0, why_held="locate") is None
        assert domain_status("Inactive", 0.0, 150.0, why_held=" ") is OrderStatus.REJECTED

    @pytest.mark.parametrize("word", ["submitted", "Rejected", "", None])
    def test_unknown_words_are_refused_naming_the_known_ones(self, word: object) -> None:
        with pytest.raises(InvalidValue, match="PreSubmitted"):
            domain_status(word, 0.0, 1.0)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("filled", "remaining"), [(-1.0, 1.0), (float("nan"), 1.0), (0.0, float("inf")), ("1", 0)]
    )
    def test_bad_counts_are_refused(self, filled: object, remaining: object) -> None:
        with pytest.raises(InvalidValue, match=r"IB (filled|remaining) quantity"):
            domain_status("Submitted", filled, remaining)  # type: ignore[arg-type]


class TestErrors:
    @pytest.mark.parametrize(
        ("code", "kind"),
        [
            (399, ErrorKind.INFORMATIONAL),
            (2109, ErrorKind.INFORMATIONAL),
            (10349, ErrorKind.INFORMATIONAL),
            (404, ErrorKind.INFORMATIONAL),
            (10167, ErrorKind.INFORMATIONAL),
            (2137, ErrorKind.INFORMATIONAL),
            (2199, ErrorKind.INFORMATIONAL),  # the rest of IB's 2100-2199 warning range
            (201, ErrorKind.ORDER_REJECTED),
            (103, ErrorKind.ORDER_REJECTED),
            (110, ErrorKind.ORDER_REJECTED),
            (203, ErrorKind.ORDER_REJECTED),
            (460, ErrorKind.ORDER_REJECTED),
            (202, ErrorKind.CANCEL_CONFIRMED),
            (10147, ErrorKind.CANCEL_TARGET_GONE),
            (10148, ErrorKind.CANCEL_TARGET_GONE),
            (161, ErrorKind.CANCEL_REFUSED),
            (136, ErrorKind.CANCEL_REFUSED),
            (1100, ErrorKind.CONNECTION_LOST),
            (2110, ErrorKind.CONNECTION_LOST),
            (1300, ErrorKind.CONNECTION_LOST),
            (1101, ErrorKind.CONNECTION_RESTORED_DATA_LOST),
            (1102, ErrorKind.CONNECTION_RESTORED),
            (2103, ErrorKind.DATA_FARM),
            (2104, ErrorKind.DATA_FARM),
            (2106, ErrorKind.DATA_FARM),
            (2158, ErrorKind.DATA_FARM),
            (326, ErrorKind.CLIENT_ID_IN_USE),
            (100, ErrorKind.PACING),
            (162, ErrorKind.PACING),
            (200, ErrorKind.NO_SECURITY),
            (321, ErrorKind.OTHER),
            (999_999, ErrorKind.OTHER),
        ],
    )
    def test_representative_codes(self, code: int, kind: ErrorKind) -> None:
        assert classify_error(code) is kind

    def test_200_rejects_an_order_but_answers_a_contract_request(self) -> None:
        assert classify_error(200, about_order=True) is ErrorKind.ORDER_REJECTED
        assert classify_error(200, about_order=False) is ErrorKind.NO_SECURITY

    def test_about_order_changes_nothing_else(self) -> None:
        for code in (201, 202, 399, 10147, 1100, 2104):
            assert classify_error(code, about_order=True) is classify_error(code)

    def test_every_kind_is_reachable_and_the_tables_do_not_overlap(self) -> None:
        tables = [
            INFORMATIONAL_CODES,
            ORDER_REJECTED_CODES,
            CANCEL_CONFIRMED_CODES,
            CANCEL_TARGET_GONE_CODES,
            CANCEL_REFUSED_CODES,
            CONNECTION_LOST_CODES,
            CONNECTION_RESTORED_DATA_LOST_CODES,
            CONNECTION_RESTORED_CODES,
            DATA_FARM_CODES,
            CLIENT_ID_IN_USE_CODES,
            PACING_CODES,
            NO_SECURITY_CODES,
        ]
        every = [code for table in tables for code in table]
        assert len(every) == len(set(every))
        seen = {classify_error(code) for code in every} | {classify_error(1)}
        assert seen == set(ErrorKind)

    def test_is_informational(self) -> None:
        assert is_informational(399)
        assert is_informational(2109)
        assert is_informational(10349)
        assert not is_informational(201)
        assert not is_informational(2104)  # a farm message has its own kind
        assert not is_informational(1100)

    @pytest.mark.parametrize("bad", ["201", 201.0, True, None])
    def test_a_non_integer_code_is_refused(self, bad: object) -> None:
        with pytest.raises(InvalidValue, match="IB error code"):
            classify_error(bad)  # type: ignore[arg-type]


class TestSides:
    @pytest.mark.parametrize(
        ("word", "side"),
        [("BOT", Side.BUY), ("SLD", Side.SELL), ("BUY", Side.BUY), ("SELL", Side.SELL)],
    )
    def test_ib_sides(self, word: str, side: Side) -> None:
        assert domain_side(word) is side

    @pytest.mark.parametrize("bad", ["bot", "SSHORT", "", None])
    def test_anything_else_is_refused_naming_what_was_expected(self, bad: object) -> None:
        with pytest.raises(InvalidValue) as caught:
            domain_side(bad)  # type: ignore[arg-type]
        assert "BOT, SLD, BUY, SELL" in str(caught.value)
        assert repr(bad) in str(caught.value)


class TestOrderRef:
    def test_a_ref_openbell_made_is_ours(self) -> None:
        position = Position(date(2026, 1, 5), SYM, PositionRole.MASTER, Quantity(10), position_id=7)
        made = order_ref(position, OrderRole.STOP, attempt=2)
        assert our_order_ref(str(made)) == made
        assert our_order_ref(str(REF)) == REF

    @pytest.mark.parametrize("text", ["", "manual", "a b c", "ob-a b c", "ob-" + "x" * 70, None, 7])
    def test_empty_foreign_and_invalid_refs_are_not_ours(self, text: object) -> None:
        assert our_order_ref(text) is None  # type: ignore[arg-type]

    def test_an_empty_prefix_accepts_any_valid_ref(self) -> None:
        assert our_order_ref("e1", prefix="") == OrderRef("e1")
        assert our_order_ref("a b c", prefix="") is None
        assert our_order_ref("", prefix="") is None


class TestFill:
    def test_an_execution_of_ours_becomes_a_fill(self) -> None:
        fill = domain_fill(execution(), "WULF", 1.0025)
        assert fill == Fill(
            execution_id="0000e0d5.6789abcd.01.01",
            order_ref=REF,
            symbol=SYM,
            side=Side.BUY,
            quantity=Quantity(150),
            price=Price(Decimal("10.26")),
            executed_at=AT,
            commission=Money(Decimal("1.0025")),
        )

    def test_a_sale_of_a_share_class_at_a_sub_penny_price(self) -> None:
        fill = domain_fill(execution(side="SLD", price=0.12345, shares=3.0), "BRK B", None)
        assert fill is not None
        assert (fill.side, fill.symbol, fill.quantity) == (Side.SELL, Symbol("BRK.B"), Quantity(3))
        assert fill.price.value == Decimal("0.1235")
        assert fill.commission is None

    @pytest.mark.parametrize("ref", ["", "manual", "a b c"])
    def test_a_foreign_execution_is_not_ours(self, ref: str) -> None:
        assert domain_fill(execution(ref=ref), "WULF", 1.0) is None

    def test_foreign_executions_are_skipped_before_any_check(self) -> None:
        # another system's fractional, naive-timed fill is not ours to judge
        odd = execution(ref="manual", shares=0.5, time=datetime(2026, 1, 5, 9, 30))
        assert domain_fill(odd, "WULF", None) is None

    def test_fractional_shares_are_refused(self) -> None:
        with pytest.raises(InvalidValue, match="whole number of shares"):
            domain_fill(execution(shares=10.5), "WULF", None)

    @pytest.mark.parametrize("shares", [float("nan"), float("inf")])
    def test_non_finite_shares_are_refused(self, shares: float) -> None:
        with pytest.raises(InvalidValue, match="shares"):
            domain_fill(execution(shares=shares), "WULF", None)

    def test_a_naive_execution_time_is_refused(self) -> None:
        naive = datetime(2026, 1, 5, 9, 30)
        with pytest.raises(InvalidValue, match="timezone-aware"):
            domain_fill(execution(time=naive), "WULF", None)

    @pytest.mark.parametrize("price", [0.0, -1.0, float("nan")])
    def test_a_bad_price_is_refused(self, price: float) -> None:
        with pytest.raises(InvalidValue, match="price"):
            domain_fill(execution(price=price), "WULF", None)

    def test_an_unknown_side_is_refused(self) -> None:
        with pytest.raises(InvalidValue, match="IB side"):
            domain_fill(execution(side="SSHORT"), "WULF", None)

    def test_a_missing_execution_id_is_refused(self) -> None:
        with pytest.raises(InvalidValue, match="execution_id"):
            domain_fill(execution(exec_id=""), "WULF", None)

    def test_not_an_execution_is_refused(self) -> None:
        with pytest.raises(InvalidValue, match="ib_async Execution"):
            domain_fill({"orderRef": str(REF)}, "WULF", None)  # type: ignore[arg-type]

    def test_ibs_unset_commission_means_none(self) -> None:
        assert UNSET_DOUBLE == sys.float_info.max == 1.7976931348623157e308
        fill = domain_fill(execution(), "WULF", UNSET_DOUBLE)
        assert fill is not None
        assert fill.commission is None


class TestCommission:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [(1.0, Decimal("1.0")), (0.35494, Decimal("0.3549")), (0, Decimal("0")), (-0.2, "-0.2")],
    )
    def test_dollars_to_four_places(self, raw: float, expected: object) -> None:
        money = domain_commission(raw)
        assert money == Money(Decimal(str(expected)))

    def test_none_and_unset_are_none(self) -> None:
        assert domain_commission(None) is None
        assert domain_commission(UNSET_DOUBLE) is None

    @pytest.mark.parametrize("bad", [float("nan"), float("inf"), "1.0", True])
    def test_nonsense_is_refused(self, bad: object) -> None:
        with pytest.raises(InvalidValue, match="IB commission"):
            domain_commission(bad)  # type: ignore[arg-type]
