"""The console's web app: sign-in and sign-out, the language switch, each role's pages."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from console import (
    pages_audit,
    pages_body,
    pages_hr,
    pages_institution,
    pages_media,
    pages_station,
    pages_union,
    pages_womens,
)
from console.accounts import Accounts
from console.audit_replay import ReplayRunner, console_state_dir
from console.i18n import LANGUAGES
from console.services import Services
from console.sessions import COOKIE, FILE_NAME, SessionStore
from console.settings import ConsoleSettings
from console.web import (
    HERE,
    LANG_COOKIE,
    Current,
    SignInNeeded,
    render,
    see_other,
    sessions,
)

SIGNIN_CSRF_COOKIE = "songji_console_signin"
HOMES = {"liaison_station": "/station", "training_institution": "/institution",
         "assessment_body": "/body", "hr_bureau": "/hr", "union": "/union",
         "womens_federation": "/womens-federation", "media": "/media", "auditor": "/audit"}


def create_app(settings: ConsoleSettings | None = None,
               accounts: Accounts | None = None) -> FastAPI:
    settings = settings or ConsoleSettings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=30) as client:
            app.state.services = Services(settings.service_urls, client)
            # The auditor's funding replay, run by the console (console/audit_replay.py).
            app.state.replay = ReplayRunner(
                console_state_dir(dict(settings.environ)), dict(settings.environ),
                timeout=float(settings.environ.get("SONGJI_CONSOLE_REPLAY_TIMEOUT", "1800")))
            try:
                yield
            finally:
                await app.state.replay.close()

    app = FastAPI(title="Songji console", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.settings = settings
    app.state.accounts = accounts or Accounts.load(settings.users_file, settings.tokens_file)
    app.state.sessions = SessionStore(
        settings.session_minutes, app.state.accounts.with_token,
        path=settings.state_dir / FILE_NAME if settings.state_dir else None,
        keys=settings.session_keys)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(SignInNeeded)
    async def sign_in_first(request: Request, exc: SignInNeeded) -> Response:
        if request.headers.get("HX-Request"):
            return Response(status_code=204, headers={"HX-Redirect": "/signin"})
        return signin_page(request, expired=exc.expired)

    @app.middleware("http")
    async def keep_session(request: Request, call_next):  # type: ignore[no-untyped-def]
        """What the request left to show (flash messages, an outcome) is kept with the
        session, for the page the browser is sent to next."""
        response = await call_next(request)
        if (kept := getattr(request.state, "session", None)) is not None:
            sessions(request).save(*kept)
        return response

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; frame-ancestors 'none'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        return response

    def secure(request: Request) -> bool:
        """Cookies are Secure when the console is served over https (directly, or behind a
        proxy that says so with SONGJI_CONSOLE_HTTPS)."""
        return settings.secure_cookies or request.url.scheme == "https"

    def signin_page(request: Request, *, failed: bool = False,
                    expired: bool = False) -> Response:
        token = secrets.token_urlsafe(32)
        response = render(request, "signin.html", None, status_code=401 if failed else 200,
                          signin_csrf=token, failed=failed, expired=expired)
        response.set_cookie(SIGNIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                            secure=secure(request), path="/signin")
        return response

    @app.get("/signin")
    async def get_signin(request: Request) -> Response:
        return signin_page(request)

    @app.post("/signin")
    async def post_signin(request: Request) -> Response:
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        cookie = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
        if not cookie or not secrets.compare_digest(cookie, fields.get("csrf", "")):
            return signin_page(request, expired=True)
        accounts: Accounts = request.app.state.accounts
        if fields.get("token"):
            signed_in = accounts.with_token(fields["token"])
        else:
            signed_in = accounts.with_password(fields.get("username", ""),
                                               fields.get("password", ""))
        if signed_in is None:
            return signin_page(request, failed=True)
        sessions(request).end(request.cookies.get(COOKIE))
        session_id, _ = sessions(request).start(signed_in)
        response = see_other("/")
        # A browser-session cookie: the server ends the session when it is idle too long.
        response.set_cookie(COOKIE, session_id, httponly=True, samesite="strict",
                            secure=secure(request))
        response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/signin")
        return response

    @app.post("/signout")
    async def post_signout(request: Request, session: Current) -> Response:
        form = await request.form()
        csrf = form.get("csrf")
        if session.csrf_ok(csrf if isinstance(csrf, str) else None):
            sessions(request).end(request.cookies.get(COOKIE))
        response = see_other("/signin")
        response.delete_cookie(COOKIE)
        return response

    @app.get("/language/{lang}")
    async def switch_language(lang: str, request: Request) -> Response:
        back = request.headers.get("referer", "/")
        response = see_other(back if back.startswith(str(request.base_url)) else "/")
        if lang in LANGUAGES:
            response.set_cookie(LANG_COOKIE, lang, samesite="strict", secure=secure(request),
                                max_age=365 * 86400)
        return response

    @app.get("/")
    async def home(request: Request, session: Current) -> Response:
        page = HOMES.get(session.signed_in.role)
        if page:
            return see_other(page)
        return render(request, "no_pages.html", session)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": "console"}

    for module in (pages_station, pages_institution, pages_body, pages_hr, pages_union,
                   pages_womens, pages_media, pages_audit):
        app.include_router(module.router)
    return app
