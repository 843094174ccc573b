"""Opt-in: the IB adapter against a real IB Gateway or TWS logged into a *paper* account.

Run with ``pytest --run-external tests/integration/test_ib_paper.py`` and the broker settings
in the environment or ``.env`` (``OPENBELL__BROKER__HOST``, ``OPENBELL__BROKER__PORT``,
``OPENBELL__BROKER__ACCOUNT``). It connects read-only and places nothing.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from decimal import Decimal

import pytest

from openbell.adapters.clock import SystemClock
from openbell.adapters.ib.broker import IbBroker
from openbell.config import load_settings
from openbell.runtime.compose import ib_connection

pytestmark = pytest.mark.external


@pytest.fixture
def paper() -> Iterator[IbBroker]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    settings = load_settings(None, environ=dict(os.environ)).settings
    broker = IbBroker(ib_connection(settings, "dashboard"), SystemClock())
    broker.connect()
    yield broker
    broker.disconnect()
    asyncio.set_event_loop(None)
    loop.close()


def test_a_paper_account_connects_read_only_and_reports_its_equity(paper: IbBroker) -> None:
    accounts = paper.ib.managedAccounts()
    assert accounts and all(a.startswith("DU") for a in accounts), "expected a paper (DU) account"
    assert paper.connection.readonly
    assert paper.net_liquidation().amount > Decimal(0)
