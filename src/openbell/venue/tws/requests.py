"""Parsing the client's requests (IBKR.md §1.3). Pure functions over the text fields.

``placeOrder`` is 114 fields for a plain stock order at server version 178, with sections
whose presence depends on earlier fields. Everything openbell needs sits before the first of
those sections, so the parser reads that prefix by position and refuses combination (BAG)
orders, whose legs would shift it.
"""

from __future__ import annotations

from dataclasses import dataclass

from openbell.domain.errors import InvalidValue

CONTRACT_FIELDS = 12
_PREFIX = 2 + CONTRACT_FIELDS + 21  # id, orderId, contract, then secIdType .. hidden
_AFTER_HIDDEN = 7  # "", discretionaryAmt, goodAfterTime, goodTillDate, faGroup, faMethod, faPct


@dataclass(frozen=True)
class ContractFields:
    con_id: int
    symbol: str
    sec_type: str
    exchange: str
    primary_exchange: str
    currency: str


@dataclass(frozen=True)
class PlaceOrder:
    """The parts of a ``placeOrder`` request the simulated gateway acts on."""

    order_id: int
    contract: ContractFields
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    aux_price: float | None
    tif: str
    oca_group: str
    account: str
    order_ref: str
    transmit: bool
    parent_id: int
    outside_rth: bool
    good_after_time: str
    good_till_date: str
    oca_type: int


def _int(text: str) -> int:
    return int(text) if text else 0


def _float(text: str) -> float | None:
    return float(text) if text else None


def _bool(text: str) -> bool:
    return text not in ("", "0", "False", "false")


def parse_contract(fields: list[str]) -> ContractFields:
    """The 12 contract fields ib_async sends (conId .. tradingClass)."""
    con_id, symbol, sec_type, _expiry, _strike, _right, _mult, exchange, primary, currency = fields[
        :10
    ]
    return ContractFields(_int(con_id), symbol, sec_type, exchange, primary, currency)


def parse_place_order(fields: list[str], server_version: int) -> PlaceOrder:
    """Read a ``placeOrder`` message (message id 3); refuse what the gateway cannot trade."""
    needed = _PREFIX + _AFTER_HIDDEN + (1 if server_version < 177 else 0) + 5
    if len(fields) < needed or fields[0] != "3":
        raise InvalidValue(
            "placeOrder",
            f"a message 3 of at least {needed} fields",
            f"{len(fields)} fields starting {fields[:1]}",
        )
    contract = parse_contract(fields[2 : 2 + CONTRACT_FIELDS])
    if contract.sec_type == "BAG":
        raise InvalidValue("placeOrder contract", "a stock (STK)", "a combination (BAG)")
    rest = fields[2 + CONTRACT_FIELDS :]
    (
        _sec_id_type,
        _sec_id,
        action,
        quantity,
        order_type,
        limit,
        aux,
        tif,
        oca_group,
        account,
        _open_close,
        _origin,
        order_ref,
        transmit,
        parent_id,
        _block,
        _sweep,
        _display,
        _trigger,
        outside_rth,
        _hidden,
    ) = rest[:21]
    after = rest[21:]
    good_after, good_till = after[2], after[3]
    oca_at = _AFTER_HIDDEN + (1 if server_version < 177 else 0) + 4
    try:
        return PlaceOrder(
            order_id=int(fields[1]),
            contract=contract,
            action=action,
            quantity=float(quantity),
            order_type=order_type,
            limit_price=_float(limit),
            aux_price=_float(aux),
            tif=tif,
            oca_group=oca_group,
            account=account,
            order_ref=order_ref,
            transmit=_bool(transmit),
            parent_id=_int(parent_id),
            outside_rth=_bool(outside_rth),
            good_after_time=good_after,
            good_till_date=good_till,
            oca_type=_int(after[oca_at]),
        )
    except ValueError as exc:
        raise InvalidValue("placeOrder", "numbers where numbers belong", str(exc)) from None
