"""The gate every request passes before any route: the Host name, the token, the Origin, the body.

- A server bound to loopback answers only to loopback Host names (127.0.0.0/8, ``::1``, ``localhost``),
  so a web page whose DNS name is rebound to 127.0.0.1 cannot read it (DNS rebinding).
- With a token, every path but ``/health`` needs it, reads too: as ``Authorization: Bearer`` (scripts)
  or the ``autotuner_token`` cookie (the web UI; ``SameSite=Strict``, so other sites never send it).
- A request that changes something and names a foreign ``Origin`` is refused (cross-site forgery).
- A body is counted while it arrives and refused with 413 past the limit (a declared Content-Length
  says so before a byte is read), so a 300 MB upload is never held in memory. A JSON body must be
  UTF-8 and nested at most ``MAX_DEPTH`` levels, else 422, before a route parses it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import Headers

from ..spec import SpecError
from ..spec.documents import load_json
from ..spec.limits import MAX_TASK_BYTES, decode_text
from .auth import TOKEN_COOKIE, TOKEN_ENV, cross_site, host_name, is_loopback, token_matches

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

OPEN_PATHS = ("/health",)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


SIGN_IN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>autotuner: token</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:4em auto">
<h1>autotuner</h1><p>This server needs its token (the <code>{env}</code> it was started with).</p>
<form id="f"><input id="t" type="password" autocomplete="off" placeholder="{env}" autofocus>
<button>Sign in</button></form>
<script>
document.getElementById("f").addEventListener("submit", (e) => {{
  e.preventDefault();
  const t = document.getElementById("t").value.trim();
  localStorage.setItem("autotuner-token", t);
  document.cookie = "{cookie}=" + encodeURIComponent(t) + "; path=/; SameSite=Strict";
  location.reload();
}});
</script></body></html>
""".format(env=TOKEN_ENV, cookie=TOKEN_COOKIE)


class RequestGate:
    """ASGI middleware applying the rules above; ``loopback_only`` when the server listens on loopback."""

    def __init__(self, app: Callable, *, token: str | None = None, loopback_only: bool = False,
                 max_body: int = MAX_TASK_BYTES):
        self.app, self.token, self.loopback_only, self.max_body = app, token, loopback_only, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            return await _reply(send, *refusal)
        if scope["method"] in SAFE_METHODS and "content-length" not in headers \
                and "transfer-encoding" not in headers:
            return await self.app(scope, receive, send)
        body, problem = await self._read_body(receive, headers)
        if problem is not None:
            return await _reply(send, *problem)
        return await self.app(scope, _replay(body, receive), send)

    def _refusal(self, scope: Scope, headers: Headers) -> tuple[int, str, str] | tuple[int, str, str, str] | None:
        if self.loopback_only and not is_loopback(host_name(headers.get("host", ""))):
            return 400, "header.host", ("this server listens on loopback and answers only to a loopback name "
                                        "(localhost, 127.x.x.x, [::1]) in the Host header")
        if self.token and scope["path"] not in OPEN_PATHS:
            if not token_matches(headers, self.token):
                wants_page = scope["method"] == "GET" and "text/html" in headers.get("accept", "")
                msg = f"a bearer token is required (the server's {TOKEN_ENV})"
                return (401, "header.authorization", msg, "page") if wants_page else (401, "header.authorization", msg)
        if scope["method"] not in SAFE_METHODS and cross_site(headers):
            return 403, "header.origin", ("cross-site request refused: use this server's own pages or a client "
                                          "that sends no foreign Origin")
        return None

    async def _read_body(self, receive: Receive, headers: Headers) -> tuple[bytes, tuple[int, str, str] | None]:
        too_large = 413, "(body)", f"larger than the {self.max_body:,}-byte limit for request bodies"
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            return b"", too_large
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return b"", too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if body.strip() and (ctype == "application/json" or ctype.endswith("+json")):
            try:
                load_json(decode_text(body, "(body)"))
            except SpecError as e:
                return body, (422, *_split(e.problems[0]))
        return body, None


def _split(problem: str) -> tuple[str, str]:
    loc, sep, msg = problem.partition(": ")
    return (loc, msg) if sep else ("(body)", problem)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, handed to the app as one message; later calls (a disconnect) go through."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _reply(send: Send, status: int, loc: str, msg: str, kind: str = "json") -> None:
    if kind == "page":
        payload, ctype = SIGN_IN_PAGE.encode(), b"text/html; charset=utf-8"
    else:
        payload, ctype = json.dumps({"detail": [{"loc": loc, "msg": msg}]}).encode(), b"application/json"
    headers = [(b"content-type", ctype), (b"content-length", str(len(payload)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
