"""The settings model: typed, frozen and validated once at start.

Layers, lowest to highest: defaults, ``openbell.toml``, a ``.env`` file, then environment
variables named ``OPENBELL__SECTION__KEY`` (for example ``OPENBELL__LEDGER__PATH``). Lists are
written as JSON in the environment: ``OPENBELL__PROTECTION__PROTECTED_SYMBOLS='["SKYX"]'``.

Every problem is reported at once as (key, expected, found); an unknown key is a problem, so
a typo fails at start instead of being ignored.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
)
from pydantic_settings import SettingsConfigDict as _SettingsConfig

from openbell.adapters.llm.prompts import prompt_versions
from openbell.domain.errors import InvalidValue
from openbell.domain.sessions import NEW_YORK, RelativeTime, Session
from openbell.domain.values import Symbol
from openbell.strategy.exits import TargetTier
from openbell.strategy.scanner import ScanFilters
from openbell.strategy.schedule import LAST_ENTRY, DayPlan
from openbell.venue.tws.account import Holding

ENV_PREFIX = "OPENBELL__"


def _parse_relative(raw: object) -> RelativeTime:
    if isinstance(raw, RelativeTime):
        return raw
    try:
        return RelativeTime.parse(raw)  # type: ignore[arg-type]
    except InvalidValue as exc:
        raise ValueError(f"expected {exc.expected}") from None


RelTime = Annotated[
    RelativeTime,
    NoDecode,  # written as text ("open - 60m"), never as JSON
    BeforeValidator(_parse_relative),
    PlainSerializer(str, return_type=str),
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _printable_secret(value: SecretStr | None, what: str) -> SecretStr | None:
    """``value`` if it is printable ASCII without whitespace (or empty, which means unset).

    A key goes into an HTTP header, which httpx encodes as ASCII: a stray character (a
    non-breaking space, a curly quote, a zero-width space pasted with it) would fail there,
    far from the setting. The value is never repeated: it is a secret.
    """
    if value is None:
        return value
    text = value.get_secret_value()
    if all("!" <= char <= "~" for char in text):
        return value
    raise ValueError(
        f"expected printable ASCII without spaces ({what} copied with a stray character?), "
        "found a value that is not"
    )


class ClientIds(_Section):
    """IB client ids, one per process role: IB binds each order to the id that placed it."""

    day_trader: int = Field(2, ge=0, le=2**31 - 1)
    exit_manager: int = Field(10, ge=0, le=2**31 - 1)
    dashboard: int = Field(30, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _distinct(self) -> ClientIds:
        ids = [self.day_trader, self.exit_manager, self.dashboard]
        if len(set(ids)) != len(ids):
            raise ValueError(f"expected a different client id per role, found {ids}")
        return self


class BrokerSettings(_Section):
    mode: Literal["sim", "paper", "live"] = "sim"
    live_opt_in: bool = Field(False, description="must be true to run with mode = live")
    host: str = "127.0.0.1"
    port: int = Field(4002, ge=1, le=65535)
    client_ids: ClientIds = ClientIds()
    account: SecretStr | None = Field(None, description="IB account id; masked everywhere")
    connect_timeout_s: float = Field(10.0, gt=0, le=300)

    @field_validator("account")
    @classmethod
    def _printable_account(cls, value: SecretStr | None) -> SecretStr | None:
        return _printable_secret(value, "an account id")

    @model_validator(mode="after")
    def _live_needs_opt_in(self) -> BrokerSettings:
        if self.mode == "live" and not self.live_opt_in:
            raise ValueError("expected broker.live_opt_in = true to trade real money, found false")
        return self


class ScheduleSettings(_Section):
    wake: RelTime = RelativeTime.parse("open - 90m")
    scan: RelTime = RelativeTime.parse("open - 60m")
    moo_submit: RelTime = RelativeTime.parse("open - 5m")
    sleep: RelTime = RelativeTime.parse("close + 5m")
    rescan_every_min: int | None = Field(None, ge=1, le=390, description="None disables rescans")
    last_entry: RelTime = LAST_ENTRY
    approval_valid_min: int = Field(
        10, ge=1, le=390, description="a rescan request not approved by then expires"
    )


class TierSettings(_Section):
    min_confidence: Decimal = Field(ge=0, le=1)
    target_pct: Decimal
    inclusive: bool = True

    @field_validator("target_pct")
    @classmethod
    def _positive_target(cls, value: Decimal) -> Decimal:
        if value <= 0:
            raise ValueError(
                f"expected a target above the entry in percent (e.g. 2.6), found {value}"
            )
        return value

    def to_tier(self) -> TargetTier:
        return TargetTier(self.min_confidence, self.target_pct, self.inclusive)


_DEFAULT_TIERS = (
    TierSettings(min_confidence=Decimal("0.8"), target_pct=Decimal("2.6"), inclusive=False),
    TierSettings(min_confidence=Decimal("0.7"), target_pct=Decimal("1.8"), inclusive=True),
)


class StrategySettings(_Section):
    top_n: int = Field(3, ge=1, le=20)
    allocation_pct: Decimal = Field(
        Decimal(25), gt=0, le=100, description="% of net liquidation per position"
    )
    target_tiers: tuple[TierSettings, ...] = _DEFAULT_TIERS
    stop_loss_pct: Decimal = Field(Decimal("0.9"), description="distance below the entry, in %")
    flatten_at: RelTime = RelativeTime.parse("close - 15m")
    rescan_max_positions: int = Field(
        2, ge=0, le=20, description="rescan entries per day (approved or waiting), at most"
    )
    exit_mode: Literal["native", "monitored"] = Field(
        "native",
        description="native: resting target + stop (OCA) at IB; monitored: watch trade ticks",
    )

    @field_validator("stop_loss_pct")
    @classmethod
    def _positive_stop(cls, value: Decimal) -> Decimal:
        if not Decimal(0) < value < Decimal(100):
            raise ValueError(
                "expected a positive distance below the entry in percent "
                f"(0.9 means a stop at -0.9%), found {value}"
            )
        return value

    @field_validator("target_tiers")
    @classmethod
    def _some_tier(cls, value: tuple[TierSettings, ...]) -> tuple[TierSettings, ...]:
        if not value:
            raise ValueError("expected at least one target tier, found none")
        return value

    @model_validator(mode="after")
    def _targets_above_stop(self) -> StrategySettings:
        # A target no larger than the stop makes every win smaller than every loss; for this
        # strategy that is a typo (0.26 for 2.6), so it is refused rather than traded.
        for tier in self.target_tiers:
            if tier.target_pct <= self.stop_loss_pct:
                raise ValueError(
                    "expected every target above the stop distance, found target "
                    f"+{tier.target_pct}% not above the stop -{self.stop_loss_pct}%"
                )
        return self

    def tiers(self) -> tuple[TargetTier, ...]:
        return tuple(t.to_tier() for t in self.target_tiers)


def _check_symbol(raw: str) -> str:
    try:
        return Symbol(raw).value
    except InvalidValue as exc:
        raise ValueError(f"expected {exc.expected}") from None


class ProtectionSettings(_Section):
    protected_symbols: tuple[Annotated[str, BeforeValidator(_check_symbol)], ...] = ()

    def symbols(self) -> frozenset[Symbol]:
        return frozenset(Symbol(s) for s in self.protected_symbols)


class LedgerSettings(_Section):
    path: Path = Path("var/openbell.sqlite")
    busy_timeout_ms: int = Field(5000, ge=100, le=120_000)


class VenueSettings(_Section):
    """How the simulated venue (backtests, the sim gateway) charges and fills."""

    commission: Literal["fixed", "tiered"] = Field("fixed", description="IBKR US stock plan")
    slippage_bps: float = Field(2.0, ge=0, le=100, description="on market and stop fills")
    max_volume_share: float = Field(0.25, gt=0, le=1, description="of a bar's volume per fill")


class DataSettings(_Section):
    store: Path = Field(Path("var/bars"), description="where 'openbell data import' keeps bars")


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    directory: Path = Path("var/logs")
    format: Literal["text", "json"] = "text"


class RuntimeSettings(_Section):
    """How the supervisor runs and watches the bots. Durations are wall-clock seconds."""

    tick_s: float = Field(0.1, gt=0, le=5, description="a bot's loop period")
    heartbeat_s: float = Field(5.0, gt=0, le=300)
    silent_after_s: float = Field(120.0, gt=0, le=3600, description="no heartbeat: restart")
    check_awake_s: float = Field(30.0, gt=0, le=3600)
    check_asleep_s: float = Field(300.0, gt=0, le=86_400)
    restart_initial_s: float = Field(1.0, gt=0, le=600)
    restart_max_s: float = Field(60.0, gt=0, le=3600)
    stop_grace_s: float = Field(10.0, gt=0, le=120, description="SIGTERM, then SIGKILL")
    entry_grace_min: int = Field(5, ge=1, le=120, description="after the open, cancel entries")


class SimSettings(_Section):
    """The simulated IB Gateway that ``openbell run --mode sim`` starts, and its clock."""

    data: Literal["demo", "store"] = "demo"
    account: str = Field("DU1234567", pattern=r"^D[A-Z0-9]{3,12}$")
    cash: float = Field(100_000.0, gt=0, le=1e9)
    holdings: tuple[str, ...] = Field(
        ("SKYX:182@1.20",), description="positions the account holds that are not openbell's"
    )
    speed: float = Field(
        60.0, gt=0, le=10_000, description="sim seconds per wall second while the bots are awake"
    )
    asleep_speed: float = Field(
        10_000.0,
        gt=0,
        le=100_000,
        description="sim seconds per wall second from each sleep to the next wake",
    )
    slow_from: RelTime | None = Field(
        None,
        description="from this time to the close the clock runs at slow_speed (none: never)",
    )
    slow_speed: float = Field(
        60.0, gt=0, le=10_000, description="sim seconds per wall second from slow_from to the close"
    )
    start: RelTime = RelativeTime.parse("open - 95m")
    warmup_s: float = Field(
        5.0, ge=0, le=600, description="wall seconds for the gateway to start before the clock"
    )
    faults: tuple[str, ...] = Field(
        (),
        description="gateway faults to inject, KIND@[YYYY-MM-DDT]HH:MM[+SECONDS] (New York time)",
    )

    @field_validator("faults")
    @classmethod
    def _faults(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from openbell.venue.tws.faults import Fault  # noqa: PLC0415 - only to check the text

        for text in value:
            try:
                Fault.parse(text, date(2000, 1, 3))
            except InvalidValue as exc:
                raise ValueError(f"expected {exc.expected}, found {text!r}") from None
        return value

    @field_validator("holdings")
    @classmethod
    def _holdings(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            try:
                holding = Holding.parse(text)
                valid = bool(holding.symbol) and holding.quantity >= 0 and holding.average_cost > 0
            except InvalidValue:
                valid = False
            if not valid:
                raise ValueError(f"expected SYMBOL:QTY@PRICE, e.g. SKYX:182@1.20, found {text!r}")
        return value


class SecretsSettings(_Section):
    """API keys. Always masked in output; set them in the environment or ``.env``
    (``OPENBELL__SECRETS__DEEPSEEK_API_KEY=...``)."""

    massive_api_key: SecretStr | None = None
    fmp_api_key: SecretStr | None = None
    deepseek_api_key: SecretStr | None = None
    gemini_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    llm_api_key: SecretStr | None = Field(None, description="for any other provider")

    @field_validator("*")
    @classmethod
    def _printable(cls, value: SecretStr | None) -> SecretStr | None:
        return _printable_secret(value, "a key")

    def value_of(self, name: str) -> str | None:
        """The key named ``name`` (a field of this section), or None when unset."""
        secret = getattr(self, name)
        return None if secret is None else str(secret.get_secret_value())


SecretName = Literal["deepseek_api_key", "gemini_api_key", "openai_api_key", "llm_api_key", "none"]


class ScannerSettings(_Section):
    """The pre-market funnel: universe -> filters -> features -> top-K for the scorer."""

    source: Literal["bars", "massive", "fmp"] = Field(
        "bars",
        description="bars: the bar store (the replayed pre-market in sim); massive or fmp: "
        "their REST APIs (paper and live)",
    )
    universe: tuple[Annotated[str, BeforeValidator(_check_symbol)], ...] = Field(
        (), description="for massive/fmp: only these symbols (empty: the whole market)"
    )
    min_price: Decimal = Field(Decimal(1), ge=0)
    max_price: Decimal = Field(Decimal(10_000), gt=0)
    min_premarket_dollar_volume: Decimal = Field(Decimal(0), ge=0)
    min_gap_pct: Decimal = Field(Decimal(-100), ge=-100)
    max_gap_pct: Decimal = Field(Decimal(1000))
    min_atr_pct: Decimal = Field(Decimal(0), ge=0)
    common_only: bool = Field(True, description="drop what the data says is not common stock")
    top_k: int = Field(10, ge=1, le=500, description="candidates passed to the scorer")
    cache_dir: Path = Field(Path("var/cache"), description="per-day cache of provider answers")
    timeout_s: float = Field(10.0, gt=0, le=300)
    max_retries: int = Field(3, ge=0, le=10)
    requests_per_minute: float | None = Field(
        None, gt=0, le=100_000, description="pace provider requests (a free plan's limit)"
    )
    massive_url: str = Field("https://api.massive.com", pattern=r"^https?://")
    fmp_url: str = Field("https://financialmodelingprep.com", pattern=r"^https?://")

    @model_validator(mode="after")
    def _bands_in_order(self) -> ScannerSettings:
        if self.min_price > self.max_price:
            raise ValueError(
                f"expected min_price <= max_price, found {self.min_price} > {self.max_price}"
            )
        if self.min_gap_pct > self.max_gap_pct:
            raise ValueError(
                f"expected min_gap_pct <= max_gap_pct, found {self.min_gap_pct} > "
                f"{self.max_gap_pct}"
            )
        return self


class LlmProviderSettings(_Section):
    """One OpenAI-compatible chat endpoint of the scoring chain."""

    name: str = Field(pattern=r"^[a-z0-9_-]{1,32}$")
    base_url: str = Field(pattern=r"^https?://")
    model: str = Field(min_length=1)
    api_key: SecretName = Field(description="which secrets.* key it uses; none for a local server")
    input_usd_per_mtok: Decimal = Field(Decimal(0), ge=0)
    output_usd_per_mtok: Decimal = Field(Decimal(0), ge=0)


_DEFAULT_PROVIDERS = (
    LlmProviderSettings(
        name="deepseek",
        base_url="https://api.deepseek.com",
        model="deepseek-chat",
        api_key="deepseek_api_key",
        input_usd_per_mtok=Decimal("0.27"),
        output_usd_per_mtok=Decimal("1.10"),
    ),
    LlmProviderSettings(
        name="gemini",
        base_url="https://generativelanguage.googleapis.com/v1beta/openai/",
        model="gemini-2.5-flash",
        api_key="gemini_api_key",
        input_usd_per_mtok=Decimal("0.30"),
        output_usd_per_mtok=Decimal("2.50"),
    ),
)


class ScoringSettings(_Section):
    """Who scores the scanner's candidates: the rules, or an LLM chain ending in the rules."""

    scorer: Literal["rules", "llm"] = "rules"
    providers: tuple[LlmProviderSettings, ...] = _DEFAULT_PROVIDERS
    fallback_to_rules: bool = Field(
        True, description="score with the rules when every provider failed"
    )
    prompt_version: str = Field("v1", description="a prompt template shipped with openbell")
    timeout_s: float = Field(
        20.0,
        gt=0,
        le=600,
        description="one HTTP attempt, from sending to the answer's last byte (retries get "
        "their own)",
    )
    deadline_s: float = Field(
        60.0,
        gt=0,
        le=600,
        description="one scan's LLM calls, all of them: past it, nothing more is sent, calls "
        "still running are abandoned and their candidates fall back",
    )
    max_retries: int = Field(1, ge=0, le=10, description="per call, before the next provider")
    concurrency: int = Field(4, ge=1, le=32)
    temperature: float = Field(0.0, ge=0, le=2)
    daily_token_budget: int = Field(200_000, ge=0)
    daily_cost_budget_usd: Decimal = Field(Decimal(1), ge=0)

    @field_validator("prompt_version")
    @classmethod
    def _known_prompt(cls, value: str) -> str:
        # checked here: the day-trader would otherwise fail at every start, all day
        known = prompt_versions()
        if value not in known:
            raise ValueError(f"expected one of {', '.join(known)}, found {value!r}")
        return value

    @field_validator("providers")
    @classmethod
    def _distinct_names(
        cls, value: tuple[LlmProviderSettings, ...]
    ) -> tuple[LlmProviderSettings, ...]:
        names = [p.name for p in value]
        if len(set(names)) != len(names):
            raise ValueError(f"expected distinct provider names, found {names}")
        return value

    @model_validator(mode="after")
    def _llm_has_a_provider(self) -> ScoringSettings:
        if self.scorer == "llm" and not self.providers:
            raise ValueError("expected at least one provider for scorer = llm, found none")
        return self


NoticeKindName = Literal[
    "entry",
    "target",
    "stop",
    "flatten",
    "smart_shutdown",
    "error",
    "connection",
    "restart",
    "approval",
]
"""Values of ``openbell.services.notify.NoticeKind`` (``suppressed`` summaries always go)."""


class NotificationSettings(_Section):
    """Where people hear about fills, stop-outs, the smart shutdown, errors, restarts and
    approvals: apprise URLs, one per channel (https://appriseit.com/services/), such as
    ``tgram://BOT_TOKEN/CHAT_ID``, ``discord://WEBHOOK_ID/WEBHOOK_TOKEN``,
    ``slack://TOKEN_A/TOKEN_B/TOKEN_C/#channel``, ``mailtos://user:password@gmail.com`` or
    ``json://host:port/path``. URLs carry tokens: set them in the environment or ``.env``
    (``OPENBELL__NOTIFICATIONS__URLS='["tgram://..."]'``). No URLs: notifications are off."""

    urls: tuple[SecretStr, ...] = Field((), description="apprise URLs; masked everywhere")
    kinds: tuple[NoticeKindName, ...] = Field(
        get_args(NoticeKindName), description="which notices to send"
    )
    max_per_minute: int = Field(20, ge=1, le=600, description="notices in any 60 s, at most")
    cooldown_s: float = Field(
        30.0, ge=0, le=3600, description="between two notices of one kind and symbol (not errors)"
    )
    timeout_s: float = Field(10.0, gt=0, le=120, description="one send, every channel")
    poll_s: float = Field(1.0, gt=0, le=60, description="between two reads of the event log")

    @field_validator("urls")
    @classmethod
    def _urls_have_a_scheme(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for number, url in enumerate(value, start=1):
            if "://" not in url.get_secret_value():
                raise ValueError(
                    f"expected apprise URLs such as tgram://TOKEN/CHAT, found URL {number} "
                    "without '://' (not shown: it may hold a token)"
                )
        return value

    @field_validator("kinds")
    @classmethod
    def _distinct_kinds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"expected each kind once, found {list(value)}")
        return value


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TOKEN_MIN_LENGTH = 16


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ``localhost`` or ``::1``)."""
    return host in _LOOPBACK_HOSTS or host.startswith("127.")


class DashboardSettings(_Section):
    """The web dashboard (``openbell dashboard``). Pages read the ledger; the actions
    (approve, reject, kill switch) need ``token``: set it in the environment or ``.env``
    (``OPENBELL__DASHBOARD__TOKEN=...``). Without a token the dashboard is read-only."""

    host: str = Field("127.0.0.1", min_length=1, description="where it listens")
    port: int = Field(8765, ge=0, le=65535, description="0: any free port (it prints which)")
    token: SecretStr | None = Field(
        None, max_length=256, description="needed for every action; masked"
    )
    start_with_run: bool = Field(False, description="openbell run starts it with the bots")
    refresh_s: int = Field(10, ge=2, le=600, description="how often the Today page reloads")

    @field_validator("token")
    @classmethod
    def _strong_token(cls, value: SecretStr | None) -> SecretStr | None:
        value = _printable_secret(value, "a token")
        if value is not None and 0 < len(value.get_secret_value()) < TOKEN_MIN_LENGTH:
            raise ValueError(
                f"expected a token of at least {TOKEN_MIN_LENGTH} characters (e.g. from "
                "`python -c 'import secrets; print(secrets.token_urlsafe(24))'`), found a "
                "shorter one"
            )
        return value if value is not None and value.get_secret_value() else None

    @model_validator(mode="after")
    def _remote_needs_token(self) -> DashboardSettings:
        # Off loopback, anyone on the network could read the account's positions.
        if not is_loopback(self.host) and self.token is None:
            raise ValueError(
                "dashboard.token|expected a token when dashboard.host is not a loopback "
                f"address (every page then needs it), found none with host {self.host}"
            )
        return self

    def action_token(self) -> str | None:
        return None if self.token is None else self.token.get_secret_value()


class Settings(BaseSettings):
    """All of openbell's settings. Build it with :func:`openbell.config.load_settings`."""

    model_config = _SettingsConfig(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    broker: BrokerSettings = BrokerSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    strategy: StrategySettings = StrategySettings()
    protection: ProtectionSettings = ProtectionSettings()
    ledger: LedgerSettings = LedgerSettings()
    data: DataSettings = DataSettings()
    venue: VenueSettings = VenueSettings()
    logging: LoggingSettings = LoggingSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    sim: SimSettings = SimSettings()
    scanner: ScannerSettings = ScannerSettings()
    scoring: ScoringSettings = ScoringSettings()
    notifications: NotificationSettings = NotificationSettings()
    dashboard: DashboardSettings = DashboardSettings()
    secrets: SecretsSettings = SecretsSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings merges the layers itself (to know where each value came from) and
        # passes the result as init arguments; nothing else may be read behind its back.
        return (init_settings,)

    @model_validator(mode="after")
    def _sim_scans_bars(self) -> Settings:
        # A provider's snapshot is "now": it cannot tell a replayed day's pre-market.
        if self.broker.mode == "sim" and self.scanner.source != "bars":
            raise ValueError(
                "scanner.source|expected bars with broker.mode = sim (the simulated day "
                f"replays bars; a provider snapshot is live), found {self.scanner.source}"
            )
        return self

    @model_validator(mode="after")
    def _scan_ends_before_a_restart(self) -> Settings:
        # A scan blocks the day-trader's loop, and with it the heartbeat the supervisor
        # watches: the LLM calls must be given up before the supervisor gives up. The rules
        # never wait on the deadline, so a setup that does not use the LLM is not refused.
        deadline, silent = self.scoring.deadline_s, self.runtime.silent_after_s
        if self.scoring.scorer == "llm" and deadline >= silent:
            raise ValueError(
                f"scoring.deadline_s|expected less than runtime.silent_after_s = {silent:g} s "
                "(the day-trader's heartbeat is silent while it scans: the day-trader would be "
                f"restarted mid-scan), found scoring.deadline_s = {deadline:g} s"
            )
        return self

    @model_validator(mode="after")
    def _timeline_in_order(self) -> Settings:
        problems = timeline_problems(self)
        if problems:
            raise ValueError(TIMELINE_SEPARATOR.join(problems))
        return self

    def scan_filters(self) -> ScanFilters:
        scanner = self.scanner
        return ScanFilters(
            min_price=scanner.min_price,
            max_price=scanner.max_price,
            min_premarket_dollar_volume=scanner.min_premarket_dollar_volume,
            min_gap_pct=scanner.min_gap_pct,
            max_gap_pct=scanner.max_gap_pct,
            min_atr_pct=scanner.min_atr_pct,
            common_only=scanner.common_only,
            top_k=scanner.top_k,
            unknown_type_passes=scanner.source == "bars",
        )

    def day_plan(self) -> DayPlan:
        return DayPlan(
            wake=self.schedule.wake,
            scan=self.schedule.scan,
            moo_submit=self.schedule.moo_submit,
            flatten=self.strategy.flatten_at,
            sleep=self.schedule.sleep,
            last_entry=self.schedule.last_entry,
        )


def _sample_session(day: date, close: time) -> Session:
    return Session(
        day,
        datetime.combine(day, time(9, 30), NEW_YORK),
        datetime.combine(day, close, NEW_YORK),
        early_close=close != time(16),
    )


_SAMPLE_SESSIONS = (
    _sample_session(date(2025, 11, 26), time(16)),
    _sample_session(date(2025, 11, 28), time(13)),
)


TIMELINE_SEPARATOR = "\n"
_TIMELINE_KEYS = {
    "wake": "schedule.wake",
    "scan": "schedule.scan",
    "moo_submit": "schedule.moo_submit",
    "flatten": "strategy.flatten_at",
    "sleep": "schedule.sleep",
    "last_entry": "schedule.last_entry",
}


def timeline_problems(settings: Settings) -> list[str]:
    """Check the schedule's order on a full day and on a 13:00 half day.

    Each problem reads ``key|expected ..., found ...`` so the loader lists it under its key.
    """
    problems: list[str] = []
    for session in _SAMPLE_SESSIONS:
        kind = "a 13:00 half day" if session.early_close else "a full day"
        timeline = settings.day_plan().resolve(session)
        for step, expected in timeline.ordering_problems():
            at = dict(timeline.steps())[step].astimezone(NEW_YORK).strftime("%H:%M")
            key = _TIMELINE_KEYS[step]
            if not any(p.startswith(f"{key}|expected {expected},") for p in problems):
                problems.append(f"{key}|expected {expected}, found {at} ET on {kind}")
    return problems
