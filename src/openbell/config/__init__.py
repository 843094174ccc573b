"""Settings: typed, frozen and validated once at start (see ``settings`` and ``loading``)."""

from openbell.config.loading import (
    DEFAULT_CONFIG_FILE,
    DEFAULT_DOTENV_FILE,
    LoadedSettings,
    load_settings,
    masked_view,
)
from openbell.config.settings import (
    ENV_PREFIX,
    BrokerSettings,
    LedgerSettings,
    LoggingSettings,
    ProtectionSettings,
    RuntimeSettings,
    ScheduleSettings,
    SecretsSettings,
    Settings,
    SimSettings,
    StrategySettings,
    VenueSettings,
    timeline_problems,
)

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_DOTENV_FILE",
    "ENV_PREFIX",
    "BrokerSettings",
    "LedgerSettings",
    "LoadedSettings",
    "LoggingSettings",
    "ProtectionSettings",
    "RuntimeSettings",
    "ScheduleSettings",
    "SecretsSettings",
    "Settings",
    "SimSettings",
    "StrategySettings",
    "VenueSettings",
    "load_settings",
    "masked_view",
    "timeline_problems",
]
