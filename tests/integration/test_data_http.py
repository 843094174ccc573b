"""The providers' HTTP core against a real HTTP server on 127.0.0.1: retries, waits, errors,
pacing, the day cache, and a key that never leaks into a message or a log line."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from http_server import Reply, ScriptedServer

from openbell.adapters.data.cache import DayCache
from openbell.adapters.data.http import (
    HttpPolicy,
    JsonApi,
    KeyPlace,
    NotFoundAtProvider,
    Provider,
)
from openbell.domain.errors import MarketDataUnavailable, MissingSecret

KEY = "mk-7Q2zX9-distinctive-key"
VARIABLE = "OPENBELL__SECRETS__MASSIVE_API_KEY"
PATH = "/v2/aggs/ticker/AAPL/prev"
SETTLED = date(2024, 6, 11)
OK = Reply.json({"status": "OK", "results": [{"c": 1.5}]})


class FakeTime:
    """A monotonic clock that moves only when slept on; every wait is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def running_server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:  # one per module: stopping one takes half a second
        yield running


@pytest.fixture
def server(running_server: ScriptedServer) -> ScriptedServer:
    """The module's server with no request seen yet; each test routes the paths it uses."""
    running_server.requests.clear()
    return running_server


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_api(
    server: ScriptedServer,
    fake_time: FakeTime,
    *,
    key: str | None = KEY,
    key_place: KeyPlace = "bearer",
    cache: DayCache | None = None,
    **policy: float | None,
) -> JsonApi:
    settings: dict[str, float | None] = {"timeout_s": 2.0, "max_retries": 3, "backoff_s": 0.5}
    settings.update(policy)
    return JsonApi(
        Provider("massive", server.url, key, VARIABLE, key_place),
        HttpPolicy(**settings),  # type: ignore[arg-type]
        cache=cache,
        sleep=fake_time.sleep,
        monotonic=fake_time.monotonic,
    )


# --- 429 and Retry-After ---------------------------------------------------------------------
def test_a_429_waits_the_seconds_retry_after_asks_then_succeeds(
    server: ScriptedServer, fake_time: FakeTime
) -> None:
    server.route("GET", PATH, Reply.json({}, 429, headers={"Retry-After": "7"}), OK)
    with make_api(server, fake_time) as api:
        assert api.get(PATH) == {"status": "OK", "results": [{"c": 1.5}]}
    assert fake_time.waits == [7.0]
    assert len(server.seen(PATH)) == 2


def test_a_429_waits_until_the_http_date_retry_after_names(
    server: ScriptedServer, fake_time: FakeTime
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    server.route("GET", PATH, Reply.json({}, 429, headers={"Retry-After": when}), OK)
    with make_api(server, fake_time) as api:
        api.get(PATH)
    assert len(fake_time.waits) == 1
    assert 27.0 <= fake_time.waits[0] <= 30.0


def test_no_wait_is_longer_than_max_wait(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.route("GET", PATH, Reply.json({}, 429, headers={"Retry-After": "3600"}), OK)
    with make_api(server, fake_time, max_wait_s=20.0) as api:
        api.get(PATH)
    assert fake_time.waits == [20.0]


@pytest.mark.parametrize("said", ["nan", "inf", "-inf", "-5", "1e400"])
def test_a_retry_after_that_is_no_finite_wait_falls_back_to_the_backoff(
    server: ScriptedServer, fake_time: FakeTime, said: str
) -> None:
    server.route("GET", PATH, Reply.json({}, 429, headers={"Retry-After": said}), OK)
    with make_api(server, fake_time) as api:
        assert api.get(PATH) == {"status": "OK", "results": [{"c": 1.5}]}
    assert fake_time.waits == [0.5]  # the first backoff; sleep(nan) would raise ValueError


def test_a_429_forever_fails_after_max_retries_plus_one_attempts(
    server: ScriptedServer, fake_time: FakeTime
) -> None:
    server.route("GET", PATH, Reply.json({"status": "ERROR"}, 429))
    with make_api(server, fake_time) as api, pytest.raises(MarketDataUnavailable) as raised:
        api.get(PATH)
    assert len(server.seen(PATH)) == 4
    assert fake_time.waits == [0.5, 1.0, 2.0]  # no Retry-After: exponential backoff
    assert raised.value.provider == "massive"
    assert "rate limited (HTTP 429) (4 attempts)" in str(raised.value)
    assert f"GET {PATH}" in str(raised.value)


def test_a_real_retry_after_is_really_waited(server: ScriptedServer) -> None:
    server.route("GET", PATH, Reply.json({}, 429, headers={"Retry-After": "1"}), OK)
    api = JsonApi(
        Provider("massive", server.url, KEY, VARIABLE), HttpPolicy(timeout_s=2.0, max_retries=1)
    )
    started = time.monotonic()
    with api:
        api.get(PATH)
    assert time.monotonic() - started >= 1.0
    assert len(server.seen(PATH)) == 2


# --- server errors, timeouts, broken bodies --------------------------------------------------
def test_a_500_is_retried_then_succeeds(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.route("GET", PATH, Reply.text("boom", 500), Reply.text("boom", 503), OK)
    with make_api(server, fake_time) as api:
        assert api.get(PATH)["status"] == "OK"
    assert fake_time.waits == [0.5, 1.0]
    assert len(server.seen(PATH)) == 3


def test_a_server_too_slow_is_retried_then_reported(
    server: ScriptedServer, fake_time: FakeTime
) -> None:
    server.route("GET", PATH, Reply.json({}, delay_s=0.3))
    with (
        make_api(server, fake_time, timeout_s=0.05, max_retries=1) as api,
        pytest.raises(MarketDataUnavailable, match=r"no answer within 0\.05 s \(2 attempts\)"),
    ):
        api.get(PATH)
    assert len(server.seen(PATH)) == 2


def test_a_truncated_body_is_retried(server: ScriptedServer, fake_time: FakeTime) -> None:
    cut = Reply.json({"status": "OK", "results": [{"c": 1.5}]}, truncate_to=9)
    server.route("GET", PATH, cut, OK)
    with make_api(server, fake_time) as api:
        assert api.get(PATH)["results"] == [{"c": 1.5}]
    assert len(server.seen(PATH)) == 2


def test_a_body_truncated_every_time_is_a_clear_error(
    server: ScriptedServer, fake_time: FakeTime
) -> None:
    server.route("GET", PATH, Reply.json({"status": "OK", "results": []}, truncate_to=4))
    with (
        make_api(server, fake_time, max_retries=2) as api,
        pytest.raises(MarketDataUnavailable, match=r"connection broke mid-answer.*3 attempts"),
    ):
        api.get(PATH)


def test_a_body_that_is_not_json_says_what_it_was(
    server: ScriptedServer, fake_time: FakeTime
) -> None:
    server.route("GET", PATH, Reply.text("<html>maintenance</html>"))
    with (
        make_api(server, fake_time, max_retries=1) as api,
        pytest.raises(MarketDataUnavailable) as e,
    ):
        api.get(PATH)
    assert "expected a JSON body, found '<html>maintenance</html>'" in str(e.value)
    assert len(server.seen(PATH)) == 2


# --- refusals: no retry ----------------------------------------------------------------------
@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_not_retried_and_names_the_variable(
    server: ScriptedServer, fake_time: FakeTime, status: int
) -> None:
    server.route("GET", PATH, Reply.json({"status": "NOT_AUTHORIZED"}, status))
    with make_api(server, fake_time) as api, pytest.raises(MarketDataUnavailable) as raised:
        api.get(PATH)
    assert len(server.seen(PATH)) == 1
    assert fake_time.waits == []
    assert f"the API key was refused (HTTP {status}); check {VARIABLE}" in str(raised.value)
    assert KEY not in str(raised.value)


def test_a_404_is_not_found_at_the_provider(server: ScriptedServer, fake_time: FakeTime) -> None:
    with make_api(server, fake_time) as api, pytest.raises(NotFoundAtProvider, match="HTTP 404"):
        api.get("/v3/reference/tickers/NOPE")
    assert len(server.seen("/v3/reference/tickers/NOPE")) == 1


def test_another_4xx_is_not_retried_and_shows_the_answer(
    server: ScriptedServer, fake_time: FakeTime
) -> None:
    server.route("GET", PATH, Reply.json({"status": "ERROR", "error": "bad date"}, 400))
    with make_api(server, fake_time) as api, pytest.raises(MarketDataUnavailable, match="bad date"):
        api.get(PATH)
    assert len(server.seen(PATH)) == 1


def test_a_402_says_the_plan_does_not_include_the_endpoint(
    server: ScriptedServer, fake_time: FakeTime
) -> None:
    server.route("GET", PATH, Reply.json({"Error Message": "Restricted Endpoint"}, 402))
    with make_api(server, fake_time) as api, pytest.raises(MarketDataUnavailable) as raised:
        api.get(PATH)
    assert "the plan does not include this endpoint (HTTP 402)" in str(raised.value)
    assert len(server.seen(PATH)) == 1  # a plan does not change between retries


def test_a_missing_key_is_refused_before_any_request(
    server: ScriptedServer, fake_time: FakeTime
) -> None:
    with make_api(server, fake_time, key=None) as api, pytest.raises(MissingSecret) as raised:
        api.get(PATH)
    assert raised.value.variable == VARIABLE
    assert server.requests == []


# --- pacing ----------------------------------------------------------------------------------
def test_pacing_spaces_requests_evenly(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.route("GET", PATH, OK)
    with make_api(server, fake_time, requests_per_minute=120) as api:
        for _ in range(3):
            api.get(PATH)
    assert fake_time.waits == [0.5, 0.5]
    assert len(server.seen(PATH)) == 3


# --- the day cache ---------------------------------------------------------------------------
def test_a_settled_answer_is_served_from_disk_the_second_time(
    server: ScriptedServer, fake_time: FakeTime, tmp_path: Path
) -> None:
    server.route("GET", PATH, OK)
    with make_api(server, fake_time, cache=DayCache(tmp_path, "massive")) as api:
        first = api.get(PATH, {"adjusted": "false"}, cache_day=SETTLED)
        again = api.get(PATH, {"adjusted": "false"}, cache_day=SETTLED)
        other = api.get(PATH, {"adjusted": "true"}, cache_day=SETTLED)
    assert first == again == other
    assert len(server.seen(PATH)) == 2  # the other parameters are another request
    with make_api(server, fake_time, key=None, cache=DayCache(tmp_path, "massive")) as api:
        assert api.get(PATH, {"adjusted": "false"}, cache_day=SETTLED) == first  # no key needed
    assert len(server.seen(PATH)) == 2


def test_a_corrupt_cache_file_is_ignored_and_replaced(
    server: ScriptedServer, fake_time: FakeTime, tmp_path: Path
) -> None:
    server.route("GET", PATH, OK)
    with make_api(server, fake_time, cache=DayCache(tmp_path, "massive")) as api:
        api.get(PATH, cache_day=SETTLED)
        (file,) = (tmp_path / "massive" / SETTLED.isoformat()).glob("*.json")
        file.write_text('{"request": "trunc', encoding="utf-8")
        assert api.get(PATH, cache_day=SETTLED)["status"] == "OK"
        assert len(server.seen(PATH)) == 2
        assert json.loads(file.read_text(encoding="utf-8"))["body"]["status"] == "OK"
        assert api.get(PATH, cache_day=SETTLED)["status"] == "OK"
    assert len(server.seen(PATH)) == 2


def test_a_cache_file_of_another_request_is_not_served(
    server: ScriptedServer, fake_time: FakeTime, tmp_path: Path
) -> None:
    server.route("GET", PATH, OK)
    cache = DayCache(tmp_path, "massive")
    with make_api(server, fake_time, cache=cache) as api:
        api.get(PATH, cache_day=SETTLED)
        (file,) = (tmp_path / "massive" / SETTLED.isoformat()).glob("*.json")
        file.write_text(json.dumps({"request": "another", "body": {"x": 1}}), encoding="utf-8")
        assert api.get(PATH, cache_day=SETTLED)["status"] == "OK"
    assert len(server.seen(PATH)) == 2


def test_answers_without_a_settled_day_always_ask_the_server(
    server: ScriptedServer, fake_time: FakeTime, tmp_path: Path
) -> None:
    snapshot = "/v2/snapshot/locale/us/markets/stocks/tickers"
    server.route("GET", snapshot, Reply.json({"status": "OK", "tickers": []}))
    with make_api(server, fake_time, cache=DayCache(tmp_path, "massive")) as api:
        api.get(snapshot)
        api.get(snapshot)
    assert len(server.seen(snapshot)) == 2
    assert not (tmp_path / "massive").exists()


def test_cache_if_keeps_only_the_answers_it_accepts(
    server: ScriptedServer, fake_time: FakeTime, tmp_path: Path
) -> None:
    empty = Reply.json({"status": "OK", "resultsCount": 0})
    server.route("GET", PATH, empty, empty, OK)
    with make_api(server, fake_time, cache=DayCache(tmp_path, "massive")) as api:

        def has_results(body: object) -> bool:
            return isinstance(body, dict) and bool(body.get("results"))

        for _ in range(4):
            api.get(PATH, cache_day=SETTLED, cache_if=has_results)
    assert len(server.seen(PATH)) == 3  # two empty answers asked again; the third kept


@pytest.mark.parametrize(
    "error",
    [
        {"Error Message": "Limit Reach . Please upgrade your plan"},
        {"error": "plan limit"},
        {"status": "ERROR", "request_id": "a1"},
    ],
)
def test_an_error_object_with_http_200_is_never_served_from_the_cache(
    server: ScriptedServer, fake_time: FakeTime, tmp_path: Path, error: dict[str, str]
) -> None:
    server.route("GET", PATH, Reply.json(error), Reply.json(error), OK)
    with make_api(server, fake_time, cache=DayCache(tmp_path, "massive")) as api:
        assert api.get(PATH, cache_day=SETTLED) == error
        assert api.get(PATH, cache_day=SETTLED) == error
        assert api.get(PATH, cache_day=SETTLED)["status"] == "OK"
        assert api.get(PATH, cache_day=SETTLED)["status"] == "OK"
    assert len(server.seen(PATH)) == 3  # both errors asked again; the answer kept


# --- the key ---------------------------------------------------------------------------------
@pytest.mark.parametrize("place", ["bearer", "query"])
def test_the_key_reaches_the_server_but_no_message_or_log(
    server: ScriptedServer,
    fake_time: FakeTime,
    caplog: pytest.LogCaptureFixture,
    place: KeyPlace,
) -> None:
    caplog.set_level(logging.DEBUG)
    server.route("GET", "/refused", Reply.json({"error": f"bad key {KEY}"}, 401))
    server.route("GET", "/limited", Reply.json({}, 429))
    server.route("GET", "/broken", Reply.text(f"oops {KEY}", 500))
    server.route("GET", "/cut", Reply.json({"echo": KEY}, truncate_to=5))
    server.route("GET", "/garbage", Reply.text(f"not json {KEY}"))
    server.route("GET", "/slow", Reply.json({}, delay_s=0.3))
    server.route("GET", "/bad", Reply.text(f"bad request {KEY}", 400))
    messages = []
    with make_api(server, fake_time, key_place=place, timeout_s=0.05, max_retries=1) as api:
        for path in ("/refused", "/limited", "/broken", "/cut", "/garbage", "/slow", "/bad"):
            with pytest.raises(MarketDataUnavailable) as raised:
                api.get(path, {"symbol": "AAPL"})
            messages.append(str(raised.value))
    assert all(KEY not in message for message in messages), messages
    assert KEY not in caplog.text
    assert KEY not in repr(api.provider)
    assert "***" in messages[-1]  # the server's echo of the key was redacted
    first = server.requests[0]
    if place == "bearer":
        assert first.headers["authorization"] == f"Bearer {KEY}"
        assert "apikey" not in first.query
    else:
        assert first.query["apikey"] == [KEY]
        assert "authorization" not in first.headers
