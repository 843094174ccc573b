from decimal import Decimal
from pathlib import Path

import pytest

from openbell.config import Settings, load_settings, masked_view
from openbell.domain.errors import ConfigError
from openbell.domain.values import Symbol
from openbell.runtime.logs import secret_values


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(exc: pytest.ExceptionInfo[ConfigError]) -> dict[str, tuple[str, str]]:
    return {key.split(" ")[0]: (expected, found) for key, expected, found in exc.value.problems}


def test_defaults_follow_the_brief(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "absent.toml" if False else None, dotenv_file=None).settings
    assert settings.strategy.top_n == 3
    assert settings.strategy.allocation_pct == Decimal(25)
    assert settings.strategy.stop_loss_pct == Decimal("0.9")
    assert [(t.min_confidence, t.target_pct, t.inclusive) for t in settings.strategy.tiers()] == [
        (Decimal("0.8"), Decimal("2.6"), False),
        (Decimal("0.7"), Decimal("1.8"), True),
    ]
    assert str(settings.strategy.flatten_at) == "close - 15m"
    assert str(settings.schedule.moo_submit) == "open - 5m"
    assert settings.broker.client_ids.day_trader != settings.broker.client_ids.exit_manager


def test_environment_overrides_the_file_and_the_file_overrides_defaults(tmp_path: Path) -> None:
    config = write(
        tmp_path, "openbell.toml", '[ledger]\npath = "from-file.sqlite"\n[strategy]\ntop_n = 2\n'
    )
    loaded = load_settings(
        config,
        dotenv_file=None,
        environ={
            "OPENBELL__LEDGER__PATH": "/tmp/x.sqlite",
            "OPENBELL__PROTECTION__PROTECTED_SYMBOLS": '["SKYX"]',
            "UNRELATED": "ignored",
        },
    )
    settings = loaded.settings
    assert settings.ledger.path == Path("/tmp/x.sqlite")
    assert settings.strategy.top_n == 2
    assert settings.protection.symbols() == frozenset({Symbol("SKYX")})
    assert loaded.origins["ledger.path"] == "environment OPENBELL__LEDGER__PATH"
    assert loaded.origins["strategy.top_n"] == "openbell.toml"
    assert loaded.origins["strategy.stop_loss_pct"] == "default"


def test_dotenv_sits_between_the_file_and_the_environment(tmp_path: Path) -> None:
    dotenv = write(
        tmp_path,
        ".env",
        "OPENBELL__STRATEGY__TOP_N=4\nOPENBELL__SECRETS__FMP_API_KEY=k3y\nOTHER=1\n",
    )
    loaded = load_settings(None, dotenv_file=dotenv, environ={"OPENBELL__STRATEGY__TOP_N": "5"})
    assert loaded.settings.strategy.top_n == 5
    assert loaded.settings.secrets.fmp_api_key is not None
    assert loaded.settings.secrets.fmp_api_key.get_secret_value() == "k3y"
    assert loaded.origins["secrets.fmp_api_key"] == ".env OPENBELL__SECRETS__FMP_API_KEY"


def test_settings_are_frozen() -> None:
    settings = load_settings(None, dotenv_file=None).settings
    with pytest.raises(ValueError, match="frozen"):
        settings.strategy.top_n = 9  # type: ignore[misc]


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "bad.toml",
        """
[strategy]
stop_loss_pct = -0.9
top_n = 0
colour = "blue"
[schedule]
scan = "open - 90x"
[nonsense]
x = 1
""",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, dotenv_file=None, environ={"OPENBELL__LEDGER__PTH": "typo"})
    found = problems(caught)
    assert set(found) == {
        "strategy.stop_loss_pct",
        "strategy.top_n",
        "strategy.colour",
        "schedule.scan",
        "nonsense",
        "OPENBELL__LEDGER__PTH",
    }
    assert found["strategy.stop_loss_pct"] == (
        "a positive distance below the entry in percent (0.9 means a stop at -0.9%)",
        "-0.9",
    )
    assert "'open - 90x'" in found["schedule.scan"][1]
    assert "open - 60m" in found["schedule.scan"][0]
    assert "6 problems" in str(caught.value)


def test_a_target_not_above_the_stop_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path, "t.toml", "[strategy]\nstop_loss_pct = 2.0\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, dotenv_file=None)
    ((key, expected, found),) = caught.value.problems
    assert key == "strategy (from t.toml)"
    assert expected == "every target above the stop distance"
    assert found == "target +1.8% not above the stop -2.0%"


def test_negative_target_tier_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            None,
            dotenv_file=None,
            environ={
                "OPENBELL__STRATEGY__TARGET_TIERS": '[{"min_confidence": 0.7, "target_pct": -1}]'
            },
        )
    assert "strategy.target_tiers.0.target_pct" in problems(caught)


def test_schedule_order_is_checked_on_full_and_half_days() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            None,
            dotenv_file=None,
            environ={
                "OPENBELL__SCHEDULE__MOO_SUBMIT": "open - 1m",
                "OPENBELL__STRATEGY__FLATTEN_AT": "open + 4h",
            },
        )
    found = problems(caught)
    assert found["schedule.moo_submit"] == (
        "before the venue cutoff open - 2m",
        "09:29 ET on a full day",
    )
    assert found["strategy.flatten_at"] == ("before the close", "13:30 ET on a 13:00 half day")


def test_the_last_rescan_entry_must_come_before_the_flatten() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            None, dotenv_file=None, environ={"OPENBELL__SCHEDULE__LAST_ENTRY": "close - 5m"}
        )
    assert problems(caught) == {
        "schedule.last_entry": ("no later than the flatten", "15:55 ET on a full day")
    }
    settings = load_settings(None, dotenv_file=None, environ={}).settings
    assert settings.schedule.rescan_every_min is None  # rescans are opt-in
    assert str(settings.schedule.last_entry) == "close - 45m"


def test_lists_in_the_environment_must_be_json() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            None, dotenv_file=None, environ={"OPENBELL__PROTECTION__PROTECTED_SYMBOLS": "SKYX"}
        )
    ((key, expected, found),) = caught.value.problems
    assert key == "OPENBELL__PROTECTION__PROTECTED_SYMBOLS (environment)"
    assert "JSON" in expected and found == "'SKYX'"


def test_bad_protected_symbol_and_duplicate_client_ids() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            None,
            dotenv_file=None,
            environ={
                "OPENBELL__PROTECTION__PROTECTED_SYMBOLS": '["SKYX", "not a ticker"]',
                "OPENBELL__BROKER__CLIENT_IDS__EXIT_MANAGER": "2",
            },
        )
    found = problems(caught)
    assert "protection.protected_symbols.1" in found
    assert "broker.client_ids" in found


def test_live_mode_needs_an_explicit_opt_in() -> None:
    with pytest.raises(ConfigError, match="live_opt_in"):
        load_settings(None, dotenv_file=None, environ={"OPENBELL__BROKER__MODE": "live"})
    live = load_settings(
        None,
        dotenv_file=None,
        environ={"OPENBELL__BROKER__MODE": "live", "OPENBELL__BROKER__LIVE_OPT_IN": "true"},
    )
    assert live.settings.broker.mode == "live"


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "missing.toml", dotenv_file=None)
    broken = write(tmp_path, "broken.toml", "[strategy\n")
    with pytest.raises(ConfigError, match="valid TOML"):
        load_settings(broken, dotenv_file=None)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError):
        load_settings(binary, dotenv_file=None)


def test_the_default_file_is_used_when_present(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chdir is the only way to exercise "./openbell.toml"; nothing is patched.
    write(tmp_path, "openbell.toml", "[strategy]\ntop_n = 1\n")
    monkeypatch.chdir(tmp_path)
    loaded = load_settings(None, dotenv_file=None)
    assert loaded.settings.strategy.top_n == 1
    assert loaded.config_file == Path("openbell.toml")


def test_secrets_are_masked_in_the_view_and_in_errors() -> None:
    loaded = load_settings(
        None,
        dotenv_file=None,
        environ={
            "OPENBELL__SECRETS__LLM_API_KEY": "sk-very-secret",
            "OPENBELL__BROKER__ACCOUNT": "DU7654321",
        },
    )
    rows = {key: (shown, origin) for key, shown, origin in masked_view(loaded)}
    assert rows["secrets.llm_api_key"][0] == "********"
    assert rows["broker.account"][0] == "********"
    assert rows["secrets.fmp_api_key"][0] == "(not set)"
    assert "sk-very-secret" not in repr(loaded.settings)
    assert "DU7654321" not in str(rows)
    with pytest.raises(ConfigError) as caught:
        load_settings(
            None,
            dotenv_file=None,
            environ={
                "OPENBELL__SECRETS__LLM_API_KEY": "sk-very-secret",
                "OPENBELL__SECRETS__FMP_API_KEY": '{"oops": 1}',
                "OPENBELL__STRATEGY__TOP_N": "0",
            },
        )
    assert "sk-very-secret" not in str(caught.value)
    assert "oops" not in str(caught.value)


def test_settings_built_directly_are_validated_too() -> None:
    with pytest.raises(ValueError, match="moo_submit"):
        Settings(schedule={"moo_submit": "open"})  # type: ignore[arg-type]


@pytest.mark.parametrize("holding", ["SKYX:x@1", "SKYX:5@0", "SKYX:5@nan", ":5@1", "SKYX:-1@2"])
def test_a_bad_sim_holding_is_refused_at_start(holding: str) -> None:
    with pytest.raises(ConfigError, match=r"sim.holdings.*SYMBOL:QTY@PRICE"):
        load_settings(None, dotenv_file=None, environ={"OPENBELL__SIM__HOLDINGS": f'["{holding}"]'})


def test_sim_holdings_are_read_from_the_environment() -> None:
    loaded = load_settings(
        None, dotenv_file=None, environ={"OPENBELL__SIM__HOLDINGS": '["VMD:35@6.84"]'}
    )
    assert loaded.settings.sim.holdings == ("VMD:35@6.84",)


def test_the_sim_clock_is_fast_while_the_bots_sleep_and_the_speed_is_checked() -> None:
    defaults = load_settings(None, dotenv_file=None, environ={}).settings.sim
    assert (defaults.speed, defaults.asleep_speed) == (60.0, 10_000.0)
    chosen = load_settings(
        None, dotenv_file=None, environ={"OPENBELL__SIM__ASLEEP_SPEED": "2500"}
    ).settings.sim
    assert chosen.asleep_speed == 2500.0
    weekend = load_settings(
        None, dotenv_file=None, environ={"OPENBELL__SIM__ASLEEP_SPEED": "50000"}
    ).settings.sim
    assert weekend.asleep_speed == 50_000.0  # only sleeping bots' time may pass this fast
    for bad in ("0", "-1", "100001", "fast"):
        with pytest.raises(ConfigError) as caught:
            load_settings(None, dotenv_file=None, environ={"OPENBELL__SIM__ASLEEP_SPEED": bad})
        assert list(problems(caught)) == ["sim.asleep_speed"]


def test_an_unknown_prompt_version_is_refused_naming_those_that_exist() -> None:
    from openbell.adapters.llm.prompts import prompt_versions  # noqa: PLC0415

    with pytest.raises(ConfigError) as caught:
        load_settings(None, dotenv_file=None, environ={"OPENBELL__SCORING__PROMPT_VERSION": "v2"})
    assert problems(caught) == {
        "scoring.prompt_version": (f"one of {', '.join(prompt_versions())}", "'v2'")
    }
    assert "v1" in prompt_versions()
    loaded = load_settings(None, dotenv_file=None, environ={})
    assert loaded.settings.scoring.prompt_version == "v1"


LLM = {"OPENBELL__SCORING__SCORER": "llm"}


def test_the_scan_deadline_ends_before_the_supervisor_restarts_a_silent_day_trader() -> None:
    defaults = load_settings(None, dotenv_file=None, environ=LLM).settings
    assert (defaults.scoring.deadline_s, defaults.runtime.silent_after_s) == (60.0, 120.0)
    for environ in (
        {"OPENBELL__SCORING__DEADLINE_S": "120"},
        {"OPENBELL__RUNTIME__SILENT_AFTER_S": "45"},
    ):
        with pytest.raises(ConfigError) as caught:
            load_settings(None, dotenv_file=None, environ=LLM | environ)
        ((key, expected, found),) = caught.value.problems
        deadline, silent = (120, 120) if "OPENBELL__SCORING__DEADLINE_S" in environ else (60, 45)
        assert key.split(" ")[0] == "scoring.deadline_s"
        assert expected.startswith(f"less than runtime.silent_after_s = {silent} s")
        assert "the day-trader would be restarted mid-scan" in expected
        assert found == f"scoring.deadline_s = {deadline} s"
    chosen = load_settings(
        None, dotenv_file=None, environ=LLM | {"OPENBELL__SCORING__DEADLINE_S": "119.5"}
    ).settings
    assert chosen.scoring.deadline_s == 119.5
    # the rules never wait on the deadline: a setup without the LLM is not refused for it
    rules = {"OPENBELL__RUNTIME__SILENT_AFTER_S": "45"}
    assert (
        load_settings(None, dotenv_file=None, environ=rules).settings.runtime.silent_after_s == 45
    )
    for bad in ("0", "-1", "601"):
        with pytest.raises(ConfigError) as caught:
            load_settings(None, dotenv_file=None, environ={"OPENBELL__SCORING__DEADLINE_S": bad})
        assert "scoring.deadline_s" in problems(caught)


STRAY = {
    "no-break space": "sk-abc\u00a0def",
    "space": "sk-abc def",
    "trailing newline": "sk-abcdef\n",
    "tab": "sk-abc\tdef",
    "zero-width space": "sk-abc\u200bdef",
    "curly quotes": "\u201csk-abcdef\u201d",
    "accent": "sk-abcdéf",
}


@pytest.mark.parametrize("value", STRAY.values(), ids=STRAY.keys())
@pytest.mark.parametrize("key", ["massive_api_key", "fmp_api_key", "deepseek_api_key"])
def test_a_key_with_a_stray_character_is_refused_without_showing_it(key: str, value: str) -> None:
    variable = f"OPENBELL__SECRETS__{key.upper()}"
    with pytest.raises(ConfigError) as caught:
        load_settings(None, dotenv_file=None, environ={variable: value})
    assert problems(caught) == {
        f"secrets.{key}": (
            "printable ASCII without spaces (a key copied with a stray character?)",
            "a value that is not",
        )
    }
    assert value not in str(caught.value)
    assert value.strip() not in str(caught.value)


def test_a_key_of_printable_ascii_is_kept_as_given() -> None:
    key = "sk-AbC_123.xyz/+=~!:"
    loaded = load_settings(
        None,
        dotenv_file=None,
        environ={"OPENBELL__SECRETS__GEMINI_API_KEY": key, "OPENBELL__SECRETS__FMP_API_KEY": ""},
    )
    assert loaded.settings.secrets.value_of("gemini_api_key") == key
    assert loaded.settings.secrets.value_of("fmp_api_key") == ""  # empty: unset, as before


def test_an_account_id_with_a_stray_character_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, dotenv_file=None, environ={"OPENBELL__BROKER__ACCOUNT": "DU76543 21"})
    assert problems(caught) == {
        "broker.account": (
            "printable ASCII without spaces (an account id copied with a stray character?)",
            "a value that is not",
        )
    }
    assert "DU76543" not in str(caught.value)


def test_the_dashboard_listens_on_loopback_and_is_read_only_without_a_token() -> None:
    dashboard = load_settings(None, dotenv_file=None, environ={}).settings.dashboard
    assert dashboard.host == "127.0.0.1"
    assert dashboard.token is None
    assert dashboard.action_token() is None
    assert not dashboard.start_with_run


def test_the_dashboard_token_is_masked_and_must_be_long_printable_and_needed_off_loopback() -> None:
    token = "dash-token-0123456789"
    loaded = load_settings(None, dotenv_file=None, environ={"OPENBELL__DASHBOARD__TOKEN": token})
    rows = {key: shown for key, shown, _ in masked_view(loaded)}
    assert rows["dashboard.token"] == "********"
    assert token not in repr(loaded.settings)
    assert loaded.settings.dashboard.action_token() == token
    assert token in secret_values(loaded.settings)  # masked in every log line
    for bad, expected in (("short-token", "at least 16"), ("dash token 0123456789", "ASCII")):
        with pytest.raises(ConfigError, match=expected) as caught:
            load_settings(None, dotenv_file=None, environ={"OPENBELL__DASHBOARD__TOKEN": bad})
        assert bad not in str(caught.value)
    with pytest.raises(ConfigError, match=r"expected a token when dashboard\.host"):
        load_settings(None, dotenv_file=None, environ={"OPENBELL__DASHBOARD__HOST": "0.0.0.0"})
    remote = load_settings(
        None,
        dotenv_file=None,
        environ={"OPENBELL__DASHBOARD__HOST": "0.0.0.0", "OPENBELL__DASHBOARD__TOKEN": token},
    )
    assert remote.settings.dashboard.host == "0.0.0.0"
    empty = load_settings(None, dotenv_file=None, environ={"OPENBELL__DASHBOARD__TOKEN": ""})
    assert empty.settings.dashboard.token is None


def test_a_env_file_others_may_read_is_named_with_the_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("OPENBELL__SECRETS__FMP_API_KEY=fmp-key-1234\n", encoding="utf-8")
    dotenv.chmod(0o644)
    with caplog.at_level("WARNING", logger="openbell.config.loading"):
        load_settings(None, dotenv_file=dotenv, environ={})
    [warning] = [r.getMessage() for r in caplog.records]
    assert "other users may read it (mode 644)" in warning
    assert f"chmod 600 {dotenv}" in warning
    assert "fmp-key-1234" not in warning
    caplog.clear()
    dotenv.chmod(0o600)
    with caplog.at_level("WARNING", logger="openbell.config.loading"):
        load_settings(None, dotenv_file=dotenv, environ={})
    assert caplog.records == []


def test_sim_faults_are_checked_when_the_settings_load() -> None:
    good = load_settings(
        None,
        dotenv_file=None,
        environ={"OPENBELL__SIM__FAULTS": '["drop@10:15", "restart@2016-05-02T11:00+2"]'},
    )
    assert good.settings.sim.faults == ("drop@10:15", "restart@2016-05-02T11:00+2")
    for bad in ("explode@10:15", "drop@25:00", "drop@2016-13-01T10:00", "drop"):
        with pytest.raises(ConfigError, match=r"sim\.faults") as caught:
            load_settings(None, dotenv_file=None, environ={"OPENBELL__SIM__FAULTS": f'["{bad}"]'})
        assert bad in str(caught.value)
