"""A market data provider's REST API over httpx: key, pacing, retries, cache and errors.

Every provider client (Massive, FMP) asks through :class:`JsonApi`, so they all behave the
same way when the outside world misbehaves:

* 429: wait as long as ``Retry-After`` says (seconds or an HTTP date), capped at
  ``max_wait_s``, or back off exponentially when it says nothing; then retry;
* 5xx, a timeout, a dropped connection or a truncated body: back off and retry;
* after ``max_retries`` retries, or at once for 401/403 (a refused key), 402 (an endpoint
  the plan does not include) and other 4xx:
  :class:`~openbell.domain.errors.MarketDataUnavailable` naming the provider, the request
  and what happened;
* a body that is not JSON: the same error (after the retries: a truncated body often is);
* 404: :class:`NotFoundAtProvider`, so a client can say "unknown symbol".

The key never leaves this module in a message: it goes in a header where the provider
allows it, and every text built from a request or an exception is redacted.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import httpx

from openbell.adapters.data.cache import DayCache
from openbell.adapters.data.common import Closing
from openbell.domain.errors import MarketDataUnavailable, MissingSecret

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry full URLs

Params = Mapping[str, str | int | float | bool]
KeyPlace = Literal["bearer", "query"]
_REDACTED = "***"


class NotFoundAtProvider(MarketDataUnavailable):
    """The provider answered 404 for this request (an unknown symbol, most often)."""


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    timeout_s: float = 10.0
    max_retries: int = 3
    backoff_s: float = 0.5
    """The first wait before a retry; each further retry waits twice as long."""
    max_wait_s: float = 60.0
    """No single wait (Retry-After included) is longer than this."""
    requests_per_minute: float | None = None
    """Pace requests to stay within a plan's limit (None: no pacing)."""


@dataclass(frozen=True, slots=True)
class Provider:
    """Who is asked, where, and how the key is sent."""

    name: str
    base_url: str
    key: str | None = field(repr=False)
    """Never in ``repr``: a repr may end up in a log or a traceback."""
    key_variable: str
    """The setting a user sets to supply the key (named in the missing-key error)."""
    key_place: KeyPlace = "bearer"
    key_param: str = "apikey"


class _Pacer:
    """At most ``per_minute`` requests a minute, spaced evenly (shared by threads)."""

    def __init__(
        self,
        per_minute: float | None,
        sleep: Callable[[float], None],
        monotonic: Callable[[], float],
    ) -> None:
        self._gap = 60.0 / per_minute if per_minute else 0.0
        self._sleep, self._monotonic = sleep, monotonic
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self._gap:
            return
        with self._lock:
            now = self._monotonic()
            start = max(now, self._next)
            self._next = start + self._gap
        if start > now:
            self._sleep(start - now)


class JsonApi(Closing):
    """GET JSON from one provider. ``sleep`` and ``monotonic`` may be replaced in tests to
    observe waits instead of serving them; ``cache`` keeps answers about settled days."""

    def __init__(
        self,
        provider: Provider,
        policy: HttpPolicy,
        *,
        cache: DayCache | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self._policy, self._cache, self._sleep = policy, cache, sleep
        self._pacer = _Pacer(policy.requests_per_minute, sleep, monotonic)
        headers = {"Accept": "application/json", "User-Agent": "openbell"}
        if provider.key is not None and provider.key_place == "bearer":
            headers["Authorization"] = f"Bearer {provider.key}"
        self._client = httpx.Client(
            base_url=provider.base_url,
            headers=headers,
            timeout=policy.timeout_s,
            follow_redirects=False,
        )
        self.requests_sent = 0

    def close(self) -> None:
        self._client.close()

    def get(
        self,
        path: str,
        params: Params | None = None,
        *,
        cache_day: date | None = None,
        cache_if: Callable[[Any], bool] | None = None,
    ) -> Any:
        """The decoded JSON of ``GET path?params``.

        With ``cache_day`` (a day whose data can no longer change) the answer is kept on
        disk under that day, and a later identical request is answered from there.
        ``cache_if`` keeps only the answers it accepts: an empty answer about a settled day
        (data not published yet) must not be served forever. Without ``cache_if``, an error
        object sent with HTTP 200 (``{"Error Message": ...}``, ``{"error": ...}`` or
        ``{"status": "ERROR"}``) is not kept: an error is never served from the cache.
        """
        params = dict(params or {})
        if self._cache is not None and cache_day is not None:
            cached = self._cache.get(cache_day, path, params)
            if cached is not None:
                return cached.body
        if self.provider.key is None:
            raise MissingSecret(self.provider.name, self.provider.key_variable)
        body = self._fetch(path, params)
        keep = cache_if(body) if cache_if is not None else not _is_error(body)
        if self._cache is not None and cache_day is not None and keep:
            self._cache.put(cache_day, path, params, body)
        return body

    # --- one request, with its retries ------------------------------------------------------
    def _fetch(self, path: str, params: dict[str, Any]) -> Any:
        sent = dict(params)
        if self.provider.key_place == "query":
            sent[self.provider.key_param] = self.provider.key
        what = f"GET {path}"
        failures: list[str] = []
        for attempt in range(self._policy.max_retries + 1):
            self._pacer.wait()
            outcome = self._attempt(path, sent, what)
            if not isinstance(outcome, _Retry):
                return outcome.body
            failures.append(outcome.reason)
            if attempt == self._policy.max_retries:
                break
            wait = self._wait_for(outcome, attempt)
            log.warning(
                "%s %s: %s; retry %d of %d in %.1f s",
                self.provider.name,
                what,
                outcome.reason,
                attempt + 1,
                self._policy.max_retries,
                wait,
            )
            self._sleep(wait)
        tried = len(failures)
        raise MarketDataUnavailable(
            self.provider.name,
            what,
            f"{failures[-1]} ({tried} attempt{'s' if tried > 1 else ''})",
        )

    def _attempt(self, path: str, params: dict[str, Any], what: str) -> _Done | _Retry:
        self.requests_sent += 1
        try:
            response = self._client.get(path, params=params)
            content = response.content  # reads the whole body: a truncated one raises here
        except httpx.TimeoutException:
            return _Retry(f"no answer within {self._policy.timeout_s:g} s")
        except httpx.RemoteProtocolError as exc:
            return _Retry(f"the connection broke mid-answer ({self._redact(str(exc))})")
        except httpx.DecodingError:  # a compressed body cut short or corrupt
            return _Retry("expected a readable body, found one that cannot be decompressed")
        except httpx.TransportError as exc:
            return _Retry(f"cannot reach {self.provider.base_url} ({type(exc).__name__})")
        return self._answer(response.status_code, response.headers, content, what)

    def _answer(
        self, status: int, headers: httpx.Headers, content: bytes, what: str
    ) -> _Done | _Retry:
        if status == 429:
            return _Retry("rate limited (HTTP 429)", headers.get("Retry-After"))
        if status >= 500:
            return _Retry(f"server error (HTTP {status})")
        if status == 404:
            raise NotFoundAtProvider(self.provider.name, what, "not found (HTTP 404)")
        if status == 402:
            raise MarketDataUnavailable(
                self.provider.name, what, "the plan does not include this endpoint (HTTP 402)"
            )
        if status in (401, 403):
            raise MarketDataUnavailable(
                self.provider.name,
                what,
                f"the API key was refused (HTTP {status}); check {self.provider.key_variable}",
            )
        if status >= 400:
            raise MarketDataUnavailable(
                self.provider.name, what, f"HTTP {status}: {self._snippet(content)}"
            )
        try:
            return _Done(json.loads(content))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _Retry(f"expected a JSON body, found {self._snippet(content)!r}")

    def _wait_for(self, retry: _Retry, attempt: int) -> float:
        backoff = self._policy.backoff_s * 2**attempt
        asked = _retry_after_s(retry.retry_after)
        wait = asked if asked is not None else backoff
        return min(max(wait, 0.0), self._policy.max_wait_s)

    def _redact(self, text: str) -> str:
        key = self.provider.key
        return text.replace(key, _REDACTED) if key else text

    def _snippet(self, content: bytes) -> str:
        text = content[:120].decode("utf-8", errors="replace")
        return self._redact(text) + ("..." if len(content) > 120 else "")


@dataclass(frozen=True, slots=True)
class _Done:
    body: Any


@dataclass(frozen=True, slots=True)
class _Retry:
    reason: str
    retry_after: str | None = None


def _is_error(body: Any) -> bool:
    """Whether ``body`` is a provider's error object rather than an answer."""
    return isinstance(body, dict) and (
        "Error Message" in body or "error" in body or body.get("status") == "ERROR"
    )


def _retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None when
    it says nothing usable (absent, unreadable, not finite like ``nan``, or in the past)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
