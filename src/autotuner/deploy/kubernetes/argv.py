"""An experiment's engine arguments, taken out of its LaunchSpec and merged over a runtime's command.

A ``LaunchSpec.argv`` is the host command: ``<launcher> <model args> <flags>``, where the launcher is
``python -m sglang.launch_server``, ``vllm serve`` or the simulated engine ``python -m autotuner.sim``
followed by its own options (``--personality``, ``--gpu``, ...). The Docker deployer already knows
how to find where the launcher ends (``engine_args``); we reuse it, then drop the model argument
(in a cluster the model comes from the ClusterBaseModel, mounted at ``$(MODEL_PATH)``, or is given
again by the plain Deployment) and any host/port (the container's own).

Merging follows argparse's last-wins rule, which both engines use: the runtime's flags come first,
minus every flag the experiment sets (and its aliases, e.g. ``--tensor-parallel-size`` for
``--tp-size``), then the experiment's flags. Whatever the runtime wrote, the experiment's values win.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...engines import get_adapter
from ..base import LaunchSpec
from ..docker_images import model_index, sim_personality_and_rest, engine_args

SIM_LAUNCHER = ["python3", "-m", "autotuner.sim"]
# The engine's launcher inside its official image.
IMAGE_LAUNCHERS = {"sglang": ["python3", "-m", "sglang.launch_server"], "vllm": ["vllm", "serve"],
                   "trtllm": ["trtllm-serve"]}
_HOST_PORT = ("--host", "--port")


@dataclass
class EngineCommand:
    engine: str  # sglang | vllm (the personality when simulated)
    model: str | None
    flags: list[str]  # the experiment's engine flags, without model, host and port
    sim_options: list[str] = field(default_factory=list)  # set when the simulated engine runs

    @property
    def simulated(self) -> bool:
        return bool(self.sim_options)

    def launcher(self) -> list[str]:
        return list(SIM_LAUNCHER) if self.simulated else list(IMAGE_LAUNCHERS[self.engine])


def is_flag(token: str) -> bool:
    return token.startswith("-") and len(token) > 1 and not token[1].isdigit() and token[1] != "."


def flag_groups(tokens: list[str]) -> list[list[str]]:
    """``[--a, 1, --b, --c, x, y]`` -> ``[[--a, 1], [--b], [--c, x, y]]``; leading values stand alone."""
    groups: list[list[str]] = []
    for token in tokens:
        if is_flag(token) or not groups or not is_flag(groups[-1][0]):
            groups.append([token])
        else:
            groups[-1].append(token)
    return groups


def _flag_name(token: str) -> str:
    return token.split("=", 1)[0]


def without_flags(tokens: list[str], names: set[str]) -> list[str]:
    return [t for g in flag_groups(tokens) if _flag_name(g[0]) not in names for t in g]


def flag_value(tokens: list[str], name: str) -> str | None:
    """The last value given to ``name`` (``--name v`` or ``--name=v``)."""
    value = None
    for group in flag_groups(tokens):
        head = group[0]
        if head == name and len(group) > 1:
            value = group[1]
        elif head.startswith(name + "="):
            value = head.split("=", 1)[1]
    return value


def split_launch_spec(spec: LaunchSpec) -> EngineCommand:
    """The engine, model and flags of ``spec``; ValueError for an engine without a cluster launcher."""
    kind, args = engine_args(spec)
    args = list(args)
    sim_options: list[str] = []
    engine = kind
    if kind == "sim":
        engine, start = sim_personality_and_rest(args)
        sim_options, args = args[:start], args[start:]
        if "--personality" not in sim_options:
            sim_options = ["--personality", engine, *sim_options]
    if engine not in IMAGE_LAUNCHERS:
        raise ValueError(f"engine: Kubernetes deployment supports {', '.join(IMAGE_LAUNCHERS)}, not {engine!r}")
    model = None
    index = model_index(engine, args)
    if index is not None:
        model = args[index]
        del args[index - 1 if index > 0 and is_flag(args[index - 1]) else index:index + 1]
    return EngineCommand(engine, model, without_flags(args, set(_HOST_PORT)), sim_options)


def equivalent_flags(engine: str, flag: str) -> set[str]:
    """``flag`` and the other spellings that set the same parallel degree in ``engine``."""
    name = flag.lstrip("-")
    for spellings in get_adapter(engine).parallel_flags.values():
        if name in spellings:
            return {f"--{s}" for s in spellings}
    return {flag}


def merge_flags(engine: str, base: list[str], override: list[str]) -> list[str]:
    """``base`` without what ``override`` sets, then ``override`` (argparse: the last value wins)."""
    replaced: set[str] = set()
    for group in flag_groups(override):
        if is_flag(group[0]):
            replaced |= equivalent_flags(engine, _flag_name(group[0]))
    return without_flags(base, replaced) + list(override)


def split_launcher(command: list[str]) -> tuple[list[str], list[str]]:
    """A runtime's ``command`` -> (launcher, flags): the launcher is everything before the first flag
    that is not an interpreter option (``python3 -m module`` keeps its ``-m module``)."""
    i = 0
    while i < len(command):
        if command[i] == "-m" and i + 1 < len(command):
            i += 2
            continue
        if is_flag(command[i]):
            break
        i += 1
    return command[:i], command[i:]


def engine_of_launcher(launcher: list[str]) -> str | None:
    """Which engine a container's launcher starts (sglang, vllm, sim), or None."""
    text = " ".join(launcher)
    if "autotuner.sim" in text:
        return "sim"
    if "sglang.launch_server" in text or "sglang.launch" in text:
        return "sglang"
    if "vllm" in text:
        return "vllm"
    if "trtllm-serve" in text:
        return "trtllm"
    return None
