"""What every page shares: the session behind the cookie, the CSRF check, the language and
rendering a template with the console's words and formats."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from console import i18n
from console.services import Refused, Services
from console.sessions import COOKIE, Session, SessionStore

HERE = Path(__file__).parent
LANG_COOKIE = "songji_console_lang"

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["yuan"] = i18n.yuan
templates.env.filters["local_time"] = i18n.local_time


class SignInNeeded(Exception):
    """No live session: the page answers with the sign-in page (saying why)."""

    def __init__(self, expired: bool) -> None:
        self.expired = expired


def language(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, i18n.DEFAULT)
    return lang if lang in i18n.LANGUAGES else i18n.DEFAULT


def sessions(request: Request) -> SessionStore:
    return request.app.state.sessions


def services(request: Request) -> Services:
    return request.app.state.services


def current(request: Request) -> Session:
    """The request's live session (a dependency of every signed-in page)."""
    cookie = request.cookies.get(COOKIE)
    session = sessions(request).get(cookie)
    if session is None:
        raise SignInNeeded(expired=cookie is not None)
    request.state.session = (cookie, session)  # saved after the response (console/app.py)
    return session


def require_role(session: Session, *roles: str) -> None:
    if session.signed_in.role not in roles:
        raise HTTPException(403, "not this organisation's page")


async def checked_form(request: Request, session: Session) -> dict[str, str]:
    """The form's fields once its CSRF token matches the session's; 403 otherwise."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not session.csrf_ok(fields.pop("csrf", None)):
        raise HTTPException(403, i18n.translate(language(request), "csrf"))
    return fields


def render(request: Request, template: str, session: Session | None = None,
           status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    flash = []
    if session is not None:
        flash, session.flash = session.flash, []
    return templates.TemplateResponse(request, template, status_code=status_code, context={
        "lang": lang, "t": lambda key: i18n.translate(lang, key), "session": session,
        "csrf": session.csrf if session else "", "flash": flash,
        "refusal": None, **context})


def refusal(request: Request, refused: Refused) -> str:
    return i18n.refusal_text(language(request), refused.code, refused.message)


async def read(request: Request, session: Session, service: str, path: str,
               params: dict[str, Any] | None = None) -> tuple[Any, str | None]:
    """The service's answer to a GET with the session's token, or None and why it refused
    (in the user's language), for the page to show."""
    try:
        return await services(request).get(session.signed_in.token, service, path, params), None
    except Refused as refused:
        return None, refusal(request, refused)


async def sent(request: Request, session: Session, service: str, path: str,
               body: Any = None, *, done: str | None = None) -> tuple[bool, Any]:
    """POSTs with the session's token. Refused: the service's reason is shown on the next
    page and (False, None) returned; taken: ``done`` is shown, and (True, the answer)."""
    try:
        answer = await services(request).post(session.signed_in.token, service, path, body)
    except Refused as refused:
        session.say(refusal(request, refused), "error")
        return False, None
    if done is not None:
        session.say(done)
    return True, answer


def see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


Current = Annotated[Session, Depends(current)]
