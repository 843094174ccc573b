"""The dashboard in a real browser: headless Chromium (Playwright) against ``openbell dashboard``.

Each dashboard is a real process over a seeded ledger (FCX held, RCAT and BBAR waiting for a
person). Tests that must leave the ledger as seeded share one dashboard per module; the tests
that act (approve and reject; the kill switch) share a second one, each on its own part of the
ledger; the read-only dashboard (no token) is a third. Every action is checked twice: on the
page the person sees, and in the ledger afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser import launched_browser
from dashboard import DAY, TOKEN, dashboard, dashboard_env, seed_ledger
from playwright.sync_api import APIResponse, Browser, Page, Response, expect

from openbell.adapters.clock import ManualClock
from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.domain.records import Approval, Control, LedgerEvent, OperatorRequest

WAIT_MS = 10_000
CSRF_FIELD = "input[name=csrf]"


@dataclass(frozen=True)
class Board:
    """A running dashboard and the ledger it shows."""

    url: str
    workdir: Path

    @property
    def ledger(self) -> Path:
        return self.workdir / "ledger.sqlite"


@dataclass(frozen=True)
class LedgerState:
    """What an action may change: the day's approvals, the controls, the requests, the log."""

    approvals: tuple[Approval, ...]
    controls: dict[str, Control]
    requests: tuple[OperatorRequest, ...]
    events: tuple[LedgerEvent, ...]

    def approval(self, approval_id: int) -> Approval:
        return next(a for a in self.approvals if a.approval_id == approval_id)


def ledger_state(board: Board) -> LedgerState:
    clock = ManualClock(datetime(2000, 1, 1, tzinfo=UTC))
    ledger = SqliteLedger.open(board.ledger, clock, process="test")
    try:
        return LedgerState(
            approvals=tuple(ledger.approvals(DAY)),
            controls=dict(ledger.controls()),
            requests=tuple(ledger.pending_requests()),
            events=tuple(ledger.events(limit=10_000)),
        )
    finally:
        ledger.close()


@contextmanager
def started(workdir: Path, token: str | None = TOKEN) -> Iterator[Board]:
    seed_ledger(workdir / "ledger.sqlite")
    with dashboard(workdir, dashboard_env(workdir, token)) as running:
        yield Board(running.url, workdir)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_browser() as launched:
        yield launched


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    """One dashboard for the tests that must leave its ledger exactly as seeded."""
    with started(tmp_path_factory.mktemp("dashboard")) as board:
        yield board


@pytest.fixture(scope="module")
def acting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    """One dashboard for the tests that act: each changes its own part of the ledger (the
    approvals, or the controls and requests) and checks only that part."""
    with started(tmp_path_factory.mktemp("acting")) as board:
        yield board


@pytest.fixture(scope="module")
def guessed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    """One dashboard for the tests that send wrong tokens: five from one address lock it
    out for a minute, which must not reach the tests that log in."""
    with started(tmp_path_factory.mktemp("guessed")) as board:
        yield board


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh browser context: no cookie, nobody logged in."""
    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


# --- helpers --------------------------------------------------------------------------------


def visit(page: Page, url: str) -> Response:
    """Open ``url``; the page must answer 200."""
    response = page.goto(url)
    assert response is not None, url
    assert response.status == 200, f"{url}: {response.status}\n{page.inner_text('body')}"
    return response


def submit(page: Page, button: str, path: str, status: int, method: str = "POST") -> None:
    """Click ``button`` (a form's submit); the form's request to ``path`` must get ``status``."""

    def sent(response: Response) -> bool:
        return response.request.method == method and response.url.endswith(path)

    with page.expect_response(sent) as answer:
        page.click(button)
    page.wait_for_load_state()
    found = answer.value.status
    shown = page.inner_text("main") if found != 303 else ""
    assert found == status, f"{method} {path}: expected {status}, found {found}: {shown}"


def log_in(page: Page, board: Board) -> None:
    visit(page, f"{board.url}/login")
    page.fill("#token", TOKEN)
    submit(page, "#login", "/login", 303)
    page.wait_for_url(f"{board.url}/today")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    cookies = {c["name"] for c in page.context.cookies()}
    assert "openbell_session" in cookies


def csrf_of(page: Page, board: Board) -> str:
    """The CSRF field of this session's forms (read from the kill-switch page)."""
    visit(page, f"{board.url}/kill")
    value = page.locator(f"#kill-form {CSRF_FIELD}").get_attribute("value")
    assert value, "expected a CSRF field on the kill form"
    return value


def post(page: Page, url: str, **options: Any) -> APIResponse:
    """A POST from the page's context (its cookies, none of a form's fields unless given)."""
    return page.request.post(url, max_redirects=0, **options)


def message_of(response: APIResponse) -> str:
    found = re.search(r'id="message">(.*?)</p>', response.text(), re.DOTALL)
    assert found, response.text()
    return found.group(1)


@contextmanager
def another_page(page: Page) -> Iterator[Page]:
    """A page in a second, separate browser context (another person)."""
    browser = page.context.browser
    assert browser is not None
    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


# --- every page loads -----------------------------------------------------------------------


def test_today_shows_the_held_position_and_the_waiting_banner(shared: Board, page: Page) -> None:
    visit(page, f"{shared.url}/")  # the root redirects here
    assert page.url == f"{shared.url}/today"
    expect(page.locator("#positions td[data-col=symbol]")).to_have_text(["FCX"])
    expect(page.locator("#positions td[data-col=held]")).to_have_text(["1000"])
    expect(page.locator("#waiting")).to_contain_text("2 rescan request(s) waiting")
    expect(page.locator("#processes")).to_contain_text("day-trader")
    expect(page.locator("#mode")).to_have_text("sim")
    expect(page.locator("#login-link")).to_be_visible()


def test_approvals_lists_both_waiting_requests(shared: Board, page: Page) -> None:
    visit(page, f"{shared.url}/approvals?day={DAY.isoformat()}")
    expect(page.locator("#approval-1 td[data-col=symbol]")).to_have_text("RCAT")
    expect(page.locator("#approval-2 td[data-col=symbol]")).to_have_text("BBAR")
    expect(page.locator("#waiting td[data-col=status]")).to_have_text(["PENDING", "PENDING"])
    expect(page.locator("#of-day td[data-col=symbol]")).to_have_text(["RCAT", "BBAR"])


REPORT_SECTIONS = {
    "pnl": ["trades", "summary"],
    "fills": ["fills", "round trips", "by symbol"],
    "targets": ["targets", "summary"],
    "picks": ["picks", "accuracy"],
    "health": ["processes", "timeline"],
}


def test_each_report_renders_from_the_form(shared: Board, page: Page) -> None:
    visit(page, f"{shared.url}/reports")
    options = page.locator("#report option").all_inner_texts()
    assert options == list(REPORT_SECTIONS)
    for report in options:
        page.select_option("#report", report)
        page.fill("#day", DAY.isoformat())
        path = f"/reports?report={report}&day={DAY}&to="
        submit(page, "#show", path, 200, "GET")
        expect(page.locator("#report")).to_have_value(report)
        expect(page.locator("#day")).to_have_value(DAY.isoformat())
        expect(page.locator("main h2")).to_have_text(REPORT_SECTIONS[report])
        if report == "fills":
            by_symbol = page.locator("[data-table='by symbol'] td[data-col=symbol]")
            expect(by_symbol).to_have_text(["FCX"])
        if report == "health":
            expect(page.locator("[data-kind=note]")).to_contain_text(f"{DAY}: 0 restarts")
            expect(page.locator("[data-table=processes]")).to_contain_text("running")
        if report == "targets":
            expect(page.locator("[data-kind=note]")).to_have_text("no profit targets on this day")


def test_reports_load_straight_from_a_url(shared: Board, page: Page) -> None:
    """The reports answer 200 straight from a URL too; a bad report name is refused (400)."""
    for report in ("pnl", "fills", "health"):
        visit(page, f"{shared.url}/reports?report={report}")
    for report in ("targets", "picks"):
        visit(page, f"{shared.url}/reports?report={report}&day={DAY}")
    response = page.goto(f"{shared.url}/reports?report=nonsense")
    assert response is not None
    assert response.status == 400
    expect(page.locator("#message")).to_contain_text("report: expected one of pnl")


def test_history_shows_the_approval_request(shared: Board, page: Page) -> None:
    visit(page, f"{shared.url}/history")
    page.fill("#symbol", "rcat")
    submit(page, "#look", "/history?symbol=rcat&day=", 200, "GET")
    expect(page.locator("#history td[data-col=kind]")).to_have_text(["APPROVAL_REQUESTED"])
    expect(page.locator("#history td[data-col=detail]")).to_contain_text("buy RCAT at market")
    visit(page, f"{shared.url}/history?symbol=RCAT")
    expect(page.locator("#history")).to_contain_text("APPROVAL_REQUESTED")


def test_kill_page_shows_what_would_be_flattened(shared: Board, page: Page) -> None:
    visit(page, f"{shared.url}/kill")
    expect(page.locator("#held td[data-col=symbol]")).to_have_text(["FCX"])
    expect(page.locator("#presence")).to_contain_text("exit-manager is not running")
    expect(page.locator("#kill-on")).to_have_count(0)
    expect(page.locator("#kill")).to_have_count(0)  # nobody is logged in
    expect(page.locator("main")).to_contain_text("Log in to use the kill switch")


# --- nobody logged in -----------------------------------------------------------------------


def test_visitor_sees_no_decide_buttons(shared: Board, page: Page) -> None:
    visit(page, f"{shared.url}/approvals")
    for approval_id in (1, 2):
        row = page.locator(f"#approval-{approval_id}")
        expect(row.get_by_role("link", name="log in to decide")).to_be_visible()
        expect(row.get_by_role("button")).to_have_count(0)
    expect(page.locator("#approve-1, #reject-1, #approve-2, #reject-2")).to_have_count(0)


def test_action_without_a_session_is_refused(shared: Board, page: Page) -> None:
    before = ledger_state(shared)
    answer = post(page, f"{shared.url}/approvals/1/approve")
    assert answer.status == 401
    assert "log in first" in message_of(answer)
    answer = post(page, f"{shared.url}/kill", form={"confirm": "KILL", "csrf": "x"})
    assert answer.status == 401
    after = ledger_state(shared)
    assert after == before
    assert after.approval(1).status == "PENDING"
    assert "kill_switch" not in after.controls


def test_action_with_a_wrong_bearer_token_is_refused(guessed: Board, page: Page) -> None:
    before = ledger_state(guessed)
    for authorization in (f"Bearer {TOKEN}x", "Bearer ", f"Basic {TOKEN}", TOKEN):
        answer = post(
            page,
            f"{guessed.url}/approvals/1/approve",
            headers={"Authorization": authorization},
        )
        assert answer.status == 401, authorization
    assert ledger_state(guessed) == before
    assert before.approval(1).status == "PENDING"


def test_wrong_token_on_the_login_page_logs_nobody_in(guessed: Board, page: Page) -> None:
    visit(page, f"{guessed.url}/login")
    page.fill("#token", "not-the-token-at-all")
    submit(page, "#login", "/login", 401)
    expect(page.locator("#message")).to_contain_text("expected the dashboard token")
    assert page.context.cookies() == []
    visit(page, f"{guessed.url}/approvals")
    expect(page.locator("#approve-1")).to_have_count(0)
    expect(page.locator("#login-link")).to_be_visible()


# --- a person logged in ---------------------------------------------------------------------


def test_logged_in_person_approves_and_rejects(acting: Board, page: Page) -> None:
    log_in(page, acting)
    visit(page, f"{acting.url}/approvals")
    csrf = page.locator(f"#approval-1 {CSRF_FIELD}").first.get_attribute("value")
    assert csrf

    submit(page, "#approve-1", "/approvals/1/approve", 303)  # then the request's own page
    page.wait_for_url(f"{acting.url}/approvals/1")
    expect(page.locator("#message")).to_contain_text("request 1 (RCAT) APPROVED by dashboard:")
    page.reload()  # a reload shows the page again; it decides nothing twice
    state = ledger_state(acting)
    approved = state.approval(1)
    assert approved.status == "APPROVED"
    assert approved.decided_by is not None
    assert approved.decided_by.startswith("dashboard:session@")
    assert state.approval(2).status == "PENDING"
    assert [(e.kind, e.data) for e in state.events if e.kind.startswith("APPROVAL_")] == [
        ("APPROVAL_REQUESTED", {"approval_id": 1}),
        ("APPROVAL_REQUESTED", {"approval_id": 2}),
        ("APPROVAL_APPROVED", {"approval_id": 1}),
    ]

    visit(page, f"{acting.url}/approvals")
    expect(page.locator("#approval-1")).to_have_count(0)
    submit(page, "#reject-2", "/approvals/2/reject", 303)
    page.wait_for_url(f"{acting.url}/approvals/2")
    expect(page.locator("#message")).to_contain_text("request 2 (BBAR) REJECTED by dashboard:")
    state = ledger_state(acting)
    assert state.approval(2).status == "REJECTED"
    assert (state.approval(2).decided_by or "").startswith("dashboard:session@")
    assert state.approval(1) == approved
    visit(page, f"{acting.url}/approvals")
    expect(page.locator("#none-waiting")).to_be_visible()

    # Deciding again is a conflict, whatever the verdict (the session, its CSRF field and
    # the dashboard's own Origin pass; the ledger refuses).
    own = {"Origin": acting.url}
    for verdict in ("reject", "approve"):
        url = f"{acting.url}/approvals/1/{verdict}"
        answer = post(page, url, form={"csrf": csrf}, headers=own)
        assert answer.status == 409, verdict
        assert "found APPROVED by dashboard:session@" in message_of(answer)
    assert ledger_state(acting) == state


def test_action_with_a_missing_or_wrong_csrf_field_is_refused(shared: Board, page: Page) -> None:
    log_in(page, shared)
    mine = csrf_of(page, shared)
    before = ledger_state(shared)
    with another_page(page) as second:  # another person: their CSRF field is not this one
        log_in(second, shared)
        theirs = csrf_of(second, shared)
    assert theirs != mine
    for form in ({}, {"csrf": ""}, {"csrf": "0" * 64}, {"csrf": mine[:-1]}, {"csrf": theirs}):
        answer = post(page, f"{shared.url}/approvals/1/approve", form=form)
        assert answer.status == 403, form
        assert "CSRF" in message_of(answer)
        answer = post(page, f"{shared.url}/kill", form={**form, "confirm": "KILL"})
        assert answer.status == 403, form
    after = ledger_state(shared)
    assert after == before
    assert after.approval(1).status == "PENDING"


def test_action_from_a_foreign_origin_is_refused(shared: Board, page: Page) -> None:
    log_in(page, shared)
    csrf = csrf_of(page, shared)
    before = ledger_state(shared)
    for path, form in (
        ("/approvals/1/approve", {"csrf": csrf}),
        ("/kill", {"csrf": csrf, "confirm": "KILL"}),
    ):
        answer = post(
            page, f"{shared.url}{path}", form=form, headers={"Origin": "http://evil.example"}
        )
        assert answer.status == 403, path
        assert "found one from http://evil.example" in message_of(answer)
    assert ledger_state(shared) == before


def test_kill_switch_needs_the_word_then_turns_on(acting: Board, page: Page) -> None:
    log_in(page, acting)
    before = ledger_state(acting)
    visit(page, f"{acting.url}/kill")
    page.fill("#confirm", "kill")
    submit(page, "#kill", "/kill", 400)
    expect(page.locator("#message")).to_contain_text("expected KILL typed in the confirmation box")
    assert ledger_state(acting) == before
    assert "kill_switch" not in before.controls
    assert before.requests == ()

    visit(page, f"{acting.url}/kill")
    page.fill("input[name=reason]", "browser test")
    page.fill("#confirm", "KILL")
    submit(page, "#kill", "/kill", 303)  # then the kill page, which shows what happened
    page.wait_for_url(f"{acting.url}/kill")
    expect(page.locator("#kill-on")).to_contain_text("The kill switch is ON since")
    expect(page.locator("#kill-on")).to_contain_text("browser test")
    expect(page.locator("[data-kind=request]")).to_contain_text(
        "Liquidation request 1 (LIQUIDATE_MANAGED) PENDING"
    )
    page.reload()  # the kill page again: nothing is posted twice

    after = ledger_state(acting)
    kill = after.controls["kill_switch"]
    assert kill.enabled
    assert "browser test" in kill.reason
    assert "dashboard:session@" in kill.reason
    assert [(r.kind, r.status) for r in after.requests] == [("LIQUIDATE_MANAGED", "PENDING")]
    assert after.approvals == before.approvals
    new_kinds = [e.kind for e in after.events[len(before.events) :]]
    assert new_kinds == ["CONTROL", "REQUESTED"], new_kinds

    visit(page, f"{acting.url}/kill")
    expect(page.locator("#kill-on")).to_be_visible()
    visit(page, f"{acting.url}/today")
    expect(page.locator("#controls")).to_contain_text("kill_switch")
    expect(page.locator("#requests")).to_contain_text("LIQUIDATE_MANAGED")


# --- no token: read-only --------------------------------------------------------------------


def test_dashboard_without_a_token_is_read_only(tmp_path: Path, page: Page) -> None:
    with started(tmp_path, token=None) as board:
        before = ledger_state(board)
        for path in ("/today", "/approvals", "/reports", "/history?symbol=FCX", "/kill", "/login"):
            visit(page, f"{board.url}{path}")
            expect(page.locator("header")).to_contain_text("read-only")
            expect(page.locator("#login-link")).to_have_count(0)
        visit(page, f"{board.url}/approvals")
        expect(page.locator("#approval-1")).to_contain_text("read-only")
        expect(page.locator("#approve-1")).to_have_count(0)
        visit(page, f"{board.url}/kill")
        expect(page.locator("#kill-form")).to_have_count(0)
        expect(page.locator("main .note")).to_contain_text("Read-only: no dashboard token is set")

        for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
            answer = post(page, f"{board.url}/kill", form={"confirm": "KILL"}, headers=headers)
            assert answer.status == 403
            assert "actions are off" in message_of(answer)
            answer = post(page, f"{board.url}/approvals/1/approve", headers=headers)
            assert answer.status == 403
        answer = post(page, f"{board.url}/login", form={"token": TOKEN})
        assert answer.status == 403
        assert page.context.cookies() == []
        after = ledger_state(board)
    assert after == before
    assert "kill_switch" not in after.controls
    assert [a.status for a in after.approvals] == ["PENDING", "PENDING"]


# --- DNS rebinding --------------------------------------------------------------------------


def test_foreign_host_header_is_refused(shared: Board) -> None:
    before = ledger_state(shared)
    own = shared.url.removeprefix("http://")
    with httpx.Client(base_url=shared.url, trust_env=False, timeout=10) as client:
        assert client.get("/today", headers={"Host": own}).status_code == 200
        for host in ("evil.example", f"evil.example:{own.rsplit(':', 1)[1]}"):
            assert client.get("/today", headers={"Host": host}).status_code == 400, host
            answer = client.post(
                "/approvals/1/approve",
                headers={"Host": host, "Authorization": f"Bearer {TOKEN}"},
            )
            assert answer.status_code == 400, host
            assert "Invalid host header" in answer.text
    assert ledger_state(shared) == before
