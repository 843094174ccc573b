from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from openbell.adapters.redact import MASK
from openbell.config import LoggingSettings, load_settings
from openbell.runtime.logs import configure_logging, secret_values


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_secrets_never_reach_the_log_file(tmp_path: Path, restore_logging: None) -> None:
    settings = load_settings(
        None,
        dotenv_file=None,
        environ={
            "OPENBELL__SECRETS__LLM_API_KEY": "sk-live-123456",
            "OPENBELL__BROKER__ACCOUNT": "DU7654321",
        },
    ).settings
    assert secret_values(settings) == ["sk-live-123456", "DU7654321"]
    path = configure_logging(
        LoggingSettings(directory=tmp_path, format="json"), "day-trader", secret_values(settings)
    )
    log = logging.getLogger("openbell.test")
    log.info("placing MOO for account %s with key sk-live-123456", "DU7654321")
    try:
        raise RuntimeError("auth failed for key sk-live-123456")
    except RuntimeError:
        log.exception("broker said no")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text(encoding="utf-8")
    assert "sk-live-123456" not in text
    assert "DU7654321" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["message"] == f"placing MOO for account {MASK} with key {MASK}"
    assert lines[0]["process"] == "day-trader"
    assert "RuntimeError" in lines[1]["exception"]


def test_text_format(tmp_path: Path, restore_logging: None) -> None:
    path = configure_logging(LoggingSettings(directory=tmp_path / "logs"), "exit-manager", [])
    logging.getLogger("openbell.x").warning("stop at %s", "15.05")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "WARNING exit-manager openbell.x: stop at 15.05" in path.read_text(encoding="utf-8")
