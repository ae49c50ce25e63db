"""Sign-in for the web UI: exchanges the API token for an httpOnly SameSite=Strict cookie."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from services.api.deps import AuthDep, RedisDep, SettingsDep, StateDep
from services.api.errors import TooManyRequests, Unauthorized, documented
from services.api.session import service
from services.api.session.schemas import SessionIn, SessionOut
from services.api.system.metrics import SIGNIN_FAILURES

router = APIRouter(tags=["session"], responses=documented(401, 429, 503))


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _set_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        service.COOKIE,
        value,
        max_age=service.SESSION_TTL_S,
        httponly=True,  # never readable by page scripts
        samesite="strict",  # never sent on cross-site requests: no CSRF
        secure=request.url.scheme == "https",
        path="/",
    )


@router.get("/api/session", response_model=SessionOut)
async def session_status(request: Request, settings: SettingsDep, redis: RedisDep) -> SessionOut:
    """Whether this browser is signed in."""
    signed_in = await service.cookie_valid(settings, redis, request.cookies.get(service.COOKIE))
    return SessionOut(
        signed_in=signed_in, token_configured=bool(settings.api_token.get_secret_value())
    )


@router.post("/api/session", response_model=SessionOut)
async def sign_in(
    body: SessionIn, request: Request, response: Response, state: StateDep
) -> SessionOut:
    """Sign in with the API token; rate-limited per client address."""
    try:
        state.signin_limiter.check(_client(request))
    except TooManyRequests:
        SIGNIN_FAILURES.inc()
        raise
    if not service.token_matches(state.settings, body.token):
        SIGNIN_FAILURES.inc()
        raise Unauthorized("wrong token")
    _set_cookie(response, request, service.new_cookie(state.settings))
    return SessionOut(signed_in=True)


@router.delete("/api/session", response_model=SessionOut)
async def sign_out(
    request: Request, response: Response, _auth: AuthDep, settings: SettingsDep, redis: RedisDep
) -> SessionOut:
    """Sign out: the cookie is cleared and revoked server-side."""
    await service.revoke_cookie(settings, redis, request.cookies.get(service.COOKIE))
    response.delete_cookie(service.COOKIE, path="/", httponly=True, samesite="strict")
    return SessionOut(signed_in=False)


@router.get("/login", include_in_schema=False)
async def login_link(
    request: Request, state: StateDep, code: str = Query(..., max_length=256)
) -> RedirectResponse:
    """The one-time sign-in link `lob up` prints: redeem the code, set the cookie, go to /train."""
    state.signin_limiter.check(_client(request))
    if not await service.redeem_login_code(state.redis, code):
        raise Unauthorized(
            "this sign-in link was already used or has expired; sign in with the token"
        )
    response = RedirectResponse("/train", status_code=303)
    _set_cookie(response, request, service.new_cookie(state.settings))
    return response
