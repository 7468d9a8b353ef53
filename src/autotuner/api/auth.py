"""Who may use the server: loopback by default; a token (for every request) when bound elsewhere.

Mutating requests also must come from this server's own pages: a browser sends ``Origin`` with
cross-site requests, and one naming another site is refused, so a web page the user happens to
visit cannot start or delete tasks on a local server (cross-site request forgery). The rules are
applied to every request by ``gate.RequestGate``; ``require_writer`` repeats them on mutating routes.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from urllib.parse import unquote

from fastapi import HTTPException, Request
from starlette.datastructures import Headers

TOKEN_ENV = "AUTOTUNER_TOKEN"
TOKEN_COOKIE = "autotuner_token"  # set by the sign-in page; SameSite=Strict


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 (bracketed or not) and localhost."""
    host = host.strip().strip("[]").lower().rstrip(".")
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
                         f"(clients then send 'Authorization: Bearer <token>' with every request), "
                         f"or bind to 127.0.0.1")


def host_name(header: str) -> str:
    """The name part of a Host header: ``[::1]:8000`` -> ``::1``, ``127.0.0.2:80`` -> ``127.0.0.2``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    if header.count(":") > 1:  # a bare IPv6 address (no port can be told apart)
        return header
    return header.partition(":")[0].rstrip(".")


def given_token(headers: Headers) -> str:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == TOKEN_COOKIE:
            return unquote(value)
    return ""


def cross_site(headers: Headers) -> bool:
    """A browser names the page that sent a cross-site request in ``Origin``; scripts send none."""
    origin = headers.get("origin")
    if origin is None:
        return False
    _, sep, netloc = origin.partition("://")
    return not sep or netloc.rstrip("/").lower() != headers.get("host", "").lower()


def token_matches(headers: Headers, token: str) -> bool:
    return hmac.compare_digest(given_token(headers).encode(), token.encode())


def require_writer(request: Request) -> None:
    """FastAPI dependency of every mutating route."""
    if cross_site(request.headers):
        raise HTTPException(403, detail=[{"loc": "header.origin",
                                          "msg": "cross-site request refused: use this server's own pages or "
                                                 "a client that sends no foreign Origin"}])
    token = getattr(request.app.state, "token", None)
    if token and not token_matches(request.headers, token):
        raise HTTPException(401, detail=[{"loc": "header.authorization",
                                          "msg": f"a bearer token is required (the server's {TOKEN_ENV})"}],
                            headers={"WWW-Authenticate": "Bearer"})
