"""Who may change things: loopback by default; a bearer token when bound elsewhere.

Mutating requests also must come from this server's own pages: a browser sends ``Origin`` with
cross-site requests, and one naming another site is refused, so a web page the user happens to
visit cannot start or delete tasks on a local server (cross-site request forgery).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

TOKEN_ENV = "AUTOTUNER_TOKEN"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_from_env() -> str | None:
    return os.environ.get(TOKEN_ENV) or None


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen off loopback without a token (ValueError naming the fix)."""
    if not is_loopback(host) and not token:
        raise ValueError(f"--host {host} is not a loopback address: set {TOKEN_ENV} to a secret token "
                         f"(clients then send 'Authorization: Bearer <token>' to change anything), "
                         f"or bind to 127.0.0.1")


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin:  # not a cross-site browser request (curl, scripts, same-origin GET)
        return True
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return bool(parts.netloc) and parts.netloc.lower() == host.lower()


def require_writer(request: Request) -> None:
    """FastAPI dependency of every mutating route."""
    if not _same_origin(request):
        raise HTTPException(403, detail=[{"loc": "header.origin",
                                          "msg": "cross-site request refused: use this server's own pages or "
                                                 "a client that sends no foreign Origin"}])
    token = getattr(request.app.state, "token", None)
    if not token:
        return
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
        raise HTTPException(401, detail=[{"loc": "header.authorization",
                                          "msg": f"a bearer token is required (the server's {TOKEN_ENV})"}],
                            headers={"WWW-Authenticate": "Bearer"})
