"""The dashboard's guard: the token, signed sessions, CSRF fields and the login brake."""

from __future__ import annotations

from openbell.web.auth import FAILURE_WINDOW_S, MAX_FAILURES, SESSION_S, Guard

TOKEN = "a-token-of-twenty-chars"


class Tick:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_without_a_token_nothing_can_act_or_log_in() -> None:
    guard = Guard(None)
    assert not guard.can_act
    assert not guard.token_matches("")
    assert not guard.token_matches(TOKEN)
    assert not guard.bearer_matches(f"Bearer {TOKEN}")
    assert guard.session("1.2.3") is None


def test_the_token_and_the_bearer_header_must_match_exactly() -> None:
    guard = Guard(TOKEN)
    assert guard.token_matches(TOKEN)
    assert not guard.token_matches(TOKEN + "x")
    assert not guard.token_matches(TOKEN[:-1])
    assert not guard.token_matches(None)
    assert guard.bearer_matches(f"Bearer {TOKEN}")
    assert guard.bearer_matches(f"bearer {TOKEN}")
    assert not guard.bearer_matches(f"Basic {TOKEN}")
    assert not guard.bearer_matches("Bearer")
    assert not guard.bearer_matches(None)


def test_a_login_gives_a_session_that_checks_out_and_a_csrf_field_bound_to_it() -> None:
    clock = Tick()
    guard = Guard(TOKEN, clock)
    cookie = guard.login(TOKEN, "127.0.0.1")
    assert cookie is not None
    assert TOKEN not in cookie
    nonce = guard.session(cookie)
    assert nonce is not None
    csrf = guard.csrf_for(nonce)
    assert guard.csrf_matches(nonce, csrf)
    assert not guard.csrf_matches(nonce, None)
    assert not guard.csrf_matches(nonce, csrf[:-1] + ("0" if csrf[-1] != "0" else "1"))
    other = guard.session(guard.login(TOKEN, "127.0.0.1"))
    assert other is not None and other != nonce
    assert not guard.csrf_matches(other, csrf)  # one session's field is no good for another


def test_a_tampered_expired_or_foreign_session_is_refused() -> None:
    clock = Tick()
    guard = Guard(TOKEN, clock)
    cookie = guard.login(TOKEN, "127.0.0.1")
    assert cookie is not None
    issued, nonce, mac = cookie.split(".")
    assert guard.session(f"{issued}.{nonce}x.{mac}") is None
    assert guard.session(f"{int(issued) + 1}.{nonce}.{mac}") is None
    assert guard.session(f"{issued}.{nonce}.{'0' * len(mac)}") is None
    assert guard.session("garbage") is None
    assert guard.session("") is None
    assert Guard("another-token-of-20-chars", clock).session(cookie) is None
    clock.now += SESSION_S
    assert guard.session(cookie) is not None
    clock.now += 1
    assert guard.session(cookie) is None


def test_wrong_tokens_block_their_client_for_a_minute_and_no_other() -> None:
    clock = Tick()
    guard = Guard(TOKEN, clock)
    for _ in range(MAX_FAILURES - 1):
        assert guard.login("wrong", "10.0.0.9") is None
    assert not guard.blocked("10.0.0.9")
    guard.failed("10.0.0.9")  # a wrong Bearer token counts the same
    assert guard.blocked("10.0.0.9")
    assert not guard.blocked("127.0.0.1")  # the operator is not locked out by another client
    clock.now += FAILURE_WINDOW_S + 1
    assert not guard.blocked("10.0.0.9")
    assert guard.login(TOKEN, "10.0.0.9") is not None


def test_text_that_is_not_ascii_is_refused_not_an_error() -> None:
    guard = Guard(TOKEN)
    assert not guard.token_matches("t\u00e9l\u00e9phone")
    assert guard.session("1.a.\u00e9") is None
    assert guard.session("1.a.\udcff") is None
    nonce = guard.session(guard.login(TOKEN, "127.0.0.1"))
    assert nonce is not None
    assert not guard.csrf_matches(nonce, "\u00e9\udcff")
