"""The LLM scorer: candidates scored by OpenAI-compatible chat endpoints (DeepSeek, Gemini,
OpenAI, a local server), a fallback chain ending in the rules, a daily budget, and every
call journaled.

The names from the client and the scorer are loaded on first use: importing
:mod:`openbell.adapters.llm.prompts` (as the settings do, to check ``prompt_version``) does
not load the openai SDK.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from openbell.adapters.llm.prompts import (
    Answer,
    Prompt,
    PromptTemplate,
    load_template,
    prompt_versions,
)

if TYPE_CHECKING:
    from openbell.adapters.llm.client import NO_KEY_PLACEHOLDER, CallPolicy, LlmProvider
    from openbell.adapters.llm.scorer import LlmChain, LlmScorer

_LAZY = {
    "NO_KEY_PLACEHOLDER": "client",
    "CallPolicy": "client",
    "LlmProvider": "client",
    "LlmChain": "scorer",
    "LlmScorer": "scorer",
}

__all__ = [
    "NO_KEY_PLACEHOLDER",
    "Answer",
    "CallPolicy",
    "LlmChain",
    "LlmProvider",
    "LlmScorer",
    "Prompt",
    "PromptTemplate",
    "load_template",
    "prompt_versions",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
