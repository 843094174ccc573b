"""Refuse a run whose mode, port and account disagree (real money must be asked for twice).

IB paper accounts are named ``D…`` (``DU1234567``); live ones are not. IB Gateway listens
on 4001 (live) and 4002 (paper) by default, TWS on 7496 (live) and 7497 (paper). A live
run needs ``--live`` and the account id typed back; a paper run on a live port, or with a
live account, is refused, and so is the reverse.
"""

from __future__ import annotations

from typing import Literal

from openbell.domain.errors import RefusedInput

Mode = Literal["sim", "paper", "live"]
LIVE_PORTS = frozenset({4001, 7496})
PAPER_PORTS = frozenset({4002, 7497})


def is_paper_account(account: str) -> bool:
    return account.upper().startswith("D")


def check_mode(
    mode: Mode,
    port: int,
    account: str,
    *,
    live_flag: bool = False,
    typed_account: str = "",
    live_opt_in: bool = False,
) -> None:
    """Raise :class:`RefusedInput` saying what is wrong; return if the run may start."""
    if mode == "sim":
        return
    if not account:
        raise RefusedInput(
            f"{mode} mode needs the IB account id (OPENBELL__BROKER__ACCOUNT in .env); found none"
        )
    if mode == "paper":
        if port in LIVE_PORTS:
            raise RefusedInput(f"paper mode on port {port}, a live port: expected 4002 or 7497")
        if not is_paper_account(account):
            raise RefusedInput("paper mode with a live account: expected a paper account (D…)")
        return
    _check_live(port, account, live_flag, typed_account, live_opt_in)


def _check_live(
    port: int, account: str, live_flag: bool, typed_account: str, live_opt_in: bool
) -> None:
    if not live_opt_in:
        raise RefusedInput("live mode needs broker.live_opt_in = true in the settings; found false")
    if not live_flag:
        raise RefusedInput("live mode trades real money: pass --live to confirm")
    if port in PAPER_PORTS:
        raise RefusedInput(f"live mode on port {port}, a paper port: expected 4001 or 7496")
    if is_paper_account(account):
        raise RefusedInput("live mode with a paper account (D…): expected a live account")
    if typed_account.strip() != account:
        raise RefusedInput("the account id typed back does not match the configured account")


def check_connected_accounts(mode: Mode, account: str, managed: list[str]) -> None:
    """After connecting: the gateway must manage the configured account, of the mode's kind."""
    if mode == "sim":
        return
    if account not in managed:
        raise RefusedInput(
            f"IB manages {len(managed)} accounts and the configured one is not among them"
        )
    if (mode == "paper") != is_paper_account(account):
        raise RefusedInput(f"{mode} mode connected to an account of the other kind")
