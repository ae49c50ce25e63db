"""Sign-in: the API token, compared in constant time; a signed httpOnly session cookie; rate limits.

The cookie holds no secret: `<nonce>.<expires>.<hmac>`, the HMAC keyed with the API token, so
changing LOB_API_TOKEN signs everyone out. Signing out revokes the nonce in Redis until it expires.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque

import redis.asyncio as aioredis
from fastapi import Request

from services.api.errors import TooManyRequests, Unauthorized
from shared.config import Settings

COOKIE = "lob_session"
SESSION_TTL_S = 12 * 3600
REVOKED_PREFIX = "lob:session:revoked:"
# Written by `lob up` (devstack/up.py): sha256 of a one-time sign-in code.
LOGIN_CODE_PREFIX = "lob:login:"


def _token(settings: Settings) -> bytes:
    return settings.api_token.get_secret_value().encode()


def token_matches(settings: Settings, presented: str) -> bool:
    expected = _token(settings)
    # Constant time; an unset server token matches nothing.
    return bool(expected) and hmac.compare_digest(presented.encode(), expected)


def _sign(settings: Settings, nonce: str, expires: int) -> str:
    msg = f"lob-session|{nonce}|{expires}".encode()
    return hmac.new(_token(settings), msg, hashlib.sha256).hexdigest()


def new_cookie(settings: Settings, now: float | None = None) -> str:
    nonce = secrets.token_urlsafe(16)
    expires = int((now or time.time()) + SESSION_TTL_S)
    return f"{nonce}.{expires}.{_sign(settings, nonce, expires)}"


def parse_cookie(settings: Settings, value: str) -> tuple[str, int] | None:
    """The (nonce, expires) of a well-signed, unexpired cookie; None otherwise."""
    if not _token(settings):
        return None
    try:
        nonce, expires_s, sig = value.split(".")
        expires = int(expires_s)
    except ValueError:
        return None
    if not hmac.compare_digest(sig, _sign(settings, nonce, expires)) or expires < time.time():
        return None
    return nonce, expires


async def cookie_valid(settings: Settings, redis: aioredis.Redis, value: str | None) -> bool:
    parsed = parse_cookie(settings, value or "")
    if parsed is None:
        return False
    return not await redis.exists(REVOKED_PREFIX + parsed[0])


async def revoke_cookie(settings: Settings, redis: aioredis.Redis, value: str | None) -> None:
    parsed = parse_cookie(settings, value or "")
    if parsed is not None:
        nonce, expires = parsed
        await redis.set(REVOKED_PREFIX + nonce, "1", ex=max(1, int(expires - time.time())))


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def authenticate(request: Request, settings: Settings, redis: aioredis.Redis) -> str:
    """'token' or 'cookie' for an authenticated request; raises Unauthorized otherwise."""
    presented = bearer(request)
    if presented is not None:
        if token_matches(settings, presented):
            return "token"
        raise Unauthorized("invalid API token")
    if COOKIE in request.cookies and await cookie_valid(settings, redis, request.cookies[COOKIE]):
        return "cookie"
    if not _token(settings):
        raise Unauthorized("the server has no LOB_API_TOKEN set, so nothing can change state")
    raise Unauthorized("sign in, or send Authorization: Bearer <LOB_API_TOKEN>")


async def redeem_login_code(redis: aioredis.Redis, code: str) -> bool:
    """A one-time sign-in code from `lob up` works once."""
    key = LOGIN_CODE_PREFIX + hashlib.sha256(code.encode()).hexdigest()
    return bool(await redis.delete(key))


class SignInLimiter:
    """At most `per_minute` sign-in attempts per client address in any 60 s (sliding window).

    Per gateway process, in memory: it keeps working when Redis is down.
    """

    WINDOW_S = 60.0
    MAX_CLIENTS = 10_000

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(client, deque())
            while hits and hits[0] <= now - self.WINDOW_S:
                hits.popleft()
            if len(hits) >= self.per_minute:
                retry = int(hits[0] + self.WINDOW_S - now) + 1
                raise TooManyRequests(
                    f"too many sign-in attempts; try again in {retry} s", retry_after=retry
                )
            hits.append(now)
            if len(self._hits) > self.MAX_CLIENTS:  # bound memory under a spray of addresses
                for key in [
                    k for k, v in self._hits.items() if not v or v[-1] <= now - self.WINDOW_S
                ]:
                    del self._hits[key]
