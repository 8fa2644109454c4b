"""The rules every request passes before a page is made: methods, the token, the Host, the headers.

Why a raw ASGI middleware rather than Starlette's: it runs before routing, so a refused request
(wrong method, no token) never reaches a page, and every response, errors included, carries the
same Content-Security-Policy.
"""

from __future__ import annotations

import hmac
import ipaddress
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "newsarchive_token"
TOKEN_HEADER = b"x-newsarchive-token"
METHODS = ("GET", "HEAD")

#: No script at all (charts are server-side SVG), nothing from another origin, no framing, no plugin.
CSP = ("default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server on this machine (127.0.0.0/8, ::1, localhost)."""
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def tokens_match(given: str | None, token: str) -> bool:
    """Constant-time comparison, so the time a refusal takes says nothing about the token."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode("utf-8"))


class Guard:
    """Wraps the app: only GET and HEAD (405), the token when there is one (401), a loopback Host
    when there is none (421: a web page elsewhere cannot reach the server by DNS rebinding), and the
    security headers on every response."""

    def __init__(self, app: ASGIApp, *, token: str | None = None, hosts: tuple[str, ...] = (),
                 name: str = "") -> None:
        self.app = app
        self.app_name = name
        self.token = token or None
        self.hosts = {h.lower() for h in (*_LOOPBACK_NAMES, *hosts)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, receive, send)
            return

        started_at = time.perf_counter()

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                elapsed = (time.perf_counter() - started_at) * 1000  # server time, for bench/bench_serve.py
                message["headers"] = [*message.get("headers", []), *(h for h in HEADERS if h[0] not in names),
                                      (b"server-timing", f"app;dur={elapsed:.1f}".encode())]
            await send(message)

        if scope["method"] not in METHODS:
            await _plain(send_with_headers, 405, "this server is read-only: only GET and HEAD are allowed",
                         [(b"allow", b"GET, HEAD")])
            return
        headers = {name.lower(): value for name, value in scope.get("headers", [])}
        if self.token is None:
            host = headers.get(b"host", b"").decode("latin-1").lower()
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in self.hosts:
                await _plain(send_with_headers, 421, f"Host {host!r} is not this server's address; open it "
                             "by the address `newsarchive serve` printed")
                return
        else:
            params = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            given = next((v for k, v in params if k == "token"), None)
            if given is not None:
                if not tokens_match(given, self.token):
                    await _plain(send_with_headers, 401, "wrong token: open the address with the token "
                                 "`newsarchive serve` was given (?token=...)")
                    return
                # the cookie carries it from now on; the address loses it (history, copies, Referer)
                rest = urlencode([(k, v) for k, v in params if k != "token"])
                location = scope.get("root_path", "") + scope["path"] + (f"?{rest}" if rest else "")
                cookie = f"{COOKIE}={quote(self.token, safe='')}; Path=/; HttpOnly; SameSite=Strict"
                await _plain(send_with_headers, 303, "token accepted",
                             [(b"location", location.encode("utf-8")), (b"set-cookie", cookie.encode("utf-8"))])
                return
            offered = _bearer(headers.get(b"authorization")) or _text(headers.get(TOKEN_HEADER)) \
                or _cookie(headers.get(b"cookie"))
            if not tokens_match(offered, self.token):
                await _plain(send_with_headers, 401, "this archive needs its token: open the address once with "
                             "?token=YOUR_TOKEN, or send the header 'Authorization: Bearer YOUR_TOKEN'",
                             [(b"www-authenticate", b'Bearer realm="newsarchive"')])
                return
        started = False

        async def send_tracked(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:  # a bug: one line in the server's log, never a traceback
            print(f"newsarchive serve: internal error on {scope.get('path')}: {type(exc).__name__}: "
                  f"{' '.join(str(exc).split())[:300]}", file=sys.stderr, flush=True)
            if not started:
                await _plain(send_with_headers, 500, "internal error: the server could not make this page "
                             "(its log says why)")


def _text(value: bytes | None) -> str | None:
    return value.decode("utf-8", "surrogateescape") if value is not None else None


def _bearer(value: bytes | None) -> str | None:
    if value is None:
        return None
    scheme, _, credentials = value.decode("utf-8", "surrogateescape").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def _cookie(value: bytes | None) -> str | None:
    if value is None:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(value.decode("latin-1"))
    except Exception:  # a malformed Cookie header is simply no token
        return None
    morsel = jar.get(COOKIE)
    return unquote(morsel.value) if morsel is not None else None


async def _plain(send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]] = ()) -> None:
    body = (text + "\n").encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *extra]})
    await send({"type": "http.response.body", "body": body})
