"""Refusing a run whose mode, port and account disagree."""

from __future__ import annotations

import pytest

from openbell.domain.errors import RefusedInput
from openbell.runtime.guard import check_connected_accounts, check_mode

LIVE = "U1234567"
PAPER = "DU1234567"


def test_sim_needs_nothing() -> None:
    check_mode("sim", 4001, "")


@pytest.mark.parametrize("port", [4002, 7497])
def test_paper_on_a_paper_port_with_a_paper_account_may_start(port: int) -> None:
    check_mode("paper", port, PAPER)


@pytest.mark.parametrize(
    ("port", "account", "why"),
    [
        (4002, "", "needs the IB account id"),
        (4001, PAPER, "a live port"),
        (7496, PAPER, "a live port"),
        (4002, LIVE, "with a live account"),
    ],
)
def test_paper_refusals(port: int, account: str, why: str) -> None:
    with pytest.raises(RefusedInput, match=why):
        check_mode("paper", port, account)


def test_live_with_everything_confirmed_may_start() -> None:
    check_mode("live", 4001, LIVE, live_flag=True, typed_account=LIVE, live_opt_in=True)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"live_opt_in": False}, "live_opt_in = true"),
        ({"live_flag": False}, "pass --live"),
        ({"port": 4002}, "a paper port"),
        ({"port": 7497}, "a paper port"),
        ({"account": PAPER, "typed_account": PAPER}, "with a paper account"),
        ({"typed_account": "U7654321"}, "typed back does not match"),
        ({"typed_account": ""}, "typed back does not match"),
    ],
)
def test_live_refusals(changes: dict[str, object], why: str) -> None:
    args: dict[str, object] = {
        "port": 4001,
        "account": LIVE,
        "live_flag": True,
        "typed_account": LIVE,
        "live_opt_in": True,
    } | changes
    with pytest.raises(RefusedInput, match=why):
        check_mode(
            "live",
            int(str(args["port"])),
            str(args["account"]),
            live_flag=bool(args["live_flag"]),
            typed_account=str(args["typed_account"]),
            live_opt_in=bool(args["live_opt_in"]),
        )


def test_the_connected_gateway_must_manage_the_account_of_the_modes_kind() -> None:
    check_connected_accounts("sim", "", [])
    check_connected_accounts("paper", PAPER, [PAPER, "DU2"])
    check_connected_accounts("live", LIVE, [LIVE])
    with pytest.raises(RefusedInput, match="not among them"):
        check_connected_accounts("paper", PAPER, ["DU2"])
    with pytest.raises(RefusedInput, match="the other kind"):
        check_connected_accounts("live", PAPER, [PAPER])
