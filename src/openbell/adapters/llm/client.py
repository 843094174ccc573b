"""One call to one OpenAI-compatible chat endpoint, whatever the endpoint does.

:meth:`ChatEndpoint.ask` never raises for the provider's behaviour: it returns a
:class:`CallResult` whose outcome says what came of the call.

* FAILED: no usable answer after the SDK's retries: a timeout, a refused connection, a
  truncated body, 429, 5xx, a refused key (401/403), any other HTTP error, or a body that
  is not a chat completion. The provider is down or unusable, so the next one is worth
  asking.
* REFUSED: the model declined (``message.refusal``, ``finish_reason`` "content_filter") or
  said nothing.
* INVALID: the model answered, but not the JSON object asked for.
* SCORED or NO_TRADE: a valid answer that does or does not see a long trade.

The key is only ever put in the SDK client. Every text built here from what came back is
redacted, and the server's own words about a refused key are never repeated.

What bounds a call (``CallPolicy.timeout_s`` is T, ``max_retries`` is R):

* one HTTP attempt: httpx's timeouts (connect, send, each wait for the next bytes) are T, and
  the response hook of :func:`_http_client` also bounds the whole body to T from the moment
  the request is sent. httpx alone has no total: a provider that trickles keep-alive bytes
  (DeepSeek sends blank lines while a request is queued) would reset its read timeout for
  minutes. The total is checked as each piece of the body arrives, so an attempt ends
  within T of a trickle, and within 2 T at worst (a server that goes silent just before T
  still has its last read timeout to run);
* one :meth:`ChatEndpoint.ask`: R + 1 attempts and the SDK's waits between them;
* one scan: the scorer's ``LlmChain.deadline_s``, which abandons the calls still running.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import httpx2
import openai
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionUserMessageParam,
)

from openbell.adapters.llm.prompts import Answer, InvalidAnswer, Prompt, parse_answer
from openbell.domain.enums import LlmOutcome

NO_KEY_PLACEHOLDER = "not-needed"
"""Sent as the key to an endpoint that takes none (a local server): the SDK requires one."""

_MILLION = Decimal(1_000_000)
_REDACTED = "***"
_MAX_REASON_CHARS = 200
_KEY_REFUSED = frozenset({401, 403})
_SENT_AT = "openbell.sent_at"
"""The request extension holding when an attempt was sent (``time.monotonic``)."""


@dataclass(frozen=True, slots=True)
class LlmProvider:
    """One OpenAI-compatible endpoint of the scoring chain.

    ``key`` is the API key itself and is left out of ``repr``. ``key_variable`` names the
    setting that supplies it (``OPENBELL__SECRETS__DEEPSEEK_API_KEY``), or is None for an
    endpoint that takes no key. Prices are US dollars per million tokens.
    """

    name: str
    base_url: str
    model: str
    key: str | None = field(default=None, repr=False)
    key_variable: str | None = None
    input_usd_per_mtok: Decimal = Decimal(0)
    output_usd_per_mtok: Decimal = Decimal(0)

    @property
    def label(self) -> str:
        """Who scored, as a candidate's ``scored_by`` says it: ``deepseek:deepseek-chat``."""
        return f"{self.name}:{self.model}"

    @property
    def missing_key(self) -> bool:
        """True when the provider needs a key that is not set: it must not be called."""
        return self.key_variable is not None and not self.key

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        spent = prompt_tokens * self.input_usd_per_mtok
        spent += completion_tokens * self.output_usd_per_mtok
        return spent / _MILLION


@dataclass(frozen=True, slots=True)
class CallResult:
    """What one call came to; ``answer`` is set for SCORED and NO_TRADE only."""

    outcome: LlmOutcome
    reason: str = ""
    raw_answer: str = ""
    answer: Answer | None = None
    latency_ms: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class CallPolicy:
    """How every call is made: each HTTP attempt's total timeout (connection, request and the
    whole answer), the SDK's retries after a failed attempt, the temperature."""

    timeout_s: float = 20.0
    max_retries: int = 1
    temperature: float = 0.0


class ChatEndpoint:
    """The SDK client of one provider. The sync client is thread-safe, so the scorer's
    workers share one; :meth:`close` releases its connections."""

    def __init__(self, provider: LlmProvider, policy: CallPolicy) -> None:
        self.provider = provider
        self._policy = policy
        # Building the client opens no connection: the first request does.
        self._client = openai.OpenAI(
            base_url=provider.base_url,
            api_key=provider.key or NO_KEY_PLACEHOLDER,
            timeout=policy.timeout_s,
            max_retries=policy.max_retries,
            http_client=_http_client(policy.timeout_s),
        )

    def close(self) -> None:
        self._client.close()

    def ask(self, prompt: Prompt) -> CallResult:
        """Send ``prompt`` and say what came of it; never raises for what the provider does."""
        started = time.monotonic()
        try:
            completion = self._client.chat.completions.create(
                model=self.provider.model,
                messages=_sdk_messages(prompt),
                response_format={"type": "json_object"},
                temperature=self._policy.temperature,
            )
        except openai.OpenAIError as exc:
            return self._failed(self._why(exc), started)
        except ValueError as exc:  # a JSON content type over a body that does not decode
            return self._failed(f"the response body is not JSON ({type(exc).__name__})", started)
        return self._read(completion, _elapsed_ms(started))

    # --- failures -------------------------------------------------------------------------
    def _failed(self, reason: str, started: float) -> CallResult:
        return CallResult(LlmOutcome.FAILED, self._redact(reason), latency_ms=_elapsed_ms(started))

    def _why(self, exc: openai.OpenAIError) -> str:
        if isinstance(exc, openai.APITimeoutError):
            return f"no answer within {self._policy.timeout_s:g} s{self._retried()}"
        if isinstance(exc, openai.APIConnectionError):
            cause = type(exc.__cause__).__name__ if exc.__cause__ else "connection error"
            return f"no usable connection to {self.provider.base_url} ({cause}){self._retried()}"
        if isinstance(exc, openai.APIStatusError):
            return self._status_reason(exc)
        return f"the SDK gave up on the call ({type(exc).__name__})"

    def _status_reason(self, exc: openai.APIStatusError) -> str:
        status = exc.status_code
        if status in _KEY_REFUSED:
            # the server's text may quote the key back: it is not repeated
            return f"the key was refused (HTTP {status})"
        if status == 429:
            return f"rate limited (HTTP 429){self._retried()}"
        if status >= 500:
            return f"server error (HTTP {status}){self._retried()}"
        return f"HTTP {status}: {_shorten(exc.message)}"

    def _retried(self) -> str:
        count = self._policy.max_retries
        if count == 0:
            return ""
        return f" after {count} retr{'y' if count == 1 else 'ies'}"

    def _redact(self, text: str) -> str:
        key = self.provider.key
        return text.replace(key, _REDACTED) if key else text

    # --- answers --------------------------------------------------------------------------
    def _read(self, completion: object, latency_ms: int) -> CallResult:
        # The SDK does not validate bodies: an endpoint that is not quite OpenAI's may omit
        # fields, so every one is read with a default rather than trusted.
        if not isinstance(completion, ChatCompletion):
            reason = "expected a chat completion, found a body of another kind"
            return CallResult(LlmOutcome.FAILED, reason, latency_ms=latency_ms)
        usage = getattr(completion, "usage", None)
        prompt_tokens = _count(getattr(usage, "prompt_tokens", 0))
        completion_tokens = _count(getattr(usage, "completion_tokens", 0))
        choices = getattr(completion, "choices", None)
        if isinstance(choices, list) and choices:
            message = getattr(choices[0], "message", None)
            content = getattr(message, "content", None)
            raw = self._redact(content) if isinstance(content, str) else ""
            refusal = getattr(message, "refusal", None)
            outcome, reason, answer = self._judge(
                raw, refusal, getattr(choices[0], "finish_reason", None)
            )
        else:
            raw, answer = "", None
            outcome = LlmOutcome.FAILED
            reason = "expected a chat completion with a choice, found none"
        return CallResult(
            outcome, reason, raw, answer, latency_ms, prompt_tokens, completion_tokens
        )

    def _judge(
        self, raw: str, refusal: object, finish_reason: object
    ) -> tuple[LlmOutcome, str, Answer | None]:
        if isinstance(refusal, str) and refusal.strip():
            return LlmOutcome.REFUSED, f"the model refused: {_shorten(refusal)}", None
        if finish_reason == "content_filter":
            return LlmOutcome.REFUSED, "the provider's content filter withheld the answer", None
        if not raw.strip():
            return LlmOutcome.REFUSED, f"the model gave no answer (finish {finish_reason})", None
        try:
            answer = parse_answer(raw)
        except InvalidAnswer as exc:
            return LlmOutcome.INVALID, f"invalid answer: {self._redact(str(exc))}", None
        if answer.direction == "long":
            return LlmOutcome.SCORED, "", answer
        return LlmOutcome.NO_TRADE, f"direction {answer.direction}: no long trade", answer


def _http_client(total_s: float) -> httpx2.Client:
    """The SDK's default HTTP client, with every attempt's body bounded to ``total_s`` from
    the moment its request was sent (the SDK reads the body inside ``send``: a timeout raised
    while reading it is retried, then reported, like any other timeout)."""

    def sent(request: httpx2.Request) -> None:
        request.extensions.setdefault(_SENT_AT, time.monotonic())  # kept across redirects

    def bound(response: httpx2.Response) -> None:
        body = response.stream
        if isinstance(body, httpx2.SyncByteStream):
            started = response.request.extensions.get(_SENT_AT, time.monotonic())
            response.stream = _BoundedBody(body, response.request, started + total_s, total_s)

    return openai.DefaultHttpxClient(
        timeout=httpx2.Timeout(total_s),
        event_hooks={"request": [sent], "response": [bound]},
    )


class _BoundedBody(httpx2.SyncByteStream):
    """A response body that raises ``ReadTimeout`` once a piece arrives after ``ends_at``."""

    def __init__(
        self, body: httpx2.SyncByteStream, request: httpx2.Request, ends_at: float, total_s: float
    ) -> None:
        self._body, self._request = body, request
        self._ends_at, self._total_s = ends_at, total_s

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._body:
            if time.monotonic() > self._ends_at:
                raise httpx2.ReadTimeout(
                    f"the answer was not complete within {self._total_s:g} s",
                    request=self._request,
                )
            yield piece

    def close(self) -> None:
        self._body.close()


def _sdk_messages(prompt: Prompt) -> list[ChatCompletionMessageParam]:
    messages: list[ChatCompletionMessageParam] = []
    for message in prompt.messages:
        text = message.content
        if message.role == "system":
            messages.append(ChatCompletionSystemMessageParam(role="system", content=text))
        else:
            messages.append(ChatCompletionUserMessageParam(role="user", content=text))
    return messages


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _count(raw: object) -> int:
    """A token count as reported, or 0 when the endpoint reports none or nonsense."""
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        return 0
    return raw


def _shorten(text: str) -> str:
    one_line = " ".join(text.split())
    if len(one_line) <= _MAX_REASON_CHARS:
        return one_line
    return one_line[:_MAX_REASON_CHARS] + "…"
