"""Probes the deployer tests share: is a process gone, what status does an HTTP path answer."""

import http.client
from pathlib import Path


def gone(pid: int) -> bool:
    """No such process, or only a zombie left for its (new) parent to collect."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"


def http_status(base_url: str, path: str) -> int:
    """The status of GET ``path`` on ``base_url`` (http://HOST:PORT)."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()
