"""The ``docker:`` options a task may set, and the host paths it may mount.

Only these reach the Docker Engine; anything else (``privileged``, ``volumes``, ``cap_add``,
``network_mode``...) is refused, because a task file must not be able to widen what a container may
do on the host. ``hf_cache`` is mounted into the container, so ``/``, system directories and the
home directory itself are refused: a model cache lives in a directory of its own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

DOCKER_OPTIONS: dict[str, str] = {
    "image": "the engine's image (default: the engine version's published image)",
    "image_tag": "another tag of the default image",
    "shm_size": "shared memory of the container, e.g. 16g",
    "ipc_host": "true: share the host's IPC namespace (some multi-GPU engines need it)",
    "hf_cache": "host directory of the Hugging Face cache, mounted into the container",
    "stop_timeout": "seconds between SIGTERM and SIGKILL when a container stops (0 to 3600)",
}
# Never mounted, nor anything inside them.
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sbin",
                "/sys", "/usr")
# Never mounted whole (a directory inside them is fine, e.g. /root/.cache/huggingface).
SYSTEM_DIRS = ("/", "/home", "/root", "/run", "/srv", "/opt", "/tmp", "/var", "/mnt", "/media")
_SHM = re.compile(r"^\d+(\.\d+)?\s*([bkmg]b?)?$", re.IGNORECASE)
_IMAGE = re.compile(r"^[^\s]+$")


def host_path_problem(value: Any) -> str | None:
    """Why ``value`` may not be mounted from the host, or None."""
    if not isinstance(value, str) or not value.strip():
        return "expects a directory path"
    try:
        path = Path(value).expanduser().resolve()
    except (OSError, RuntimeError) as e:
        return f"cannot resolve {value!r}: {e}"
    text = str(path)
    if text in SYSTEM_DIRS or path == Path.home().resolve():
        return f"{value!r} resolves to {text}, a whole system or home directory; give a cache directory of its own"
    tree = next((t for t in SYSTEM_TREES if text == t or text.startswith(t + "/")), None)
    if tree is not None:
        return f"{value!r} resolves to {text}, inside the system directory {tree}"
    return None


def _option_problem(name: str, value: Any) -> str | None:
    if name in ("image", "image_tag"):
        return None if isinstance(value, str) and _IMAGE.match(value) else "expects an image name without spaces"
    if name == "shm_size":
        ok = (isinstance(value, int) and not isinstance(value, bool) and value > 0) or (
            isinstance(value, str) and _SHM.match(value.strip()))
        return None if ok else f"expects a size such as 16g or a number of bytes (got {value!r})"
    if name == "ipc_host":
        return None if isinstance(value, bool) else f"expects true or false (got {value!r})"
    if name == "hf_cache":
        return host_path_problem(value)
    if name == "stop_timeout":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 3600
        return None if ok else f"expects seconds from 0 to 3600 (got {value!r})"
    return None


def docker_problems(options: dict[str, Any]) -> list[str]:
    problems = []
    for name, value in options.items():
        if name not in DOCKER_OPTIONS:
            problems.append(f"docker.{name}: unknown or not allowed option; allowed: {', '.join(DOCKER_OPTIONS)}")
            continue
        problem = _option_problem(name, value)
        if problem:
            problems.append(f"docker.{name}: {problem}")
    return problems
