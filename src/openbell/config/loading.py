"""Loading the settings: defaults, ``openbell.toml``, ``.env``, then the environment.

The loader merges the layers itself so it can say where every value came from, and it lists
every problem at once as (key, expected, found), naming the layer that supplied the value.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsError,
)

from openbell.config.settings import ENV_PREFIX, TIMELINE_SEPARATOR, Settings
from openbell.domain.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_CONFIG_FILE = Path("openbell.toml")
DEFAULT_DOTENV_FILE = Path(".env")


@dataclass(frozen=True)
class LoadedSettings:
    """Settings plus, for every leaf key such as ``ledger.path``, the layer it came from."""

    settings: Settings
    origins: Mapping[str, str]
    config_file: Path | None


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {key.lower(): value for key, value in self._environ.items()}


def load_settings(
    config_file: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    dotenv_file: Path | None = DEFAULT_DOTENV_FILE,
) -> LoadedSettings:
    """Build the settings from defaults, a TOML file, a ``.env`` file and the environment.

    ``config_file=None`` uses ``./openbell.toml`` if it exists. ``environ=None`` reads nothing
    from the environment (the composition root passes ``os.environ``). Raise
    :class:`ConfigError` listing every problem.
    """
    toml_layer, file_used = _read_toml(config_file)
    dotenv_vars = _read_dotenv_names(dotenv_file)
    env_vars = {k: v for k, v in (environ or {}).items() if k.upper().startswith(ENV_PREFIX)}
    problems = _unknown_env_keys(env_vars, "environment") + _unknown_env_keys(dotenv_vars, ".env")
    dotenv_layer = _read_layer(
        partial(
            DotEnvSettingsSource, Settings, env_file=dotenv_file, dotenv_filtering="only_existing"
        ),
        dotenv_vars,
        ".env",
    )
    env_layer = _read_layer(partial(_MappingEnvSource, Settings, env_vars), env_vars, "environment")
    layers = [
        (file_used.name if file_used else "file", toml_layer),
        (".env", dotenv_layer),
        ("environment", env_layer),
    ]
    merged: dict[str, Any] = {}
    for _, layer in layers:
        _deep_merge(merged, layer)
    source = _describe_sources(file_used, dotenv_vars, env_vars)
    try:
        settings = Settings(**merged)
    except ValidationError as exc:
        raise ConfigError(
            problems + _problems_from(exc, _flat(layers)) or [(source, "valid settings", str(exc))],
            source=source,
        ) from None
    if problems:
        raise ConfigError(problems, source=source)
    return LoadedSettings(settings, _origins(settings, _flat(layers)), file_used)


def _read_layer(
    source: Callable[[], PydanticBaseSettingsSource], names: Mapping[str, str], where: str
) -> dict[str, Any]:
    if not names:
        return {}
    try:
        return source()()
    except SettingsError:
        # A list or table written in the environment must be JSON; name each culprit.
        bad = [name for name in names if not _decodes(name, names[name])]
        raise ConfigError(
            [
                (
                    f"{name} ({where})",
                    "JSON for a list or table, e.g. '[\"SKYX\"]'",
                    "[secret]" if _holds_secret(name) else repr(names[name]),
                )
                for name in bad or sorted(names)
            ]
        ) from None


def _holds_secret(env_name: str) -> bool:
    """Whether the variable sets a secret, or a section that holds one (never shown)."""
    key = env_name[len(ENV_PREFIX) :].lower().replace("__", ".")
    roots = [root.rstrip(".") for root in _SECRET_ROOTS]
    return any(key.startswith(root) or root.startswith(key + ".") for root in roots)


def _decodes(name: str, value: str) -> bool:
    try:
        _MappingEnvSource(Settings, {name: value})()
    except SettingsError:
        return False
    return True


def _read_toml(config_file: Path | None) -> tuple[dict[str, Any], Path | None]:
    path = config_file if config_file is not None else DEFAULT_CONFIG_FILE
    if not path.exists():
        if config_file is not None:
            raise ConfigError([(str(path), "an existing TOML settings file", "no such file")])
        return {}, None
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle), path
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([(str(path), "valid TOML", str(exc))]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([(str(path), "a readable UTF-8 TOML file", str(exc))]) from None


def _warn_if_shared(dotenv_file: Path) -> None:
    """A ``.env`` holds keys: say so when other users of the machine may read it."""
    try:
        mode = dotenv_file.stat().st_mode
    except OSError:
        return
    if mode & 0o077:
        log.warning(
            "%s holds secrets but other users may read it (mode %03o): run `chmod 600 %s`",
            dotenv_file,
            mode & 0o777,
            dotenv_file,
        )


def _read_dotenv_names(dotenv_file: Path | None) -> dict[str, str]:
    if dotenv_file is None or not dotenv_file.is_file():
        return {}
    from dotenv import dotenv_values  # noqa: PLC0415 - only needed when a .env exists

    _warn_if_shared(dotenv_file)
    try:
        values = dotenv_values(dotenv_file)
    except UnicodeDecodeError as exc:
        line = dotenv_file.read_bytes().count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            [(f"{dotenv_file} line {line}", "UTF-8 text", "bytes that are not UTF-8")]
        ) from None
    return {k: v or "" for k, v in values.items() if k.upper().startswith(ENV_PREFIX)}


def _unknown_env_keys(names: Mapping[str, str], where: str) -> list[tuple[str, str, str]]:
    problems = []
    for name in sorted(names):
        path = name[len(ENV_PREFIX) :].lower().split("__")
        if not _known_path(Settings, path):
            problems.append(
                (f"{name} ({where})", "a known setting OPENBELL__SECTION__KEY", "an unknown key")
            )
    return problems


def _known_path(model: type[BaseModel], path: list[str]) -> bool:
    field = model.model_fields.get(path[0])
    if field is None:
        return False
    rest = path[1:]
    if not rest:
        return True
    annotation = field.annotation
    return (
        isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
        and _known_path(annotation, rest)
    )


def _deep_merge(into: dict[str, Any], layer: Mapping[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        elif isinstance(value, Mapping):
            into[key] = {}
            _deep_merge(into[key], value)
        else:
            into[key] = value


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


FlatLayers = list[tuple[str, dict[str, Any]]]
"""(layer name, its values by dotted key), lowest layer first."""


def _flat(layers: list[tuple[str, dict[str, Any]]]) -> FlatLayers:
    return [(name, _flatten(layer)) for name, layer in layers]


def _origin_of(key: str, layers: FlatLayers) -> str:
    """Name the highest layer that set ``key`` (or part of it), with the variables it used."""
    for name, flat in reversed(layers):
        hits = [k for k in flat if k == key or k.startswith(key + ".") or key.startswith(k + ".")]
        if not hits:
            continue
        if name in ("environment", ".env"):
            names = ", ".join(ENV_PREFIX + k.replace(".", "__").upper() for k in sorted(hits))
            return f"{name} {names}"
        return name
    return "default"


def _origins(settings: Settings, layers: FlatLayers) -> dict[str, str]:
    return {key: _origin_of(key, layers) for key in _flatten(settings.model_dump())}


_SECRET_ROOTS = ("secrets.", "broker.account", "notifications.urls", "dashboard.token")


def _problems_from(exc: ValidationError, layers: FlatLayers) -> list[tuple[str, str, str]]:
    problems = []
    for error in _split_timeline(exc.errors()):
        key = ".".join(str(part) for part in error["loc"]) or "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        origin = _origin_of(key, layers)
        if error["type"] == "extra_forbidden" and origin.startswith(("environment", ".env")):
            continue  # already reported by name by _unknown_env_keys
        if error["type"] == "extra_forbidden":
            message = "a known key (see 'openbell config show')"
        expected, _, found = message.partition(", found ")
        expected = expected.removeprefix("expected ")
        if not found:
            found = "[secret]" if key.startswith(_SECRET_ROOTS) else repr(error.get("input"))
        shown_key = key if origin == "default" else f"{key} (from {origin})"
        problems.append((shown_key, expected, found))
    return problems


def _split_timeline(errors: list[Any]) -> list[Any]:
    """Turn the one model-level timeline error into one error per offending key."""
    split = []
    for error in errors:
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["loc"] or "|expected " not in message:
            split.append(error)
            continue
        for line in message.split(TIMELINE_SEPARATOR):
            key, _, text = line.partition("|")
            split.append({**error, "loc": tuple(key.split(".")), "msg": text})
    return split


def _describe_sources(
    file_used: Path | None, dotenv_vars: Mapping[str, str], env_vars: Mapping[str, str]
) -> str:
    parts = [str(file_used) if file_used else "defaults"]
    if dotenv_vars:
        parts.append(".env")
    if env_vars:
        parts.append("environment")
    return "settings (" + " + ".join(parts) + ")"


def masked_view(loaded: LoadedSettings) -> list[tuple[str, str, str]]:
    """Every leaf setting as (key, shown value, origin) with secrets masked."""
    rows = []
    dumped = _flatten(loaded.settings.model_dump(mode="json"))
    raw = _flatten(loaded.settings.model_dump())
    for key, value in dumped.items():
        if isinstance(raw[key], SecretStr):
            shown = "********" if raw[key].get_secret_value() else "(empty)"
        elif value is None:
            shown = "(not set)"
        else:
            shown = str(value)
        rows.append((key, shown, loaded.origins[key]))
    return rows
