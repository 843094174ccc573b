"""The LLM scorer: candidates scored by OpenAI-compatible chat endpoints (DeepSeek, Gemini,
OpenAI, a local server), a fallback chain ending in the rules, a daily budget, and every
call journaled."""

from openbell.adapters.llm.client import NO_KEY_PLACEHOLDER, CallPolicy, LlmProvider
from openbell.adapters.llm.prompts import Answer, Prompt, PromptTemplate, load_template
from openbell.adapters.llm.scorer import LlmChain, LlmScorer

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
]
