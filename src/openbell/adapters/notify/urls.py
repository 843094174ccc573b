"""The secret parts of apprise URLs, to mask in logs (no apprise import: any process may
need them)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

_MIN_SECRET_LEN = 6


def url_secrets(urls: Iterable[str]) -> list[str]:
    """The parts of apprise URLs to mask in logs, longest first.

    Each whole URL, its user and password, its host and port unless the host has a dot (a
    bot token such as Telegram's sits there), every path segment and query value; only
    parts of six characters or more. Real host names stay readable.
    """
    found: set[str] = set()
    for url in urls:
        found.add(url)
        found.update(_url_parts(url))
    return sorted((s for s in found if len(s) >= _MIN_SECRET_LEN), key=len, reverse=True)


def _url_parts(url: str) -> list[str]:
    try:
        split = urlsplit(url)
        parts = [split.username or "", split.password or ""]
    except ValueError:  # a malformed URL: mask it whole, and its pieces roughly
        return [p for p in url.replace("?", "/").replace("&", "/").split("/") if p]
    host = split.netloc.rpartition("@")[2]
    if "." not in host:  # tgram://123456:ABC-token/chat keeps its token where a port goes
        parts += [host, *host.split(":")]
    segments = split.path.split("/")
    parts += segments + [unquote(p) for p in segments]
    parts += [value for _key, value in parse_qsl(split.query)]
    return [p for p in parts if p]
