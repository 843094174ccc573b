"""The dashboard's pages and actions (FastAPI, pages rendered on the server, no JavaScript).

Pages read the ledger through a read-only SQLite connection, opened per request. The
actions (approve or reject a rescan entry, turn on the kill switch) open the ledger to write
and go through the same services as the command line (``openbell.services.operator``).
See :mod:`openbell.web.auth` for who may act.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.trustedhost import TrustedHostMiddleware

from openbell.adapters.sqlite.ledger import SqliteLedger
from openbell.bars.source import BarSource
from openbell.config import Settings
from openbell.config.settings import is_loopback
from openbell.domain.errors import (
    Conflict,
    InvalidValue,
    NotFound,
    OpenbellError,
    RefusedInput,
    RetryLater,
)
from openbell.domain.records import Heartbeat
from openbell.domain.sessions import NEW_YORK, Session
from openbell.domain.values import Symbol
from openbell.ports import Calendar, Clock
from openbell.reports import history
from openbell.reports.approvals import COLUMNS as APPROVAL_COLUMNS
from openbell.reports.approvals import approval_rows
from openbell.reports.common import trading_days
from openbell.reports.positions import SUMMARY_COLUMNS, position_row
from openbell.reports.today import (
    CLOSED_COLUMNS,
    CONTROL_COLUMNS,
    EVENT_COLUMNS,
    LIVE_COLUMNS,
    REQUEST_COLUMNS,
    TIMELINE_COLUMNS,
    WORKING_COLUMNS,
    today_view,
)
from openbell.runtime.bots import session_at
from openbell.runtime.children import pid_alive
from openbell.services import operator
from openbell.services.exit_desk import LIQUIDATE_MANAGED
from openbell.services.liquidation import Presence, exit_manager_state, to_flatten
from openbell.web.auth import SESSION_COOKIE, SESSION_S, Guard
from openbell.web.prices import PriceBook
from openbell.web.report_pages import REPORTS, report_page

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
KILL_WORD = "KILL"
RECENT_EVENTS = 200
_STATUS = (
    (NotFound, 404),
    (Conflict, 409),
    (RefusedInput, 400),
    (RetryLater, 503),
    (OpenbellError, 500),
)


@dataclass
class Dashboard:
    """What the dashboard works with, composed once by :mod:`openbell.web.server`."""

    settings: Settings
    clock: Clock
    calendar: Calendar
    read_ledger: Callable[[], SqliteLedger]
    """A read-only connection (every page)."""
    write_ledger: Callable[[], SqliteLedger]
    """A writing connection (only the actions, through the services)."""
    prices: PriceBook
    bars: Callable[[], BarSource]
    """The bars the targets and picks reports measure prices with."""
    exit_manager: str = "exit-manager"
    """The exit-manager's process name in the heartbeats."""


class Refused(Exception):
    """An action or page refused before it started: shown to the person with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Web:
    """The dashboard's state and what every route needs: templates, the guard, the ledger."""

    def __init__(self, board: Dashboard) -> None:
        self.board = board
        settings = board.settings.dashboard
        self.guard = Guard(settings.action_token())
        self.reads_need_token = not is_loopback(settings.host)
        environment = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"])
        )
        self.templates = Jinja2Templates(env=environment)

    def session_of(self, request: Request) -> str | None:
        return self.guard.session(request.cookies.get(SESSION_COOKIE))

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        nonce = self.session_of(request)
        context |= {
            "mode": self.board.settings.broker.mode,
            "logged_in": nonce is not None,
            "can_act": self.guard.can_act,
            "csrf": self.guard.csrf_for(nonce) if nonce else "",
            "now_et": self.board.clock.now().astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M:%S"),
        }
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def message(self, request: Request, status: int, title: str, text: str) -> HTMLResponse:
        ok = status < 400
        return self.page(request, "message.html", status, title=title, text=text, response_ok=ok)

    def may_read(self, request: Request) -> bool:
        if not self.reads_need_token:
            return True
        authorization = request.headers.get("authorization")
        return self.session_of(request) is not None or self.guard.bearer_matches(authorization)

    def actor(self, request: Request, csrf: str | None) -> str:
        """Who acts, if the request may act at all; otherwise :class:`Refused`."""
        if not self.guard.can_act:
            raise Refused(
                403,
                "actions are off: no dashboard.token is set (OPENBELL__DASHBOARD__TOKEN); "
                "use the openbell command line, or set a token and restart the dashboard",
            )
        client = client_of(request)
        if self.guard.blocked(client):
            raise Refused(429, "too many wrong tokens from this address: wait a minute")
        authorization = request.headers.get("authorization")
        if authorization is not None:
            if self.guard.bearer_matches(authorization):
                return f"dashboard:token@{client}"
            self.guard.failed(client)
            log.warning("dashboard action refused from %s: wrong bearer token", client)
            raise Refused(401, "expected Authorization: Bearer <the dashboard token>")
        nonce = self.session_of(request)
        if nonce is None:
            raise Refused(401, "expected the dashboard token: log in first (Log in, top right)")
        if not self.guard.csrf_matches(nonce, csrf):
            raise Refused(403, "the form's CSRF field does not match this session: reload")
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
            raise Refused(403, f"expected a form from this dashboard, found one from {origin}")
        return f"dashboard:session@{client}"

    @contextlib.contextmanager
    def reading(self) -> Iterator[SqliteLedger]:
        """The ledger to read, every query of the page from one snapshot."""
        ledger = self.board.read_ledger()
        try:
            with ledger.snapshot():
                yield ledger
        finally:
            ledger.close()

    @contextlib.contextmanager
    def writing(self) -> Iterator[SqliteLedger]:
        ledger = self.board.write_ledger()
        try:
            yield ledger
        finally:
            ledger.close()

    def session(self) -> Session:
        return session_at(self.board.calendar, self.board.clock.now())

    def day_of(self, raw: str | None) -> date:
        if not raw:
            return self.session().trading_day
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            raise RefusedInput(f"day: expected YYYY-MM-DD, found {raw!r}") from None

    def exit_manager(self, ledger: SqliteLedger) -> tuple[Heartbeat | None, Presence]:
        silent_after = timedelta(seconds=self.board.settings.runtime.silent_after_s)
        now = self.board.clock.now()
        return exit_manager_state(ledger, now, silent_after, pid_alive, self.board.exit_manager)


def client_of(request: Request) -> str:
    return request.client.host if request.client else "?"


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


router = APIRouter()


def create_app(board: Dashboard) -> FastAPI:
    """The dashboard application for ``board``."""
    web = Web(board)
    app = FastAPI(title="openbell", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = web
    app.include_router(router)
    host = board.settings.dashboard.host
    # On loopback only our own names: a page elsewhere that rebinds its name to 127.0.0.1
    # cannot read this one. Off loopback every page needs the token, whatever the name.
    hosts = ["*"] if web.reads_need_token else [host, "127.0.0.1", "localhost", "[::1]", "::1"]
    # The last added runs first: the security headers go on every answer, refusals too.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    app.add_middleware(BaseHTTPMiddleware, dispatch=_read_guard)
    app.add_middleware(BaseHTTPMiddleware, dispatch=_security_headers)
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(OpenbellError, _failed)
    app.add_exception_handler(RequestValidationError, _invalid)
    return app


async def _security_headers(request: Request, call_next: RequestResponseEndpoint) -> Response:
    response = await call_next(request)
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # same-origin: the browser then sends its Origin on our own forms (no-referrer
    # makes it "null"), and never our URLs to another site.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


async def _read_guard(request: Request, call_next: RequestResponseEndpoint) -> Response:
    """Off loopback, every page but the login needs the token too."""
    if request.url.path not in ("/login", "/healthz") and not web_of(request).may_read(request):
        return RedirectResponse("/login", status_code=303)
    return await call_next(request)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return web_of(request).message(request, exc.status, "Refused", str(exc))


async def _invalid(request: Request, exc: Exception) -> Response:
    """A malformed path, query or form field: say which and what was expected, never echo
    what was sent (it may be a token typed in the wrong box)."""
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    )
    return web_of(request).message(request, 422, "Refused", f"expected {problems}")


async def _failed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OpenbellError)
    status = next(code for kind, code in _STATUS if isinstance(exc, kind))
    log.warning("%s %s: %s", request.method, request.url.path, exc)
    return web_of(request).message(request, status, type(exc).__name__, str(exc))


WebDep = Annotated[Web, Depends(web_of)]
CsrfField = Annotated[str | None, Form()]


# --- pages ----------------------------------------------------------------------------------


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/today", status_code=303)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/today", response_class=HTMLResponse)
def today(request: Request, web: WebDep) -> HTMLResponse:
    board = web.board
    now = board.clock.now()
    timeline = board.settings.day_plan().resolve(session_at(board.calendar, now))
    with web.reading() as ledger:
        board.prices.watch(p.symbol for p in ledger.active_positions() if p.held_quantity > 0)
        recent = ledger.last_events(RECENT_EVENTS)
        view = today_view(ledger, timeline, now, board.prices.price, recent)
    return web.page(
        request,
        "today.html",
        view=view,
        prices=board.prices.status(),
        refresh_s=board.settings.dashboard.refresh_s,
        columns={
            "live": LIVE_COLUMNS,
            "closed": CLOSED_COLUMNS,
            "working": WORKING_COLUMNS,
            "processes": ("process", "status", "restarts", "code_version", "last_beat"),
            "controls": CONTROL_COLUMNS,
            "requests": REQUEST_COLUMNS,
            "timeline": TIMELINE_COLUMNS,
            "events": EVENT_COLUMNS,
        },
    )


@router.get("/approvals", response_class=HTMLResponse)
def approvals(request: Request, web: WebDep, day: str | None = None) -> HTMLResponse:
    chosen = web.day_of(day)
    valid = timedelta(minutes=web.board.settings.schedule.approval_valid_min)
    with web.reading() as ledger:
        waiting = approval_rows(ledger, ledger.approvals(pending_only=True), valid)
        of_day = approval_rows(ledger, ledger.approvals(chosen), valid)
    return web.page(
        request,
        "approvals.html",
        waiting=waiting,
        of_day=of_day,
        day=chosen.isoformat(),
        columns=APPROVAL_COLUMNS,
    )


ApprovalId = Annotated[int, PathParam(ge=1, le=2**62)]


@router.post("/approvals/{approval_id}/{verdict}", response_model=None)
def decide(
    request: Request, web: WebDep, approval_id: ApprovalId, verdict: str, csrf: CsrfField = None
) -> Response:
    if verdict not in ("approve", "reject"):
        raise Refused(404, f"expected approve or reject, found {verdict!r}")
    who = web.actor(request, csrf)
    with web.writing() as ledger:
        operator.decide_approval(ledger, approval_id, verdict == "approve", who)
    # Post, then redirect: a reload shows the result instead of deciding again.
    return RedirectResponse(f"/approvals/{approval_id}", status_code=303)


@router.get("/approvals/{approval_id}", response_class=HTMLResponse)
def approval(request: Request, web: WebDep, approval_id: ApprovalId) -> HTMLResponse:
    valid = timedelta(minutes=web.board.settings.schedule.approval_valid_min)
    with web.reading() as ledger:
        found = ledger.approval(approval_id)
        [row] = approval_rows(ledger, [found], valid)
    by = f" by {found.decided_by}" if found.decided_by else ""
    text = f"request {approval_id} ({found.symbol}) {found.status}{by}: {row['outcome']}"
    return web.message(request, 200, f"Request {approval_id}", text)


@router.get("/kill", response_class=HTMLResponse)
def kill_page(request: Request, web: WebDep) -> HTMLResponse:
    day = web.session().trading_day
    with web.reading() as ledger:
        held = [position_row(p) for p in to_flatten(ledger, LIQUIDATE_MANAGED, day)]
        beat, presence = web.exit_manager(ledger)
        control = ledger.controls().get(operator.KILL_SWITCH)
        waiting = [r for r in ledger.pending_requests() if r.kind == LIQUIDATE_MANAGED]
    on = None
    if control is not None and control.enabled:
        since = control.changed_at.astimezone(NEW_YORK)
        on = f"since {since:%Y-%m-%d %H:%M} ET, by {control.changed_by}: {control.reason}"
    return web.page(
        request,
        "kill.html",
        held=held,
        columns=SUMMARY_COLUMNS,
        presence=_presence_text(presence, beat.pid if beat else None),
        kill_on=on,
        waiting=[
            f"Liquidation request {r.request_id} ({r.kind}) {r.status}, asked by "
            f"{r.requested_by} at {r.requested_at.astimezone(NEW_YORK):%H:%M:%S} ET: {r.reason}"
            for r in waiting
        ],
        word=KILL_WORD,
    )


@router.post("/kill", response_model=None)
def kill(
    request: Request,
    web: WebDep,
    csrf: CsrfField = None,
    confirm: Annotated[str, Form(max_length=50)] = "",
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    who = web.actor(request, csrf)
    if confirm.strip() != KILL_WORD:
        raise Refused(400, f"expected {KILL_WORD} typed in the confirmation box, found {confirm!r}")
    why = f"{reason.strip() or 'kill switch from the dashboard'} ({who})"
    day = web.session().trading_day
    with web.writing() as ledger:
        beat, presence = web.exit_manager(ledger)
        operator.kill(ledger, day, why, presence, beat)
    # Post, then redirect: the kill page shows the switch and the request; a reload is safe.
    return RedirectResponse("/kill", status_code=303)


@router.get("/reports", response_class=HTMLResponse)
def reports(
    request: Request,
    web: WebDep,
    report: Annotated[str, Query(max_length=20)] = "pnl",
    day: str | None = None,
    to: str | None = None,
) -> HTMLResponse:
    if report not in REPORTS:
        raise RefusedInput(f"report: expected one of {', '.join(REPORTS)}, found {report!r}")
    first = web.day_of(day)
    last = web.day_of(to) if to else first
    if last < first:
        raise RefusedInput(f"to: expected on or after {first}, found {last}")
    if (last - first).days > 366:
        raise RefusedInput(f"expected a range of at most a year, found {first} to {last}")
    days = trading_days(web.board.calendar, first, last)
    with web.reading() as ledger:
        shown = report_page(report, ledger, web.board.calendar, web.board.bars, days)
    return web.page(
        request,
        "reports.html",
        report=report,
        reports=REPORTS,
        day=first.isoformat(),
        to=last.isoformat() if to else "",
        tables=shown.tables,
        notes=shown.notes,
        images=shown.images,
    )


@router.get("/history", response_class=HTMLResponse)
def symbol_history(
    request: Request,
    web: WebDep,
    symbol: Annotated[str, Query(max_length=12)] = "",
    day: str | None = None,
) -> HTMLResponse:
    rows: list[dict[str, str]] = []
    wanted = symbol.strip().upper()
    if wanted:
        try:
            ticker = Symbol(wanted)
        except InvalidValue as exc:
            raise RefusedInput(f"symbol: expected {exc.expected}, found {symbol!r}") from None
        days = [web.day_of(day)] if day else None
        with web.reading() as ledger:
            rows = history.history_rows(history.symbol_history(ledger, ticker, days))
    return web.page(
        request, "history.html", symbol=wanted, day=day or "", rows=rows, columns=history.COLUMNS
    )


# --- login ----------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, web: WebDep) -> HTMLResponse:
    return web.page(request, "login.html")


@router.post("/login", response_model=None)
def login(
    request: Request, web: WebDep, token: Annotated[str, Form(max_length=512)] = ""
) -> Response:
    guard = web.guard
    client = client_of(request)
    if not guard.can_act:
        raise Refused(403, "no dashboard.token is set: there is nothing to log in to")
    if guard.blocked(client):
        raise Refused(429, "too many wrong tokens from this address: wait a minute")
    cookie = guard.login(token, client)
    if cookie is None:
        log.warning("dashboard login refused from %s: wrong token", client)
        raise Refused(401, "expected the dashboard token, found another value")
    log.info("dashboard login from %s", client)
    response = RedirectResponse("/today", status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_S, httponly=True, samesite="strict")
    return response


@router.post("/logout")
def logout(request: Request, web: WebDep, csrf: CsrfField = None) -> RedirectResponse:
    nonce = web.session_of(request)
    if nonce is not None and not web.guard.csrf_matches(nonce, csrf):
        raise Refused(403, "the form's CSRF field does not match this session: reload")
    response = RedirectResponse("/today", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _presence_text(presence: Presence, pid: int | None) -> str:
    who = f" (pid {pid})" if pid else ""
    if presence is Presence.SERVING:
        return f"The exit-manager{who} is running: it serves the liquidation within seconds."
    if presence is Presence.HALTED:
        return (
            f"The exit-manager{who} is HALTED: it serves no liquidation. Find out why, stop it, "
            "then run `openbell liquidate --managed`."
        )
    return (
        "The exit-manager is not running: the request waits for it. To flatten now, run "
        "`openbell liquidate --managed` in a terminal (it connects as the exit-manager)."
    )
