"""The simulated venue: one matching engine for US stocks, used by backtests and the sim gateway.

The public surface: :class:`MatchingEngine` and :class:`VenueConfig`; the order and event
vocabulary (:class:`VenueOrder`, :class:`Fill`, ...); commission and slippage models.
"""

from openbell.venue.engine import MatchingEngine, VenueConfig
from openbell.venue.fees import (
    CommissionModel,
    FixedCommission,
    PassThroughFees,
    TieredCommission,
    ZeroCommission,
)
from openbell.venue.orders import (
    Accepted,
    Cancelled,
    CancelRejected,
    Event,
    Fill,
    Liquidity,
    OrderState,
    OrderWarning,
    Rejected,
    Tif,
    VenueOrder,
    VenueOrderType,
    VenueStatus,
)
from openbell.venue.slippage import FillKind, FixedBps, NoSlippage, SlippageModel
from openbell.venue.state import Position

__all__ = [
    "Accepted",
    "CancelRejected",
    "Cancelled",
    "CommissionModel",
    "Event",
    "Fill",
    "FillKind",
    "FixedBps",
    "FixedCommission",
    "Liquidity",
    "MatchingEngine",
    "NoSlippage",
    "OrderState",
    "OrderWarning",
    "PassThroughFees",
    "Position",
    "Rejected",
    "SlippageModel",
    "TieredCommission",
    "Tif",
    "VenueConfig",
    "VenueOrder",
    "VenueOrderType",
    "VenueStatus",
    "ZeroCommission",
]
