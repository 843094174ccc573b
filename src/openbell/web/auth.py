"""Who may act on the dashboard: the token, the session cookie and the CSRF field.

- Every action (approve, reject, the kill switch) needs the token from the settings, either
  as ``Authorization: Bearer <token>`` (scripts) or through a session a person opened by
  typing the token on the login page (browsers).
- A session is a cookie signed with the token (HMAC-SHA256): ``<issued>.<nonce>.<mac>``. It is
  HttpOnly and SameSite=Strict, and expires after :data:`SESSION_S`. Changing the token
  ends every session.
- A form that acts also carries a CSRF field derived from the session (HMAC again), which
  another site cannot read, so it cannot forge the form. The Origin header, when the browser
  sends one, must be the dashboard's own.
- Wrong tokens (at the login page or in a Bearer header) are counted per client address:
  after :data:`MAX_FAILURES` in a minute that client is refused for a minute, so the token
  cannot be guessed quickly, and one noisy client does not lock out the others.

The token is never logged, put in a URL, or shown.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable

SESSION_COOKIE = "openbell_session"
SESSION_S = 12 * 3600
MAX_FAILURES = 5
FAILURE_WINDOW_S = 60.0


class Guard:
    """Checks tokens, sessions and CSRF fields against the token from the settings."""

    def __init__(self, token: str | None, clock: Callable[[], float] = time.time) -> None:
        self._key = token.encode() if token else None
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @property
    def can_act(self) -> bool:
        """Whether actions are possible at all (a token is set)."""
        return self._key is not None

    def _mac(self, message: str) -> str:
        assert self._key is not None  # callers check can_act first
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def token_matches(self, offered: str | None) -> bool:
        """Whether ``offered`` is the token (compared in constant time)."""
        if self._key is None or not offered:
            return False
        return hmac.compare_digest(offered.encode(errors="replace"), self._key)

    def bearer_matches(self, authorization: str | None) -> bool:
        """Whether an ``Authorization: Bearer <token>`` header carries the token."""
        if not authorization:
            return False
        scheme, _, value = authorization.partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(value.strip())

    # --- login ----------------------------------------------------------------------------

    def blocked(self, client: str) -> bool:
        """Whether ``client`` gave too many wrong tokens in the last minute."""
        with self._lock:
            failures = self._failures.get(client)
            if failures is None:
                return False
            cutoff = self._clock() - FAILURE_WINDOW_S
            while failures and failures[0] < cutoff:
                failures.popleft()
            if not failures:
                del self._failures[client]
            return len(failures) >= MAX_FAILURES

    def failed(self, client: str) -> None:
        """Count a wrong token from ``client``."""
        with self._lock:
            self._failures.setdefault(client, deque()).append(self._clock())

    def login(self, offered: str | None, client: str) -> str | None:
        """A new session cookie value if ``offered`` is the token, else None (counted)."""
        if self.token_matches(offered):
            return self._new_session()
        self.failed(client)
        return None

    def _new_session(self) -> str:
        issued = str(int(self._clock()))
        nonce = secrets.token_urlsafe(18)
        return f"{issued}.{nonce}.{self._mac(f'session|{issued}|{nonce}')}"

    # --- sessions and CSRF ----------------------------------------------------------------

    def session(self, cookie: str | None) -> str | None:
        """The session's nonce if ``cookie`` is a valid, unexpired session; else None."""
        if self._key is None or not cookie:
            return None
        issued, _, rest = cookie.partition(".")
        nonce, _, mac = rest.partition(".")
        if not (issued.isdigit() and nonce and mac):
            return None
        expected = self._mac(f"session|{issued}|{nonce}").encode()
        if not hmac.compare_digest(mac.encode(errors="replace"), expected):
            return None
        age = self._clock() - int(issued)
        return nonce if 0 <= age <= SESSION_S else None

    def csrf_for(self, nonce: str) -> str:
        """The CSRF field value that goes with the session ``nonce``."""
        return self._mac(f"csrf|{nonce}")

    def csrf_matches(self, nonce: str, offered: str | None) -> bool:
        if not offered:
            return False
        expected = self.csrf_for(nonce).encode()
        return hmac.compare_digest(offered.encode(errors="replace"), expected)
