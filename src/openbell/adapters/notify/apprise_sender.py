"""Notifications through apprise: one URL per channel (``tgram://``, ``discord://``,
``slack://``, ``mailto://``, ``json://`` ...), see https://appriseit.com/services/.

Apprise URLs carry tokens. They never reach a log: apprise (and urllib3 under it) log URLs at
debug level, so while a sender is open every record of those loggers has each secret part of
each URL masked, whatever handler receives it. The process's own handlers mask them as well
(:func:`~openbell.adapters.notify.urls.url_secrets` feeds the runtime's redaction).

Importing apprise costs ~0.1 s: only the notifier process imports this module.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from types import TracebackType

import apprise

from openbell.adapters.notify.urls import url_secrets
from openbell.adapters.redact import RedactSecrets
from openbell.domain.errors import InvalidValue

log = logging.getLogger(__name__)

_VENDOR_LOGGERS = (
    "apprise",
    "urllib3.connectionpool",
    "urllib3.poolmanager",
    "urllib3.util.retry",
    "requests_oauthlib.oauth2_session",
)
_TYPES = {t.value: t for t in apprise.NotifyType}


class AppriseSender:
    """Send each notice to every configured apprise URL, within ``timeout_s`` in all.

    Building it parses the URLs (no network); an unusable URL is refused saying which one
    (by position) and its scheme, never its text. :meth:`send` never raises: a channel that
    fails, answers an error or hangs past the timeout makes it return False.
    """

    def __init__(self, urls: Sequence[str], timeout_s: float) -> None:
        if not urls:
            raise InvalidValue("notifications.urls", "at least one apprise URL", "none")
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise InvalidValue("notifications.timeout_s", "a positive number of s", timeout_s)
        self._timeout_s = timeout_s
        self._filter = RedactSecrets(url_secrets(urls))
        for name in _VENDOR_LOGGERS:
            logging.getLogger(name).addFilter(self._filter)
        try:
            self._apprise = self._build(urls)
        except Exception:
            self.close()
            raise

    def _build(self, urls: Sequence[str]) -> apprise.Apprise:
        with warnings.catch_warnings():
            # apprise loads its plugins on first use; its e-mail plugin imports the stdlib's
            # deprecated imghdr (gone in 3.13, where apprise installs its own shim)
            warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
            return self._channels(urls)

    def _channels(self, urls: Sequence[str]) -> apprise.Apprise:
        asset = apprise.AppriseAsset(storage_mode="memory", service_timeout=self._timeout_s)
        channels = apprise.Apprise(asset=asset)
        for number, url in enumerate(urls, start=1):
            plugin = apprise.Apprise.instantiate(url, asset=asset)
            if plugin is None:
                scheme = url.partition("://")[0] if "://" in url else "no scheme"
                raise InvalidValue(
                    f"notifications.urls[{number}]",
                    "an apprise URL such as json://host/path or tgram://token/chat",
                    f"an unusable {scheme}:// URL (its text is withheld: it may hold a token)",
                )
            # a socket that stalls must not outlive the send's own deadline
            plugin.socket_connect_timeout = min(plugin.socket_connect_timeout, self._timeout_s)
            plugin.socket_read_timeout = min(plugin.socket_read_timeout, self._timeout_s)
            channels.add(plugin)
        return channels

    @property
    def channels(self) -> int:
        return len(self._apprise)

    def send(self, title: str, body: str, severity: str) -> bool:
        """Deliver to every channel; True only if each accepted it in time."""
        notify_type = _TYPES.get(severity, apprise.NotifyType.INFO)
        try:
            result = self._apprise.notify(
                body=body,
                title=title,
                notify_type=notify_type,
                body_format=apprise.NotifyFormat.TEXT,
                timeout=self._timeout_s,
            )
        except Exception as exc:  # vendor code: whatever it raises is a failed send
            log.warning("notice %r not sent: apprise raised %s", title, type(exc).__name__)
            return False
        if not result:
            log.warning("notice %r not delivered to every channel: %s", title, result.status.name)
        return bool(result)

    def close(self) -> None:
        """Stop masking the vendor loggers (the sender is unusable afterwards)."""
        for name in _VENDOR_LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)

    def __enter__(self) -> AppriseSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
