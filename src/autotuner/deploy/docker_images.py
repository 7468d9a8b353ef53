"""What runs in which container: the engine's image, its command inside the image, and the model mount.

A ``LaunchSpec`` carries the host command (``python -m sglang.launch_server ...``, ``vllm serve ...``,
``llama-server ...`` or the simulated engine ``python -m autotuner.sim ...``). Inside an image the
launcher is the image's own, so we keep only the engine's arguments and put the image's launcher in
front of them: SGLang's image has no entrypoint (the command is ``python3 -m sglang.launch_server``),
vLLM's and llama.cpp's images have the server as entrypoint (the command is only the arguments), and
the simulated engine overrides the entrypoint (it runs only in an image that has autotuner installed).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .base import LaunchSpec

DEFAULT_REPOSITORIES = {
    "sglang": "lmsysorg/sglang",
    "vllm": "vllm/vllm-openai",
    "llamacpp": "ghcr.io/ggml-org/llama.cpp",
    "trtllm": "nvcr.io/nvidia/tensorrt-llm/release",
}
CONTAINER_CONFIG_DIR = "/autotuner/config"  # where an engine's per-experiment files are mounted
CONTAINER_HF_CACHE = "/root/.cache/huggingface"
CONTAINER_MODELS_DIR = "/models"
SECRET_ENV_NAMES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
_SECRET_KEY = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|APIKEY|CREDENTIAL", re.IGNORECASE)
# Options of the simulated engine placed before the engine's own arguments; each takes one value.
_SIM_OPTIONS = ("--personality", "--gpu", "--seed", "--startup-seconds", "--noise")


def default_tag(engine: str, version: str | None) -> str:
    """Both SGLang and vLLM tag releases ``v0.4.6``; llama.cpp's CUDA server images ``server-cuda-b5002``."""
    if engine == "llamacpp":
        if not version:
            return "server-cuda"
        return f"server-cuda-{version if version.startswith('b') else 'b' + version}"
    if not version:
        return "latest"
    if engine == "trtllm":  # NGC tags TensorRT-LLM releases 1.2.1, without the v
        return version.lstrip("v")
    return f"v{version}" if version[0].isdigit() else version


def _has_tag(image: str) -> bool:
    return "@" in image or ":" in image.rsplit("/", 1)[-1]


def image_ref(engine: str, version: str | None = None, image: str | None = None,
              tag: str | None = None) -> str:
    """The image to run ``engine`` from: ``image``/``tag`` (task options ``docker.image``,
    ``docker.image_tag``) override the default repository and the tag derived from ``version``."""
    if image is None:
        if engine not in DEFAULT_REPOSITORIES:
            raise ValueError(f"engine: no default Docker image for {engine!r}; set docker.image "
                             f"(engines with a default: {', '.join(DEFAULT_REPOSITORIES)})")
        image = DEFAULT_REPOSITORIES[engine]
    if tag:
        if "@" in image:
            raise ValueError(f"docker.image_tag: cannot set a tag on the digest reference {image!r}")
        if _has_tag(image):
            image = image.rsplit(":", 1)[0]
        return f"{image}:{tag}"
    return image if _has_tag(image) else f"{image}:{default_tag(engine, version)}"


def split_repository_tag(image: str) -> tuple[str, str | None]:
    """``repo:tag`` -> (repo, tag); a digest reference keeps its digest in the repository part."""
    if "@" in image or not _has_tag(image):
        return image, None
    repo, tag = image.rsplit(":", 1)
    return repo, tag


@dataclass
class ContainerPlan:
    """Everything the container needs besides host-specific runtime settings (GPUs, port, labels)."""
    image: str
    command: list[str]
    entrypoint: list[str] | None = None
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)

    def secrets(self) -> list[str]:
        """Values that must never reach a log, an error or a result."""
        return [v for k, v in self.environment.items() if v and _SECRET_KEY.search(k)]

    def redacted(self) -> dict:
        return {"image": self.image, "entrypoint": self.entrypoint, "command": self.command,
                "volumes": self.volumes, "environment": redact_env(self.environment)}


def redact_env(env: dict[str, str]) -> dict[str, str]:
    return {k: ("***" if _SECRET_KEY.search(k) else v) for k, v in env.items()}


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def engine_args(spec: LaunchSpec) -> tuple[str, list[str]]:
    """(launcher kind, the engine's own arguments): kind is ``sim`` or ``spec.engine``."""
    argv = spec.argv
    for i in range(len(argv) - 1):
        if argv[i] == "-m" and argv[i + 1] == "autotuner.sim":
            return "sim", argv[i + 2:]
    if spec.engine == "sglang":
        for i in range(len(argv) - 1):
            if argv[i] == "-m" and argv[i + 1] == "sglang.launch_server":
                return "sglang", argv[i + 2:]
    elif spec.engine == "vllm":
        for i in range(1, len(argv)):
            if argv[i] == "serve" and Path(argv[i - 1]).name == "vllm":
                return "vllm", argv[i + 1:]
    elif spec.engine == "llamacpp":
        if argv and Path(argv[0]).name.startswith("llama-server"):
            return "llamacpp", argv[1:]
    elif spec.engine == "trtllm":
        if argv and Path(argv[0]).name == "trtllm-serve":
            return "trtllm", argv[1:]
    else:
        raise ValueError(f"engine: Docker deployment supports sglang, vllm, llamacpp, trtllm, not {spec.engine!r}")
    expected = {"sglang": "python -m sglang.launch_server ...", "vllm": "vllm serve ...",
                "llamacpp": "llama-server ...", "trtllm": "trtllm-serve ..."}[spec.engine]
    raise ValueError(f"cannot find the {spec.engine} command in {argv[:4]}...; expected {expected} "
                     "or the simulated engine (python -m autotuner.sim ...)")


def model_index(engine: str, args: list[str]) -> int | None:
    """Index in ``args`` of the value naming the model, for ``engine``'s own argument syntax."""
    flags = {"sglang": ("--model-path", "--model"), "vllm": ("--model",),
             "llamacpp": ("--model", "-m")}.get(engine, ())
    for i, arg in enumerate(args[:-1]):
        if arg in flags:
            return i + 1
    if engine in ("vllm", "trtllm") and args and not args[0].startswith("-"):
        return 0  # `vllm serve MODEL ...`, `trtllm-serve MODEL ...`
    return None


def sim_personality_and_rest(args: list[str]) -> tuple[str, int]:
    """The simulated engine's personality and where its engine-style arguments start."""
    personality, i = "sglang", 0
    while i + 1 < len(args) and args[i] in _SIM_OPTIONS:
        if args[i] == "--personality":
            personality = args[i + 1]
        i += 2
    return personality, i


def hf_cache_dir(explicit: Path | None = None, environ: dict[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    if explicit is not None:
        return Path(explicit).expanduser()
    if environ.get("HF_HOME"):
        return Path(environ["HF_HOME"]).expanduser()
    return Path("~/.cache/huggingface").expanduser()


def plan_container(spec: LaunchSpec, image: str, hf_cache: Path | None = None,
                   environ: dict[str, str] | None = None) -> ContainerPlan:
    """The container's command (with ``--host 0.0.0.0 --port <container_port>``), mounts and env.

    A model given as a local path is bind-mounted read-only at ``/models/<name>`` and the argument
    rewritten; anything else is taken as a Hugging Face id: the HF cache is mounted and ``HF_TOKEN``
    passed through from ``environ``."""
    environ = os.environ if environ is None else environ
    kind, args = engine_args(spec)
    args = list(args)
    engine, start = (sim_personality_and_rest(args) if kind == "sim" else (kind, 0))
    env = dict(spec.env)
    volumes: dict[str, dict[str, str]] = {path: {"bind": path, "mode": "rw"} for path in spec.cache_dirs}

    index = model_index(engine, args[start:])
    if index is not None:
        index += start
        local = Path(args[index]).expanduser()
        if local.exists():
            target = f"{CONTAINER_MODELS_DIR}/{local.resolve().name}"
            volumes[str(local.resolve())] = {"bind": target, "mode": "ro"}
            args[index] = target
            # The engine would otherwise serve the model under its in-container path.
            if engine in ("sglang", "vllm") and "--served-model-name" not in args:
                args += ["--served-model-name", spec.model_name]
        else:
            cache = hf_cache_dir(hf_cache, environ)
            cache.mkdir(parents=True, exist_ok=True)
            volumes[str(cache)] = {"bind": CONTAINER_HF_CACHE, "mode": "rw"}
            for name in SECRET_ENV_NAMES:
                if environ.get(name):
                    env[name] = environ[name]

    args += [spec.host_flag, "0.0.0.0", spec.port_flag, str(spec.container_port)]
    if kind == "sim":
        return ContainerPlan(image, args, ["python3", "-m", "autotuner.sim"], volumes, env)
    if kind == "sglang":
        return ContainerPlan(image, ["python3", "-m", "sglang.launch_server", *args], None, volumes, env)
    if kind == "trtllm":  # NGC's image has no server entrypoint
        return ContainerPlan(image, ["trtllm-serve", *args], None, volumes, env)
    return ContainerPlan(image, args, None, volumes, env)  # vllm / llama.cpp: the image's entrypoint


def mount_files(plan: ContainerPlan, spec: LaunchSpec, directory: Path, stem: str) -> ContainerPlan:
    """The plan with the spec's per-experiment files written to ``directory``, mounted read-only
    under ``/autotuner/config`` and passed after their flags."""
    for item in spec.files:
        host = Path(directory) / f"{stem}.{item.name}"
        host.write_text(item.content)
        target = f"{CONTAINER_CONFIG_DIR}/{item.name}"
        plan.volumes[str(host.resolve())] = {"bind": target, "mode": "ro"}
        plan.command += [item.flag, target]
    return plan
