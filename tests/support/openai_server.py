"""A fake OpenAI-compatible chat endpoint on a :class:`ScriptedServer`.

Several fakes can share one server under different prefixes, one per provider of a chain:

    with ScriptedServer() as server:
        alpha = FakeOpenAI(server, "/alpha")
        alpha.answers(ok(answer(0.8)))
        provider = LlmProvider("alpha", alpha.base_url, "fake-alpha", key="sk-test", ...)

Replies follow the documented ``chat.completion`` object: ``id``, ``object``, ``created``,
``model``, ``choices[{index, message{role, content, refusal}, finish_reason}]`` and
``usage{prompt_tokens, completion_tokens, total_tokens}``; errors follow the documented
``{"error": {"message", "type", "code"}}`` body.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from http_server import Reply, Responder, ScriptedServer, Seen

PROMPT_TOKENS = 120
COMPLETION_TOKENS = 30


def answer(
    confidence: Any = 0.8,
    direction: str = "long",
    rationale: str = "gap backed by heavy pre-market volume",
    risks: Any = ("a fade after the open",),
    **extra: Any,
) -> str:
    """The JSON text of an answer as the prompt asks for it (``extra`` adds keys)."""
    body = {
        "confidence": confidence,
        "direction": direction,
        "rationale": rationale,
        "risks": list(risks) if isinstance(risks, tuple) else risks,
        **extra,
    }
    return json.dumps(body)


def completion(
    content: str | None,
    *,
    model: str = "fake-model",
    finish_reason: str = "stop",
    refusal: str | None = None,
    prompt_tokens: int = PROMPT_TOKENS,
    completion_tokens: int = COMPLETION_TOKENS,
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_761_740_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def ok(content: str | None, **kwargs: Any) -> Reply:
    """A 200 chat completion whose message says ``content``."""
    delay_s = kwargs.pop("delay_s", 0.0)
    return Reply.json(completion(content, **kwargs), delay_s=delay_s)


def error(status: int, message: str = "", **kwargs: Any) -> Reply:
    """An error status with the documented error body."""
    body = {"error": {"message": message or f"error {status}", "type": "fake", "code": None}}
    return Reply.json(body, status, **kwargs)


class FakeOpenAI:
    """``POST {prefix}/chat/completions`` on ``server``; the provider's base URL is
    ``server.url + prefix``. Counts the requests it is serving at once."""

    def __init__(self, server: ScriptedServer, prefix: str) -> None:
        self.server = server
        self.prefix = prefix
        self._lock = threading.Lock()
        self._serving = 0
        self.max_in_flight = 0

    @property
    def base_url(self) -> str:
        return self.server.url + self.prefix

    @property
    def path(self) -> str:
        return f"{self.prefix}/chat/completions"

    def answers(self, *replies: Reply | Responder) -> None:
        """Answer with ``replies`` in turn, then keep repeating the last."""
        self.server.route("POST", self.path, *replies)

    def requests(self) -> list[Seen]:
        return self.server.seen(self.path)

    def slowly(self, delay_s: float | Callable[[Seen], float], respond: Responder) -> Responder:
        """A responder that holds each request ``delay_s`` (or ``delay_s(request)``) seconds,
        counted as in flight, then answers with ``respond``."""

        def hold(seen: Seen) -> Reply:
            with self._lock:
                self._serving += 1
                self.max_in_flight = max(self.max_in_flight, self._serving)
            try:
                time.sleep(delay_s(seen) if callable(delay_s) else delay_s)
                return respond(seen)
            finally:
                with self._lock:
                    self._serving -= 1

        return hold


def symbol_of(seen: Seen) -> str:
    """The symbol a chat request asks about (from the ``- symbol: X`` line of its prompt)."""
    user = str(seen.json()["messages"][-1]["content"])
    for line in user.splitlines():
        if line.startswith("- symbol: "):
            return line.removeprefix("- symbol: ").strip()
    raise AssertionError(f"expected a '- symbol:' line in the prompt, found {user!r}")
