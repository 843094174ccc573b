"""Suite-wide options: tests that reach an outside service run only when asked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Shared test scaffolding (harnesses, fakes) importable from every test directory.
sys.path.insert(0, str(Path(__file__).parent / "support"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-external",
        action="store_true",
        default=False,
        help="also run tests marked 'external' (IBKR paper, Massive, FMP, LLM providers)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-external"):
        return
    skip = pytest.mark.skip(reason="talks to an outside service; pass --run-external to run")
    for item in items:
        if "external" in item.keywords:
            item.add_marker(skip)
