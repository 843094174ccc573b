"""A scripted HTTP server on 127.0.0.1 for testing the HTTP clients (Massive, FMP, LLMs).

Each route answers from a queue of scripted replies, then repeats its last one; every
request is kept, so a test can assert on what the client sent (paths, query, headers,
bodies). A reply may delay, cut its body short, drop the connection, or trickle keep-alive
bytes before its body (as a provider does while a request waits in its queue).

    with ScriptedServer() as server:
        server.route("GET", "/v2/aggs/ticker/AAPL/prev", Reply.json({...}))
        server.route("GET", "/v2/snapshot", Reply(429, headers={"Retry-After": "1"}), ok)
        client = Client(base_url=server.url)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    """Wait this long before answering (a slow or hung server)."""
    truncate_to: int | None = None
    """Announce the full Content-Length but send only this many bytes, then close."""
    trickle: bytes = b""
    """Send the body chunked, preceded by this every ``trickle_every_s`` seconds for
    ``trickle_for_s`` seconds, or until the client hangs up when that is None (DeepSeek sends
    blank lines while a request is queued)."""
    trickle_every_s: float = 0.2
    trickle_for_s: float | None = None

    @classmethod
    def json(cls, payload: Any, status: int = 200, **kwargs: Any) -> Reply:
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        return cls(status, json.dumps(payload).encode(), headers, **kwargs)

    @classmethod
    def text(cls, text: str, status: int = 200, **kwargs: Any) -> Reply:
        headers = {"Content-Type": "text/plain", **kwargs.pop("headers", {})}
        return cls(status, text.encode(), headers, **kwargs)


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Responder = Callable[[Seen], Reply]


def _trickle(handler: BaseHTTPRequestHandler, reply: Reply, closing: threading.Event) -> None:
    """Answer ``reply`` chunked, its body preceded by ``reply.trickle`` again and again."""
    handler.send_response(reply.status)
    for name, value in reply.headers.items():
        handler.send_header(name, value)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    ends_at = None if reply.trickle_for_s is None else time.monotonic() + reply.trickle_for_s
    try:
        while ends_at is None or time.monotonic() < ends_at:
            if closing.is_set():  # the server is stopping: leave the answer unfinished
                handler.close_connection = True
                return
            _chunk(handler, reply.trickle)
            time.sleep(reply.trickle_every_s)
        if reply.body:
            _chunk(handler, reply.body)
        _chunk(handler, b"")  # the last chunk
    except (BrokenPipeError, ConnectionResetError):  # the client hung up
        handler.close_connection = True


def _chunk(handler: BaseHTTPRequestHandler, data: bytes) -> None:
    handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
    handler.wfile.flush()


class _Route:
    def __init__(self, replies: list[Reply | Responder]) -> None:
        self._replies = replies
        self._lock = threading.Lock()

    def next(self, seen: Seen) -> Reply:
        with self._lock:
            reply = self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]
        return reply(seen) if callable(reply) else reply


class ScriptedServer:
    """Routes are matched on method and exact path; anything else answers 404."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], _Route] = {}
        self._otherwise: Reply = Reply.json({"error": "no route"}, 404)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.requests: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body leave in two writes: with Nagle's algorithm and the client's
            # delayed ACK, every answer would wait 40 ms
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command,
                    split.path,
                    parse_qs(split.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                with server._lock:
                    server.requests.append(seen)
                    route = server._routes.get((self.command, split.path))
                reply = route.next(seen) if route else server._otherwise
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.trickle:
                    _trickle(self, reply, server._closing)
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                if reply.truncate_to is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                try:
                    if reply.truncate_to is None:
                        self.wfile.write(reply.body)
                    else:
                        self.wfile.write(reply.body[: reply.truncate_to])
                        self.wfile.flush()
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    self.close_connection = True

            do_GET = do_POST = _serve  # noqa: N815 - the names http.server dispatches on

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: tests assert on server.requests instead

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, method: str, path: str, *replies: Reply | Responder) -> None:
        """Answer ``method path`` with ``replies`` in turn, then keep repeating the last."""
        if not replies:
            raise ValueError("a route needs at least one reply")
        with self._lock:
            self._routes[(method, path)] = _Route(list(replies))

    def otherwise(self, reply: Reply) -> None:
        """Answer every request no route matches with ``reply`` (404 until set)."""
        self._otherwise = reply

    def seen(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()  # ends the replies still trickling
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def served() -> Iterator[ScriptedServer]:
    """A pytest fixture body: ``server = pytest.fixture(served)``."""
    with ScriptedServer() as server:
        yield server
