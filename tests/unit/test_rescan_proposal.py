"""A rescan's proposal: the JSON a person's decision is about, read back strictly."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from openbell.domain.errors import InvalidValue
from openbell.domain.records import Approval
from openbell.domain.values import Confidence, Price, Symbol
from openbell.services.rescans import Proposal, describe

AT = datetime(2016, 4, 29, 13, 45, tzinfo=UTC)
PROPOSAL = Proposal(
    Symbol("RCAT"),
    Confidence(Decimal("0.8")),
    Price(Decimal("20.5")),
    Decimal("1.8"),
    "rules",
    "gap +4%",
    AT,
)


def approval(text: str) -> Approval:
    return Approval(1, date(2016, 4, 29), Symbol("RCAT"), text, "PENDING", AT)


def test_a_proposal_round_trips_and_reads_as_a_sentence() -> None:
    assert Proposal.parse(PROPOSAL.to_request()) == PROPOSAL
    assert describe(approval(PROPOSAL.to_request())) == (
        "buy RCAT at market: confidence 0.8, last 20.5, target +1.8%, "
        "rescan of 09:45 ET by rules (gap +4%)"
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "buy RCAT",
        "[]",
        '{"symbol": "RCAT"}',
        PROPOSAL.to_request().replace('"0.8"', '"1.7"'),  # confidence above 1
        PROPOSAL.to_request().replace('"20.5"', "20.5"),  # a float price
        PROPOSAL.to_request().replace("+00:00", ""),  # an instant without a zone
    ],
)
def test_anything_else_is_refused_and_shown_as_written(text: str) -> None:
    with pytest.raises(InvalidValue, match="rescan request"):
        Proposal.parse(text)
    assert describe(approval(text)) == text
